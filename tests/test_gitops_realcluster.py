"""The Argo CD and Flux adapters through the HTTP API, against a real API server.

Runs on the session's real API server (``tests/kit.py``) with the real Argo CD and Flux
CRDs from ``../shared/crds`` (created first when the cluster lacks them), so the API
server's structural schema, defaulting and CEL rules judge every object we write. No Argo
CD or Flux controller runs there: ``tests/gitops_controller.py`` plays its part between
our follower's polls, writing the status the controller writes, so every step completes
(or fails, when the stand-in is told to) as it would with the controller. After each call
the test reads the whole object back as the API server stores it. Each test works in a
namespace of its own, also used as Argo CD's and Flux's namespace, and deletes it (with
the objects in it) at the end.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import pytest
import yaml

from chalicelib.adapters.gitops.argocd import ArgoCDBackend
from chalicelib.adapters.gitops.flux import FluxBackend
from chalicelib.adapters.gitops.kube import APPLICATION, HELM_RELEASE, KubeApi, create
from chalicelib.adapters.gitops.settings import ArgoCDSettings, FluxSettings
from chalicelib.domain.errors import BackendFailure
from chalicelib.domain.models import ChartRef
from chalicelib.domain.ports import ClusterCredentials, ReleaseTarget
from tests.api_helpers import Answer, call
from tests.fakes import ManualDriver
from tests.gitops_controller import (
    ARGOCD_FINALIZER,
    FLUX_FINALIZER,
    SYNCED,
    ArgoCDController,
    FluxController,
)
from tests.real_cluster import CommandFailed, Kube, manager_for, real_adapters

pytestmark = pytest.mark.realcluster
CRDS = Path(__file__).resolve().parents[2] / "shared" / "crds"
APPLICATIONS = "applications.argoproj.io"
HELM_RELEASES = "helmreleases.helm.toolkit.fluxcd.io"
HELM_REPOSITORIES = "helmrepositories.source.toolkit.fluxcd.io"
HTTPS_REPO = "https://charts.example.com/stable"  # never fetched: the stand-ins fetch nothing
OCI_REPO = "oci://registry.example.com/charts"
OPERATION_TIMEOUT = 120  # seconds; a safety net only: the stand-ins end every rollout
REVISION = "o2dms.o-ran.org/revision"
OPERATION = "o2dms.o-ran.org/operation-id"
PINNED = "o2dms.o-ran.org/pinned"
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
AUTOMATED = {"prune": True, "selfHeal": True}
RETRY = {"limit": 5, "backoff": {"duration": "5s", "factor": 2, "maxDuration": "3m"}}
SYNC_OPTIONS = ["CreateNamespace=true"]
DEGRADED = 'Deployment "demo" exceeded its progress deadline'
HELM_ERROR = "context deadline exceeded"


class Controller(Protocol):
    def reconcile(self) -> bool: ...


@pytest.fixture(scope="module")
def kube(real_kubeconfig: str) -> Kube:
    return Kube(real_kubeconfig)


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


@pytest.fixture
def argocd(kube: Kube, namespace: str) -> Iterator[ArgoCDController]:
    controller = ArgoCDController(kube.kubeconfig, namespace)
    yield controller
    controller.close()


@pytest.fixture
def flux(kube: Kube, namespace: str) -> Iterator[FluxController]:
    controller = FluxController(kube.kubeconfig, namespace)
    yield controller
    controller.close()


def _remove(kube: Kube, namespace: str) -> None:
    """Delete what a test left behind; a controller's finalizer would hold an object forever."""
    kinds = f"{APPLICATIONS},{HELM_RELEASES},{HELM_REPOSITORIES}"
    left = kube.kubectl("get", kinds, "-n", namespace, "-o", "name", check=False).split()
    for obj in left:
        unhold = '{"metadata": {"finalizers": null}}'
        kube.kubectl("patch", obj, "-n", namespace, "--type=merge", "-p", unhold, check=False)
    kube.kubectl("delete", kinds, "--all", "-n", namespace, "--wait=false", check=False)
    kube.drop_namespace(namespace)


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


