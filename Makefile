# The two commands a new user needs: `make run` and `make test`.
# Every install comes from uv.lock, hash-checked (docs/dependencies.md).
#   make test PYTHON=3.13 DJANGO=6.0   one cell of the matrix (PYTHON: a version, a command or a path)
#   make test RESOLUTION=lowest        the oldest versions pyproject.toml allows (or newest)
#   make test-matrix                   every cell, then a table
BOOTSTRAP := python3 -m devstack.bootstrap
export PYTHON DJANGO RESOLUTION

.PHONY: run test install lint format lock upgrade test-matrix check-lock clean-var chaos

run:
	$(BOOTSTRAP) run

test:
	$(BOOTSTRAP) test $(PYTEST_ARGS)

install:
	$(BOOTSTRAP) install

# Regenerate uv.lock after editing pyproject.toml; `upgrade` moves every package to the
# newest version its range allows. Run `make test-matrix` before committing either.
lock:
	$(BOOTSTRAP) lock

upgrade:
	$(BOOTSTRAP) upgrade

check-lock:
	$(BOOTSTRAP) check-lock

test-matrix:
	$(BOOTSTRAP) matrix $(MATRIX_ARGS)

# The static checks `make test` runs before pytest (docs/testing.md).
lint: install
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy && .venv/bin/lint-imports

format: install
	.venv/bin/ruff check --fix . && .venv/bin/ruff format .

clean-var:
	rm -rf var/

# Seeded random faults while real imports run, then a checker (docs/reliability.md):
#   make chaos CHAOS_ARGS="--minutes 10 --seed 7 [--faults ...] [--plant delete-row]"
chaos: install
	.venv/bin/python -m tests.reliability.chaos $(CHAOS_ARGS)
