# `make quick` sets up .venv and runs the quick experiment end to end; `make test` runs the tests.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0

.PHONY: quick full thesis test lint install install-slurm install-mlflow

$(BIN)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps -e .
	$(BIN)/python -m arz_rl.warmup  # compile the numba kernels once, into ~/.cache/arz_rl
	touch $@

install: $(BIN)/.installed

# Snakemake's SLURM executor plugin, only for `--profile profiles/slurm`
$(BIN)/.installed-slurm: $(BIN)/.installed requirements-slurm.txt
	$(BIN)/pip install -q -r requirements-slurm.txt
	touch $@

install-slurm: $(BIN)/.installed-slurm

# MLflow's client, only for `mlflow: {enabled: true}`
$(BIN)/.installed-mlflow: $(BIN)/.installed requirements-mlflow.txt
	$(BIN)/pip install -q -r requirements-mlflow.txt
	touch $@

install-mlflow: $(BIN)/.installed-mlflow

quick: install
	$(BIN)/snakemake --cores 1 results/quick/plots

full: install
	$(BIN)/snakemake --cores 1 results/full/plots

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check .
	$(BIN)/snakemake --lint