def _create(client: Any, kube: Kube, namespace: str, adapter: str) -> str:
    _register(client, kube, namespace)
    body = {
        "name": "demo",
        "descriptorId": "demo-0.1.0",
        "adapter": adapter,
        "parameters": {"replicaCount": 2},
    }
    return _accepted(call(client, "POST", "nfDeployments", body), 201)


def _accepted(answer: Answer, status: int) -> str:
    """The operation id of a change the API accepted with ``status``."""
    assert answer.status == status, answer.body
    operation_id = answer.headers["X-O2DMS-Operation-Id"]
    assert operation_id
    return operation_id


def _follow(driver: ManualDriver, controller: Controller, *, rounds: int = 20) -> None:
    """The controller's reconcile and our follower's poll in turn, until our rollouts end."""
    for _ in range(rounds):
        controller.reconcile()
        driver.poll()
        if not driver.pending():
            return
    raise AssertionError(f"rollouts still running after {rounds} rounds: {driver.started}")


def _settle(
    client: Any, driver: ManualDriver, controller: Controller, operation_id: str
) -> dict[str, Any]:
    """Follow the operation to completion: the deployment is instantiated, its lease free."""
    _follow(driver, controller)
    operation = call(client, "GET", f"nfDeployments/demo/operations/{operation_id}").body
    assert operation["state"] == "COMPLETED", operation
    status: dict[str, Any] = call(client, "GET", "nfDeployments/demo/status").body
    assert status["status"] == "INSTANTIATED", status
    assert status["operationId"] is None  # the lease is free for the next step
    return status


def _stored(kube: Kube, kind: str, namespace: str) -> dict[str, Any]:
    found = kube.get(kind, "demo", namespace)
    assert found is not None, f"{kind} {namespace}/demo is not on the cluster"
    return found


def _history(client: Any) -> list[tuple[int, str, str]]:
    revisions = call(client, "GET", "nfDeployments/demo/history").body["revisions"]
    return [(r["revision"], r["status"], r["chartVersion"]) for r in revisions]


def _notes(obj: dict[str, Any]) -> tuple[str, str, str]:
    """Our revision, operation and pin annotations on an object."""
    notes = obj["metadata"]["annotations"]
    return notes[REVISION], notes[OPERATION], notes[PINNED]


# ------------------------------------------------------------- what the server must store


def _app_spec(
    namespace: str, *, repo: str, version: str, values: dict[str, Any], automated: bool = True
) -> dict[str, Any]:
    """The whole ``spec`` of our Application (the CRD adds no defaults to it)."""
    policy: dict[str, Any] = {"syncOptions": SYNC_OPTIONS, "retry": RETRY}
    if automated:
        policy["automated"] = AUTOMATED
    return {
        "project": "default",
        "source": {
            "repoURL": repo,
            "chart": "demo",
            "targetRevision": version,
            "helm": {"releaseName": "demo", "valuesObject": values},
        },
        "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
        "syncPolicy": policy,
    }


def _sync(operation_id: str, kind: str, revision: int, version: str) -> dict[str, Any]:
    """The whole ``operation`` we write to request a sync."""
    return {
        "initiatedBy": {"username": "o2dms"},
        "info": [
            {"name": "o2dms.operationId", "value": operation_id},
            {"name": "Reason", "value": f"O2-DMS {kind} (revision {revision})"},
        ],
        "sync": {"revision": version, "prune": True, "syncOptions": SYNC_OPTIONS},
        "retry": RETRY,
    }


def _release_spec(namespace: str, *, version: str, values: dict[str, Any]) -> dict[str, Any]:
    """The whole ``spec`` of our HelmRelease after defaulting (we set every default)."""
    return {
        "interval": "5m",
        "timeout": "10m",
        "releaseName": "demo",
        "targetNamespace": namespace,
        "storageNamespace": namespace,
        "chart": {
            "spec": {
                "chart": "demo",
                "version": version,
                "reconcileStrategy": "ChartVersion",
                "sourceRef": {"kind": "HelmRepository", "name": "demo", "namespace": namespace},
            }
        },
        "install": {"createNamespace": True, "remediation": {"retries": 3}},
        "upgrade": {"remediation": {"retries": 3, "remediateLastFailure": True}},
        "values": values,
    }


