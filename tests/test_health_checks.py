"""Health checks from pods and EndpointSlices: a real CrashLoopBackOff pod (recorded from a
kube-apiserver, ``../shared/fixtures/k8s``), healthy and starting pods, a sidecar, and a
Service's endpoints; and how per-pod checks add up per component."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.workloads import health
from chalicelib.domain.health import HealthCheck, HealthStatus, aggregate

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "k8s"
NOW = datetime(2026, 11, 22, 1, 55, tzinfo=UTC)


def crashing_pod() -> dict[str, Any]:
    path = FIXTURES / "pod-crashloopbackoff.json"
    if not path.exists():
        pytest.skip("the shared fixtures are not beside the project")
    found: dict[str, Any] = json.loads(path.read_text())
    return found


def ready_pod(
    name: str, *, component: str = "web", restarted_at: str | None = None
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "web",
        "ready": True,
        "started": True,
        "restartCount": 0,
        "state": {"running": {"startedAt": "2026-11-22T01:50:00Z"}},
    }
    if restarted_at:
        container["restartCount"] = 1
        container["lastState"] = {
            "terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": restarted_at}
        }
    return {
        "metadata": {
            "name": name,
            "labels": {"app": "web", "app.kubernetes.io/component": component},
        },
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-22T01:50:05Z"}
            ],
            "containerStatuses": [container],
        },
    }


def starting_pod(name: str) -> dict[str, Any]:
    pod = ready_pod(name)
    pod["status"]["conditions"][0] |= {
        "status": "False",
        "message": "containers with unready status: [web]",
    }
    pod["status"]["containerStatuses"][0] |= {
        "ready": False,
        "started": False,
        "state": {"waiting": {"reason": "ContainerCreating"}},
    }
    return pod


def component(pod: dict[str, Any]) -> str | None:
    labels = pod["metadata"].get("labels") or {}
    return labels.get("app.kubernetes.io/component")


def by_type(checks: tuple[HealthCheck, ...]) -> dict[str, HealthCheck]:
    return {c.type: c for c in checks}


def test_a_crash_looping_pod_is_unready_unstarted_and_not_alive() -> None:
    pod = crashing_pod()
    checks = by_type(health.pod_checks([pod], component_of=component, now=NOW))
    name = pod["metadata"]["name"]
    assert checks["readiness"].name == f"{name}-readiness"
    assert checks["readiness"].status is HealthStatus.PENDING  # never started
    assert "containers with unready status: [demo]" in checks["readiness"].message
    assert checks["readiness"].since == datetime(2026, 11, 22, 1, 49, 42, tzinfo=UTC)
    assert checks["startup"].status is HealthStatus.UNHEALTHY
    assert "CrashLoopBackOff" in checks["startup"].message
    live = checks["liveness"]
    assert live.status is HealthStatus.UNHEALTHY
    assert (
        live.message == "container demo: CrashLoopBackOff (2 restarts), last exit: Error (code 1)"
    )
    assert live.since == datetime(2026, 11, 22, 1, 49, 52, tzinfo=UTC)
    assert live.pod == name


def test_a_ready_pod_is_healthy_on_every_probe() -> None:
    checks = health.pod_checks([ready_pod("web-1")], component_of=component, now=NOW)
    assert [(c.name, c.status.value) for c in checks] == [
        ("web-1-readiness", "healthy"),
        ("web-1-startup", "healthy"),
        ("web-1-liveness", "healthy"),
    ]
    assert checks[0].message == "Pod is ready"
    assert checks[2].message == "No restarts in the last 10 minutes"
    assert all(c.component == "web" for c in checks)


def test_a_recent_restart_is_unhealthy_and_an_old_one_is_forgotten() -> None:
    recent = (NOW - timedelta(minutes=2)).isoformat()
    old = (NOW - timedelta(hours=2)).isoformat()
    fresh = by_type(
        health.pod_checks([ready_pod("a", restarted_at=recent)], component_of=component, now=NOW)
    )
    assert fresh["liveness"].status is HealthStatus.UNHEALTHY
    assert "OOMKilled (code 137)" in fresh["liveness"].message
    aged = by_type(
        health.pod_checks([ready_pod("a", restarted_at=old)], component_of=component, now=NOW)
    )
    assert aged["liveness"].status is HealthStatus.HEALTHY


def test_a_starting_pod_is_pending_and_a_failing_readiness_probe_unhealthy() -> None:
    starting = by_type(health.pod_checks([starting_pod("s")], component_of=component, now=NOW))
    assert {c.status for c in starting.values()} == {HealthStatus.PENDING}
    failing = ready_pod("f")
    failing["status"]["conditions"][0]["status"] = "False"
    failing["status"]["containerStatuses"][0]["ready"] = False
    checks = by_type(health.pod_checks([failing], component_of=component, now=NOW))
    assert checks["readiness"].status is HealthStatus.UNHEALTHY
    assert checks["readiness"].message.startswith("Readiness probe failing")


def test_an_istio_sidecar_is_a_check_of_its_own() -> None:
    pod = ready_pod("m")
    sidecar = copy.deepcopy(pod["status"]["containerStatuses"][0]) | {"name": "istio-proxy"}
    pod["status"]["containerStatuses"].append(sidecar)
    assert by_type(health.pod_checks([pod], component_of=component, now=NOW))["istio"].healthy
    sidecar["ready"] = False
    istio = by_type(health.pod_checks([pod], component_of=component, now=NOW))["istio"]
    assert istio.status is HealthStatus.UNHEALTHY


def test_a_service_needs_as_many_ready_endpoints_as_ready_pods() -> None:
    service = {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}}}
    pods = [ready_pod("web-1"), ready_pod("web-2")]

    def slice_of(*ready: bool | None) -> dict[str, Any]:
        return {
            "metadata": {"labels": {"kubernetes.io/service-name": "web"}},
            "endpoints": [{"conditions": {} if r is None else {"ready": r}} for r in ready],
        }

    none = health.endpoint_checks([service], [], pods)[0]
    assert (none.name, none.status) == ("web-endpoints", HealthStatus.UNHEALTHY)
    assert none.message == "Service web has no ready endpoints (2 pods selected)"
    behind = health.endpoint_checks([service], [slice_of(True, False)], pods)[0]
    assert behind.status is HealthStatus.PENDING
    full = health.endpoint_checks([service], [slice_of(True, None)], pods)[0]
    assert full.status is HealthStatus.HEALTHY
    lonely = {"metadata": {"name": "web"}, "spec": {"selector": {"app": "nothing"}}}
    assert not health.endpoint_checks([lonely], [], pods)[0].healthy


def test_checks_add_up_per_component_and_type_worst_first() -> None:
    pods = [ready_pod("web-1"), ready_pod("web-2"), crashing_pod()]
    pods[2]["metadata"]["labels"]["app.kubernetes.io/component"] = "web"
    summary = aggregate(health.pod_checks(pods, component_of=component, now=NOW))
    assert [(c.name, c.status.value) for c in summary] == [
        ("web-liveness", "unhealthy"),
        ("web-startup", "unhealthy"),
        ("web-readiness", "pending"),
    ]
    assert summary[0].message.startswith("2 of 3 pods healthy; demo-")
    assert all(c.pod is None for c in summary)
    healthy = aggregate(health.pod_checks(pods[:2], component_of=component, now=NOW))
    assert {c.message for c in healthy} == {"2 of 2 pods healthy"}


def test_a_pod_without_the_sidecar_its_namespace_injects_is_unhealthy() -> None:
    injected = {"metadata": {"labels": {"istio-injection": "enabled"}}}
    assert health.injects_sidecars(injected)
    assert health.injects_sidecars({"metadata": {"labels": {"istio.io/rev": "1-22"}}})
    assert not health.injects_sidecars({"metadata": {"labels": {}}})
    assert not health.injects_sidecars(None)
    bare = ready_pod("web-1")
    (missing,) = health.missing_sidecars([bare], component)
    assert (missing.name, missing.type, missing.status) == (
        "web-1-istio",
        "istio",
        HealthStatus.UNHEALTHY,
    )
    with_sidecar = ready_pod("web-2")
    sidecar = copy.deepcopy(with_sidecar["status"]["containerStatuses"][0]) | {
        "name": "istio-proxy"
    }
    with_sidecar["status"]["containerStatuses"].append(sidecar)
    assert health.missing_sidecars([with_sidecar], component) == ()
