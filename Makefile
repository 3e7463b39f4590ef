# tipbox: `make run` and `make test` each bootstrap everything they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench node clean system-packages

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $(STAMP)

tests/node_modules/.installed: tests/package.json
	cd tests && npm ci --no-audit --no-fund --silent
	touch $@

node: tests/node_modules/.installed

# Debian packages the tests run (age, nodejs/npm, chromium, tor, systemd):
# installed when make runs as root or with password-less sudo; otherwise it
# stops here and prints the apt-get line.
system-packages:
	@bash tools/test-packages

# A local run serves plain http on 127.0.0.1, so its cookies cannot be
# Secure (TIPBOX_DEV=1); production runs the systemd units of deploy/ instead,
# and `python -m tipbox doctor` flags TIPBOX_DEV there.
run: export TIPBOX_DEV ?= 1
run: $(STAMP)
	$(BIN)/python -m tipbox run

lint: $(STAMP)
	$(BIN)/ruff check tipbox tests bench deploy app.py

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) node system-packages
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test: system-packages lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/crypto.py

clean:
	rm -rf $(VENV) tests/node_modules .pytest_cache .mypy_cache .ruff_cache

# --- Translations (issue 8) -------------------------------------------------------------
# The catalogs (.po) are committed; compiled catalogs (.mo) are built here, never
# committed. `run` and `pytest` compile first, so a page never lacks a language.
PYBABEL := $(BIN)/pybabel
TRANSLATIONS := tipbox/translations
POT := $(TRANSLATIONS)/messages.pot
MO_FILES := $(patsubst %.po,%.mo,$(wildcard $(TRANSLATIONS)/*/LC_MESSAGES/messages.po))

.PHONY: translations-extract translations-update translations-compile translations-init

translations-extract: $(STAMP)
	mkdir -p $(TRANSLATIONS)
	$(PYBABEL) extract -F babel.cfg --project tipbox --version 0.1.0 \
	  --copyright-holder "the tipbox authors" --msgid-bugs-address "the tipbox issue tracker" \
	  --add-comments "Translators:" \
	  --sort-by-file --width 100 -o $(POT) tipbox templates

translations-update: translations-extract
	$(PYBABEL) update -i $(POT) -d $(TRANSLATIONS) --width 100

# New language: make translations-init LANGUAGE=fa (then translate and compile).
translations-init: translations-extract
	test -n "$(LANGUAGE)"
	$(PYBABEL) init -i $(POT) -d $(TRANSLATIONS) -l $(LANGUAGE) --width 100

translations-compile: $(MO_FILES)

# No $(STAMP) here: on a server (docs/deploy.md) this must not install the dev tools.
$(TRANSLATIONS)/%/LC_MESSAGES/messages.mo: $(TRANSLATIONS)/%/LC_MESSAGES/messages.po
	$(PYBABEL) compile --statistics -l $* -i $< -o $@

run pytest: translations-compile
