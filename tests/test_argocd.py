"""The Argo CD backend against a Kubernetes API emulator, over HTTP with the real client:
the Applications it writes at each step, the status it reads back, and its errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import kmock
import pytest

from chalicelib.adapters.gitops.argocd import ArgoCDBackend
from chalicelib.adapters.gitops.kube import APPLICATION, POD
from chalicelib.adapters.gitops.settings import ArgoCDSettings, SyncRetry
from chalicelib.domain.errors import (
    BackendFailure,
    BackendUnavailable,
    InvalidRequest,
    ReleaseConflict,
    ReleaseNotFound,
    SecretValuesUnsupported,
)
from chalicelib.domain.models import ChartRef, Condition, JsonObject
from chalicelib.domain.ports import (
    Action,
    BackendStatus,
    ClusterCredentials,
    ReleaseRef,
    ReleaseTarget,
    RolloutPhase,
)
from chalicelib.domain.states import OperationType
from tests.crd_schema import FIXTURES, assert_valid
from tests.kube_emulator import TOKEN, Credentials, EmulatedCluster, nginx_target

ROOT = Path(__file__).resolve().parents[1]
NS = "argocd"
REF = ReleaseRef(release="nginx-prod", namespace="production")
V1 = ChartRef("https://charts.example.com/stable", "nginx", "1.2.0")
V2 = ChartRef("https://charts.example.com/stable", "nginx", "1.3.0")
AUTOMATED = {"prune": True, "selfHeal": True}
RETRY = {"limit": 5, "backoff": {"duration": "5s", "factor": 2, "maxDuration": "3m"}}


def target(revision: int, chart: ChartRef = V1, **values: Any) -> ReleaseTarget:
    return nginx_target(REF, revision, chart, **values)


@pytest.fixture
def credentials(cluster: EmulatedCluster) -> Credentials:
    return cluster.credentials()


@pytest.fixture
def argocd(credentials: Credentials) -> ArgoCDBackend:
    return ArgoCDBackend(credentials)


def stored(cluster: EmulatedCluster) -> dict[str, Any]:
    app = cluster.read(APPLICATION, NS, REF.release)
    assert app is not None
    assert_valid(app)
    return app


def controller_writes(cluster: EmulatedCluster, status: JsonObject) -> None:
    """What Argo CD's application controller would do: clear the operation, write status."""
    cluster.as_controller(APPLICATION, NS, REF.release, {"operation": None, "status": status})
    assert_valid(stored(cluster))


def synced(
    app: JsonObject,
    *,
    op: str,
    health: str = "Healthy",
    phase: str = "Succeeded",
    message: str = "successfully synced (all tasks run)",
    history: int = 1,
) -> JsonObject:
    """A realistic ``status`` after a sync of the Application's current source."""
    source = app["spec"]["source"]
    at = "2026-01-14T10:00:{:02d}Z"
    return {
        "sync": {
            "status": "Synced",
            "revision": source["targetRevision"],
            "comparedTo": {"source": source, "destination": app["spec"]["destination"]},
        },
        "health": {"status": health, "lastTransitionTime": at.format(30)},
        "operationState": {
            "operation": {
                "sync": {"revision": source["targetRevision"], "prune": True},
                "initiatedBy": {"username": "o2dms"},
                "info": [{"name": "o2dms.operationId", "value": op}],
            },
            "phase": phase,
            "message": message,
            "startedAt": at.format(1),
            "finishedAt": at.format(9),
            "syncResult": {"revision": source["targetRevision"], "source": source},
        },
        "history": [
            {
                "id": number,
                "revision": source["targetRevision"],
                "source": source,
                "deployedAt": at.format(number),
                "deployStartedAt": at.format(number),
                "initiatedBy": {"username": "o2dms"},
            }
            for number in range(1, history + 1)
        ],
        "reconciledAt": at.format(40),
        "sourceType": "Helm",
        "summary": {"images": ["nginx:1.20.0"]},
    }


