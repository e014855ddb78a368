"""The ``kubernetes`` adapter through the HTTP API, against a real API server and
kube-controller-manager (``tests/kit.py``): nodesim makes pods Ready at once and lets
``crash`` images crash-loop. A deployment is installed, upgraded, upgraded to a crashing image
(rolled back automatically) and rolled back explicitly to its first revision; after each step
the Deployment's pod template and its ReplicaSets' revisions must agree with our history."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api_helpers import call
from tests.real_cluster import Kube, follow_all, manager_for, real_adapters

pytestmark = pytest.mark.realcluster
IMAGE = "registry.example.com/web"
REVISION = "deployment.kubernetes.io/revision"
HISTORY = "deployment.kubernetes.io/revision-history"


def _accepted(answer: Any, status: int) -> str:
    assert answer.status == status, answer.body
    operation_id: str = answer.headers["X-O2DMS-Operation-Id"]
    return operation_id


def _ended(client: Any, driver: Any, operation_id: str, state: str) -> dict[str, Any]:
    follow_all(driver, timeout=120, interval=1)
    operation: dict[str, Any] = call(
        client, "GET", f"nfDeployments/demo/operations/{operation_id}"
    ).body
    assert operation["state"] == state, operation
    return operation


def _history(client: Any) -> dict[int, dict[str, Any]]:
    body = call(client, "GET", "nfDeployments/demo/history").body
    return {r["revision"]: r for r in body["revisions"]}


def _image(obj: dict[str, Any]) -> str:
    image: str = obj["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


def _images(obj: dict[str, Any]) -> list[str]:
    return [c["image"] for c in obj["spec"]["template"]["spec"]["containers"]]


def _replica_sets(kube: Kube, namespace: str) -> dict[str, dict[str, Any]]:
    """The Deployment's ReplicaSets by their current revision."""
    found = kube.json(
        "kubectl",
        "get",
        "rs",
        "-n",
        namespace,
        "-l",
        "app.kubernetes.io/instance=demo",
        "-o",
        "json",
    )
    return {rs["metadata"]["annotations"][REVISION]: rs for rs in found["items"]}


def _agree(client: Any, kube: Kube, namespace: str, revision: int, tag: str) -> dict[str, Any]:
    """Our revision ``revision`` is the one the cluster runs: same ReplicaSet revision and
    pod template (image ``tag``, version label)."""
    ours = _history(client)[revision]
    deployment = kube.get("deployment", "demo", namespace)
    assert deployment is not None
    live = deployment["metadata"]["annotations"][REVISION]
    assert ours["backendRef"] == live, (ours, live)
    assert ours["appVersion"] == tag
    assert _image(deployment) == f"{IMAGE}:{tag}"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/version"] == tag
    assert deployment["metadata"]["annotations"]["o2dms.o-ran.org/revision"] == str(revision)
    replica_set = _replica_sets(kube, namespace)[live]
    assert _image(replica_set) == f"{IMAGE}:{tag}"
    return replica_set


def test_realcluster_kubernetes_install_upgrade_crash_rollback(kube: Kube) -> None:
    namespace = kube.new_namespace()
    try:
        with real_adapters(operation_timeout_seconds=60) as (client, driver):
            manager = manager_for(kube.kubeconfig, namespace)
            assert call(client, "POST", "deploymentManagers", manager).status == 201
            descriptor = {
                "descriptorId": "web-1.0.0",
                "name": "web",
                "artifactRepoUrl": "https://charts.example.com/stable",  # never fetched
                "artifactName": "web",
                "artifactVersion": "1.0.0",
                "defaultParameters": {"replicaCount": 2, "image": {"repository": IMAGE}},
                "supportedAdapters": ["kubernetes"],
            }
            assert call(client, "POST", "nfDeploymentDescriptors", descriptor).status == 201

            # install v1 (the tag is the descriptor's version), with a Service
            body = {
                "name": "demo",
                "descriptorId": "web-1.0.0",
                "adapter": "kubernetes",
                "parameters": {"serviceName": "demo-web", "containerPort": 8080},
            }
            op = _accepted(call(client, "POST", "nfDeployments", body), 201)
            _ended(client, driver, op, "COMPLETED")
            first = _agree(client, kube, namespace, 1, "1.0.0")
            assert first["metadata"]["annotations"][REVISION] == "1"
            service = kube.get("service", "demo-web", namespace)
            assert service is not None
            assert service["spec"]["selector"] == {"app.kubernetes.io/instance": "demo"}
            cause = kube.get("deployment", "demo", namespace)["metadata"]["annotations"]  # type: ignore[index]
            assert cause["kubernetes.io/change-cause"] == (
                f"O2-DMS install to revision 1 ({IMAGE}:1.0.0)"
            )

            # upgrade to v2
            v2 = {"parameters": {"image": {"tag": "2.0.0"}}}
            op = _accepted(call(client, "PUT", "nfDeployments/demo", v2), 200)
            _ended(client, driver, op, "COMPLETED")
            _agree(client, kube, namespace, 2, "2.0.0")

            # an upgrade that crash-loops fails early and is rolled back to revision 2
            crash = {"parameters": {"image": {"tag": "3.0.0-crash"}}}
            op = _accepted(call(client, "PUT", "nfDeployments/demo", crash), 200)
            rolled = _ended(client, driver, op, "ROLLED_BACK")
            assert "keep crashing" in rolled["failure"], rolled
            assert rolled["rollbackRevision"] == 4
            history = _history(client)
            assert history[3]["status"] == "failed"
            assert history[3]["backendRef"] == "3"
            back = _agree(client, kube, namespace, 4, "2.0.0")
            # kubectl rollout undo semantics: revision 2's ReplicaSet is now revision 4
            assert back["metadata"]["annotations"][HISTORY] == "2"

            # explicit rollback to revision 1: its ReplicaSet comes back as revision 5
            answer = call(client, "POST", "nfDeployments/demo/rollback", {"revision": 1})
            op = _accepted(answer, 200)
            _ended(client, driver, op, "COMPLETED")
            again = _agree(client, kube, namespace, 5, "1.0.0")
            assert again["metadata"]["name"] == first["metadata"]["name"]
            assert again["metadata"]["annotations"][HISTORY] == "1"
            history = _history(client)
            assert history[5]["status"] == "deployed"
            assert [history[n]["backendRef"] for n in range(1, 6)] == ["1", "2", "3", "4", "5"]
            assert set(_replica_sets(kube, namespace)) == {"3", "4", "5"}
    finally:
        kube.drop_namespace(namespace)


