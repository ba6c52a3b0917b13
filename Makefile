# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Where `make run` runs goals: outside the source tree (created if missing). make run CWD=~/elsewhere
CWD ?= $(HOME)/llmos-work
STAMP := $(VENV)/.installed

.PHONY: run test install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# Bytecode for our own (editable) sources: PYTHONDONTWRITEBYTECODE=1 would otherwise make
	# every start recompile them.
	$(BIN)/python -m compileall -q llmos_tui edge_runtime > /dev/null
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	mkdir -p "$(CWD)"
	$(abspath $(BIN))/llmos --cwd "$(CWD)"

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache
