# vigie: two commands on a fresh machine, `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
DEMO_STAMP := $(VENV)/.installed-all

.PHONY: demo test check lint typecheck format bench install install-demo system-deps clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Everything, for tests, checks and benchmarks (includes the peers the benchmarks measure).
$(STAMP): pyproject.toml $(VENV)/bin/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@ $(DEMO_STAMP)

# What the demo runs on: the SDK with every integration, and the server (no test tooling).
$(DEMO_STAMP): pyproject.toml $(VENV)/bin/python
	$(BIN)/python -m pip install -q -e '.[all]'
	touch $@

install: $(STAMP)

install-demo: $(DEMO_STAMP)

system-deps:
	bash scripts/install-system-deps.sh

demo: install-demo
	$(BIN)/vigie demo

test: install system-deps
	$(BIN)/python -m pytest

check: lint typecheck

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: install system-deps
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
