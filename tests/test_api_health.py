"""Health checks through both APIs on the simulated cluster: what a rollout records (one
check per component and type), what ``/status`` shows, and the checks evaluated on request,
per pod with ``?detail=pods``; a crash-looping rollout's liveness is unhealthy while it runs."""

from __future__ import annotations

from typing import Any

from tests import auth_helpers
from tests.api_helpers import call
from tests.apm_bodies import V1, my_app, two_parts
from tests.conftest import World

NF = "/o2dms/v1/nfDeployments/my-app-production"


def started(client: Any, world: World, body: dict[str, Any]) -> dict[str, Any]:
    answer = call(client, "POST", V1, body)
    assert answer.status == 201, answer.body
    for _ in range(3):
        world.settle()
    found: dict[str, Any] = call(client, "GET", f"{V1}/{answer.body['id']}").body
    return found


def summary(checks: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    return {c["name"]: (c["status"], c["message"]) for c in checks}


def test_a_healthy_rollout_records_its_checks_per_type(client: Any, world: World) -> None:
    done = started(client, world, my_app("v1.0.0", replicas=3))
    assert done["status"] == "completed", done
    expected = {
        "my-app-deployment-readiness": ("healthy", "3 of 3 pods healthy"),
        "my-app-deployment-startup": ("healthy", "3 of 3 pods healthy"),
        "my-app-deployment-liveness": ("healthy", "3 of 3 pods healthy"),
        "my-app-service-endpoints": ("healthy", "Service my-app-service has 3 ready endpoints"),
    }
    assert summary(done["health_checks"]) == expected
    assert {c["type"] for c in done["health_checks"]} == {
        "readiness",
        "startup",
        "liveness",
        "endpoints",
    }
    status = call(client, "GET", f"{NF}/status").body
    assert summary(status["healthChecks"]) == expected

    now = call(client, "GET", f"{NF}/healthChecks").body
    assert now["healthy"] is True
    assert summary(now["healthChecks"]) == expected
    pods = call(client, "GET", f"{NF}/healthChecks?detail=pods").body["healthChecks"]
    per_pod = [c for c in pods if c["pod"]]
    assert len(per_pod) == 9
    assert {c["name"].rsplit("-", 1)[1] for c in per_pod} == {"readiness", "startup", "liveness"}
    assert all(c["name"].startswith(f"{c['pod']}-") for c in per_pod)
    assert {c["message"] for c in per_pod if c["type"] == "readiness"} == {"Pod is ready"}
    seed = call(client, "GET", f"{V1}/{done['id']}/health_checks?detail=pods").body
    assert (seed["id"], seed["healthy"], len(seed["health_checks"])) == (done["id"], True, 10)


def test_a_crash_loop_shows_in_liveness_while_it_runs(client: Any, world: World) -> None:
    started(client, world, my_app("v1.0.0", replicas=2))
    answer = call(client, "POST", V1, my_app("v2.0.0-crash", replicas=2))
    world.clock.advance(3)
    world.driver.poll()
    running = call(client, "GET", f"{V1}/{answer.body['id']}").body
    checks = summary(running["health_checks"])
    status, message = checks["my-app-deployment-liveness"]
    assert status == "unhealthy", running["health_checks"]
    assert "CrashLoopBackOff" in message
    for _ in range(4):
        world.settle()
    ended = call(client, "GET", f"{V1}/{answer.body['id']}").body
    assert ended["status"] == "rolled_back"
    assert "CrashLoopBackOff" in ended["reason"]


def test_components_have_checks_of_their_own(client: Any, world: World) -> None:
    done = started(client, world, two_parts("v1.0.0"))
    names = {c["name"] for c in done["health_checks"]}
    assert {"api-readiness", "db-readiness", "api-liveness", "db-startup"} <= names
    assert {c["component"] for c in done["health_checks"]} == {"api", "db"}


def test_health_reads_are_checked_like_any_read(client: Any, world: World) -> None:
    started(client, world, my_app("v1.0.0"))
    assert call(client, "GET", f"{NF}/healthChecks?detail=all").status == 400
    assert call(client, "GET", f"{NF}/healthChecks?colour=red").status == 400
    assert call(client, "GET", "/o2dms/v1/nfDeployments/nobody/healthChecks").status == 404
    auth_helpers.sign_in(client, "viewer")
    assert call(client, "GET", f"{NF}/healthChecks").status == 200
    auth_helpers.sign_in(client, "o2dms-viewer:staging")
    assert call(client, "GET", f"{NF}/healthChecks").status == 403


def test_a_terminated_deployment_keeps_no_health_checks(client: Any, world: World) -> None:
    started(client, world, my_app("v1.0.0"))
    assert call(client, "GET", f"{NF}/status").body["healthChecks"]
    assert call(client, "DELETE", NF).status == 202
    world.settle()
    status = call(client, "GET", f"{NF}/status").body
    assert (status["status"], status["healthChecks"]) == ("NOT_INSTANTIATED", [])
    assert call(client, "GET", f"{NF}/healthChecks").body["healthChecks"] == []
