"""Failure paths of the Helm adapter on a real API server (the session's cluster, see
``tests/kit.py``). Each ends in a terminal operation with the lease released, history
intact and contiguous, and an error in the documented shape: a rollout that outlives its
timeout, a release removed behind our back, a namespace that is missing or deleted,
credentials that may only read, and a seed example the API server refuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.api_helpers import Answer, call
from tests.real_cluster import (
    EXAMPLE_CHARTS,
    Kube,
    demo_descriptor,
    follow_all,
    manager_for,
    real_adapters,
)

pytestmark = pytest.mark.realcluster


def _setup(client: Any, kubeconfig: str, namespace: str) -> None:
    assert call(
        client, "POST", "deploymentManagers", manager_for(kubeconfig, namespace)
    ).status == (201)
    for version in ("0.1.0", "0.2.0"):
        answer = call(client, "POST", "nfDeploymentDescriptors", demo_descriptor(version))
        assert answer.status == 201, answer.body


def _create(client: Any, driver: Any, **body: Any) -> None:
    answer = call(
        client, "POST", "nfDeployments", {"name": "demo", "descriptorId": "demo-0.1.0", **body}
    )
    assert answer.status == 201, answer.body
    assert _settled(client, driver)["status"] == "INSTANTIATED"


def _settled(client: Any, driver: Any) -> dict[str, Any]:
    """Follow every rollout to its end; the deployment's status once it has ended."""
    follow_all(driver, timeout=120, interval=0.5)
    status: dict[str, Any] = call(client, "GET", "nfDeployments/demo/status").body
    assert status["operationId"] is None, status  # the lease is free
    return status


def _last_operation(client: Any) -> dict[str, Any]:
    found: dict[str, Any] = call(client, "GET", "nfDeployments/demo/operations").body["operations"][
        0
    ]
    return found


def _history(client: Any) -> list[tuple[int, str]]:
    revisions = call(client, "GET", "nfDeployments/demo/history").body["revisions"]
    numbers = [r["revision"] for r in revisions]
    assert numbers == list(range(len(numbers), 0, -1)), numbers  # contiguous, newest first
    return [(r["revision"], r["status"]) for r in revisions]


def _error(answer: Answer, code: int) -> str:
    assert answer.status == code, answer.body
    assert answer.body["code"] == code
    assert set(answer.body) == {"error", "message", "code"}
    message: str = answer.body["message"]
    return message