def condition(status: BackendStatus, kind: str) -> Condition:
    return next(c for c in status.conditions if c.type == kind)


# --------------------------------------------------------------------- writing


def test_argocd_install_creates_the_application_the_seed_configures(
    argocd: ArgoCDBackend, cluster: EmulatedCluster, credentials: Credentials
) -> None:
    # When
    applied = argocd.install(target(1))

    # Then the Application holds the chart source, destination and the seed's sync policy
    app = stored(cluster)
    assert app == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": "nginx-prod",
            "namespace": "argocd",
            "labels": {
                "app.kubernetes.io/managed-by": "o2dms",
                "o2dms.o-ran.org/deployment": "nginx-prod",
            },
            "annotations": {
                "o2dms.o-ran.org/revision": "1",
                "o2dms.o-ran.org/operation-id": "op-1",
                "o2dms.o-ran.org/pinned": "false",
            },
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
        },
        "spec": {
            "project": "default",
            "source": {
                "repoURL": "https://charts.example.com/stable",
                "chart": "nginx",
                "targetRevision": "1.2.0",
                "helm": {
                    "releaseName": "nginx-prod",
                    "valuesObject": {
                        "replicaCount": 2,
                        "image": {"repository": "nginx", "tag": "1.20.0"},
                    },
                },
            },
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "production"},
            "syncPolicy": {
                "automated": AUTOMATED,
                "syncOptions": ["CreateNamespace=true"],
                "retry": RETRY,
            },
        },
        "operation": {
            "initiatedBy": {"username": "o2dms"},
            "info": [
                {"name": "o2dms.operationId", "value": "op-1"},
                {"name": "Reason", "value": "O2-DMS install (revision 1)"},
            ],
            "sync": {"revision": "1.2.0", "prune": True, "syncOptions": ["CreateNamespace=true"]},
            "retry": RETRY,
        },
    }
    # ... sent with the cluster's bearer token, credentials asked for this operation
    [sent] = cluster.changes()
    assert (sent.method, sent.path) == (
        "POST",
        "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications",
    )
    assert sent.authorization == f"Bearer {TOKEN}"
    assert credentials.asked == ["op-1"]
    assert applied.backend_ref is None
    assert applied.extensions["argocd.autoSyncSuspended"] is False


