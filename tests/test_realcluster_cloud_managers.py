"""GKE and AKS deployment managers drive a Helm deployment on a real API server.

No cloud is reached: Google's token endpoint and GKE API, Entra ID and Azure Resource
Manager are local stand-ins (``tests/cloud_fakes.py``) that check each request as the real
ones do. What they hand out is real, though: the access token is a ServiceAccount token of
the session's cluster (``kubectl create token``, bound to cluster-admin), and the endpoint
and CA are the cluster's own. So the real API server authenticates the token the provider
minted, and the real helm binary deploys with it. A token the API server does not know is
refused by it, and that is a 503 naming the cause, not a 500.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from tests.api_helpers import call
from tests.cloud_fakes import FakeAzure, FakeGoogle, aks_kubeconfig, make_tls, serve
from tests.real_cluster import Kube, demo_descriptor, follow_all, real_adapters

pytestmark = pytest.mark.realcluster

SUBSCRIPTION = "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
ACCOUNT = "o2dms-cloud"


@dataclass(frozen=True)
class ApiServer:
    """The session cluster's API server as a cloud would describe it, and a token of it."""

    server: str  # https://host:port
    ca: str  # base64 PEM, as kubeconfigs and cloud APIs carry it
    token: str  # a ServiceAccount token bound to cluster-admin


def _server_and_ca(kubeconfig: str) -> tuple[str, str]:
    document = yaml.safe_load(Path(kubeconfig).read_text())
    context = next(
        c["context"] for c in document["contexts"] if c["name"] == document["current-context"]
    )
    cluster = next(c["cluster"] for c in document["clusters"] if c["name"] == context["cluster"])
    ca = cluster.get("certificate-authority-data")
    if ca is None:
        ca = base64.b64encode(Path(cluster["certificate-authority"]).read_bytes()).decode()
    return str(cluster["server"]), str(ca)


@pytest.fixture
def api_server(kube: Kube, namespace: str) -> Iterator[ApiServer]:
    binding = f"{ACCOUNT}-{namespace}"
    kube.kubectl("create", "serviceaccount", ACCOUNT, "-n", namespace)
    kube.kubectl(
        "create",
        "clusterrolebinding",
        binding,
        "--clusterrole=cluster-admin",
        f"--serviceaccount={namespace}:{ACCOUNT}",
    )
    token = kube.kubectl("create", "token", ACCOUNT, "-n", namespace, "--duration=1h").strip()
    server, ca = _server_and_ca(kube.kubeconfig)
    try:
        yield ApiServer(server, ca, token)
    finally:
        kube.kubectl("delete", "clusterrolebinding", binding, "--ignore-not-found", check=False)


@contextmanager
def gke(
    monkeypatch: pytest.MonkeyPatch, cluster: ApiServer, token: str
) -> Iterator[tuple[dict[str, Any], dict[str, str], Any]]:
    """Google's stand-in handing out ``token`` for the cluster; the manager body and the
    secret (a service-account key) to register it with."""
    google = FakeGoogle(
        access_token=token,
        clusters={"ran-project/europe-west1/ran-paris": (cluster.server[8:], cluster.ca)},
    )
    with serve(google.handle) as url:
        google.url = url
        monkeypatch.setenv("O2DMS_GKE_API_URL", url)
        manager = {
            "kind": "gke",
            "project": "ran-project",
            "location": "europe-west1",
            "clusterName": "ran-paris",
        }
        yield manager, google.key_file(), google


@contextmanager
def aks(
    monkeypatch: pytest.MonkeyPatch, cluster: ApiServer, token: str, folder: Path
) -> Iterator[tuple[dict[str, Any], dict[str, str], Any]]:
    """Entra ID's and Resource Manager's stand-in (TLS, trusted through the CA bundle
    variable every requests-based client reads), handing out ``token`` for the cluster."""
    azure = FakeAzure(
        aks_token=token,
        clusters={f"{SUBSCRIPTION}/ran-rg/aks-paris": aks_kubeconfig(cluster.server, cluster.ca)},
    )
    tls = make_tls(folder)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.cert))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with serve(azure.handle, tls=tls) as url:
        azure.url = url
        monkeypatch.setenv("O2DMS_AZURE_AUTHORITY_HOST", url)
        monkeypatch.setenv("O2DMS_AZURE_MANAGEMENT_URL", url)
        manager = {
            "kind": "aks",
            "subscription": SUBSCRIPTION,
            "resourceGroup": "ran-rg",
            "clusterName": "aks-paris",
        }
        yield manager, azure.app_secret(), azure


