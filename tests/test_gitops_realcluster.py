"""The Argo CD and Flux adapters through the HTTP API, against a real API server.

Runs on the session's real API server (``tests/kit.py``). The Argo CD and Flux CRDs from
``../shared/crds`` are created first when the cluster lacks them. No Argo CD or Flux
controller is expected to run, so no rollout ever becomes ready: after each call the test
reads the objects back with kubectl and checks their fields (so the real API server's schema
validation, CEL rules and JSON Patch handling have accepted them), then lets the operation
end by its short timeout, which frees the deployment for the next step. Each test works in a
namespace of its own, also used as Argo CD's and Flux's namespace, and deletes it (with the
objects in it) at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.api_helpers import Answer, call
from tests.real_cluster import Kube, follow_all, manager_for, real_adapters

pytestmark = pytest.mark.realcluster
CRDS = Path(__file__).resolve().parents[2] / "shared" / "crds"
APPLICATIONS = "applications.argoproj.io"
HELM_RELEASES = "helmreleases.helm.toolkit.fluxcd.io"
HELM_REPOSITORIES = "helmrepositories.source.toolkit.fluxcd.io"
HTTPS_REPO = "https://charts.example.com/stable"  # never fetched: no controller runs
OCI_REPO = "oci://registry.example.com/charts"
OPERATION_TIMEOUT = 5  # seconds; every rollout ends by it, as nothing ever becomes ready
REVISION = "o2dms.o-ran.org/revision"
OPERATION = "o2dms.o-ran.org/operation-id"
PINNED = "o2dms.o-ran.org/pinned"
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
AUTOMATED = {"prune": True, "selfHeal": True}


@pytest.fixture(scope="module")
def kube(real_kubeconfig: str) -> Kube:
    return Kube(real_kubeconfig)


def _stored(kube: Kube, kind: str, namespace: str) -> dict[str, Any]:
    found = kube.get(kind, "demo", namespace)
    assert found is not None, f"{kind} {namespace}/demo is not on the cluster"
    return found


@pytest.fixture(scope="module")
def crds(kube: Kube) -> None:
    """Create the shared CRDs the cluster lacks, and wait until all are established."""
    names = []
    for path in sorted(CRDS.glob("*.yaml")):
        name = yaml.safe_load(path.read_text())["metadata"]["name"]
        if not kube.kubectl("get", "crd", name, "-o", "name", "--ignore-not-found").strip():
            # create, not a client-side apply: the Application CRD is larger than the
            # last-applied annotation that apply would store may be
            kube.kubectl("create", "-f", str(path))
        names.append(f"crd/{name}")
    kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", *names)


@pytest.fixture
def namespace(kube: Kube, crds: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh namespace for the deployment, its Application or HelmRelease and repository."""
    name = kube.new_namespace()
    monkeypatch.setenv("O2DMS_ARGOCD_NAMESPACE", name)
    monkeypatch.setenv("O2DMS_FLUX_NAMESPACE", name)
    try:
        yield name
    finally:
        _remove(kube, name)


def _remove(kube: Kube, namespace: str) -> None:
    """Delete what a test left behind; Argo CD's finalizer would hold an Application forever."""
    left = kube.kubectl("get", APPLICATIONS, "-n", namespace, "-o", "name", check=False).split()
    for application in left:
        unhold = '{"metadata": {"finalizers": null}}'
        kube.kubectl(
            "patch", application, "-n", namespace, "--type=merge", "-p", unhold, check=False
        )
    kinds = f"{APPLICATIONS},{HELM_RELEASES},{HELM_REPOSITORIES}"
    kube.kubectl("delete", kinds, "--all", "-n", namespace, "--wait=false", check=False)
    kube.kubectl(
        "delete", "namespace", namespace, "--ignore-not-found", "--wait=false", check=False
    )


