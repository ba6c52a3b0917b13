# Two commands do all the set-up: `make run` and `make test`; `make check` runs the static checks.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Where `make run` runs goals: outside the source tree (created if missing). make run CWD=~/elsewhere
CWD ?= $(HOME)/llmos-work
STAMP := $(VENV)/.installed

.PHONY: run test test-fast check install compile bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

# Bytecode for our own (editable) sources: PYTHONDONTWRITEBYTECODE=1 would otherwise make every
# start recompile them. Run on every install/run/test (it only compiles what changed), so modules
# added by a later pull are compiled too.
compile: $(STAMP)
	$(BIN)/python -m compileall -q llmos_tui edge_runtime > /dev/null

install: compile

run: compile
	mkdir -p "$(CWD)"
	$(abspath $(BIN))/llmos --cwd "$(CWD)"

test: compile
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# Static checks (CI runs them before the tests): formatting, lint, import contracts, declared
# dependencies, types. edge_runtime/ is on the path so the edgekit contracts can see edgekit.
check: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	PYTHONPATH=edge_runtime $(BIN)/lint-imports
	$(BIN)/deptry .
	$(BIN)/python .ci/private_imports.py
	$(BIN)/mypy

# The fast subset while working: no test marked slow (more than a few seconds) or llm (the real
# CLI against the scripted model server). `make test` still runs everything.
test-fast: compile
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow and not llm" $(PYTEST_ARGS)

bench: compile
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache
