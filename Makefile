# make test     unit tests + every notebook in the quick profile (what CI runs)
# make reports  execute every notebook in the full profile and render reports/NN_name.html
# make bench    speed against sentence-transformers, one table, reports/benchmark.json
# Each creates .venv and installs requirements.txt when needed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

# Real datasets: $DATA_DIR if given, else ../shared/data when it exists, else the notebooks use demo data.
DATA_DIR ?= $(if $(wildcard ../shared/data/PROVENANCE.md),$(abspath ../shared/data),)
export DATA_DIR := $(if $(DATA_DIR),$(abspath $(DATA_DIR)),)
export HF_HUB_OFFLINE := 1
export TQDM_DISABLE := 1
export HF_HUB_DISABLE_PROGRESS_BARS := 1

.PHONY: test reports bench clean

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

test: $(VENV)/.installed
	$(BIN)/python -m pytest tests

reports: $(VENV)/.installed
	@for nb in $(NOTEBOOKS); do \
		echo "== $$nb"; \
		$(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=-1 $$nb || exit 1; \
		$(BIN)/jupyter nbconvert --to html --output-dir reports $$nb || exit 1; \
	done
	$(BIN)/python scripts/results_table.py

bench: $(VENV)/.installed
	$(BIN)/python scripts/benchmark.py
	$(BIN)/python scripts/results_table.py

clean:
	rm -rf $(VENV) build data/demo
