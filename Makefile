# hayswitch workspace. `make demo` and `make test` work on a fresh machine with no manual step.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
PIP := $(BIN)/pip
STAMP := $(VENV)/.hayswitch-installed

# Every distribution in the workspace: core plus one folder per provider.
PROVIDER_DIRS := $(sort $(wildcard providers/*))
# Dev-only distributions (test infrastructure such as the Gradient emulator).
TOOL_DIRS := $(sort $(wildcard tools/*))
SRC_DIRS := core/src $(foreach p,$(PROVIDER_DIRS) $(TOOL_DIRS),$(p)/src) examples/provider-template/src
EMPTY :=
SPACE := $(EMPTY) $(EMPTY)

# Offline by construction: no model hub look-ups at run time.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# The pinned CPU torch (constraints.txt); see docs/providers/local.md for other machines.
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt

.PHONY: help install test test-fast lint format typecheck demo record docs bench clean

help:
	@echo "make demo      set up and run the main job offline (index docs/, ask a question)"
	@echo "make test      set up, lint, type-check and run the offline test suite"
	@echo "make install   create $(VENV) and install every workspace distribution (editable)"
	@echo "make lint | format | typecheck | docs | bench | record PROVIDER=name | clean"

install: $(STAMP)

$(STAMP): constraints.txt core/pyproject.toml $(wildcard providers/*/pyproject.toml) $(wildcard tools/*/pyproject.toml) $(wildcard examples/provider-template/pyproject.toml) docs/requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "torch==2.13.0"
	$(PIP) install -q -e "core[test,ray]" $(foreach p,$(PROVIDER_DIRS) $(TOOL_DIRS),-e "$(p)[test]") -e "examples/provider-template[test]" \
	  -r docs/requirements.txt
	@touch $@

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install
	MYPYPATH=$(subst $(SPACE),:,$(SRC_DIRS)) $(BIN)/mypy $(SRC_DIRS)

test: install lint typecheck
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: install
	$(BIN)/pytest -x -q $(PYTEST_ARGS)

demo: install
	@$(BIN)/python -c "import hayswitch; hayswitch.get_provider_class('local')" 2>/dev/null || \
	  { echo "make demo needs the 'local' provider (providers/local), which is not installed yet." >&2; exit 1; }
	$(BIN)/hayswitch index docs/ --exclude api --store .hayswitch/demo-store
	$(BIN)/hayswitch ask "What are the steps for creating a custom provider?" --store .hayswitch/demo-store

# Re-record cassettes (never in CI). Example: make record PROVIDER=gradient
record: install
	@test -n "$(PROVIDER)" || { echo "usage: make record PROVIDER=<name>" >&2; exit 2; }
	@test -z "$$CI" || { echo "refusing to record cassettes under CI" >&2; exit 2; }
	HAYSWITCH_RECORD=1 $(BIN)/pytest -m cassette tests/$(PROVIDER) $(PYTEST_ARGS)

docs: install
	$(BIN)/mkdocs build --strict

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) site .mypy_cache .ruff_cache .pytest_cache .hayswitch