def _repository_spec(url: str, kind: str) -> dict[str, Any]:
    """The whole ``spec`` of our HelmRepository: the API server adds ``provider``."""
    return {"interval": "5m", "url": url, "type": kind, "provider": "generic"}


def _application_after(
    kube: Kube, namespace: str, operation: dict[str, Any], spec: dict[str, Any]
) -> dict[str, Any]:
    """The Application once the controller has run ``operation``: checks what all syncs share."""
    app = _stored(kube, APPLICATIONS, namespace)
    assert "operation" not in app
    assert app["spec"] == spec
    state = app["status"]["operationState"]
    assert (state["operation"], state["phase"], state["message"]) == (
        operation,
        "Succeeded",
        SYNCED,
    )
    assert app["status"]["sync"]["comparedTo"]["source"] == spec["source"]
    return app


def _argocd_ids(app: dict[str, Any]) -> list[tuple[int, str]]:
    return [(h["id"], h["source"]["targetRevision"]) for h in app["status"]["history"]]


def _flux_versions(release: dict[str, Any]) -> list[tuple[int, str, str]]:
    return [(s["version"], s["status"], s["chartVersion"]) for s in release["status"]["history"]]


def _ready(release: dict[str, Any]) -> tuple[str, str, str, int]:
    ready = next(c for c in release["status"]["conditions"] if c["type"] == "Ready")
    return ready["status"], ready["reason"], ready["message"], ready["observedGeneration"]


# --------------------------------------------------------------------------- Argo CD


