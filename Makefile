# Developer tasks. `make help` lists them.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY = $(VENV)/bin/python
STAMP = $(VENV)/.installed
PYTEST_ARGS ?=
DEMO_DB = sqlite:///.demo/demo.db

.PHONY: help install demo test check bench clean

help:
	@echo "make install  create $(VENV) and install seedcompile with its test tools"
	@echo "make demo     compile every specs/*.yaml against the SQLite demo data into out/"
	@echo "make test     run pytest against a throwaway PostgreSQL (scripts/pg-cluster)"
	@echo "make check    ruff lint, ruff format --check and mypy"
	@echo "make bench    run the benchmarks (bench/run.py)"
	@echo "make clean    remove out/ and .demo/, and destroy the test cluster"

install: $(STAMP)

# Reinstall whenever pyproject.toml changes; the stamp records the last install.
$(STAMP): pyproject.toml
	@if [ ! -x $(PY) ]; then \
	    $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	        echo "seedcompile needs Python 3.11 or newer; $(PYTHON) is" \
	            "$$($(PYTHON) --version 2>&1): pass PYTHON=python3.11" >&2; \
	        exit 1; }; \
	    echo "creating $(VENV) with $$($(PYTHON) --version)"; \
	    $(PYTHON) -m venv $(VENV); \
	fi
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

demo: $(STAMP)
	@mkdir -p .demo out
	$(VENV)/bin/seedcompile refdata init --db $(DEMO_DB) --force
	$(VENV)/bin/seedcompile compile specs/ --db $(DEMO_DB) -o out/
	@echo "wrote $$(stat -c '%n (%s bytes)' out/*.json | paste -sd ',' - | sed 's/,/, /g')"

# Uses SEEDCOMPILE_TEST_DATABASE_URL when set; otherwise starts the throwaway
# cluster, and stops it afterwards (if this run started it) whatever pytest says.
test: $(STAMP)
	@if [ -n "$${SEEDCOMPILE_TEST_DATABASE_URL:-}" ]; then \
	    echo "make test: using SEEDCOMPILE_TEST_DATABASE_URL from the environment" >&2; \
	elif scripts/pg-cluster available; then \
	    if ! scripts/pg-cluster url >/dev/null 2>&1; then \
	        trap 'scripts/pg-cluster stop || true' EXIT; \
	        trap 'exit 130' INT; \
	        trap 'exit 143' TERM; \
	    fi; \
	    SEEDCOMPILE_TEST_DATABASE_URL=$$(scripts/pg-cluster start); \
	    export SEEDCOMPILE_TEST_DATABASE_URL; \
	    echo "make test: using the cluster at $$SEEDCOMPILE_TEST_DATABASE_URL" >&2; \
	elif [ "$${CI:-}" = true ]; then \
	    echo "make test: no PostgreSQL server programs (initdb, pg_ctl), and CI" \
	        "needs them: install postgresql" >&2; \
	    exit 1; \
	else \
	    echo "make test: no PostgreSQL server programs; postgres tests skip" >&2; \
	fi; \
	status=0; \
	$(PY) -m pytest $(PYTEST_ARGS) || status=$$?; \
	exit $$status

check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) bench/run.py

clean:
	rm -rf out .demo
	scripts/pg-cluster destroy
