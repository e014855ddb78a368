"""Who may do what, checked over the app's own route table (not a hand-kept list of routes):
every route but the public ones refuses a caller without credentials (401); a viewer reads
everything but the audit trail and changes nothing (403); an operator changes deployments
but not descriptors or clusters; a scoped role acts in its namespace only; and every
accepted change and every refusal leaves an audit record naming the token's principal."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any

import pytest

from chalicelib.adapters import local_tokens
from chalicelib.api import auth
from chalicelib.domain.audit import AuditFilter, Outcome
from tests.api_helpers import NGINX_DESCRIPTOR, Answer, call, create_deployment
from tests.auth_helpers import KEY, bearer
from tests.conftest import World
from tests.openapi_check import check_answer

MUTATING = frozenset({"POST", "PUT", "DELETE", "PATCH"})
ADMIN_READS = frozenset({("GET", "/o2dms/v1/audit")})
PLACEHOLDER = re.compile(r"\{(\w+)\}")

# What each path parameter names in the `running` world (see `_story`).
PATH_VALUES = {
    "deployment_id": "nginx-prod",
    "descriptor_id": "nginx-chart-1.2.0",
    "manager_id": "edge-1",
    "revision": "1",
}
# A valid body for each route that takes one: so a refusal can only be about who asks.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/o2dms/v1/deploymentManagers"): {
        "deploymentManagerId": "edge-2",
        "kind": "eks",
        "clusterName": "edge-2",
        "region": "eu-west-3",
    },
    ("POST", "/o2dms/v1/nfDeploymentDescriptors"): {
        **NGINX_DESCRIPTOR,
        "descriptorId": "nginx-chart-9.9.9",
    },
    ("POST", "/o2dms/v1/nfDeployments"): {
        "name": "nginx-new",
        "descriptorId": "nginx-chart-1.2.0",
        "namespace": "production",
    },
    ("PUT", "/o2dms/v1/nfDeployments/{deployment_id}"): {
        "parameters": {"image": {"tag": "1.21.0"}}
    },
    ("POST", "/o2dms/v1/nfDeployments/{deployment_id}/scale"): {"replicas": 3},
    ("POST", "/o2dms/v1/nfDeployments/{deployment_id}/rollback"): {"revision": 0},
    ("PUT", "/o2dms/v1/nfDeployments/{deployment_id}/rollbackAlarms"): {
        "alarmNames": ["nginx-5xx"]
    },
    ("POST", "/o2dms/v1/nfDeployments/{deployment_id}/scalingSchedules"): {
        "expression": "rate(1 hour)",
        "replicas": 4,
    },
    ("POST", "/api/v1/deployments"): {
        "name": "web",
        "version": "v1.0.0",
        "platform": "kubernetes",
        "environment": "production",
        "configuration": {"image": "registry.example.com/web"},
    },
    ("POST", "/api/v1/deployments/{rollout_id}/rollback"): {"reason": "checking roles"},
}


def routes() -> list[tuple[str, str]]:
    """Every (method, path template) the app serves."""
    from app import app

    return sorted((method, path) for path, entries in app.routes.items() for method in entries)


def concrete(path: str, values: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], path)


def _story(client: Any, world: World) -> dict[str, str]:
    """The `running` world, with what every route's parameters name: a cluster, a second
    revision, a schedule and an operation."""
    manager = {"deploymentManagerId": "edge-1", "kind": "eks", "clusterName": "edge-1"}
    assert (
        call(client, "POST", "deploymentManagers", {**manager, "region": "eu-west-3"}).status == 201
    )
    upgraded = call(client, "PUT", "nfDeployments/nginx-prod", BODIES[UPGRADE])
    assert upgraded.status == 200, upgraded.body
    world.settle()
    schedule = call(client, "POST", "nfDeployments/nginx-prod/scalingSchedules", BODIES[SCHEDULE])
    assert schedule.status == 201, schedule.body
    alarms = call(client, "PUT", "nfDeployments/nginx-prod/rollbackAlarms", BODIES[ALARMS])
    assert alarms.status == 200, alarms.body
    rollouts = call(client, "GET", "/api/v1/deployments").body["deployments"]
    return {
        **PATH_VALUES,
        "schedule_id": schedule.body["scheduleId"],
        "operation_id": upgraded.body["operationId"],
        "rollout_id": rollouts[0]["id"],
    }


UPGRADE = ("PUT", "/o2dms/v1/nfDeployments/{deployment_id}")
SCHEDULE = ("POST", "/o2dms/v1/nfDeployments/{deployment_id}/scalingSchedules")
ALARMS = ("PUT", "/o2dms/v1/nfDeployments/{deployment_id}/rollbackAlarms")


def send(
    client: Any, method: str, path: str, headers: Mapping[str, str | None], body: Any = None
) -> Answer:
    response = client.http.request(
        method,
        path,
        headers={"Content-Type": "application/json", **headers},
        body=b"" if body is None else json.dumps(body).encode(),
    )
    text = response.body.decode() if response.body else ""
    if not response.headers.get("Content-Type", "").startswith("application/json"):
        return Answer(response.status_code, text or None, response.headers)  # /metrics: text
    decoded = json.loads(text) if text else None
    if not path.endswith("/openapi.json"):  # the document itself is outside it
        check_answer(method, path, response.status_code, decoded)  # documented, as answered
    return Answer(response.status_code, decoded, response.headers)


def assert_refused(answer: Answer, code: int, error: str, where: str) -> None:
    assert answer.status == code, f"{where}: {answer.status} {answer.body}"
    assert answer.body is not None, where
    assert set(answer.body) == {"error", "message", "code"}, where
    assert (answer.body["error"], answer.body["code"]) == (error, code), where


def test_the_route_table_has_mutations_reads_and_public_routes() -> None:
    table = routes()
    mutations = [r for r in table if r[0] in MUTATING]
    public = [r for r in table if auth.is_public(*r)]
    assert len(mutations) >= 12
    assert public == [("GET", "/o2dms/v1/health"), ("GET", "/o2dms/v1/openapi.json")]
    # Every mutation that takes a body has a valid one here, so a refusal is about roles.
    for method, path in mutations:
        if method != "DELETE":
            assert (method, path) in BODIES, f"add a valid body for {method} {path}"
    # The audit trail is append-only: no route changes or deletes a record.
    assert [r for r in table if "audit" in r[1]] == [("GET", "/o2dms/v1/audit")]


@pytest.mark.parametrize("route", routes(), ids=lambda r: f"{r[0]} {r[1]}")
def test_every_route_but_the_public_ones_needs_credentials(
    running: Any, world: World, route: tuple[str, str]
) -> None:
    method, path = route
    values = {
        **PATH_VALUES,
        "schedule_id": "sch-x",
        "operation_id": "op-x",
        "rollout_id": "0190f5e2-3c4d-7a1b-8c2d-3e4f5a6b7c8d",
    }
    answer = send(running, method, concrete(path, values), {"Authorization": None})
    if auth.is_public(method, path):
        assert answer.status == 200, answer.body
        return
    assert_refused(answer, 401, "Unauthorized", f"{method} {path}")
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="o2dms"'
    bad = send(running, method, concrete(path, values), {"Authorization": "Bearer not.a.token"})
    assert_refused(bad, 401, "Unauthorized", f"{method} {path} with a bad token")
    an_hour_late = time.time() - 2 * 3600
    stale = local_tokens.mint(
        KEY, subject="tester", groups=["o2dms-admin"], ttl_seconds=3600, now=an_hour_late
    )
    expired = send(running, method, concrete(path, values), {"Authorization": f"Bearer {stale}"})
    assert_refused(expired, 401, "Unauthorized", f"{method} {path} with an expired token")
    other_key = local_tokens.mint(b"k" * 32, subject="tester", groups=["o2dms-admin"])
    forged = send(running, method, concrete(path, values), {"Authorization": f"Bearer {other_key}"})
    assert_refused(forged, 401, "Unauthorized", f"{method} {path} signed with another key")
    good = send(running, method, concrete(path, values), bearer("admin"))
    assert good.status != 401, good.body


def test_a_viewer_reads_every_route_and_changes_none(running: Any, world: World) -> None:
    values = _story(running, world)
    viewer = bearer("viewer", subject="vera")
    reads = mutations = 0
    for method, path in routes():
        where = f"{method} {path}"
        target = concrete(path, values)
        answer = send(running, method, target, viewer, BODIES.get((method, path)))
        if method not in MUTATING:
            expected = 403 if (method, path) in ADMIN_READS else 200
            assert answer.status == expected, f"{where}: {answer.status} {answer.body}"
            reads += 1
            continue
        assert_refused(answer, 403, "Forbidden", where)
        message = answer.body["message"]
        assert re.search(r"needs the (operator|admin) role", message), message
        assert "o2dms-viewer" in message, message
        mutations += 1
    assert reads >= 12
    assert mutations >= 12

    # Each refusal is in the audit trail, with the token's principal as actor.
    denied = world.store.audit_page(AuditFilter(actor="vera"), limit=100, token=None).items
    assert len(denied) == mutations + len(ADMIN_READS)
    assert {r.outcome for r in denied} == {Outcome.DENIED}
    assert all(r.detail for r in denied)


def test_an_operator_changes_deployments_but_not_descriptors_or_clusters(
    running: Any, world: World
) -> None:
    operator = bearer("operator", subject="olga")
    scaled = send(
        running, "POST", "/o2dms/v1/nfDeployments/nginx-prod/scale", operator, {"replicas": 3}
    )
    assert scaled.status == 204, scaled.body
    world.settle()

    refused = [
        ("DELETE", "/o2dms/v1/nfDeploymentDescriptors/nginx-chart-1.2.0", None),
        (
            "POST",
            "/o2dms/v1/nfDeploymentDescriptors",
            BODIES[("POST", "/o2dms/v1/nfDeploymentDescriptors")],
        ),
        ("POST", "/o2dms/v1/deploymentManagers", BODIES[("POST", "/o2dms/v1/deploymentManagers")]),
        ("DELETE", "/o2dms/v1/nfDeployments/nginx-prod", None),
        ("GET", "/o2dms/v1/audit", None),
    ]
    for method, path, body in refused:
        answer = send(running, method, path, operator, body)
        assert_refused(answer, 403, "Forbidden", f"{method} {path}")
        assert "admin role" in answer.body["message"], answer.body
    assert call(running, "GET", "nfDeploymentDescriptors/nginx-chart-1.2.0").status == 200


def test_an_operator_scoped_to_production_cannot_touch_staging(running: Any, world: World) -> None:
    assert create_deployment(running, "nginx-staging", namespace="staging").status == 201
    world.settle()
    scoped = bearer("o2dms-operator:production", subject="pat")

    staging = send(
        running, "POST", "/o2dms/v1/nfDeployments/nginx-staging/scale", scoped, {"replicas": 2}
    )
    assert_refused(staging, 403, "Forbidden", "scale in staging")
    assert "production" in staging.body["message"]
    upgrade = send(running, "PUT", "/o2dms/v1/nfDeployments/nginx-staging", scoped, BODIES[UPGRADE])
    assert_refused(upgrade, 403, "Forbidden", "upgrade in staging")
    create = send(
        running,
        "POST",
        "/o2dms/v1/nfDeployments",
        scoped,
        {"name": "nginx-other", "descriptorId": "nginx-chart-1.2.0", "namespace": "staging"},
    )
    assert_refused(create, 403, "Forbidden", "instantiate in staging")

    production = send(
        running, "POST", "/o2dms/v1/nfDeployments/nginx-prod/scale", scoped, {"replicas": 5}
    )
    assert production.status == 204, production.body
    world.settle()

    # Reads are scoped the same way: staging is not found, and not listed.
    viewer = bearer("o2dms-viewer:production", subject="pat")
    hidden = send(running, "GET", "/o2dms/v1/nfDeployments/nginx-staging", viewer)
    assert_refused(hidden, 403, "Forbidden", "read in staging")
    listed = send(running, "GET", "/o2dms/v1/nfDeployments", viewer).body
    assert [d["deploymentId"] for d in listed["nfDeployments"]] == ["nginx-prod"]

    trail = world.store.audit_page(AuditFilter(actor="pat"), limit=100, token=None).items
    assert [(r.action, r.outcome) for r in reversed(trail)] == [
        ("scale", Outcome.DENIED),
        ("upgrade", Outcome.DENIED),
        ("instantiate", Outcome.DENIED),
        ("scale", Outcome.ACCEPTED),
        ("read", Outcome.DENIED),
    ]
    assert {r.deployment_id for r in trail} >= {"nginx-staging", "nginx-prod"}


def test_the_audit_trail_is_read_by_admins_filtered_and_exported(
    running: Any, world: World
) -> None:
    operator = {**bearer("operator", subject="smo-1"), "X-O2DMS-Actor": "mallory"}
    scaled = send(
        running,
        "POST",
        "/o2dms/v1/nfDeployments/nginx-prod/scale",
        operator,
        {"replicas": 4, "reason": "busy hour"},
    )
    assert scaled.status == 204
    world.settle()

    page = call(running, "GET", "audit?actor=smo-1").body
    assert [(r["action"], r["outcome"], r["reason"]) for r in page["records"]] == [
        ("scale", "accepted", "busy hour")
    ]
    record = page["records"][0]
    assert record["target"] == "nfDeployments/nginx-prod"
    assert record["operationId"] == scaled.headers["X-O2DMS-Operation-Id"]
    assert call(running, "GET", "audit?actor=mallory").body["records"] == []

    everything = call(running, "GET", "audit?deploymentId=nginx-prod").body["records"]
    assert [r["actor"] for r in everything] == ["smo-1", "tester"]  # newest first
    assert [r["action"] for r in everything] == ["scale", "instantiate"]
    since = everything[0]["at"]
    assert [r["actor"] for r in call(running, "GET", f"audit?since={since}").body["records"]] == [
        "smo-1"
    ]
    assert call(running, "GET", "audit?until=2000-01-01T00:00:00Z").body["records"] == []

    exported = running.http.get("/o2dms/v1/audit?format=jsonl&limit=1")
    assert exported.status_code == 200
    assert exported.headers["Content-Type"] == "application/x-ndjson"
    lines = exported.body.decode().splitlines()
    assert [json.loads(line)["actor"] for line in lines] == ["smo-1"]
    rest = running.http.get(
        f"/o2dms/v1/audit?format=jsonl&nextToken={exported.headers['X-O2DMS-Next-Token']}"
    )
    assert len(rest.body.decode().splitlines()) >= 2  # the instantiate, the descriptor

    for bad in ("since=yesterday", "format=csv", "limit=0", "nextToken=Zm9v", "who=me"):
        answer = call(running, "GET", f"audit?{bad}")
        assert_refused(answer, 400, "BadRequest", bad)