def _register(client: Any, kube: Kube, namespace: str) -> None:
    manager = manager_for(kube.kubeconfig, namespace)
    assert call(client, "POST", "deploymentManagers", manager).status == 201
    for version, repository in (("0.1.0", HTTPS_REPO), ("0.2.0", OCI_REPO)):
        descriptor = {
            "descriptorId": f"demo-{version}",
            "name": "demo",
            "artifactRepoUrl": repository,
            "artifactName": "demo",
            "artifactVersion": version,
            "defaultParameters": {"replicaCount": 1},
            "supportedAdapters": ["argocd", "flux"],
        }
        answer = call(client, "POST", "nfDeploymentDescriptors", descriptor)
        assert answer.status == 201, answer.body


def _accepted(answer: Answer, status: int) -> str:
    """The operation id of a change the API accepted with ``status``."""
    assert answer.status == status, answer.body
    operation_id = answer.headers["X-O2DMS-Operation-Id"]
    assert operation_id
    return operation_id


def _settle(client: Any, driver: Any, operation_id: str) -> dict[str, Any]:
    """Follow the operation to its end (a timeout: nothing becomes ready) and the free lease."""
    follow_all(driver, interval=1)
    operation = call(client, "GET", f"nfDeployments/demo/operations/{operation_id}").body
    assert operation["state"] in ("COMPLETED", "FAILED"), operation
    status: dict[str, Any] = call(client, "GET", "nfDeployments/demo/status").body
    assert status["operationId"] is None  # the lease is free for the next step
    return status


def _history(client: Any) -> list[tuple[int, str]]:
    revisions = call(client, "GET", "nfDeployments/demo/history").body["revisions"]
    return [(r["revision"], r["chartVersion"]) for r in revisions]


def _part(spec: dict[str, Any], *keys: str) -> tuple[Any, ...]:
    """Some fields of a spec: the API server adds the CRD's defaults (e.g. ``provider``)."""
    return tuple(spec.get(key) for key in keys)


def _notes(obj: dict[str, Any]) -> tuple[str, str, str]:
    """Our revision, operation and pin annotations on an object."""
    notes = obj["metadata"]["annotations"]
    return notes[REVISION], notes[OPERATION], notes[PINNED]