def test_realcluster_kubernetes_adopts_a_kubectl_deployment(kube: Kube) -> None:
    """A Deployment ``kubectl create`` made (selector ``app=my-app``, two containers) is
    adopted by deployment ``demo``: only the ``my-app`` container's tag changes, then an
    upgrade and a rollback patch it as ours, with its own selector and sidecar kept."""
    namespace = kube.new_namespace()
    app, sidecar = "registry.example.com/my-app", "registry.example.com/sidecar:1.0.0"

    def live(client: Any, revision: int, tag: str) -> dict[str, Any]:
        """Our revision ``revision`` runs ``tag``, on the live Deployment and its ReplicaSet."""
        found = kube.get("deployment", "my-app", namespace)
        assert found is not None
        current = found["metadata"]["annotations"][REVISION]
        assert _history(client)[revision]["backendRef"] == current
        assert found["spec"]["selector"] == {"matchLabels": {"app": "my-app"}}
        assert found["spec"]["replicas"] == 2
        assert _images(found) == [f"{app}:{tag}", sidecar]
        assert found["spec"]["template"]["metadata"]["labels"] == {
            "app": "my-app",
            "app.kubernetes.io/version": tag,
        }
        labels = found["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "o2dms"
        assert labels["o2dms.o-ran.org/deployment"] == "demo"
        sets = kube.json("kubectl", "get", "rs", "-n", namespace, "-l", "app=my-app", "-o", "json")
        by_revision = {rs["metadata"]["annotations"][REVISION]: rs for rs in sets["items"]}
        assert _images(by_revision[current]) == [f"{app}:{tag}", sidecar]
        return by_revision

    try:
        images = (f"--image={app}:0.9.0", f"--image={sidecar}")
        kube.kubectl("create", "deployment", "my-app", *images, "--replicas=2", "-n", namespace)
        kube.kubectl("rollout", "status", "deployment/my-app", "-n", namespace, "--timeout=60s")
        with real_adapters(operation_timeout_seconds=60) as (client, driver):
            manager = manager_for(kube.kubeconfig, namespace)
            assert call(client, "POST", "deploymentManagers", manager).status == 201
            descriptor = {
                "descriptorId": "my-app-1.0.0",
                "name": "my-app",
                "artifactRepoUrl": "https://charts.example.com/stable",  # never fetched
                "artifactName": "my-app",
                "artifactVersion": "1.0.0",
                "defaultParameters": {},
                "supportedAdapters": ["kubernetes"],
            }
            assert call(client, "POST", "nfDeploymentDescriptors", descriptor).status == 201

            # adopt: the tag is the descriptor's version, the repository the live one
            body = {
                "name": "demo",
                "descriptorId": "my-app-1.0.0",
                "adapter": "kubernetes",
                "parameters": {"deploymentName": "my-app", "adopt": True, "container": "my-app"},
            }
            op = _accepted(call(client, "POST", "nfDeployments", body), 201)
            _ended(client, driver, op, "COMPLETED")
            adopted = live(client, 1, "1.0.0")
            assert set(adopted) == {"1", "2"}  # kubectl's revision 1, then ours
            assert kube.get("deployment", "demo", namespace) is None

            # upgrade: patched as ours, on its live pod template
            v2 = {"parameters": {"image": {"tag": "2.0.0"}}}
            op = _accepted(call(client, "PUT", "nfDeployments/demo", v2), 200)
            _ended(client, driver, op, "COMPLETED")
            assert set(live(client, 2, "2.0.0")) == {"1", "2", "3"}

            # rollback to revision 1: its ReplicaSet (revision 2) comes back as revision 4
            answer = call(client, "POST", "nfDeployments/demo/rollback", {"revision": 1})
            op = _accepted(answer, 200)
            _ended(client, driver, op, "COMPLETED")
            back = live(client, 3, "1.0.0")
            assert back["4"]["metadata"]["name"] == adopted["2"]["metadata"]["name"]
            assert back["4"]["metadata"]["annotations"][HISTORY] == "2"
            history = _history(client)
            assert [history[n]["backendRef"] for n in (1, 2, 3)] == ["2", "3", "4"]
            assert history[3]["status"] == "deployed"
    finally:
        kube.drop_namespace(namespace)
