"""A registered cluster that cannot be reached: the real helm binary fails to connect, the
API answers 503 in the documented shape, and the operation ends FAILED with its lease
released, so the deployment is not stuck."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest

from tests.api_helpers import call
from tests.real_cluster import ROOT, demo_descriptor, follow_all, real_adapters

pytestmark = pytest.mark.skipif(
    not (ROOT / ".local" / "bin" / "helm").exists() and shutil.which("helm") is None,
    reason="the helm binary is installed by make setup",
)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _kubeconfig(path: Path, server: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "gone", "cluster": {"server": server}}],
        "users": [{"name": "me", "user": {"token": "not-a-secret"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "me"}}],
        "current-context": "gone",
    }
    path.write_text(json.dumps(config))
    return path


def test_unreachable_cluster_is_503_and_leaves_nothing_stuck(tmp_path: Path) -> None:
    kubeconfig = _kubeconfig(tmp_path / "kubeconfig", f"https://127.0.0.1:{_closed_port()}")
    with real_adapters(operation_timeout_seconds=30) as (client, driver):
        manager = {
            "deploymentManagerId": "gone",
            "kind": "kubeconfig",
            "kubeconfigSource": f"file:{kubeconfig}",
            "default": True,
        }
        assert call(client, "POST", "deploymentManagers", manager).status == 201
        assert (
            call(client, "POST", "nfDeploymentDescriptors", demo_descriptor("0.1.0")).status == 201
        )

        answer = call(
            client, "POST", "nfDeployments", {"name": "demo", "descriptorId": "demo-0.1.0"}
        )

        assert answer.status == 503
        assert answer.body["error"] == "ServiceUnavailable"
        assert answer.body["code"] == 503
        operation = call(client, "GET", "nfDeployments/demo/operations").body["operations"][0]
        assert operation["state"] == "FAILED"
        assert operation["error"]["error"] == "BackendUnavailable"
        status = call(client, "GET", "nfDeployments/demo/status").body
        assert status["status"] == "FAILED"
        assert status["operationId"] is None
        deleted = call(client, "DELETE", "nfDeployments/demo")
        follow_all(driver)
        assert deleted.status == 202
        assert call(client, "GET", "nfDeployments/demo").body["status"] == "NOT_INSTANTIATED"
        assert call(client, "DELETE", "deploymentManagers/gone").status == 204
