# The README's two commands: `make run` and `make test`. Both create .venv and install what they need:
# `run` the service alone, `test` adds the test extra, `bench` the bench extra (one stamp each, so
# switching between them installs nothing twice). A .venv made by another Python is rebuilt.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYV := $(shell $(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
SUM := $(shell cksum < pyproject.toml | cut -d' ' -f1)
PYTHON_STAMP := $(VENV)/.python-$(PYV)
RUN_STAMP := $(VENV)/.installed-run-$(SUM)
TEST_STAMP := $(VENV)/.installed-test-$(SUM)
BENCH_STAMP := $(VENV)/.installed-bench-$(SUM)
PIP := $(BIN)/python -m pip install --quiet --quiet --disable-pip-version-check
ARGS ?=

.PHONY: install run test lint typecheck unit coverage bench bench-quick contract clean

# .venv's Python must be $(PY)'s: one left by another version (or broken) is replaced
$(PYTHON_STAMP):
	@if [ -e $(VENV) ] && [ "$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" != "$(PYV)" ]; then \
	  echo "make: .venv was made by another Python than $(PY) ($(PYV)): rebuilding it"; rm -rf $(VENV); fi
	@test -x $(BIN)/python || { echo "make: creating .venv with $(PY) ($(PYV))"; $(PY) -m venv $(VENV); }
	@$(PIP) --upgrade pip
	@touch $@

$(RUN_STAMP): pyproject.toml | $(PYTHON_STAMP)
	@echo "make: installing Platinum into .venv (once; a minute or two)"
	@$(PIP) -e .
	@rm -f $(VENV)/.installed-run-*; touch $@

$(TEST_STAMP): pyproject.toml $(RUN_STAMP)
	@echo "make: installing the test tools into .venv (once)"
	@$(PIP) -e '.[test]'
	@rm -f $(VENV)/.installed-test-*; touch $@

$(BENCH_STAMP): pyproject.toml $(RUN_STAMP)
	@echo "make: installing the benchmark tools into .venv (once)"
	@$(PIP) -e '.[bench]'
	@rm -f $(VENV)/.installed-bench-*; touch $@

install: $(RUN_STAMP)

# ARGS: options of `platinum serve`, e.g. make run ARGS=--verbose
run: $(RUN_STAMP)
	@$(BIN)/platinum serve $(ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: $(TEST_STAMP)
	$(BIN)/mypy domain engine projections api

# Two phases: every test but the serial ones on two processes, then the serial ones alone
# (tests/conftest.py: SERIAL says which and why).
test: $(TEST_STAMP) lint typecheck
	$(BIN)/python -m pytest -q -p no:randomly -n 2 -m "not serial"
	$(BIN)/python -m pytest -q -p no:randomly -m serial

# Unit coverage of the engine and the domain: in-memory store only (no PostgreSQL is given)
coverage: $(TEST_STAMP)
	env -u PLATINUM_TEST_DATABASE_URL -u DATABASE_URL $(BIN)/python -m pytest -q -p no:randomly \
	  tests/unit/domain tests/unit/engine tests/property/domain tests/property/engine \
	  --cov=engine --cov=domain --cov-report=term:skip-covered --cov-report=term
	$(BIN)/python -m coverage report --include='engine/*' --format=total | sed 's/^/engine: /;s/$$/%/'
	$(BIN)/python -m coverage report --include='domain/*' --format=total | sed 's/^/domain: /;s/$$/%/'

# the full bench, then the live contract run (4 minutes per role: docs/api.md, "Contract run")
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench
	$(BIN)/python -m bench.contract

# schemathesis against a live service, every check and phase, per role; ARGS: e.g. --seconds 30
contract: $(BENCH_STAMP)
	$(BIN)/python -m bench.contract $(ARGS)

bench-quick: $(BENCH_STAMP)
	$(BIN)/python -m bench --quick --out /tmp/platinum-bench-quick

clean:
	rm -rf $(VENV) .platinum .mypy_cache .ruff_cache .hypothesis