def test_argocd_lifecycle_rollback_suspends_automated_sync_until_the_next_upgrade(
    argocd: ArgoCDBackend, cluster: EmulatedCluster
) -> None:
    # Given an installed Application
    argocd.install(target(1))

    # When upgraded to a new chart and values (one key dropped, one added)
    argocd.upgrade(target(2, V2, image={"repository": "nginx", "tag": "1.21.0"}, debug=True))

    # Then source and values are replaced whole, and a sync of the new version is requested
    app = stored(cluster)
    assert app["spec"]["source"]["targetRevision"] == "1.3.0"
    assert app["spec"]["source"]["helm"]["valuesObject"] == {
        "replicaCount": 2,
        "image": {"repository": "nginx", "tag": "1.21.0"},
        "debug": True,
    }
    assert app["spec"]["syncPolicy"]["automated"] == AUTOMATED
    assert app["operation"]["sync"]["revision"] == "1.3.0"
    assert app["operation"]["info"][0] == {"name": "o2dms.operationId", "value": "op-2"}
    assert [c.content_type for c in cluster.changes()[1:]] == ["application/json-patch+json"]

    # When scaled
    argocd.scale(target(3, V2, image={"repository": "nginx", "tag": "1.21.0"}), replicas=5)

    # Then only the replica count changes in the values
    app = stored(cluster)
    assert app["spec"]["source"]["helm"]["valuesObject"] == {
        "replicaCount": 5,
        "image": {"repository": "nginx", "tag": "1.21.0"},
    }
    assert app["metadata"]["annotations"]["o2dms.o-ran.org/revision"] == "3"

    # When rolled back to revision 1
    controller_writes(cluster, synced(app, op="op-3", history=3))
    applied = argocd.rollback(target(1), to_backend_ref="1")

    # Then automated sync is off, the source and values are revision 1's, a sync is requested
    app = stored(cluster)
    assert "automated" not in app["spec"]["syncPolicy"]
    assert app["spec"]["syncPolicy"] == {"syncOptions": ["CreateNamespace=true"], "retry": RETRY}
    assert app["spec"]["source"]["targetRevision"] == "1.2.0"
    assert app["spec"]["source"]["helm"]["valuesObject"] == target(1).values
    assert app["operation"]["sync"]["revision"] == "1.2.0"
    assert app["metadata"]["annotations"]["o2dms.o-ran.org/pinned"] == "true"
    assert applied.extensions["argocd.autoSyncSuspended"] is True
    assert applied.extensions["argocd.pinnedRevision"] == 1
    assert applied.extensions["argocd.rollbackToHistoryId"] == "1"
    # ... and status keeps reporting the pin once the controller has synced it
    controller_writes(cluster, synced(app, op="op-1", history=4))
    status = argocd.status(REF)
    assert status.phase is RolloutPhase.READY
    assert status.extensions["argocd.autoSyncSuspended"] is True
    assert status.extensions["argocd.pinnedRevision"] == 1

    # When upgraded again
    applied = argocd.upgrade(target(5, V2))

    # Then automated sync is back on
    app = stored(cluster)
    assert app["spec"]["syncPolicy"]["automated"] == AUTOMATED
    assert app["metadata"]["annotations"]["o2dms.o-ran.org/pinned"] == "false"
    assert applied.extensions["argocd.autoSyncSuspended"] is False
    assert applied.extensions["argocd.pinnedRevision"] is None

    # When uninstalled
    argocd.uninstall(REF)

    # Then the Application is being deleted until Argo CD's finalizer has removed the workload
    assert stored(cluster)["metadata"]["deletionTimestamp"]
    assert argocd.status(REF).phase is RolloutPhase.PROGRESSING
    cluster.as_controller(APPLICATION, NS, REF.release, {"metadata": {"finalizers": None}})
    assert cluster.read(APPLICATION, NS, REF.release) is None
    assert argocd.status(REF).phase is RolloutPhase.ABSENT


def test_argocd_plan_is_exactly_what_is_then_sent(
    argocd: ArgoCDBackend, cluster: EmulatedCluster
) -> None:
    actions = [
        Action(OperationType.INSTALL, target(1)),
        Action(OperationType.UPGRADE, target(2, V2)),
        Action(OperationType.SCALE, target(3, V2), replicas=4),
        Action(OperationType.ROLLBACK, target(1), rollback_to_ref="1"),
        Action(OperationType.TERMINATE, target(1)),
    ]
    planned = [step for action in actions for step in argocd.plan(action)]

    argocd.install(target(1))
    argocd.upgrade(target(2, V2))
    argocd.scale(target(3, V2), replicas=4)
    argocd.rollback(target(1), to_backend_ref="1")
    argocd.uninstall(REF)

    sent = cluster.changes()
    assert [s.body for s in planned] == [
        {"method": s.method, "path": s.path, "contentType": s.content_type, "body": s.data}
        if s.data is not None
        else {"method": s.method, "path": s.path}
        for s in sent
    ]
    assert "suspend automated sync" in planned[3].description


def test_argocd_kubeconfig_credentials_and_cluster_name_destination(
    cluster: EmulatedCluster,
) -> None:
    settings = ArgoCDSettings(
        namespace="gitops", destination_server=None, destination_name="edge-1"
    )
    argocd = ArgoCDBackend(cluster.kubeconfig_credentials(), settings)

    argocd.install(target(1, ChartRef("oci://registry.example.com/charts", "nginx", "1.2.0")))

    app = cluster.read(APPLICATION, "gitops", REF.release)
    assert app is not None
    assert app["spec"]["destination"] == {"name": "edge-1", "namespace": "production"}
    assert app["spec"]["source"]["repoURL"] == "registry.example.com/charts"
    assert cluster.changes()[0].authorization == f"Bearer {TOKEN}"


