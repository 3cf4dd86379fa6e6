# Egress Warden: the two commands of the README are `make run` and `make test`.
SHELL := /bin/bash
# Python 3.13 (see ARCHITECTURE.md): the first of these that exists.
PYTHON ?= $(shell for p in python3.13 $$HOME/.pyenv/versions/3.13*/bin/python3.13 /usr/local/bin/python3.13 /usr/bin/python3.13; do \
             command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; assert sys.version_info[:2]==(3,13)' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= packaging/warden.yaml

.PHONY: demo run test lint typecheck bench clean fuzz

$(BIN)/warden: pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.13 not found: install it (e.g. pyenv install 3.13) or run make PYTHON=/path/to/python3.13"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	@echo "installing the Python dependencies into $(VENV) (log: $(VENV)/install.log)"
	@$(BIN)/pip install -q -e '.[dev]' > $(VENV)/install.log 2>&1 || { cat $(VENV)/install.log; exit 1; }
	touch $(BIN)/warden

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# The dev IdP, a mock LLM and the gateway on loopback, a guided tour, then Ctrl-C to stop.
demo: $(BIN)/warden node_modules/.package-lock.json
	$(BIN)/python packaging/demo/tour.py

run: $(BIN)/warden
	$(BIN)/warden --config $(CONFIG) run

# The top-level folders are one import package `warden` (see pyproject.toml); mypy cannot
# follow setuptools' editable finder, so it checks a symlinked copy of that package shape.
typecheck: $(BIN)/warden
	@rm -rf build/typecheck && mkdir -p build/typecheck/warden
	@for f in warden/*; do ln -s ../../../$$f build/typecheck/warden/; done
	@for d in addons providers identity policy dlp audit console certs files; do \
	   [ -f $$d/__init__.py ] && ln -s ../../../$$d build/typecheck/warden/$$d; done; true
	$(BIN)/mypy

lint: $(BIN)/warden typecheck
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(BIN)/warden node_modules/.package-lock.json lint
	$(BIN)/pytest -q -ra

# The fuzz tests of tests/fuzz/ with many random examples (pytest runs a short fixed round
# of the same tests). FUZZ_EXAMPLES sets the count; failures replay from .hypothesis/.
FUZZ_EXAMPLES ?= 20000
fuzz: $(BIN)/warden
	HYPOTHESIS_PROFILE=fuzz FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q \
	  --timeout=0 tests/fuzz

bench: $(BIN)/warden node_modules/.package-lock.json
	$(BIN)/python bench/proxy.py
	$(BIN)/python bench/stages.py
	$(BIN)/python bench/audit.py --seconds 5
	$(BIN)/python bench/policy.py
	$(BIN)/python bench/uploads.py --runs 5
	$(BIN)/python bench/dlp/run.py

clean:
	rm -rf $(VENV) node_modules state demo build .pytest_cache .mypy_cache .ruff_cache .hypothesis
