# make test     lint, unit tests, every notebook in the quick profile (what CI runs)
# make reports  execute every notebook in the full profile and render reports/NN_name.html
# make bench    speed against sentence-transformers, one table, reports/benchmark.json
# Each creates .venv, installs requirements.txt and the mtl package (editable) when needed.
# The datasets are the repository's data/; DATA_DIR=/other/copy reads another copy instead.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --quiet --disable-pip-version-check
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

export HF_HUB_OFFLINE := 1
export TQDM_DISABLE := 1
export HF_HUB_DISABLE_PROGRESS_BARS := 1

.PHONY: test lint reports bench clean

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements.txt
	$(PIP) --no-deps --no-build-isolation -e .
	touch $@

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

reports: $(VENV)/.installed
	@for nb in $(NOTEBOOKS); do \
		start=$$(date +%s); \
		$(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=-1 $$nb || exit 1; \
		$(BIN)/jupyter nbconvert --to html --output-dir reports $$nb || exit 1; \
		echo "== $$nb: $$(( ($$(date +%s) - start) / 60 )) min"; \
	done
	$(BIN)/python scripts/results_table.py

bench: $(VENV)/.installed
	$(BIN)/python scripts/benchmark.py
	$(BIN)/python scripts/results_table.py

clean:
	rm -rf $(VENV) build models *.egg-info
