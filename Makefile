# imagepipe developer commands. `make run` and `make test` work on a fresh clone: the first
# target that needs the virtual env creates it.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WEB := functions/imagepipe/local/web
WEB_STAMP := $(WEB)/node_modules/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test unit lint format openapi bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The demo pages' browser dependencies (Uppy), from the npm registry, never committed.
$(WEB_STAMP): $(WEB)/package.json $(WEB)/package-lock.json
	npm ci --prefix $(WEB) --no-audit --no-fund --loglevel=error
	@touch $(WEB_STAMP)

install: $(STAMP) $(WEB_STAMP)  ## create .venv, install the package, its dev tools and Uppy

run: $(STAMP) $(WEB_STAMP)  ## run the pipeline on the embedded local stack (http://127.0.0.1:3000)
	$(BIN)/imagepipe local $(ARGS)

lint: $(STAMP)  ## ruff check, ruff format --check, mypy, cfn-lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml

test: lint $(WEB_STAMP)  ## lint, then every test (unit, integration, e2e with a real browser)
	$(BIN)/pytest

unit: $(STAMP)  ## only the unit tests (no network)
	$(BIN)/pytest tests/unit

format: $(STAMP)  ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)  ## imaging benchmark: our Variants job vs a naive Pillow job (tests/bench/RESULTS.md)
	$(BIN)/python -m tests.bench $(BENCH_ARGS)

openapi: $(STAMP)  ## write openapi.json from the API code
	$(BIN)/imagepipe openapi -o openapi.json

clean:  ## remove the virtual env, node modules and caches (not the photo cache)
	rm -rf $(VENV) $(WEB)/node_modules .mypy_cache .ruff_cache .pytest_cache .aws-sam