def _image(kube: Kube, namespace: str) -> str:
    found = kube.get("deployment", "demo", namespace)
    assert found is not None
    image: str = found["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


def test_a_rollout_past_its_timeout_rolls_back_by_itself(kube: Kube, namespace: str) -> None:
    with real_adapters(operation_timeout_seconds=6) as (client, driver):
        _setup(client, kube.kubeconfig, namespace)
        _create(client, driver)
        before = _image(kube, namespace)

        slow = {"parameters": {"image": {"tag": "slow"}}}  # ready only after 20 s
        assert call(client, "PUT", "nfDeployments/demo", slow).status == 200
        status = _settled(client, driver)

        assert status["status"] == "INSTANTIATED"
        operation = _last_operation(client)
        assert operation["state"] == "ROLLED_BACK"
        assert "timed out" in operation["error"]["message"].lower()
        assert _history(client) == [(3, "deployed"), (2, "failed"), (1, "superseded")]
        assert _image(kube, namespace) == before
        helm = kube.json("helm", "history", "demo", "-n", namespace, "-o", "json")
        assert helm[-1]["status"] == "deployed"


def test_a_release_removed_behind_our_back_is_reported_and_reinstalled(
    kube: Kube, namespace: str
) -> None:
    with real_adapters(operation_timeout_seconds=60) as (client, driver):
        _setup(client, kube.kubeconfig, namespace)
        _create(client, driver, parameters={"replicaCount": 2})
        assert call(client, "PUT", "nfDeployments/demo", {"descriptorId": "demo-0.2.0"}).status == (
            200
        )
        _settled(client, driver)
        kube.run("helm", "uninstall", "demo", "-n", namespace, "--wait")

        scale = call(client, "POST", "nfDeployments/demo/scale", {"replicas": 3})
        message = _error(scale, 409)
        assert "no longer installed" in message
        assert "removed outside O2-DMS" in message
        assert "an upgrade or a rollback" in message
        assert _settled(client, driver)["status"] == "INSTANTIATED"
        assert _last_operation(client)["state"] == "FAILED"

        rollback = call(client, "POST", "nfDeployments/demo/rollback", {"revision": 1})
        assert rollback.status == 200, rollback.body
        assert _settled(client, driver)["status"] == "INSTANTIATED"
        workload = kube.get("deployment", "demo", namespace)
        assert workload is not None
        assert workload["metadata"]["labels"]["helm.sh/chart"] == "demo-0.1.0"
        assert workload["spec"]["replicas"] == 2

        kube.run("helm", "uninstall", "demo", "-n", namespace, "--wait")
        upgrade = {"descriptorId": "demo-0.2.0", "parameters": {"replicaCount": 1}}
        assert call(client, "PUT", "nfDeployments/demo", upgrade).status == 200
        assert _settled(client, driver)["status"] == "INSTANTIATED"
        workload = kube.get("deployment", "demo", namespace)
        assert workload is not None
        assert workload["metadata"]["labels"]["helm.sh/chart"] == "demo-0.2.0"
        assert _history(client) == [
            (5, "deployed"),
            (4, "superseded"),
            (3, "failed"),  # the refused scale
            (2, "superseded"),
            (1, "superseded"),
        ]


def test_a_missing_namespace_is_created_and_a_deleted_one_recovered(kube: Kube) -> None:
    namespace = f"{kube.new_namespace()}-absent"
    try:
        with real_adapters(operation_timeout_seconds=60) as (client, driver):
            _setup(client, kube.kubeconfig, "default")
            _create(client, driver, namespace=namespace)
            assert kube.get("namespace", namespace, "default") is not None
            assert kube.get("deployment", "demo", namespace) is not None

            kube.kubectl("delete", "namespace", namespace, "--wait=true", "--timeout=90s")
            upgrade = {"parameters": {"replicaCount": 2}}
            answer = call(client, "PUT", "nfDeployments/demo", upgrade)
            assert answer.status == 200, answer.body
            assert _settled(client, driver)["status"] == "INSTANTIATED"
            workload = kube.get("deployment", "demo", namespace)
            assert workload is not None
            assert workload["status"]["readyReplicas"] == 2
            assert [n for n, _ in _history(client)] == [2, 1]
    finally:
        kube.drop_namespace(namespace)


def _read_only_kubeconfig(kube: Kube, namespace: str, path: Path) -> Path:
    """A kubeconfig whose user is a ServiceAccount bound to the ``view`` ClusterRole."""
    kube.kubectl("create", "serviceaccount", "reader", "-n", namespace)
    kube.kubectl(
        "create",
        "rolebinding",
        "reader-view",
        "--clusterrole=view",
        f"--serviceaccount={namespace}:reader",
        "-n",
        namespace,
    )
    token = kube.kubectl("create", "token", "reader", "-n", namespace, "--duration=1h").strip()
    admin = yaml.safe_load(Path(kube.kubeconfig).read_text())
    cluster = admin["clusters"][0]["cluster"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kit", "cluster": cluster}],
        "users": [{"name": "reader", "user": {"token": token}}],
        "contexts": [{"name": "reader", "context": {"cluster": "kit", "user": "reader"}}],
        "current-context": "reader",
    }
    path.write_text(json.dumps(config))
    return path


def test_read_only_credentials_are_a_clear_error(
    kube: Kube, namespace: str, tmp_path: Path
) -> None:
    reader = _read_only_kubeconfig(kube, namespace, tmp_path / "reader.kubeconfig")
    with real_adapters(operation_timeout_seconds=60) as (client, driver):
        _setup(client, str(reader), namespace)
        answer = call(
            client, "POST", "nfDeployments", {"name": "demo", "descriptorId": "demo-0.1.0"}
        )

        message = _error(answer, 503)
        assert answer.body["error"] == "ServiceUnavailable"
        assert "forbidden" in message.lower()
        assert "system:serviceaccount:" in message
        assert "permission" in message.lower()
        follow_all(driver, timeout=30)
        operation = _last_operation(client)
        assert operation["state"] == "FAILED"
        status = call(client, "GET", "nfDeployments/demo/status").body
        assert status["operationId"] is None
        assert kube.get("deployment", "demo", namespace) is None


def _nginx_descriptor() -> dict[str, Any]:
    """The README's example chart (RollingUpdate by default, as charts usually are)."""
    return {
        "descriptorId": "nginx-chart-1.2.0",
        "name": "nginx",
        "artifactRepoUrl": f"file://{EXAMPLE_CHARTS}",
        "artifactName": "nginx",
        "artifactVersion": "1.2.0",
        "defaultParameters": {"replicaCount": 2, "image": {"repository": "nginx", "tag": "1.20.0"}},
    }


def test_the_seed_recreate_upgrade_is_refused_with_what_to_change(
    kube: Kube, namespace: str
) -> None:
    with real_adapters(operation_timeout_seconds=60) as (client, driver):
        assert call(client, "POST", "deploymentManagers", manager_for(kube.kubeconfig, namespace))
        assert call(client, "POST", "nfDeploymentDescriptors", _nginx_descriptor()).status == 201
        body = {"name": "demo", "descriptorId": "nginx-chart-1.2.0"}
        assert call(client, "POST", "nfDeployments", body).status == 201
        assert _settled(client, driver)["status"] == "INSTANTIATED"

        seed = {"parameters": {"image": {"tag": "1.21.0"}, "strategy": {"type": "Recreate"}}}
        answer = call(client, "PUT", "nfDeployments/demo", seed)

        message = _error(answer, 422)
        assert answer.body["error"] == "ValidationError"
        assert "spec.strategy.rollingUpdate" in message
        assert '"rollingUpdate": null' in message  # what to send instead
        status = _settled(client, driver)
        assert (status["status"], status["revision"]) == ("INSTANTIATED", 1)
        assert _history(client) == [(2, "failed"), (1, "deployed")]
        assert _image(kube, namespace) == "nginx:1.20.0"

        fixed = {
            "parameters": {
                "image": {"tag": "1.21.0"},
                "strategy": {"type": "Recreate", "rollingUpdate": None},
            }
        }
        assert call(client, "PUT", "nfDeployments/demo", fixed).status == 200
        assert _settled(client, driver)["status"] == "INSTANTIATED"
        workload = kube.get("deployment", "demo", namespace)
        assert workload is not None
        assert workload["spec"]["strategy"] == {"type": "Recreate"}
        assert _image(kube, namespace) == "nginx:1.21.0"