def test_realcluster_argocd_lifecycle_and_rollback_suspends_auto_sync(
    kube: Kube, namespace: str, argocd: ArgoCDController
) -> None:
    with real_adapters(operation_timeout_seconds=OPERATION_TIMEOUT, helm_atomic=False) as (
        client,
        driver,
    ):
        op = _create(client, kube, namespace, "argocd")
        app = _stored(kube, APPLICATIONS, namespace)
        assert app["metadata"]["labels"] == {
            "app.kubernetes.io/managed-by": "o2dms",
            "o2dms.o-ran.org/deployment": "demo",
        }
        assert app["metadata"]["finalizers"] == [ARGOCD_FINALIZER]
        assert _notes(app) == ("1", op, "false")
        spec = _app_spec(namespace, repo=HTTPS_REPO, version="0.1.0", values={"replicaCount": 2})
        assert app["spec"] == spec
        assert app["operation"] == _sync(op, "install", 1, "0.1.0")
        assert "status" not in app
        status = _settle(client, driver, argocd, op)
        app = _application_after(kube, namespace, _sync(op, "install", 1, "0.1.0"), spec)
        assert _argocd_ids(app) == [(0, "0.1.0")]  # Argo CD numbers its history from 0
        assert status["extensions"]["argocd.syncedRevision"] == "0.1.0"
        assert status["extensions"]["argocd.healthStatus"] == "Healthy"

        upgrade = {"descriptorId": "demo-0.2.0", "parameters": {"debug": True}}
        op = _accepted(call(client, "PUT", "nfDeployments/demo", upgrade), 200)
        app = _stored(kube, APPLICATIONS, namespace)
        assert _notes(app) == ("2", op, "false")
        values = {"replicaCount": 2, "debug": True}
        oci = "registry.example.com/charts"
        spec = _app_spec(namespace, repo=oci, version="0.2.0", values=values)
        assert app["spec"] == spec
        assert app["operation"] == _sync(op, "upgrade", 2, "0.2.0")
        _settle(client, driver, argocd, op)
        _application_after(kube, namespace, _sync(op, "upgrade", 2, "0.2.0"), spec)

        op = _accepted(call(client, "POST", "nfDeployments/demo/scale", {"replicas": 4}), 204)
        app = _stored(kube, APPLICATIONS, namespace)
        assert _notes(app) == ("3", op, "false")
        values = {"replicaCount": 4, "debug": True}
        spec = _app_spec(namespace, repo=oci, version="0.2.0", values=values)
        assert app["spec"] == spec
        assert app["operation"] == _sync(op, "scale", 3, "0.2.0")
        _settle(client, driver, argocd, op)
        _application_after(kube, namespace, _sync(op, "scale", 3, "0.2.0"), spec)

        rollback = call(client, "POST", "nfDeployments/demo/rollback", {"revision": 1})
        op = _accepted(rollback, 200)
        app = _stored(kube, APPLICATIONS, namespace)
        assert _notes(app) == ("4", op, "true")
        spec = _app_spec(
            namespace,
            repo=HTTPS_REPO,
            version="0.1.0",
            values={"replicaCount": 2},
            automated=False,  # suspended: Argo CD must not undo the rollback
        )
        assert app["spec"] == spec
        assert app["operation"] == _sync(op, "rollback", 4, "0.1.0")
        status = _settle(client, driver, argocd, op)
        _application_after(kube, namespace, _sync(op, "rollback", 4, "0.1.0"), spec)
        assert status["extensions"]["argocd.autoSyncSuspended"] is True
        assert status["extensions"]["argocd.pinnedRevision"] == 4

        upgrade = {"parameters": {"debug": False}}
        op = _accepted(call(client, "PUT", "nfDeployments/demo", upgrade), 200)
        app = _stored(kube, APPLICATIONS, namespace)
        assert _notes(app) == ("5", op, "false")
        values = {"replicaCount": 2, "debug": False}
        spec = _app_spec(namespace, repo=HTTPS_REPO, version="0.1.0", values=values)
        assert app["spec"] == spec  # automated sync resumed by the upgrade
        status = _settle(client, driver, argocd, op)
        app = _application_after(kube, namespace, _sync(op, "upgrade", 5, "0.1.0"), spec)
        assert status["extensions"]["argocd.autoSyncSuspended"] is False
        assert _argocd_ids(app) == [
            (0, "0.1.0"),
            (1, "0.2.0"),
            (2, "0.2.0"),
            (3, "0.1.0"),
            (4, "0.1.0"),
        ]
        assert _history(client) == [
            (5, "deployed", "0.1.0"),
            (4, "superseded", "0.1.0"),
            (3, "superseded", "0.2.0"),
            (2, "superseded", "0.2.0"),
            (1, "superseded", "0.1.0"),
        ]

        op = _accepted(call(client, "DELETE", "nfDeployments/demo"), 202)
        app = _stored(kube, APPLICATIONS, namespace)
        assert app["metadata"]["deletionTimestamp"]  # held by Argo CD's finalizer
        _follow(driver, argocd)  # the stand-in drops the finalizer, as Argo CD would
        assert kube.get(APPLICATIONS, "demo", namespace) is None
        assert call(client, "GET", f"nfDeployments/demo/operations/{op}").body["state"] == (
            "COMPLETED"
        )
        assert call(client, "GET", "nfDeployments/demo").body["status"] == "NOT_INSTANTIATED"
        assert [number for number, _, _ in _history(client)] == [5, 4, 3, 2, 1]


def test_realcluster_argocd_degraded_upgrade_rolls_back_by_itself(
    kube: Kube, namespace: str, argocd: ArgoCDController
) -> None:
    with real_adapters(operation_timeout_seconds=OPERATION_TIMEOUT, helm_atomic=True) as (
        client,
        driver,
    ):
        _settle(client, driver, argocd, _create(client, kube, namespace, "argocd"))
        upgrade = {"descriptorId": "demo-0.2.0", "parameters": {"debug": True}}
        op = _accepted(call(client, "PUT", "nfDeployments/demo", upgrade), 200)

        argocd.degraded = DEGRADED
        assert argocd.reconcile()
        app = _stored(kube, APPLICATIONS, namespace)
        assert app["status"]["health"]["status"] == "Degraded"
        assert app["status"]["operationState"]["phase"] == "Succeeded"  # synced, not healthy
        _follow(driver, argocd)

        operation = call(client, "GET", f"nfDeployments/demo/operations/{op}").body
        assert operation["state"] == "ROLLED_BACK", operation
        assert DEGRADED in operation["error"]["message"]
        status = call(client, "GET", "nfDeployments/demo/status").body
        assert (status["status"], status["revision"], status["operationId"]) == (
            "INSTANTIATED",
            3,
            None,
        )
        assert status["extensions"]["argocd.autoSyncSuspended"] is True
        assert status["extensions"]["argocd.pinnedRevision"] == 3
        assert _history(client) == [
            (3, "deployed", "0.1.0"),
            (2, "failed", "0.2.0"),
            (1, "superseded", "0.1.0"),
        ]
        history = call(client, "GET", "nfDeployments/demo/history").body["revisions"]
        assert history[0]["description"].startswith("Rolled back from revision 2 to revision 1")
        spec = _app_spec(
            namespace,
            repo=HTTPS_REPO,
            version="0.1.0",
            values={"replicaCount": 2},
            automated=False,
        )
        app = _application_after(kube, namespace, _sync(op, "rollback", 3, "0.1.0"), spec)
        assert _notes(app) == ("3", op, "true")
        assert app["status"]["health"]["status"] == "Healthy"
        assert _argocd_ids(app) == [(0, "0.1.0"), (1, "0.2.0"), (2, "0.1.0")]