def test_argocd_refuses_a_local_chart(argocd: ArgoCDBackend) -> None:
    with pytest.raises(InvalidRequest, match="file://"):
        argocd.install(target(1, ChartRef("file:///charts", "nginx", "1.2.0")))


# ---------------------------------------------------------------------- status


def test_argocd_status_of_the_recorded_application_waits_for_the_controller(
    argocd: ArgoCDBackend, cluster: EmulatedCluster
) -> None:
    # Given the Application exactly as a real API server returned it (no controller ran)
    recorded = json.loads((FIXTURES / "argocd-application-get.json").read_text())
    cluster.as_someone_else(APPLICATION, recorded)

    # When
    status = argocd.status(ReleaseRef("demo-app", "test"))

    # Then
    assert status.phase is RolloutPhase.PROGRESSING
    assert status.progress == 0
    assert "Waiting for the Argo CD application controller" in status.message


def test_argocd_status_healthy_synced_succeeded_is_ready(
    argocd: ArgoCDBackend, cluster: EmulatedCluster
) -> None:
    argocd.install(target(1))
    assert argocd.status(REF).phase is RolloutPhase.PROGRESSING  # sync requested, not started

    controller_writes(cluster, synced(stored(cluster), op="op-1", history=2))
    status = argocd.status(REF)

    assert status.phase is RolloutPhase.READY
    assert status.progress == 100
    assert status.message == "Application argocd/nginx-prod is Synced and Healthy at revision 1.2.0"
    assert condition(status, "Synced") == Condition("Synced", "True", "Synced", "revision 1.2.0")
    assert condition(status, "Healthy").status == "True"
    assert condition(status, "SyncOperation").reason == "Succeeded"
    assert status.backend_ref == "2"
    assert status.extensions["argocd.healthStatus"] == "Healthy"


def test_argocd_status_degraded_is_failed_with_the_controllers_message(
    argocd: ArgoCDBackend, cluster: EmulatedCluster
) -> None:
    argocd.install(target(1))
    status_block = synced(stored(cluster), op="op-1", health="Degraded")
    says = 'Deployment "nginx-prod" exceeded its progress deadline'
    status_block["health"]["message"] = says
    controller_writes(cluster, status_block)

    status = argocd.status(REF)

    assert status.phase is RolloutPhase.FAILED
    assert status.message == says
    assert condition(status, "Healthy") == Condition("Healthy", "False", "Degraded", says)


def test_argocd_status_degraded_takes_the_reason_from_the_degraded_resources(
    argocd: ArgoCDBackend, cluster: EmulatedCluster
) -> None:
    # Argo CD writes only a code to status.health; the why is on each resource's health
    argocd.install(target(1))
    status_block = synced(stored(cluster), op="op-1", health="Degraded")
    says = 'Deployment "nginx-prod" exceeded its progress deadline'
    status_block["resources"] = [
        {
            "version": "v1",
            "kind": "Service",
            "namespace": REF.namespace,
            "name": "nginx-prod",
            "status": "Synced",
            "health": {"status": "Healthy"},
        },
        {
            "group": "apps",
            "version": "v1",
            "kind": "Deployment",
            "namespace": REF.namespace,
            "name": "nginx-prod",
            "status": "Synced",
            "health": {"status": "Degraded", "message": says},
        },
    ]
    controller_writes(cluster, status_block)

    status = argocd.status(REF)

    assert status.phase is RolloutPhase.FAILED
    assert status.message == f"Deployment nginx-prod: {says}"


