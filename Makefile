# imagepipe developer commands. `make run` and `make test` work on a fresh clone: the first
# target that needs the virtual env creates it.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The demo pages and their browser dependencies: development tooling, beside functions/.
WEB := local/web
WEB_STAMP := $(WEB)/node_modules/.installed

.DEFAULT_GOAL := help
# AWS's own tools, each in a virtual env of its own (tools/*.txt pin them).
TOOLS := .tools
SAM := $(TOOLS)/sam/bin/sam
CHECKOV := $(TOOLS)/checkov/bin/checkov
export SAM_CLI_TELEMETRY := 0
# `sam build` only reads the template; no AWS account or credentials are involved.
SAM_REGION ?= us-east-1
# The Python builder of `sam build` wants an interpreter of the runtime's version on PATH. With
# pyenv, a `python3.13` shim resolves only when 3.13 is among the selected versions: keep the
# current version first (so `python3` is unchanged) and add every other installed one.
PYENV_ALL := $(shell command -v pyenv >/dev/null 2>&1 && { pyenv version-name 2>/dev/null | tr ':' '\n'; pyenv versions --bare --skip-aliases 2>/dev/null; } | grep -E '^3\.[0-9]+\.[0-9]+$$' | awk '!seen[$$0]++' | paste -sd: -)

.PHONY: help install run test unit pr lint format openapi bench fuzz validate build clean chromium

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The demo pages' browser dependencies (Uppy), from the npm registry, never committed.
$(WEB_STAMP): $(WEB)/package.json $(WEB)/package-lock.json
	@tools/system-deps npm
	npm ci --prefix $(WEB) --no-audit --no-fund --loglevel=error
	@touch $(WEB_STAMP)

chromium:  ## make sure Debian's chromium is there for the browser tests (apt-get as root)
	@tools/system-deps chromium

install: $(STAMP) $(WEB_STAMP)  ## create .venv, install the package, its dev tools and Uppy

run: $(STAMP) $(WEB_STAMP)  ## run the pipeline on the embedded local stack (http://127.0.0.1:3000)
	$(BIN)/imagepipe local $(ARGS)

lint: $(STAMP)  ## ruff check, ruff format --check, mypy, cfn-lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml

test: lint $(WEB_STAMP) chromium  ## lint, then every test (unit, integration, e2e with a real browser)
	$(BIN)/pytest

unit: $(STAMP)  ## only the unit tests (no network)
	$(BIN)/pytest tests/unit

pr: format lint unit  ## before a commit: format, lint (ruff, mypy, cfn-lint), unit tests

format: $(STAMP)  ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)  ## ours vs a full-decode Pillow job and sharp, Ingest memory, API cold start, local throughput (tests/bench/RESULTS.md)
	$(BIN)/python -m tests.bench $(BENCH_ARGS)

fuzz: $(STAMP)  ## seeded mutations of real images through prepare, variants, analyze (FUZZ_CASES, FUZZ_SEED)
	$(BIN)/python -m tests.fuzz $(if $(FUZZ_CASES),--cases $(FUZZ_CASES)) $(if $(FUZZ_SEED),--seed $(FUZZ_SEED)) $(FUZZ_ARGS)

$(TOOLS)/%/.installed: tools/%.txt
	@test -x $(TOOLS)/$*/bin/python || $(PYTHON) -m venv $(TOOLS)/$*
	$(TOOLS)/$*/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/$*/bin/python -m pip install --quiet -r $<
	@touch $@

validate: $(STAMP) $(TOOLS)/sam/.installed $(TOOLS)/checkov/.installed  ## cfn-lint, sam validate --lint, checkov: zero findings
	$(BIN)/cfn-lint template.yaml
	$(SAM) validate --lint --region $(SAM_REGION)
	$(CHECKOV) --file template.yaml --framework cloudformation --compact --quiet --skip-download

build: $(STAMP) $(TOOLS)/sam/.installed  ## sam build for the Lambda platform (python3.13, arm64), offline, then check it
	@$(if $(PYENV_ALL),PYENV_VERSION=$(PYENV_ALL)) python3.13 -c "" 2>/dev/null || { \
		echo "make build: sam build needs a python3.13 on PATH (e.g. pyenv install 3.13)"; exit 1; }
	$(if $(PYENV_ALL),PYENV_VERSION=$(PYENV_ALL)) $(SAM) build --region $(SAM_REGION)
	$(BIN)/python tools/check_build.py .aws-sam/build

openapi: $(STAMP)  ## write openapi.json from the API code
	$(BIN)/imagepipe openapi -o openapi.json

clean:  ## remove the virtual env, node modules and caches (not the photo cache)
	rm -rf $(VENV) $(TOOLS) $(WEB)/node_modules tests/bench/sharp/node_modules .mypy_cache .ruff_cache .pytest_cache .aws-sam
