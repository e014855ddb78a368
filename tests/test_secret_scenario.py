"""Acceptance: a scripted scenario with secret parameters, end to end.

An admin registers a descriptor whose schema marks ``db.dsn`` secret (``writeOnly``, under a
key the name rule would not catch) beside ``apiToken`` (secret by its name). An operator's
token (subject ``smo-7``) instantiates with secret values, upgrades with a new one (sending
a forged ``X-O2DMS-Actor`` header too), plans an upgrade (``?dryRun=true``), sends an
upgrade that breaks the schema (422) with the secret values in it, and reads everything
there is to read; a viewer's token tries an upgrade (403), the operator's tries to create a
descriptor (403).

Captured: every answer's body and headers, every "operation ended" event (the EventBridge
detail, and the operation and deployment it is built from), every log record at DEBUG of
every logger (message, arguments, extras, traceback), and every raw item of the table. No
clear secret value appears in any of them, while the Helm adapter hands them, in clear and
on stdin only, to helm. The audit trail holds a record for each accepted change and each
refusal, naming the token's subject, never the forged header's name.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from chalicelib import composition
from chalicelib.adapters.eventbridge import event_detail
from chalicelib.adapters.helm.backend import HelmBackend
from chalicelib.adapters.helm.commands import VALUES_FROM_STDIN
from chalicelib.domain.audit import AuditFilter, AuditRecord, Outcome
from chalicelib.domain.health import CustomCheck, HealthCheck
from chalicelib.domain.models import Deployment, DeploymentManager, Operation
from chalicelib.domain.ports import (
    Action,
    Applied,
    BackendRevision,
    BackendStatus,
    DeploymentBackend,
    PlanStep,
    ReleaseRef,
    ReleaseTarget,
)
from chalicelib.domain.secrets import MASK, SEALED_MARK, is_sealed
from tests.api_helpers import BASE, NGINX_DESCRIPTOR
from tests.auth_helpers import bearer
from tests.conftest import TABLE, World
from tests.helm_fakes import FakeRunner, StaticCredentials, fixture
from tests.openapi_check import check_answer

DB_DSN = "s3cr3t-Zq9-VALUE"  # secret only because the schema marks db.dsn writeOnly
API_TOKEN = "tok-Wv7-4f1e9c2b"  # secret by its key's name (apiToken)
NEW_DSN = "n3w-s3cr3t-Kx4-VALUE"  # the upgrade's new value
PLANNED_DSN = "dry-s3cr3t-Pm2-VALUE"  # only ever planned (dry run)
REJECTED_DSN = "bad s3cr3t Zq9!"  # breaks the schema's pattern: the 422
DENIED_DSN = "v13wer-s3cr3t-Jb5-VALUE"  # sent by the viewer, who may not upgrade
SECRETS = (DB_DSN, API_TOKEN, NEW_DSN, PLANNED_DSN, REJECTED_DSN, DENIED_DSN)

ADMIN, OPERATOR, VIEWER = "tester", "smo-7", "noc-viewer-3"
FORGED = "mallory"
DEPLOYMENT = "nginx-prod"
ONE = f"nfDeployments/{DEPLOYMENT}"
DESCRIPTOR_ID = "nginx-chart-1.2.0"
SCHEMA = {
    "type": "object",
    "properties": {
        "db": {
            "type": "object",
            "properties": {
                "dsn": {
                    "type": "string",
                    "writeOnly": True,
                    "minLength": 12,
                    "pattern": "^[A-Za-z0-9-]+$",
                },
                "host": {"type": "string"},
            },
        },
        "apiToken": {"type": "string", "minLength": 8},
        "replicaCount": {"type": "integer"},
    },
}


# ------------------------------------------------------------------------ capture


@dataclass(frozen=True)
class Exchange:
    """One request of the scenario and its answer, as the caller saw it."""

    who: str
    method: str
    path: str
    status: int
    body: Any
    headers: dict[str, str]


@dataclass
class RecordingPublisher:
    """The events port: keeps the EventBridge detail of every "operation ended" event, and
    the operation and deployment it was built from, then hands the event on."""

    inner: Any
    details: list[dict[str, Any]] = field(default_factory=list)
    sources: list[tuple[Operation, Deployment]] = field(default_factory=list)

    def operation_ended(self, operation: Operation, deployment: Deployment) -> None:
        self.details.append(event_detail(operation, deployment))
        self.sources.append((operation, deployment))
        self.inner.operation_ended(operation, deployment)


@dataclass
class HelmHandoff:
    """The Helm adapter on a fake helm binary for what goes to the cluster (installs,
    upgrades: argv and stdin, as the real runner would take them) and for plans; the local
    cluster simulation for rollouts, status and history, so that changes settle."""

    helm: HelmBackend
    cluster: DeploymentBackend
    kind: str = "helm"

    def install(self, target: ReleaseTarget) -> Applied:
        self.helm.install(target)
        return self.cluster.install(target)

    def upgrade(self, target: ReleaseTarget) -> Applied:
        self.helm.upgrade(target)
        return self.cluster.upgrade(target)

    def scale(self, target: ReleaseTarget, *, replicas: int) -> Applied:
        raise AssertionError("the scenario does not scale")

    def rollback(self, target: ReleaseTarget, *, to_backend_ref: str | None) -> Applied:
        raise AssertionError("the scenario does not roll back")

    def uninstall(self, ref: ReleaseRef) -> None:
        raise AssertionError("the scenario does not terminate")

    def status(self, ref: ReleaseRef) -> BackendStatus:
        return self.cluster.status(ref)

    def history(self, ref: ReleaseRef) -> list[BackendRevision]:
        return self.cluster.history(ref)

    def plan(self, action: Action) -> list[PlanStep]:
        return self.helm.plan(action)

    def probe(self, ref: ReleaseRef, checks: tuple[CustomCheck, ...]) -> tuple[HealthCheck, ...]:
        return self.cluster.probe(ref, checks)


@dataclass
class Scenario:
    exchanges: list[Exchange]
    events: RecordingPublisher
    runner: FakeRunner
    table: list[dict[str, Any]]
    logs: list[logging.LogRecord]

    def answer(self, who: str, method: str, path: str, status: int = 200) -> Exchange:
        """The one answer ``who`` got with ``status`` to ``method path``."""
        wanted = (who, method, f"{BASE}/{path}", status)
        (found,) = (e for e in self.exchanges if (e.who, e.method, e.path, e.status) == wanted)
        return found


def _request(
    client: Any,
    exchanges: list[Exchange],
    who: str,
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> Exchange:
    """``method path`` with ``who``'s token (``ADMIN``: the client's own sign-in), recorded."""
    sent = {"Content-Type": "application/json", **(headers or {})}
    if who == OPERATOR:
        sent.update(bearer("operator", subject=OPERATOR))
    elif who == VIEWER:
        sent.update(bearer("viewer", subject=VIEWER))
    url = f"{BASE}/{path}"
    payload = json.dumps(body) if body is not None else None
    response = client.http.request(method, url, headers=sent, body=payload)
    text = response.body.decode() if response.body else ""
    decoded = json.loads(text) if text else None
    check_answer(method, url, response.status_code, decoded)
    exchange = Exchange(who, method, url, response.status_code, decoded, dict(response.headers))
    exchanges.append(exchange)
    return exchange


def _log_text(record: logging.LogRecord) -> str:
    """Everything a log handler could write of ``record``: its message, its arguments, its
    extras and its traceback."""
    shown = logging.Formatter().format(record)  # message, exc_info and stack_info
    return shown + repr(vars(record))


def _table_items(dynamodb: Any) -> list[dict[str, Any]]:
    pages = dynamodb.get_paginator("scan").paginate(TableName=TABLE)
    items: list[dict[str, Any]] = pages.build_full_result()["Items"]
    return items


def _run(client: Any, world: World, dynamodb: Any, caplog: pytest.LogCaptureFixture) -> Scenario:
    runner = FakeRunner(
        {"install": fixture("helm-install.json"), "upgrade": fixture("helm-upgrade.json")}
    )
    handoff = HelmHandoff(
        HelmBackend(StaticCredentials(), runner=runner), world.cluster.backend("helm")
    )

    def backends(*, adapter: str, manager: DeploymentManager) -> DeploymentBackend:
        return handoff

    events = RecordingPublisher(world.events)
    deps = replace(world.deps, backends=backends, events=events)
    composition.use(deps)
    world.driver.deps = deps
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)

    done: list[Exchange] = []

    def ask(who: str, method: str, path: str, body: Any = None, **kw: Any) -> Exchange:
        return _request(client, done, who, method, path, body=body, **kw)

    descriptor = {**NGINX_DESCRIPTOR, "parameterSchema": SCHEMA}
    assert ask(ADMIN, "POST", "nfDeploymentDescriptors", descriptor).status == 201
    refused_descriptor = ask(
        OPERATOR, "POST", "nfDeploymentDescriptors", {**descriptor, "descriptorId": "other-1"}
    )
    assert refused_descriptor.status == 403, refused_descriptor.body

    create = {
        "name": DEPLOYMENT,
        "descriptorId": DESCRIPTOR_ID,
        "parameters": {"db": {"dsn": DB_DSN, "host": "db.internal"}, "apiToken": API_TOKEN},
        "reason": "CHG-1 first install",
    }
    created = ask(OPERATOR, "POST", "nfDeployments", create)
    assert created.status == 201, created.body
    world.settle()

    upgrade = {"parameters": {"db": {"dsn": NEW_DSN}}, "reason": "CHG-2 rotate the DSN"}
    forged = {"X-O2DMS-Actor": FORGED, "X-Forwarded-User": FORGED}
    upgraded = ask(OPERATOR, "PUT", ONE, upgrade, headers=forged)
    assert upgraded.status == 200, upgraded.body
    world.settle()

    planned = ask(
        OPERATOR, "PUT", f"{ONE}?dryRun=true", {"parameters": {"db": {"dsn": PLANNED_DSN}}}
    )
    assert planned.status == 200, planned.body
    rejected = ask(
        OPERATOR,
        "PUT",
        ONE,
        {"parameters": {"db": {"dsn": REJECTED_DSN}, "apiToken": API_TOKEN}},
    )
    assert rejected.status == 422, rejected.body
    denied = ask(VIEWER, "PUT", ONE, {"parameters": {"db": {"dsn": DENIED_DSN}}})
    assert denied.status == 403, denied.body

    reads = ["nfDeployments", ONE, f"{ONE}/status", f"{ONE}/history", f"{ONE}/operations"]
    for path in reads:
        assert ask(OPERATOR, "GET", path).status == 200
    history = done[-2].body["revisions"]
    operations = done[-1].body["operations"]
    assert [r["revision"] for r in history] == [2, 1]
    assert len(operations) == 2
    for revision in history:
        assert ask(OPERATOR, "GET", f"{ONE}/history/{revision['revision']}").status == 200
    for operation in operations:
        assert ask(OPERATOR, "GET", f"{ONE}/operations/{operation['operationId']}").status == 200
    assert ask(VIEWER, "GET", ONE).status == 200

    return Scenario(done, events, runner, _table_items(dynamodb), list(caplog.records))


@pytest.fixture
def scenario(
    client: Any, world: World, dynamodb: Any, caplog: pytest.LogCaptureFixture
) -> Scenario:
    return _run(client, world, dynamodb, caplog)


def _audit(world: World) -> list[AuditRecord]:
    page = world.store.audit_page(AuditFilter(), limit=100, token=None)
    assert page.next_token is None
    return list(page.items)


# -------------------------------------------------------------------------- tests


def test_scenario_secret_values_appear_in_no_answer_event_log_or_stored_item(
    scenario: Scenario, world: World
) -> None:
    captured = {
        "answers": json.dumps([(e.status, e.body, e.headers) for e in scenario.exchanges]),
        "events": json.dumps(scenario.events.details, default=str)
        + repr(scenario.events.sources)
        + repr(world.events.ended),
        "logs": "\n".join(_log_text(r) for r in scenario.logs),
        "table": json.dumps(scenario.table),
        "audit": repr(_audit(world)),
    }

    for where, text in captured.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked into the {where}"
    assert SEALED_MARK not in captured["answers"]  # not even sealed
    # The capture works: the app's own records are there, and at DEBUG the AWS SDK's
    # records of the table writes, whose bodies hold the sealed values.
    assert any(r.name.startswith("chalicelib.") for r in scenario.logs)
    assert SEALED_MARK in captured["logs"]
    assert len(scenario.events.details) == 2  # the install and the upgrade ended
    stored = {(i["PK"]["S"], i["SK"]["S"]): i for i in scenario.table}
    deployment = next(i for (pk, sk), i in stored.items() if DEPLOYMENT in pk and "parameters" in i)
    parameters = json.loads(deployment["parameters"]["S"])
    assert is_sealed(parameters["db"]["dsn"])  # stored sealed, not dropped
    assert is_sealed(parameters["apiToken"])
    assert parameters["db"]["host"] == "db.internal"  # the rest in clear


def test_scenario_answers_show_the_secrets_as_stars(scenario: Scenario) -> None:
    created = scenario.answer(OPERATOR, "POST", "nfDeployments", 201)
    upgraded = scenario.answer(OPERATOR, "PUT", ONE)
    planned = scenario.answer(OPERATOR, "PUT", f"{ONE}?dryRun=true")
    shown = scenario.answer(OPERATOR, "GET", ONE)
    revision = scenario.answer(OPERATOR, "GET", f"{ONE}/history/2")
    rejected = scenario.answer(OPERATOR, "PUT", ONE, 422)

    for answer in (created, shown):
        assert answer.body["parameters"] == {
            "db": {"dsn": MASK, "host": "db.internal"},
            "apiToken": MASK,
        }
    assert upgraded.body["parameters"]["db"]["dsn"] == MASK
    assert planned.body["dryRun"] is True
    assert planned.body["description"] == "Upgraded parameters: db.dsn"
    (step,) = planned.body["plan"]
    at = step["command"].index("--values")
    assert step["command"][at : at + 2] == list(VALUES_FROM_STDIN)
    assert "go on stdin" in step["description"]
    assert json.dumps(revision.body).count(MASK) >= 2
    assert "db.dsn" in rejected.body["message"]  # says what is wrong, not with what
    assert upgraded.headers["X-O2DMS-Operation-Id"].startswith("op-")


def test_scenario_helm_receives_the_secret_values_in_clear_on_stdin_only(
    scenario: Scenario, world: World
) -> None:
    applied = [c for c in scenario.runner.calls if c.subcommand in {"install", "upgrade"}]

    assert [c.subcommand for c in applied] == ["install", "upgrade"]
    install, upgrade = (json.loads(c.stdin or b"") for c in applied)
    assert install["db"] == {"dsn": DB_DSN, "host": "db.internal"}
    assert install["apiToken"] == API_TOKEN
    assert upgrade["db"] == {"dsn": NEW_DSN, "host": "db.internal"}
    assert upgrade["apiToken"] == API_TOKEN  # kept from the stored, sealed snapshot
    for call in applied:
        at = call.argv.index("--values")
        assert call.argv[at : at + 2] == VALUES_FROM_STDIN
        for secret in SECRETS:
            assert all(secret not in arg for arg in call.argv)
    handed = b"".join(c.stdin or b"" for c in scenario.runner.calls)
    for never_deployed in (PLANNED_DSN, REJECTED_DSN, DENIED_DSN):
        assert never_deployed.encode() not in handed
    with world.cluster.releases() as releases:
        current = releases[("default", DEPLOYMENT)].current
    assert current.values["db"]["dsn"] == NEW_DSN


def test_scenario_audit_names_the_token_principal_for_every_change_and_refusal(
    scenario: Scenario, world: World
) -> None:
    records = _audit(world)
    rows = sorted((r.actor, r.action, r.target, r.outcome) for r in records)

    assert rows == sorted(
        [
            (
                ADMIN,
                "create-descriptor",
                f"nfDeploymentDescriptors/{DESCRIPTOR_ID}",
                Outcome.ACCEPTED,
            ),
            (OPERATOR, "create-descriptor", "nfDeploymentDescriptors/other-1", Outcome.DENIED),
            (OPERATOR, "instantiate", ONE, Outcome.ACCEPTED),
            (OPERATOR, "upgrade", ONE, Outcome.ACCEPTED),
            (VIEWER, "upgrade", ONE, Outcome.DENIED),
        ]
    )
    by_action = {(r.actor, r.action): r for r in records}
    operations = {
        o["operationId"]: o
        for o in scenario.answer(OPERATOR, "GET", f"{ONE}/operations").body["operations"]
    }
    installed = by_action[(OPERATOR, "instantiate")]
    upgraded = by_action[(OPERATOR, "upgrade")]
    assert (installed.deployment_id, installed.reason) == (DEPLOYMENT, "CHG-1 first install")
    assert (upgraded.deployment_id, upgraded.reason) == (DEPLOYMENT, "CHG-2 rotate the DSN")
    assert {installed.operation_id, upgraded.operation_id} == set(operations)
    assert {o["actor"] for o in operations.values()} == {OPERATOR}
    assert {d["actor"] for d in scenario.events.details} == {OPERATOR}
    refused = by_action[(VIEWER, "upgrade")]
    assert refused.detail is not None
    assert refused.detail.startswith(f"{VIEWER} may not upgrade")
    assert all(FORGED not in repr(r) for r in records)
    everything = [
        json.dumps([(e.body, e.headers) for e in scenario.exchanges]),
        json.dumps(scenario.table),
        json.dumps(scenario.events.details, default=str),
        "\n".join(_log_text(r) for r in scenario.logs),
    ]
    assert all(FORGED not in text for text in everything)
