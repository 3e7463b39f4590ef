# tipbox: `make run` and `make test` each bootstrap everything they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench node clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $(STAMP)

tests/node_modules/.installed: tests/package.json
	cd tests && npm ci --no-audit --no-fund --silent
	touch $@

node: tests/node_modules/.installed

run: $(STAMP)
	$(BIN)/python -m tipbox run

lint: $(STAMP)
	$(BIN)/ruff check tipbox tests bench app.py

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) node
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/crypto.py

clean:
	rm -rf $(VENV) tests/node_modules .pytest_cache .mypy_cache .ruff_cache