# ------------------------------------------------------------------------------ Flux


def test_realcluster_flux_lifecycle_and_rollback_pins_the_release(
    kube: Kube, namespace: str, flux: FluxController
) -> None:
    with real_adapters(operation_timeout_seconds=OPERATION_TIMEOUT, helm_atomic=False) as (
        client,
        driver,
    ):
        op = _create(client, kube, namespace, "flux")
        repository = _stored(kube, HELM_REPOSITORIES, namespace)
        assert repository["spec"] == _repository_spec(HTTPS_REPO, "default")
        release = _stored(kube, HELM_RELEASES, namespace)
        assert _notes(release) == ("1", op, "false")
        assert REQUESTED_AT not in release["metadata"]["annotations"]
        assert release["spec"] == _release_spec(
            namespace, version="0.1.0", values={"replicaCount": 2}
        )
        assert release["status"] == {"observedGeneration": -1}  # the CRD's status default
        status = _settle(client, driver, flux, op)
        release = _stored(kube, HELM_RELEASES, namespace)
        assert release["metadata"]["finalizers"] == [FLUX_FINALIZER]
        assert release["status"]["observedGeneration"] == release["metadata"]["generation"] == 1
        assert _ready(release) == (
            "True",
            "InstallSucceeded",
            f"Helm install succeeded for release {namespace}/demo.v1 with chart demo@0.1.0",
            1,
        )
        assert _flux_versions(release) == [(1, "deployed", "0.1.0")]
        assert (status["extensions"]["flux.helmRevision"], status["message"]) == (
            1,
            _ready(release)[2],
        )

        upgrade = {"descriptorId": "demo-0.2.0", "parameters": {"debug": True}}
        op = _accepted(call(client, "PUT", "nfDeployments/demo", upgrade), 200)
        repository = _stored(kube, HELM_REPOSITORIES, namespace)
        assert repository["spec"] == _repository_spec(OCI_REPO, "oci")
        release = _stored(kube, HELM_RELEASES, namespace)
        assert _notes(release) == ("2", op, "false")
        values = {"replicaCount": 2, "debug": True}
        assert release["spec"] == _release_spec(namespace, version="0.2.0", values=values)
        requested = release["metadata"]["annotations"][REQUESTED_AT]
        _settle(client, driver, flux, op)
        release = _stored(kube, HELM_RELEASES, namespace)
        assert release["status"]["lastHandledReconcileAt"] == requested
        assert _flux_versions(release) == [(2, "deployed", "0.2.0"), (1, "superseded", "0.1.0")]

        op = _accepted(call(client, "POST", "nfDeployments/demo/scale", {"replicas": 4}), 204)
        release = _stored(kube, HELM_RELEASES, namespace)
        assert _notes(release) == ("3", op, "false")
        values = {"replicaCount": 4, "debug": True}
        assert release["spec"] == _release_spec(namespace, version="0.2.0", values=values)
        assert release["metadata"]["annotations"][REQUESTED_AT] != requested
        requested = release["metadata"]["annotations"][REQUESTED_AT]
        _settle(client, driver, flux, op)

        rollback = call(client, "POST", "nfDeployments/demo/rollback", {"revision": 1})
        op = _accepted(rollback, 200)
        repository = _stored(kube, HELM_REPOSITORIES, namespace)
        assert repository["spec"] == _repository_spec(HTTPS_REPO, "default")
        release = _stored(kube, HELM_RELEASES, namespace)
        assert _notes(release) == ("4", op, "true")
        values = {"replicaCount": 2}
        assert release["spec"] == _release_spec(namespace, version="0.1.0", values=values)
        assert release["metadata"]["annotations"][REQUESTED_AT] != requested
        status = _settle(client, driver, flux, op)
        assert status["extensions"]["flux.pinnedRevision"] == 4

        upgrade = {"parameters": {"debug": False}}
        op = _accepted(call(client, "PUT", "nfDeployments/demo", upgrade), 200)
        release = _stored(kube, HELM_RELEASES, namespace)
        assert _notes(release) == ("5", op, "false")
        values = {"replicaCount": 2, "debug": False}
        assert release["spec"] == _release_spec(namespace, version="0.1.0", values=values)
        status = _settle(client, driver, flux, op)
        release = _stored(kube, HELM_RELEASES, namespace)
        # helm-controller keeps history back to the previous successful release only
        assert _flux_versions(release) == [(5, "deployed", "0.1.0"), (4, "superseded", "0.1.0")]
        assert status["extensions"]["flux.helmRevision"] == 5
        assert status["extensions"]["flux.pinnedRevision"] is None
        assert _history(client) == [
            (5, "deployed", "0.1.0"),
            (4, "superseded", "0.1.0"),
            (3, "superseded", "0.2.0"),
            (2, "superseded", "0.2.0"),
            (1, "superseded", "0.1.0"),
        ]

        op = _accepted(call(client, "DELETE", "nfDeployments/demo"), 202)
        assert kube.get(HELM_REPOSITORIES, "demo", namespace) is None
        release = _stored(kube, HELM_RELEASES, namespace)
        assert release["metadata"]["deletionTimestamp"]  # held by helm-controller's finalizer
        _follow(driver, flux)  # the stand-in uninstalls and drops its finalizer
        assert kube.get(HELM_RELEASES, "demo", namespace) is None
        assert call(client, "GET", f"nfDeployments/demo/operations/{op}").body["state"] == (
            "COMPLETED"
        )
        assert call(client, "GET", "nfDeployments/demo").body["status"] == "NOT_INSTANTIATED"
        assert [number for number, _, _ in _history(client)] == [5, 4, 3, 2, 1]