@dataclass(frozen=True)
class Scene:
    kube: Kube
    namespace: str
    cluster: ApiServer
    monkeypatch: pytest.MonkeyPatch
    folder: Path


@pytest.fixture
def scene(
    kube: Kube,
    namespace: str,
    api_server: ApiServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Scene:
    return Scene(kube, namespace, api_server, monkeypatch, tmp_path)


@contextmanager
def cloud(
    kind: str, scene: Scene, token: str
) -> Iterator[tuple[dict[str, Any], dict[str, str], Any]]:
    """The ``kind`` cloud's stand-in handing out ``token``: the manager body, its secret,
    and the stand-in."""
    if kind == "gke":
        with gke(scene.monkeypatch, scene.cluster, token) as found:
            yield found
    else:
        with aks(scene.monkeypatch, scene.cluster, token, scene.folder) as found:
            yield found


def _register(
    client: Any, kind: str, manager: dict[str, Any], secret: dict[str, str], ns: str
) -> None:
    name = f"o2dms/clusters/{kind}-paris"
    boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name=name, SecretString=json.dumps(secret)
    )
    body = {
        "deploymentManagerId": f"{kind}-paris",
        **manager,
        "credentialsSecret": name,
        "defaultNamespace": ns,
        "default": True,
    }
    registered = call(client, "POST", "deploymentManagers", body)
    assert registered.status == 201, registered.body
    assert call(client, "POST", "nfDeploymentDescriptors", demo_descriptor("0.1.0")).status == 201


@pytest.mark.parametrize("kind", ["gke", "aks"])
def test_realcluster_cloud_manager_deploys_with_the_token_it_minted(
    kind: str, scene: Scene
) -> None:
    kube, namespace = scene.kube, scene.namespace
    with (
        cloud(kind, scene, scene.cluster.token) as (manager, secret, fake),
        real_adapters(operation_timeout_seconds=240) as (client, driver),
    ):
        _register(client, kind, manager, secret, namespace)

        created = call(
            client, "POST", "nfDeployments", {"name": "demo", "descriptorId": "demo-0.1.0"}
        )
        assert created.status == 201, created.body
        follow_all(driver, interval=1)
        status = call(client, "GET", "nfDeployments/demo/status").body

    assert status["status"] == "INSTANTIATED", status
    releases = kube.json("helm", "list", "-n", namespace, "-o", "json")
    assert [(r["name"], r["status"]) for r in releases] == [("demo", "deployed")]
    deployment = kube.get("deployment", "demo", namespace)
    assert deployment is not None
    assert deployment["status"]["readyReplicas"] == 1
    assert len(fake.grants) == (1 if kind == "gke" else 2)  # minted once, then reused


@pytest.mark.parametrize("kind", ["gke", "aks"])
def test_realcluster_cloud_manager_token_the_cluster_refuses_is_503_not_500(
    kind: str, scene: Scene
) -> None:
    wrong = f"{scene.cluster.token[:-8]}AAAAAAAA"  # the right shape, a signature that fails
    with (
        cloud(kind, scene, wrong) as (manager, secret, _),
        real_adapters(operation_timeout_seconds=60) as (client, driver),
    ):
        _register(client, kind, manager, secret, scene.namespace)

        answer = call(
            client, "POST", "nfDeployments", {"name": "demo", "descriptorId": "demo-0.1.0"}
        )
        follow_all(driver, interval=1)
        operation = call(client, "GET", "nfDeployments/demo/operations").body["operations"][0]

    assert answer.status == 503, answer.body
    assert answer.body["error"] == "ServiceUnavailable"
    assert answer.body["code"] == 503
    assert "asked for the client to provide credentials" in answer.body["message"]
    assert operation["state"] == "FAILED"
    assert operation["error"]["error"] == "BackendUnavailable"
    assert wrong not in json.dumps(answer.body)
    assert wrong not in json.dumps(operation)
    assert scene.kube.json("helm", "list", "-n", scene.namespace, "-o", "json") == []
