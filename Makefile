# Quick start:  make demo   (runs the workflow on the embedded synthetic default)
#               make test   (runs the test suite)
# Both create a local virtual environment in .venv from pyproject.toml on first use.
# TORCH selects the PyTorch requirement, e.g. `make test TORCH=torch==2.13.0` for a CPU-only wheel.

PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch
CORES  ?= 2
PYTEST_ARGS ?=

BIN   := $(VENV)/bin
STAMP := $(VENV)/.neurodyn-installed
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: demo test test-all lint bench dry-run clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)

dry-run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --dry-run

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks workflow
	$(BIN)/ruff format --check src tests benchmarks workflow
	$(BIN)/lint-imports
	$(BIN)/snakefmt --check Snakefile workflow/
	$(BIN)/snakemake --lint

test-all: $(STAMP)
	$(BIN)/python -m pytest --run-slow $(PYTEST_ARGS)

# Every benchmark's quick mode in turn, each writing benchmarks/results/<name>.json; a benchmark whose
# data or baseline is absent prints why and is skipped; the target fails at the end if any benchmark failed.
bench: $(STAMP)
	@mkdir -p benchmarks/results; failed=""; started=$$(date +%s); \
	for script in benchmarks/bench_*.py; do \
		name=$$(basename $$script .py); name=$${name#bench_}; \
		echo "== $$name"; \
		$(abspath $(BIN))/python $$script --quick --json benchmarks/results/$$name.json || failed="$$failed $$name"; \
	done; \
	echo "== make bench: $$(( $$(date +%s) - started )) s; records in benchmarks/results/"; \
	if [ -n "$$failed" ]; then echo "failed:$$failed"; exit 1; fi

clean:
	rm -rf results resources .snakemake
