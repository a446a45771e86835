# Two commands: `make run` (the product) and `make test` (every check). Each sets up what it
# needs on a fresh machine with Python 3.11 and Node 20.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
REF := tests/reference/node_modules/.installed

.PHONY: run test lint typecheck pytest bench bench-quick setup clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

$(REF): tests/reference/package.json tests/reference/package-lock.json
	npm ci --prefix tests/reference --no-audit --no-fund --loglevel=error
	touch $(REF)

setup: $(STAMP) $(REF)

run: $(STAMP)
	$(PY) -m sync_server run --seed

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

pytest: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

test: lint pytest

bench: setup
	$(PY) -m bench $(BENCH_ARGS)

bench-quick: setup
	$(PY) -m bench --quick

clean:
	rm -rf $(VENV) tests/reference/node_modules .data
