"""The real-cluster suite for the Helm adapter: the HTTP API, the real helm binary and a
real API server (the session's cluster, see ``tests/kit.py``). Each test works in a
namespace of its own and deletes it afterwards."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api_helpers import call
from tests.real_cluster import Kube, demo_descriptor, follow_all, manager_for, real_adapters

pytestmark = pytest.mark.realcluster


def _setup(client: Any, kube: Kube, namespace: str) -> None:
    manager = manager_for(kube.kubeconfig, namespace)
    assert call(client, "POST", "deploymentManagers", manager).status == 201
    for version in ("0.1.0", "0.2.0"):
        assert (
            call(client, "POST", "nfDeploymentDescriptors", demo_descriptor(version)).status == 201
        )


def _deployment(kube: Kube, namespace: str) -> dict[str, Any]:
    found = kube.get("deployment", "demo", namespace)
    assert found is not None, f"no Deployment {namespace}/demo"
    return found


def _helm_history(kube: Kube, namespace: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = kube.json(
        "helm", "history", "demo", "-n", namespace, "-o", "json"
    )
    return found


def _settled(client: Any, driver: Any) -> dict[str, Any]:
    follow_all(driver, interval=1)
    status: dict[str, Any] = call(client, "GET", "nfDeployments/demo/status").body
    return status


def test_realcluster_helm_lifecycle_matches_helm_and_the_cluster(
    kube: Kube, namespace: str
) -> None:
    with real_adapters(operation_timeout_seconds=240) as (client, driver):
        _setup(client, kube, namespace)
        created = call(
            client, "POST", "nfDeployments", {"name": "demo", "descriptorId": "demo-0.1.0"}
        )
        assert created.status == 201
        assert _settled(client, driver)["status"] == "INSTANTIATED"
        assert _deployment(kube, namespace)["status"]["readyReplicas"] == 1

        upgrade = {"descriptorId": "demo-0.2.0", "parameters": {"podAnnotations": {"o2dms": "up"}}}
        assert call(client, "PUT", "nfDeployments/demo", upgrade).status == 200
        assert _settled(client, driver)["status"] == "INSTANTIATED"
        labels = _deployment(kube, namespace)["metadata"]["labels"]
        assert labels["helm.sh/chart"] == "demo-0.2.0"

        assert call(client, "POST", "nfDeployments/demo/scale", {"replicas": 3}).status == 204
        assert _settled(client, driver)["status"] == "INSTANTIATED"
        workload = _deployment(kube, namespace)
        assert (workload["spec"]["replicas"], workload["status"]["readyReplicas"]) == (3, 3)

        assert call(client, "POST", "nfDeployments/demo/rollback", {"revision": 0}).status == 200
        assert _settled(client, driver)["status"] == "INSTANTIATED"
        assert _deployment(kube, namespace)["spec"]["replicas"] == 1  # revision 2: 0.2.0, 1 replica

        assert call(client, "POST", "nfDeployments/demo/rollback", {"revision": 1}).status == 200
        assert _settled(client, driver)["status"] == "INSTANTIATED"
        assert _deployment(kube, namespace)["metadata"]["labels"]["helm.sh/chart"] == "demo-0.1.0"

        ours = call(client, "GET", "nfDeployments/demo/history").body["revisions"]
        helm = {str(r["revision"]): r for r in _helm_history(kube, namespace)}
        assert [r["revision"] for r in ours] == [5, 4, 3, 2, 1]
        for revision in ours:
            theirs = helm[revision["backendRef"]]
            assert theirs["chart"] == f"demo-{revision['chartVersion']}"
            assert theirs["status"] == revision["status"]

        assert call(client, "DELETE", "nfDeployments/demo").status == 202
        follow_all(driver)
        assert call(client, "GET", "nfDeployments/demo").body["status"] == "NOT_INSTANTIATED"
        assert len(call(client, "GET", "nfDeployments/demo/history").body["revisions"]) == 5


def test_realcluster_rollback_older_than_helm_history_redeploys_the_snapshot(
    kube: Kube, namespace: str
) -> None:
    with real_adapters(operation_timeout_seconds=240, helm_max_history=2) as (client, driver):
        _setup(client, kube, namespace)
        body = {"name": "demo", "descriptorId": "demo-0.1.0", "parameters": {"replicaCount": 2}}
        assert call(client, "POST", "nfDeployments", body).status == 201
        _settled(client, driver)
        for replicas in (1, 3):
            call(
                client,
                "PUT",
                "nfDeployments/demo",
                {"descriptorId": "demo-0.2.0", "parameters": {"replicaCount": replicas}},
            )
            _settled(client, driver)
        kept = {r["revision"] for r in _helm_history(kube, namespace)}
        assert 1 not in kept  # helm has pruned our revision 1

        assert call(client, "POST", "nfDeployments/demo/rollback", {"revision": 1}).status == 200
        assert _settled(client, driver)["status"] == "INSTANTIATED"

        workload = _deployment(kube, namespace)
        assert workload["metadata"]["labels"]["helm.sh/chart"] == "demo-0.1.0"
        assert workload["spec"]["replicas"] == 2
        values = kube.json("helm", "get", "values", "demo", "-n", namespace, "-o", "json")
        assert values["replicaCount"] == 2