def test_realcluster_argocd_lifecycle_and_rollback_suspends_auto_sync(
    kube: Kube, namespace: str
) -> None:
    with real_adapters(operation_timeout_seconds=OPERATION_TIMEOUT, helm_atomic=False) as (
        client,
        driver,
    ):
        _register(client, kube, namespace)
        body = {
            "name": "demo",
            "descriptorId": "demo-0.1.0",
            "adapter": "argocd",
            "parameters": {"replicaCount": 2},
        }
        op = _accepted(call(client, "POST", "nfDeployments", body), 201)
        app = _stored(kube, APPLICATIONS, namespace)
        assert app["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "o2dms"
        assert "resources-finalizer.argocd.argoproj.io" in app["metadata"]["finalizers"]
        assert _notes(app) == ("1", op, "false")
        assert app["spec"]["source"] == {
            "repoURL": HTTPS_REPO,
            "chart": "demo",
            "targetRevision": "0.1.0",
            "helm": {"releaseName": "demo", "valuesObject": {"replicaCount": 2}},
        }
        assert app["spec"]["destination"] == {
            "server": "https://kubernetes.default.svc",
            "namespace": namespace,
        }
        policy = app["spec"]["syncPolicy"]
        assert policy["automated"] == AUTOMATED
        assert policy["syncOptions"] == ["CreateNamespace=true"]
        assert policy["retry"]["backoff"] == {"duration": "5s", "factor": 2, "maxDuration": "3m"}
        assert app["operation"]["sync"]["revision"] == "0.1.0"
        assert {"name": "o2dms.operationId", "value": op} in app["operation"]["info"]
        _settle(client, driver, op)

        upgrade = {"descriptorId": "demo-0.2.0", "parameters": {"debug": True}}
        op = _accepted(call(client, "PUT", "nfDeployments/demo", upgrade), 200)
        app = _stored(kube, APPLICATIONS, namespace)
        assert _notes(app) == ("2", op, "false")
        source = app["spec"]["source"]
        assert (source["repoURL"], source["targetRevision"]) == (
            "registry.example.com/charts",
            "0.2.0",
        )
        assert source["helm"]["valuesObject"] == {"replicaCount": 2, "debug": True}
        assert app["spec"]["syncPolicy"]["automated"] == AUTOMATED
        assert app["operation"]["sync"]["revision"] == "0.2.0"
        _settle(client, driver, op)

        op = _accepted(call(client, "POST", "nfDeployments/demo/scale", {"replicas": 4}), 204)
        app = _stored(kube, APPLICATIONS, namespace)
        assert _notes(app) == ("3", op, "false")
        assert app["spec"]["source"]["targetRevision"] == "0.2.0"
        assert app["spec"]["source"]["helm"]["valuesObject"] == {"replicaCount": 4, "debug": True}
        assert app["spec"]["syncPolicy"]["automated"] == AUTOMATED
        _settle(client, driver, op)

        rollback = call(client, "POST", "nfDeployments/demo/rollback", {"revision": 1})
        op = _accepted(rollback, 200)
        app = _stored(kube, APPLICATIONS, namespace)
        assert _notes(app) == ("4", op, "true")
        assert app["spec"]["source"]["repoURL"] == HTTPS_REPO
        assert app["spec"]["source"]["targetRevision"] == "0.1.0"
        assert app["spec"]["source"]["helm"]["valuesObject"] == {"replicaCount": 2}
        policy = app["spec"]["syncPolicy"]
        assert "automated" not in policy  # suspended: Argo CD must not undo the rollback
        assert policy["syncOptions"] == ["CreateNamespace=true"]
        assert app["operation"]["sync"]["revision"] == "0.1.0"
        status = _settle(client, driver, op)
        assert status["extensions"]["argocd.autoSyncSuspended"] is True
        assert status["extensions"]["argocd.pinnedRevision"] == 4

        upgrade = {"parameters": {"debug": False}}
        op = _accepted(call(client, "PUT", "nfDeployments/demo", upgrade), 200)
        app = _stored(kube, APPLICATIONS, namespace)
        assert _notes(app) == ("5", op, "false")
        assert app["spec"]["syncPolicy"]["automated"] == AUTOMATED  # resumed by the upgrade
        assert app["spec"]["source"]["targetRevision"] == "0.1.0"
        assert app["spec"]["source"]["helm"]["valuesObject"] == {"replicaCount": 2, "debug": False}
        status = _settle(client, driver, op)
        assert status["extensions"]["argocd.autoSyncSuspended"] is False

        assert _history(client) == [
            (5, "0.1.0"),
            (4, "0.1.0"),
            (3, "0.2.0"),
            (2, "0.2.0"),
            (1, "0.1.0"),
        ]

        op = _accepted(call(client, "DELETE", "nfDeployments/demo"), 202)
        app = _stored(kube, APPLICATIONS, namespace)
        assert app["metadata"]["deletionTimestamp"]  # held by Argo CD's finalizer
        # Argo CD would delete the workload, then drop its finalizer; do the latter for it
        unhold = '{"metadata": {"finalizers": null}}'
        kube.kubectl("patch", APPLICATIONS, "demo", "-n", namespace, "--type=merge", "-p", unhold)
        follow_all(driver, interval=1)
        assert kube.get(APPLICATIONS, "demo", namespace) is None
        assert call(client, "GET", f"nfDeployments/demo/operations/{op}").body["state"] == (
            "COMPLETED"
        )
        assert call(client, "GET", "nfDeployments/demo").status == 404
        assert [number for number, _ in _history(client)] == [5, 4, 3, 2, 1]


def test_realcluster_flux_lifecycle_and_rollback_pins_the_release(
    kube: Kube, namespace: str
) -> None:
    with real_adapters(operation_timeout_seconds=OPERATION_TIMEOUT, helm_atomic=False) as (
        client,
        driver,
    ):
        _register(client, kube, namespace)
        body = {
            "name": "demo",
            "descriptorId": "demo-0.1.0",
            "adapter": "flux",
            "parameters": {"replicaCount": 2},
        }
        op = _accepted(call(client, "POST", "nfDeployments", body), 201)
        repository = _stored(kube, HELM_REPOSITORIES, namespace)
        assert _part(repository["spec"], "interval", "url", "type") == ("5m", HTTPS_REPO, "default")
        release = _stored(kube, HELM_RELEASES, namespace)
        assert _notes(release) == ("1", op, "false")
        spec = release["spec"]
        assert _part(spec["chart"]["spec"], "chart", "version", "sourceRef") == (
            "demo",
            "0.1.0",
            {"kind": "HelmRepository", "name": "demo", "namespace": namespace},
        )
        assert spec["values"] == {"replicaCount": 2}
        assert (spec["releaseName"], spec["targetNamespace"]) == ("demo", namespace)
        assert (spec["interval"], spec["timeout"]) == ("5m", "10m")
        assert spec["install"]["remediation"] == {"retries": 3}
        assert spec["upgrade"]["remediation"] == {"retries": 3, "remediateLastFailure": True}
        _settle(client, driver, op)

        upgrade = {"descriptorId": "demo-0.2.0", "parameters": {"debug": True}}
        op = _accepted(call(client, "PUT", "nfDeployments/demo", upgrade), 200)
        repository = _stored(kube, HELM_REPOSITORIES, namespace)
        assert (repository["spec"]["url"], repository["spec"]["type"]) == (OCI_REPO, "oci")
        release = _stored(kube, HELM_RELEASES, namespace)
        assert _notes(release) == ("2", op, "false")
        assert release["spec"]["chart"]["spec"]["version"] == "0.2.0"
        assert release["spec"]["values"] == {"replicaCount": 2, "debug": True}
        requested = release["metadata"]["annotations"][REQUESTED_AT]
        _settle(client, driver, op)

        op = _accepted(call(client, "POST", "nfDeployments/demo/scale", {"replicas": 4}), 204)
        release = _stored(kube, HELM_RELEASES, namespace)
        assert _notes(release) == ("3", op, "false")
        assert release["spec"]["chart"]["spec"]["version"] == "0.2.0"
        assert release["spec"]["values"] == {"replicaCount": 4, "debug": True}
        assert release["metadata"]["annotations"][REQUESTED_AT] != requested
        requested = release["metadata"]["annotations"][REQUESTED_AT]
        _settle(client, driver, op)

        rollback = call(client, "POST", "nfDeployments/demo/rollback", {"revision": 1})
        op = _accepted(rollback, 200)
        repository = _stored(kube, HELM_REPOSITORIES, namespace)
        assert (repository["spec"]["url"], repository["spec"]["type"]) == (HTTPS_REPO, "default")
        release = _stored(kube, HELM_RELEASES, namespace)
        assert _notes(release) == ("4", op, "true")
        assert release["spec"]["chart"]["spec"]["version"] == "0.1.0"
        assert release["spec"]["values"] == {"replicaCount": 2}
        assert release["metadata"]["annotations"][REQUESTED_AT] != requested
        status = _settle(client, driver, op)
        assert status["extensions"]["flux.pinnedRevision"] == 4

        upgrade = {"parameters": {"debug": False}}
        op = _accepted(call(client, "PUT", "nfDeployments/demo", upgrade), 200)
        release = _stored(kube, HELM_RELEASES, namespace)
        assert _notes(release) == ("5", op, "false")
        assert release["spec"]["chart"]["spec"]["version"] == "0.1.0"
        assert release["spec"]["values"] == {"replicaCount": 2, "debug": False}
        _settle(client, driver, op)

        assert _history(client) == [
            (5, "0.1.0"),
            (4, "0.1.0"),
            (3, "0.2.0"),
            (2, "0.2.0"),
            (1, "0.1.0"),
        ]

        op = _accepted(call(client, "DELETE", "nfDeployments/demo"), 202)
        assert (
            kube.get(HELM_RELEASES, "demo", namespace) is None
        )  # no helm-controller, so no finalizer
        assert kube.get(HELM_REPOSITORIES, "demo", namespace) is None
        follow_all(driver, interval=1)
        assert call(client, "GET", f"nfDeployments/demo/operations/{op}").body["state"] == (
            "COMPLETED"
        )
        assert call(client, "GET", "nfDeployments/demo").status == 404
        assert [number for number, _ in _history(client)] == [5, 4, 3, 2, 1]