def test_argocd_status_failed_sync_operation_is_failed(
    argocd: ArgoCDBackend, cluster: EmulatedCluster
) -> None:
    argocd.install(target(1))
    says = (
        'one or more objects failed to apply, reason: Deployment.apps "nginx-prod" is invalid: '
        "spec.template.spec.containers[0].image: Required value"
    )
    block = synced(stored(cluster), op="op-1", health="Missing", phase="Failed", message=says)
    block["sync"]["status"] = "OutOfSync"
    block["conditions"] = [
        {
            "type": "SyncError",
            "message": "Failed sync attempt to 1.2.0: " + says,
            "lastTransitionTime": "2026-01-14T10:00:09Z",
        }
    ]
    controller_writes(cluster, block)

    status = argocd.status(REF)

    assert status.phase is RolloutPhase.FAILED
    assert status.message == says
    assert condition(status, "SyncOperation").status == "False"
    assert condition(status, "SyncError").message.startswith("Failed sync attempt")


def test_argocd_status_ignores_a_stale_failure_and_a_stale_verdict(
    argocd: ArgoCDBackend, cluster: EmulatedCluster
) -> None:
    # Given revision 1 failed to sync, then revision 2 was applied
    argocd.install(target(1))
    failed = synced(stored(cluster), op="op-1", phase="Failed", message="sync failed")
    argocd.upgrade(target(2, V2))
    # When the controller has taken the new operation but not yet compared the new source
    controller_writes(cluster, failed)

    status = argocd.status(REF)

    # Then neither the old failure nor the old Healthy/Synced is taken for revision 2's
    assert status.phase is RolloutPhase.PROGRESSING


def test_argocd_status_running_operation_is_progressing(
    argocd: ArgoCDBackend, cluster: EmulatedCluster
) -> None:
    argocd.install(target(1))
    block = synced(
        stored(cluster),
        op="op-1",
        health="Progressing",
        phase="Running",
        message="waiting for healthy state of apps/Deployment/nginx-prod",
    )
    controller_writes(cluster, block)

    status = argocd.status(REF)

    assert status.phase is RolloutPhase.PROGRESSING
    assert status.message == "Sync running: waiting for healthy state of apps/Deployment/nginx-prod"


def test_argocd_status_of_no_application_is_absent(argocd: ArgoCDBackend) -> None:
    assert argocd.status(REF).phase is RolloutPhase.ABSENT


def test_argocd_history_maps_history_ids_oldest_first(
    argocd: ArgoCDBackend, cluster: EmulatedCluster
) -> None:
    argocd.install(target(1))
    controller_writes(cluster, synced(stored(cluster), op="op-1", history=3))

    history = argocd.history(REF)

    assert [r.backend_ref for r in history] == ["1", "2", "3"]
    assert [r.status for r in history] == ["superseded", "superseded", "deployed"]
    assert history[-1].chart_version == "1.2.0"
    assert history[-1].description == "Sync by o2dms of nginx 1.2.0"
    assert history[0].updated_at is not None


def test_argocd_history_of_no_application_is_release_not_found(argocd: ArgoCDBackend) -> None:
    with pytest.raises(ReleaseNotFound):
        argocd.history(REF)


# ---------------------------------------------------------------------- errors


def test_argocd_errors_are_translated_at_the_boundary(
    argocd: ArgoCDBackend, cluster: EmulatedCluster
) -> None:
    with pytest.raises(ReleaseNotFound, match="not found"):
        argocd.upgrade(target(2))
    with pytest.raises(ReleaseNotFound):
        argocd.uninstall(REF)
    argocd.install(target(1))
    with pytest.raises(ReleaseConflict, match="already exists"):
        argocd.install(target(1))


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (422, BackendFailure),
        (400, BackendFailure),
        (401, BackendUnavailable),
        (403, BackendUnavailable),
        (429, BackendUnavailable),
        (503, BackendUnavailable),
    ],
)
def test_argocd_api_server_refusals_become_domain_errors(
    argocd: ArgoCDBackend, cluster: EmulatedCluster, code: int, error: type[Exception]
) -> None:
    says = 'Application.argoproj.io "nginx-prod" is invalid: spec.source.repoURL: Required value'
    cluster.answer("post", code, says)

    with pytest.raises(error) as raised:
        argocd.install(target(1))

    assert says in str(raised.value)


