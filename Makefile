# Two commands: `make run` (the product) and `make test` (every check). Each sets up what it
# needs on a fresh machine with Python 3.11 and Node 20.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
REF := tests/reference/node_modules/.installed
FRONT := frontend/node_modules/.installed
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test lint format pytest bench bench-quick setup frontend frontend-test chromium clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

$(REF): tests/reference/package.json tests/reference/package-lock.json
	npm ci --prefix tests/reference --no-audit --no-fund --loglevel=error
	touch $(REF)

$(FRONT): frontend/package.json frontend/package-lock.json
	npm ci --prefix frontend --no-audit --no-fund --loglevel=error
	touch $(FRONT)

# The built app (served by the sync server from frontend/dist).
frontend: $(FRONT)
	npm run --prefix frontend build

# vitest.
frontend-test: $(FRONT)
	npm run --prefix frontend test

# Headless Chromium for the end-to-end tests (Debian's package; browsers cannot be downloaded).
chromium:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi; }

setup: $(STAMP) $(REF)

run: $(STAMP) frontend
	$(PY) -m sync_server run --seed

# Every static check: ruff (lint and format), mypy --strict, tsc --strict, ESLint, Prettier.
lint: $(STAMP) $(FRONT)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	npm run --prefix frontend typecheck
	npm run --prefix frontend lint

# Rewrite the sources in the house format (ruff format, Prettier).
format: $(STAMP) $(FRONT)
	$(VENV)/bin/ruff format .
	npm run --prefix frontend format

pytest: setup frontend chromium
	$(PY) -m pytest -q $(PYTEST_ARGS)

test: lint frontend-test pytest

# The browser workload needs the built app and Chromium.
bench: setup frontend chromium
	$(PY) -m bench $(BENCH_ARGS)

bench-quick: setup frontend chromium
	$(PY) -m bench --quick

clean:
	rm -rf $(VENV) tests/reference/node_modules frontend/node_modules frontend/dist .data
