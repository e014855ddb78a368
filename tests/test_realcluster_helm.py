"""The real-cluster suite for the Helm adapter: the HTTP API, the real helm binary and a
real API server. Runs only when O2DMS_TEST_KUBECONFIG names a kubeconfig (for example of
a kind or k3d cluster, see the README); the cluster must be able to pull the demo chart's
nginx images. Each test works in a namespace of its own and deletes it afterwards."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api_helpers import call
from tests.real_cluster import ROOT, demo_descriptor, follow_all, real_adapters

KUBECONFIG = os.environ.get("O2DMS_TEST_KUBECONFIG", "")
pytestmark = [
    pytest.mark.realcluster,
    pytest.mark.skipif(
        not KUBECONFIG, reason="set O2DMS_TEST_KUBECONFIG to a kubeconfig file to run it"
    ),
]
BIN = ROOT / ".local" / "bin"


def _tool(name: str, *args: str) -> Any:
    done = subprocess.run(
        [str(BIN / name), "--kubeconfig", KUBECONFIG, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout) if done.stdout.strip() else None


@pytest.fixture
def namespace() -> Iterator[str]:
    name = f"o2dms-test-{secrets.token_hex(3)}"
    yield name
    subprocess.run(
        [
            str(BIN / "kubectl"),
            "--kubeconfig",
            KUBECONFIG,
            "delete",
            "namespace",
            name,
            "--ignore-not-found",
            "--wait=false",
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )


def _setup(client: Any, namespace: str) -> None:
    manager = {
        "deploymentManagerId": "test-cluster",
        "kind": "kubeconfig",
        "kubeconfigSource": f"file:{KUBECONFIG}",
        "defaultNamespace": namespace,
        "default": True,
    }
    assert call(client, "POST", "deploymentManagers", manager).status == 201
    for version in ("0.1.0", "0.2.0"):
        assert (
            call(client, "POST", "nfDeploymentDescriptors", demo_descriptor(version)).status == 201
        )


def _deployment(namespace: str) -> dict[str, Any]:
    found: dict[str, Any] = _tool(
        "kubectl", "get", "deployment", "demo", "-n", namespace, "-o", "json"
    )
    return found


def _settled(client: Any, driver: Any) -> dict[str, Any]:
    follow_all(driver)
    status: dict[str, Any] = call(client, "GET", "nfDeployments/demo/status").body
    return status


def test_realcluster_helm_lifecycle_matches_helm_and_the_cluster(namespace: str) -> None:
    with real_adapters(operation_timeout_seconds=240) as (client, driver):
        _setup(client, namespace)
        created = call(
            client, "POST", "nfDeployments", {"name": "demo", "descriptorId": "demo-0.1.0"}
        )
        assert created.status == 201
        assert _settled(client, driver)["status"] == "INSTANTIATED"
        assert _deployment(namespace)["status"]["readyReplicas"] == 1

        upgrade = {"descriptorId": "demo-0.2.0", "parameters": {"podAnnotations": {"o2dms": "up"}}}
        assert call(client, "PUT", "nfDeployments/demo", upgrade).status == 200
        assert _settled(client, driver)["status"] == "INSTANTIATED"
        labels = _deployment(namespace)["metadata"]["labels"]
        assert labels["helm.sh/chart"] == "demo-0.2.0"

        assert call(client, "POST", "nfDeployments/demo/scale", {"replicas": 3}).status == 204
        assert _settled(client, driver)["status"] == "INSTANTIATED"
        workload = _deployment(namespace)
        assert (workload["spec"]["replicas"], workload["status"]["readyReplicas"]) == (3, 3)

        assert call(client, "POST", "nfDeployments/demo/rollback", {"revision": 0}).status == 200
        assert _settled(client, driver)["status"] == "INSTANTIATED"
        assert _deployment(namespace)["spec"]["replicas"] == 1  # revision 2: 0.2.0, 1 replica

        assert call(client, "POST", "nfDeployments/demo/rollback", {"revision": 1}).status == 200
        assert _settled(client, driver)["status"] == "INSTANTIATED"
        assert _deployment(namespace)["metadata"]["labels"]["helm.sh/chart"] == "demo-0.1.0"

        ours = call(client, "GET", "nfDeployments/demo/history").body["revisions"]
        helm = {
            str(r["revision"]): r
            for r in _tool("helm", "history", "demo", "-n", namespace, "-o", "json")
        }
        assert [r["revision"] for r in ours] == [5, 4, 3, 2, 1]
        for revision in ours:
            theirs = helm[revision["backendRef"]]
            assert theirs["chart"] == f"demo-{revision['chartVersion']}"
            assert theirs["status"] == revision["status"]

        assert call(client, "DELETE", "nfDeployments/demo").status == 202
        follow_all(driver)
        assert call(client, "GET", "nfDeployments/demo").status == 404
        assert len(call(client, "GET", "nfDeployments/demo/history").body["revisions"]) == 5


def test_realcluster_rollback_older_than_helm_history_redeploys_the_snapshot(
    namespace: str,
) -> None:
    with real_adapters(operation_timeout_seconds=240, helm_max_history=2) as (client, driver):
        _setup(client, namespace)
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
        kept = {
            r["revision"] for r in _tool("helm", "history", "demo", "-n", namespace, "-o", "json")
        }
        assert 1 not in kept  # helm has pruned our revision 1

        assert call(client, "POST", "nfDeployments/demo/rollback", {"revision": 1}).status == 200
        assert _settled(client, driver)["status"] == "INSTANTIATED"

        workload = _deployment(namespace)
        assert workload["metadata"]["labels"]["helm.sh/chart"] == "demo-0.1.0"
        assert workload["spec"]["replicas"] == 2
        values = _tool("helm", "get", "values", "demo", "-n", namespace, "-o", "json")
        assert values["replicaCount"] == 2
