# mlops-tracking: `make demo` and `make test` create the environment when it is missing.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP_VERSION := 26.3
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
UI_PORT ?= 5000
# Tests run in two processes (pytest-xdist), a test file per process at a time: most tests wait
# on a subprocess or a server, so two keep both cores busy. TEST_WORKERS= runs them in one.
TEST_WORKERS ?= -n 2 --dist loadfile
# Python that ruff checks: the package, its tests, benchmarks, tutorial snippets and docs tooling
PY_SOURCES := src tests benchmarks examples scripts docs/hooks

# Offline by design: no telemetry, and MLflow's INFO chatter kept out of the output.
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
export DVC_NO_ANALYTICS := 1
export NO_MKDOCS_2_WARNING := 1

.PHONY: help setup demo pipeline pipeline-demo test test-fast lint format ui bench bench-pipeline bench-serving bench-monitoring bench-server bench-sweep bench-threads docs docs-serve screenshots server lock clean

help: ## Show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required (found " + sys.version.split()[0] + ")"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check pip==$(PIP_VERSION)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP) ## Create .venv from requirements.lock (only when missing or stale)

demo: setup ## Run the main job on the local store (sqlite:///mlflow.db)
	$(BIN)/mlops-tracking demo

pipeline: setup ## Run the DVC pipeline here (dvc repro: prepare, featurize, train, evaluate)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

pipeline-demo: setup ## DVC walk-through in build/pipeline-demo: two data versions, exp, reproduce
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/pipeline-demo.sh build/pipeline-demo

test: setup lint docs ## Lint, type-check, build the docs, then run every test (slow ones included)
	$(BIN)/python -m pytest $(TEST_WORKERS)

test-fast: setup ## Run the tests without the slow end-to-end ones
	$(BIN)/python -m pytest -m "not slow" $(TEST_WORKERS)

lint: setup ## ruff (format check and lint), mypy and the import contracts
	$(BIN)/ruff format --check $(PY_SOURCES)
	$(BIN)/ruff check $(PY_SOURCES)
	$(BIN)/mypy
	$(BIN)/lint-imports

format: setup ## Apply ruff formatting and safe fixes
	$(BIN)/ruff format $(PY_SOURCES)
	$(BIN)/ruff check --fix $(PY_SOURCES)

SERVER_ENV ?= .server.env
server: setup ## Start a team tracking server: PostgreSQL, proxied artifacts, basic-auth (secrets: .server.env)
	@test -f $(SERVER_ENV) || $(BIN)/mlops-tracking server --new-secrets $(SERVER_ENV)
	@set -a && . ./$(SERVER_ENV) && set +a && $(BIN)/mlops-tracking server

ui: setup ## Open the MLflow UI on the local store at http://127.0.0.1:$(UI_PORT)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port $(UI_PORT)

docs: setup ## Build the tutorial site into site/ (strict: a broken link or missing snippet fails)
	$(BIN)/mkdocs build --strict

docs-serve: setup ## Serve the tutorial site with live reload on http://127.0.0.1:8000
	$(BIN)/mkdocs serve --strict

screenshots: setup ## Regenerate docs/images/*.png from a scratch demo store in a real browser
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/screenshots.py

bench: setup ## Measure tracking overhead, logging rates, CLI start-up and the demo
	$(BIN)/python benchmarks/run.py

bench-pipeline: setup ## Measure the DVC pipeline: fresh and no-op repro, a param change, reproduce
	$(BIN)/python benchmarks/pipeline.py

bench-serving: setup ## Measure serving latency and throughput (REST vs in-process, pyfunc vs ONNX)
	$(BIN)/python benchmarks/serving.py

bench-monitoring: setup ## What counting requests costs a served model: single-row p50 with and without
	$(BIN)/python benchmarks/monitoring.py

bench-server: setup ## Compare train and compare on a local store vs the team server (needs PostgreSQL)
	$(BIN)/python benchmarks/server.py

bench-sweep: setup ## Trials per minute of one study: untracked vs tracked, 1 vs 2 workers
	$(BIN)/python benchmarks/sweep.py

bench-threads: setup ## Time histogram gradient boosting on 1 thread vs every core, idle and busy
	$(BIN)/python benchmarks/threads.py

lock: ## Re-resolve requirements.lock from pyproject.toml in a scratch environment
	rm -rf .lock-env && $(PYTHON) -m venv .lock-env
	.lock-env/bin/python -m pip install --quiet pip==$(PIP_VERSION)
	.lock-env/bin/python -m pip install --quiet -e ".[dev]"
	{ echo "# Exact pins of every dependency (runtime and dev). Installed by \`make setup\`."; \
	  echo "# Regenerate with \`make lock\` after changing pyproject.toml; commit the result."; \
	  .lock-env/bin/python -m pip freeze --all --exclude-editable | grep -v -e '^pip==' -e '^-e'; \
	} > requirements.lock
	rm -rf .lock-env

clean: ## Remove the local store, artifacts and caches (keeps .venv)
	rm -rf mlflow.db mlflow.db.lock mlflow.db.registry-*.lock mlruns mlartifacts .pytest_cache .mypy_cache .ruff_cache
	rm -rf build/pipeline-demo dvc_plots site
