# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test install lint format clean-var

run: $(STAMP)
	$(BIN)/python -m devstack run

test: $(STAMP)
	$(BIN)/python -m devstack test $(PYTEST_ARGS)

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "batch-platform needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The static checks `make test` runs before pytest (docs/testing.md).
lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy && $(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

clean-var:
	rm -rf var/