def test_realcluster_flux_failed_upgrade_rolls_back_by_itself(
    kube: Kube, namespace: str, flux: FluxController
) -> None:
    with real_adapters(operation_timeout_seconds=OPERATION_TIMEOUT, helm_atomic=True) as (
        client,
        driver,
    ):
        _settle(client, driver, flux, _create(client, kube, namespace, "flux"))
        upgrade = {"descriptorId": "demo-0.2.0", "parameters": {"debug": True}}
        op = _accepted(call(client, "PUT", "nfDeployments/demo", upgrade), 200)

        flux.failure = HELM_ERROR
        assert flux.reconcile()
        release = _stored(kube, HELM_RELEASES, namespace)
        says = f"Helm upgrade failed for release {namespace}/demo with chart demo@0.2.0: "
        says += HELM_ERROR
        assert _ready(release) == ("False", "UpgradeFailed", says, 2)
        assert (release["status"]["failures"], release["status"]["upgradeFailures"]) == (1, 1)
        assert _flux_versions(release) == [(2, "failed", "0.2.0"), (1, "deployed", "0.1.0")]
        _follow(driver, flux)

        operation = call(client, "GET", f"nfDeployments/demo/operations/{op}").body
        assert operation["state"] == "ROLLED_BACK", operation
        assert says in operation["error"]["message"]
        status = call(client, "GET", "nfDeployments/demo/status").body
        assert (status["status"], status["revision"], status["operationId"]) == (
            "INSTANTIATED",
            3,
            None,
        )
        assert status["extensions"]["flux.pinnedRevision"] == 3
        assert _history(client) == [
            (3, "deployed", "0.1.0"),
            (2, "failed", "0.2.0"),
            (1, "superseded", "0.1.0"),
        ]
        release = _stored(kube, HELM_RELEASES, namespace)
        assert _notes(release) == ("3", op, "true")
        values = {"replicaCount": 2}
        assert release["spec"] == _release_spec(namespace, version="0.1.0", values=values)
        assert _ready(release)[:2] == ("True", "UpgradeSucceeded")
        assert "upgradeFailures" not in release["status"]  # cleared: the chart changed
        assert _flux_versions(release) == [
            (3, "deployed", "0.1.0"),
            (2, "failed", "0.2.0"),
            (1, "superseded", "0.1.0"),
        ]


