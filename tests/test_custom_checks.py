"""A deployment's own health checks: run through the Kubernetes API server's service proxy
(here a Kubernetes API emulator answering the proxy paths: a good answer, a wrong status,
the API server's refusal, a timeout, TCP), and in the rollout on the simulated cluster: a
dependency that is not there fails the verifying stage, naming it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.adapters.gitops.kube import KubeApi
from chalicelib.adapters.workloads import probes
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.health import CustomCheck, HealthCheck, HealthStatus, custom_checks
from chalicelib.service.health import due
from tests.api_helpers import call
from tests.apm_bodies import V1, my_app
from tests.conftest import World
from tests.kube_emulator import EmulatedCluster

PROXY = "get /api/v1/namespaces/production/services/web:8080/proxy"
NOW = datetime(2026, 12, 3, tzinfo=UTC)
NO_ENDPOINTS = {"kind": "Status", "message": 'no endpoints available for service "web"'}


def http(path: str, **extra: Any) -> CustomCheck:
    return CustomCheck(
        name=path.strip("/") or "root", type="http", service="web", port=8080, path=path, **extra
    )


def test_checks_go_through_the_service_proxy(cluster: EmulatedCluster) -> None:
    rules = cluster._kmock
    rules[f"{PROXY}/healthz"] << 200 << b"ok"
    rules[f"{PROXY}/broken"] << 500 << b"boom"
    rules[f"{PROXY}/gone"] << 503 << NO_ENDPOINTS

    async def slow(request: Any = None) -> str:
        await asyncio.sleep(3)
        return "late"

    rules[f"{PROXY}/slow"] << slow
    checks = (
        http("/healthz"),
        http("/broken"),
        http("/gone"),
        http("/slow", timeout_seconds=0.5),
        CustomCheck("db", "tcp", "web", 8080, "/gone", dependency=True),
        CustomCheck("raw", "tcp", "web", 8080, "/broken"),
    )
    with KubeApi(cluster.credentials()).session() as kube:
        found = {c.name: c for c in probes.run(kube, "production", checks, NOW)}
    assert (found["healthz"].status, found["healthz"].message) == (
        HealthStatus.HEALTHY,
        "GET web:8080/healthz answered 200",
    )
    assert found["broken"].message == "GET web:8080/broken answered 500, expected 200"
    assert found["gone"].status is HealthStatus.UNHEALTHY
    assert found["gone"].message == (
        'GET web:8080/gone: the API server answered 503: no endpoints available for service "web"'
    )
    assert found["slow"].message == "web:8080: no answer within 0.5s"
    assert (found["db"].type, found["db"].status) == ("dependency", HealthStatus.UNHEALTHY)
    assert found["raw"].status is HealthStatus.HEALTHY  # something answered: it connects
    paths = [s.path for s in cluster.seen() if "/proxy/" in s.path]
    assert paths[0] == "/api/v1/namespaces/production/services/web:8080/proxy/healthz"


def test_declared_checks_are_read_from_the_values() -> None:
    values = {
        "healthChecks": [
            {"name": "api", "service": "web", "port": 80, "path": "/ready", "failureThreshold": 2},
            {"name": "db", "type": "tcp", "service": "pg", "port": 5432, "dependency": True},
        ]
    }
    api, db = custom_checks(values)
    assert (api.type, api.path, api.failure_threshold, api.expect_status) == (
        "http",
        "/ready",
        2,
        200,
    )
    assert (db.type, db.dependency) == ("tcp", True)
    with pytest.raises(InvalidRequest, match="port"):
        custom_checks({"healthChecks": [{"name": "x", "service": "web"}]})


def test_a_missing_dependency_fails_verifying_naming_it(client: Any, world: World) -> None:
    dependency = {"name": "db-connection", "type": "tcp", "service": "postgres", "port": 5432}
    answer = call(client, "POST", V1, my_app("v1.0.0", dependencies=[dependency]))
    assert answer.status == 201, answer.body
    for _ in range(4):
        world.settle()
    failed = call(client, "GET", f"{V1}/{answer.body['id']}").body
    assert failed["status"] == "failed", failed
    assert "health check db-connection was unhealthy 3 times in a row" in failed["message"]
    assert 'no endpoints available for service "postgres"' in failed["message"]
    checks = {c["name"]: c for c in failed["health_checks"]}
    assert checks["db-connection"]["type"] == "dependency"
    assert checks["db-connection"]["status"] == "unhealthy"
    nf = call(client, "GET", "/o2dms/v1/nfDeployments/my-app-production").body
    assert "db-connection" in nf["message"]

    database = {
        "name": "postgres",
        "version": "16.4",
        "platform": "kubernetes",
        "environment": "production",
        "configuration": {"image": "registry.example.com/postgres", "service_name": "postgres"},
    }
    assert call(client, "POST", V1, database).status == 201
    world.settle()
    again = call(client, "POST", V1, my_app("v1.0.1", dependencies=[dependency]))
    assert again.status == 201, again.body
    for _ in range(2):
        world.settle()
    done = call(client, "GET", f"{V1}/{again.body['id']}").body
    assert done["status"] == "completed", done
    healthy = {c["name"]: c["status"] for c in done["health_checks"]}
    assert healthy["db-connection"] == "healthy"


def test_a_check_that_fails_after_an_upgrade_rolls_it_back(client: Any, world: World) -> None:
    own = {"name": "api-health", "service": "my-app-service", "port": 80, "path": "/healthz"}
    assert call(client, "POST", V1, my_app("v1.0.0", health_checks=[own])).status == 201
    world.settle()
    elsewhere = {**own, "service": "my-app-v2", "failure_threshold": 2}
    answer = call(client, "POST", V1, my_app("v2.0.0", health_checks=[elsewhere]))
    for _ in range(4):
        world.settle()
    found = call(client, "GET", f"{V1}/{answer.body['id']}").body
    assert found["status"] == "rolled_back", found
    assert found["reason"].startswith("health check api-health was unhealthy 2 times in a row")
    assert 'no endpoints available for service "my-app-v2"' in found["reason"]


def test_a_check_runs_again_only_after_its_interval() -> None:
    every = CustomCheck("every", "http", "web", 80)
    hourly = CustomCheck("hourly", "http", "web", 80, interval_seconds=3600)
    last = (
        HealthCheck("every", "http", HealthStatus.HEALTHY, "ok", since=NOW),
        HealthCheck("hourly", "http", HealthStatus.UNHEALTHY, "down", since=NOW),
    )
    to_run, kept = due((every, hourly), last, NOW + timedelta(minutes=5))
    assert [c.name for c in to_run] == ["every"]
    assert [c.message for c in kept] == ["down"]
    to_run, kept = due((every, hourly), last, NOW + timedelta(hours=2))
    assert ([c.name for c in to_run], kept) == (["every", "hourly"], ())


def test_a_descriptor_may_declare_the_checks(client: Any, world: World) -> None:
    descriptor = {
        "descriptorId": "web-checked-1.0.0",
        "name": "web",
        "artifactRepoUrl": "https://charts.example.com/stable",
        "artifactName": "web",
        "artifactVersion": "1.0.0",
        "defaultParameters": {
            "replicaCount": 1,
            "healthChecks": [{"name": "cache", "type": "tcp", "service": "redis", "port": 6379}],
        },
    }
    assert call(client, "POST", "nfDeploymentDescriptors", descriptor).status == 201
    body = {"name": "web-checked", "descriptorId": "web-checked-1.0.0", "namespace": "lab"}
    assert call(client, "POST", "nfDeployments", body).status == 201
    for _ in range(4):
        world.settle()
    status = call(client, "GET", "nfDeployments/web-checked/status").body
    assert status["status"] == "FAILED", status
    cache = next(c for c in status["healthChecks"] if c["name"] == "cache")
    assert cache["message"] == 'no endpoints available for service "redis"'
