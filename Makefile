# The README's two commands: `make run` and `make test`. Both create .venv and install what they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint typecheck unit coverage bench bench-quick clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

run: $(STAMP)
	$(BIN)/platinum serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy domain engine projections api

# Two phases: every test but the serial ones on two processes, then the serial ones alone
# (tests/conftest.py: SERIAL says which and why).
test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest -q -p no:randomly -n 2 -m "not serial"
	$(BIN)/python -m pytest -q -p no:randomly -m serial

# Unit coverage of the engine and the domain: in-memory store only (no PostgreSQL is given)
coverage: $(STAMP)
	env -u PLATINUM_TEST_DATABASE_URL -u DATABASE_URL $(BIN)/python -m pytest -q -p no:randomly \
	  tests/unit/domain tests/unit/engine tests/property/domain tests/property/engine \
	  --cov=engine --cov=domain --cov-report=term:skip-covered --cov-report=term
	$(BIN)/python -m coverage report --include='engine/*' --format=total | sed 's/^/engine: /;s/$$/%/'
	$(BIN)/python -m coverage report --include='domain/*' --format=total | sed 's/^/domain: /;s/$$/%/'

bench: $(STAMP)
	$(BIN)/python -m bench

bench-quick: $(STAMP)
	$(BIN)/python -m bench --quick --out /tmp/platinum-bench-quick

clean:
	rm -rf $(VENV) .platinum .mypy_cache .ruff_cache .hypothesis
