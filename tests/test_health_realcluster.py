"""Health checks on a real kube-apiserver and kube-controller-manager (``tests/kit.py``;
nodesim makes pods Ready, and lets ``crash`` images crash-loop): a healthy 3-replica rollout
shows each pod's readiness, startup and liveness as the pods' own conditions say; a crash
rollout shows liveness unhealthy with CrashLoopBackOff while it runs, then rolls back; a
Service that selects no pods has its endpoint check unhealthy."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.api_helpers import call
from tests.apm_bodies import V1, my_app
from tests.real_cluster import Kube, follow_all, manager_for, real_adapters

pytestmark = pytest.mark.realcluster
NF = "/o2dms/v1/nfDeployments/my-app-production"


def _ready_pods(kube: Kube, namespace: str) -> dict[str, bool]:
    """Each pod's Ready condition, as the API server has it."""
    found = kube.json("kubectl", "get", "pods", "-n", namespace, "-o", "json")
    return {
        pod["metadata"]["name"]: any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in pod["status"].get("conditions") or []
        )
        for pod in found["items"]
        if not pod["metadata"].get("deletionTimestamp")
    }


def _endpoints(client: Any, wanted: str, timeout: float = 30) -> dict[str, Any]:
    """The Service's endpoint check once it says ``wanted`` (the EndpointSlice controller
    follows pod readiness a moment later), or as last read."""
    deadline = time.monotonic() + timeout
    while True:
        checks = call(client, "GET", f"{NF}/healthChecks").body["healthChecks"]
        found: dict[str, Any] = next(c for c in checks if c["type"] == "endpoints")
        if found["status"] == wanted or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def test_realcluster_health_checks_follow_the_pods(kube: Kube) -> None:
    namespace = kube.new_namespace()
    try:
        with real_adapters(operation_timeout_seconds=90) as (client, driver):
            manager = manager_for(kube.kubeconfig, namespace)
            assert call(client, "POST", "deploymentManagers", manager).status == 201

            # an HTTP check of its own Service (nothing answers behind Services on this kit:
            # not required, so it does not hold the rollout up)
            own = {"name": "web-http", "service": "my-app-service", "port": 80}
            own |= {"timeout_seconds": 1, "required": False}
            body = my_app("v1.0.0", namespace=namespace, replicas=3, health_checks=[own])
            answer = call(client, "POST", V1, body)
            assert answer.status == 201, answer.body
            follow_all(driver, timeout=120, interval=1)
            done = call(client, "GET", f"{V1}/{answer.body['id']}").body
            assert done["status"] == "completed", done
            recorded = {c["name"]: c["status"] for c in done["health_checks"]}
            assert recorded["my-app-deployment-readiness"] == "healthy", done["health_checks"]

            now = call(client, "GET", f"{NF}/healthChecks?detail=pods").body
            pods = _ready_pods(kube, namespace)
            assert len(pods) == 3
            readiness = {
                c["pod"]: c["status"] for c in now["healthChecks"] if c["type"] == "readiness"
            }
            assert readiness == {
                pod: "healthy" if ready else "unhealthy" for pod, ready in pods.items()
            }
            for kind in ("startup", "liveness"):
                statuses = {c["status"] for c in now["healthChecks"] if c["type"] == kind}
                assert statuses == {"healthy"}, now["healthChecks"]
            endpoints = _endpoints(client, "healthy")
            assert endpoints["name"] == "my-app-service-endpoints"
            assert endpoints["status"] == "healthy", endpoints  # the slices catch up

            # a crash-looping version: liveness says so while it runs, then it rolls back
            crash = call(
                client, "POST", V1, my_app("v2.0.0-crash", namespace=namespace, replicas=3)
            )
            assert crash.status == 201, crash.body
            seen: list[str] = []
            deadline = time.monotonic() + 120
            while driver.pending() and time.monotonic() < deadline:
                driver.poll()
                found = call(client, "GET", f"{V1}/{crash.body['id']}").body
                seen += [
                    c["message"]
                    for c in found["health_checks"]
                    if c["type"] == "liveness" and c["status"] == "unhealthy"
                ]
                time.sleep(1)
            ended = call(client, "GET", f"{V1}/{crash.body['id']}").body
            assert ended["status"] == "rolled_back", ended
            assert any("CrashLoopBackOff" in message for message in seen), seen

            # the namespace asks Istio to inject sidecars, and no pod has one
            kube.kubectl("label", "namespace", namespace, "istio-injection=enabled")
            mesh = call(client, "GET", f"{NF}/healthChecks").body["healthChecks"]
            istio = next(c for c in mesh if c["type"] == "istio")
            assert istio["status"] == "unhealthy", istio
            assert istio["message"].startswith("0 of 3 pods healthy")
            assert "istio-proxy sidecar missing" in istio["message"]
            kube.kubectl("label", "namespace", namespace, "istio-injection-")

            # no pods behind the Service: its endpoint check is unhealthy
            scaled = call(client, "POST", f"{NF}/scale", {"replicas": 0})
            assert scaled.status == 204, scaled.body
            follow_all(driver, timeout=120, interval=1)
            endpoints = _endpoints(client, "unhealthy")
            assert endpoints["status"] == "unhealthy", endpoints
            assert "no ready endpoints" in endpoints["message"]
            assert call(client, "GET", f"{NF}/healthChecks").body["healthy"] is False
            custom = next(
                c
                for c in call(client, "GET", f"{NF}/healthChecks").body["healthChecks"]
                if c["name"] == "web-http"
            )
            assert custom["status"] == "unhealthy", custom
            assert custom["message"] == (
                "GET my-app-service:80/: the API server answered 503: no endpoints available"
                ' for service "my-app-service"'
            )
    finally:
        kube.drop_namespace(namespace)
