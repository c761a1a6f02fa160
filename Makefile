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

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_binning.py

clean:
	rm -rf results resources .snakemake