# ------------------------------------------------------------------ the server's rules


def _credentials(kube: Kube) -> Any:
    document = Path(kube.kubeconfig).read_text()

    def provide(*, operation_id: str | None = None) -> ClusterCredentials:
        return ClusterCredentials(kubeconfig=document)

    return provide


def _target(namespace: str) -> ReleaseTarget:
    return ReleaseTarget(
        release="demo",
        namespace=namespace,
        chart=ChartRef(HTTPS_REPO, "demo", "0.1.0"),
        values={"replicaCount": 2},
        revision=1,
        operation_id="op-1",
        timeout_seconds=60,
    )


def test_realcluster_flux_cel_rule_rejects_chart_and_chart_ref_but_accepts_ours(
    kube: Kube, namespace: str
) -> None:
    backend = FluxBackend(_credentials(kube), FluxSettings(namespace=namespace))
    both = backend.helm_release(_target(namespace))
    both["spec"]["chartRef"] = {"kind": "OCIRepository", "name": "demo"}

    with pytest.raises(BackendFailure, match="either chart or chartRef must be set"):
        KubeApi(_credentials(kube)).send(create(HELM_RELEASE, both))

    assert kube.get(HELM_RELEASES, "demo", namespace) is None
    backend.install(_target(namespace))
    stored = _stored(kube, HELM_RELEASES, namespace)
    assert stored["spec"] == _release_spec(namespace, version="0.1.0", values={"replicaCount": 2})


def test_realcluster_flux_keeps_secret_values_in_a_secret_the_release_reads(
    kube: Kube, namespace: str
) -> None:
    plain = _target(namespace)
    secret = replace(
        plain, values={**plain.values, "apiKey": "ak-s3cr3t"}, secret_leaves=(("apiKey",),)
    )

    FluxBackend(_credentials(kube), FluxSettings(namespace=namespace)).install(secret)

    stored = kube.get("secrets", "demo-o2dms-values", namespace)
    assert stored is not None
    assert json.loads(base64.b64decode(stored["data"]["values.yaml"])) == {"apiKey": "ak-s3cr3t"}
    release = _stored(kube, HELM_RELEASES, namespace)
    assert release["spec"]["valuesFrom"] == [
        {"kind": "Secret", "name": "demo-o2dms-values", "valuesKey": "values.yaml"}
    ]
    assert release["spec"]["values"] == {"replicaCount": 2}
    assert "ak-s3cr3t" not in json.dumps(release)


def test_realcluster_schemas_reject_a_bad_application_and_a_bad_status(
    kube: Kube, namespace: str, flux: FluxController
) -> None:
    settings = ArgoCDSettings(namespace=namespace)
    app = ArgoCDBackend(_credentials(kube), settings).application(_target(namespace))
    del app["spec"]["destination"]  # required by the structural schema

    with pytest.raises(BackendFailure, match=r"spec\.destination: Required value"):
        KubeApi(_credentials(kube)).send(create(APPLICATION, app))

    FluxBackend(_credentials(kube), FluxSettings(namespace=namespace)).install(_target(namespace))
    assert flux.reconcile()
    bad = '[{"op": "replace", "path": "/status/conditions/0/reason", "value": "Install Failed"}]'
    with pytest.raises(CommandFailed, match="reason"):  # the CRD's pattern for a reason
        kube.kubectl(
            "patch",
            HELM_RELEASES,
            "demo",
            "-n",
            namespace,
            "--subresource=status",
            "--type=json",
            "-p",
            bad,
        )