def test_argocd_unreachable_cluster_is_unavailable() -> None:
    nowhere = Credentials(ClusterCredentials(server="http://127.0.0.1:9", token="t"))
    with pytest.raises(BackendUnavailable, match="unreachable"):
        ArgoCDBackend(nowhere).status(REF)


def test_argocd_bad_kubeconfig_is_unavailable() -> None:
    broken = Credentials(ClusterCredentials(kubeconfig="apiVersion: v1\nkind: Config\n"))
    with pytest.raises(BackendUnavailable, match="kubeconfig"):
        ArgoCDBackend(broken).status(REF)


def test_argocd_importing_the_adapters_does_not_load_kubernetes() -> None:
    code = (
        "import sys, chalicelib.adapters.gitops.argocd, chalicelib.adapters.gitops.flux; "
        "print('kubernetes' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"


def test_argocd_settings_need_exactly_one_destination_and_read_the_environment() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ArgoCDSettings(destination_server=None)
    with pytest.raises(ValueError, match="not a duration"):
        SyncRetry(duration="5 s")

    by_name = ArgoCDSettings.from_env(
        {"O2DMS_ARGOCD_NAMESPACE": "gitops", "O2DMS_ARGOCD_DESTINATION_NAME": "edge-1"}
    )
    assert by_name.destination("apps") == {"name": "edge-1", "namespace": "apps"}
    assert by_name.namespace == "gitops"
    assert ArgoCDSettings.from_env({}) == ArgoCDSettings()


@pytest.mark.parametrize("kind", [OperationType.INSTALL, OperationType.UPGRADE, "plan"])
def test_argocd_refuses_secret_values_and_says_what_to_do(
    argocd: ArgoCDBackend, cluster: EmulatedCluster, kind: OperationType | str
) -> None:
    # Given a target with a secret value (Argo CD would show it in the Application)
    plain = target(1, db={"host": "db", "password": "s3cr3t"})
    secret = replace(plain, secret_leaves=(("db", "password"),))

    # When it is installed, upgraded or planned: refused, and nothing is sent
    calls: dict[OperationType | str, Callable[[], object]] = {
        OperationType.INSTALL: lambda: argocd.install(secret),
        OperationType.UPGRADE: lambda: argocd.upgrade(secret),
        "plan": lambda: argocd.plan(Action(OperationType.INSTALL, secret)),
    }
    with pytest.raises(SecretValuesUnsupported) as refused:
        calls[kind]()

    # Then the message says why and what to do, and names the parameter, not its value
    message = refused.value.message
    assert message.startswith("Adapter argocd cannot deploy secret parameter values (db.password)")
    assert "reads Helm values only from the Application object" in message
    assert "helm or flux adapter" in message
    assert "existing Kubernetes Secret" in message
    assert "s3cr3t" not in message
    assert cluster.changes() == []


def test_argocd_status_carries_the_probe_checks_of_the_charts_pods(
    argocd: ArgoCDBackend, cluster: EmulatedCluster
) -> None:
    assert cluster.emulator is not None
    cluster.emulator.resources["v1/pods"] = kmock.ResourceInfo(namespaced=True)
    argocd.install(target(1))
    controller_writes(cluster, synced(stored(cluster), op="op-1", history=2))
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "nginx-prod-abc",
            "namespace": "production",
            "labels": {"app.kubernetes.io/instance": "nginx-prod"},
        },
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "nginx", "ready": True, "started": True}],
        },
    }
    cluster.as_someone_else(POD, pod)
    checks = {c.name: c for c in argocd.status(REF).health_checks}
    assert checks["nginx-prod-abc-readiness"].healthy
    assert checks["nginx-prod-abc-readiness"].component == "nginx-prod"
    listed = [s.query for s in cluster.seen() if s.path == "/api/v1/namespaces/production/pods"]
    assert listed[-1] == {"labelSelector": "app.kubernetes.io/instance=nginx-prod"}
