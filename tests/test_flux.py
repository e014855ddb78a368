"""The Flux backend against a Kubernetes API emulator, over HTTP with the real client:
the HelmRelease and HelmRepository it writes at each step, and the status it reads back."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import kmock
import pytest

from chalicelib.adapters.gitops.flux import FluxBackend
from chalicelib.adapters.gitops.kube import HELM_RELEASE, HELM_REPOSITORY, POD, SECRET
from chalicelib.adapters.gitops.settings import FluxSettings, Remediation
from chalicelib.domain.errors import InvalidRequest, ReleaseConflict, ReleaseNotFound
from chalicelib.domain.models import ChartRef, Condition, JsonObject
from chalicelib.domain.ports import Action, BackendStatus, ReleaseRef, ReleaseTarget, RolloutPhase
from chalicelib.domain.secrets import secret_leaf_paths
from chalicelib.domain.states import OperationType
from tests.crd_schema import FIXTURES, assert_valid
from tests.kube_emulator import TOKEN, EmulatedCluster, nginx_target

NS = "flux-system"
REF = ReleaseRef(release="nginx-prod", namespace="production")
V1 = ChartRef("https://charts.example.com/stable", "nginx", "1.2.0")
V2 = ChartRef("oci://registry.example.com/charts", "nginx", "1.3.0")
REQUESTED = "reconcile.fluxcd.io/requestedAt"
VALUES_SECRET = "nginx-prod-o2dms-values"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 14, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def target(revision: int, chart: ChartRef = V1, **values: Any) -> ReleaseTarget:
    return nginx_target(REF, revision, chart, **values)


def secret_target(revision: int, password: str = "s3cr3t", **values: Any) -> ReleaseTarget:
    """A target with secret values, as the service hands it: the leaves marked."""
    db = {"host": "db.example.com", "password": password}
    users = [{"name": "admin", "token": f"t-{password}"}]  # a secret in a list: the whole list
    plain = target(revision, db=db, users=users, **values)
    return replace(plain, secret_leaves=tuple(secret_leaf_paths(plain.values)))


def values_secret(cluster: EmulatedCluster) -> dict[str, Any] | None:
    return cluster.read(SECRET, NS, VALUES_SECRET)


def secret_values(cluster: EmulatedCluster) -> Any:
    found = values_secret(cluster)
    assert found is not None
    return json.loads(base64.b64decode(found["data"]["values.yaml"]))


@pytest.fixture
def flux(cluster: EmulatedCluster) -> FluxBackend:
    return FluxBackend(cluster.credentials(), clock=Clock())


def release(cluster: EmulatedCluster, name: str = REF.release) -> dict[str, Any]:
    found = cluster.read(HELM_RELEASE, NS, name)
    assert found is not None
    assert_valid(found)
    return found


def repository(cluster: EmulatedCluster) -> dict[str, Any]:
    found = cluster.read(HELM_REPOSITORY, NS, REF.release)
    assert found is not None
    assert_valid(found)
    return found


def reconciled(
    hr: JsonObject,
    *,
    ready: str,
    reason: str,
    message: str,
    released: tuple[str, str, str] | None = None,
    remediated: tuple[str, str] | None = None,
    history: list[JsonObject] | None = None,
) -> JsonObject:
    """A realistic ``status`` helm-controller writes after handling the HelmRelease as it is."""
    at = "2026-01-14T10:01:00Z"
    conditions = [
        {
            "type": "Ready",
            "status": ready,
            "reason": reason,
            "message": message,
            "lastTransitionTime": at,
            "observedGeneration": 1,
        }
    ]
    if released:
        status, why, says = released
        conditions.append(
            {
                "type": "Released",
                "status": status,
                "reason": why,
                "message": says,
                "lastTransitionTime": at,
                "observedGeneration": 1,
            }
        )
    if remediated:
        why, says = remediated
        conditions.append(
            {
                "type": "Remediated",
                "status": "True",
                "reason": why,
                "message": says,
                "lastTransitionTime": at,
                "observedGeneration": 1,
            }
        )
    chart = hr["spec"]["chart"]["spec"]
    block: JsonObject = {
        "observedGeneration": 1,
        "conditions": conditions,
        "helmChart": f"{NS}/{NS}-{hr['metadata']['name']}",
        "lastAttemptedRevision": chart["version"],
        "lastAttemptedConfigDigest": "sha256:4f6c0bd8d1d5c6a7f5c2e8a5b1e6c9d0",
        "lastAttemptedGeneration": 1,
        "lastAttemptedReleaseAction": "upgrade",
        "storageNamespace": REF.namespace,
        "history": history or [],
    }
    requested = hr["metadata"].get("annotations", {}).get(REQUESTED)
    if requested:
        block["lastHandledReconcileAt"] = requested
    return block


def snapshot(version: int, chart_version: str, status: str) -> JsonObject:
    return {
        "name": REF.release,
        "namespace": REF.namespace,
        "version": version,
        "status": status,
        "chartName": "nginx",
        "chartVersion": chart_version,
        "appVersion": "1.25.3",
        "configDigest": f"sha256:{version:064d}",
        "digest": f"sha256:{version + 100:064d}",
        "firstDeployed": "2026-01-14T09:00:00Z",
        "lastDeployed": f"2026-01-14T10:0{version}:00Z",
        "action": "upgrade" if version > 1 else "install",
    }


def controller_writes(cluster: EmulatedCluster, status: JsonObject) -> None:
    cluster.as_controller(HELM_RELEASE, NS, REF.release, {"status": status})
    release(cluster)  # still valid against the CRD, status included


def condition(status: BackendStatus, kind: str) -> Condition:
    return next(c for c in status.conditions if c.type == kind)


# --------------------------------------------------------------------- writing


def test_flux_install_creates_the_repository_and_the_release_the_seed_configures(
    flux: FluxBackend, cluster: EmulatedCluster
) -> None:
    # When
    applied = flux.install(target(1))

    # Then
    labels = {"app.kubernetes.io/managed-by": "o2dms", "o2dms.o-ran.org/deployment": "nginx-prod"}
    assert repository(cluster) == {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": {"name": "nginx-prod", "namespace": NS, "labels": labels},
        "spec": {"interval": "5m", "url": "https://charts.example.com/stable", "type": "default"},
    }
    assert release(cluster) == {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {
            "name": "nginx-prod",
            "namespace": NS,
            "labels": labels,
            "annotations": {
                "o2dms.o-ran.org/revision": "1",
                "o2dms.o-ran.org/operation-id": "op-1",
                "o2dms.o-ran.org/pinned": "false",
            },
        },
        "spec": {
            "interval": "5m",
            "timeout": "10m",
            "releaseName": "nginx-prod",
            "targetNamespace": "production",
            "storageNamespace": "production",
            "chart": {
                "spec": {
                    "chart": "nginx",
                    "version": "1.2.0",
                    "reconcileStrategy": "ChartVersion",
                    "sourceRef": {"kind": "HelmRepository", "name": "nginx-prod", "namespace": NS},
                }
            },
            "install": {"createNamespace": True, "remediation": {"retries": 3}},
            "upgrade": {"remediation": {"retries": 3, "remediateLastFailure": True}},
            "values": {"replicaCount": 2, "image": {"repository": "nginx", "tag": "1.20.0"}},
        },
    }
    sent = cluster.changes()
    assert [(s.method, s.path.rsplit("/", 1)[-1]) for s in sent] == [
        ("POST", "helmrepositories"),
        ("POST", "helmreleases"),
    ]
    assert {s.authorization for s in sent} == {f"Bearer {TOKEN}"}
    assert applied.extensions["flux.pinnedRevision"] is None


def test_flux_lifecycle_upgrade_scale_rollback_and_uninstall(
    flux: FluxBackend, cluster: EmulatedCluster
) -> None:
    # Given an installed release
    flux.install(target(1))

    # When upgraded to an OCI chart with new values (one key dropped, one added)
    flux.upgrade(target(2, V2, image={"repository": "nginx", "tag": "1.21.0"}, debug=True))

    # Then the repository becomes an OCI one, chart and values are replaced, Flux is asked
    assert repository(cluster)["spec"] == {
        "interval": "5m",
        "url": "oci://registry.example.com/charts",
        "type": "oci",
    }
    hr = release(cluster)
    assert hr["spec"]["chart"]["spec"]["version"] == "1.3.0"
    assert hr["spec"]["values"] == {
        "replicaCount": 2,
        "image": {"repository": "nginx", "tag": "1.21.0"},
        "debug": True,
    }
    assert hr["metadata"]["annotations"][REQUESTED] == "2026-01-14T10:00:01Z"
    assert {s.content_type for s in cluster.changes()[2:]} == {"application/json-patch+json"}

    # When scaled
    flux.scale(target(3, V2, image={"repository": "nginx", "tag": "1.21.0"}), replicas=5)

    # Then only the replica count changes
    hr = release(cluster)
    assert hr["spec"]["values"] == {
        "replicaCount": 5,
        "image": {"repository": "nginx", "tag": "1.21.0"},
    }
    assert hr["metadata"]["annotations"]["o2dms.o-ran.org/revision"] == "3"

    # When rolled back to revision 1
    applied = flux.rollback(target(1), to_backend_ref="1")

    # Then revision 1's chart version and values are pinned and reconciliation requested again
    hr = release(cluster)
    assert hr["spec"]["chart"]["spec"]["version"] == "1.2.0"
    assert hr["spec"]["values"] == target(1).values
    assert repository(cluster)["spec"]["type"] == "default"
    assert hr["metadata"]["annotations"][REQUESTED] == "2026-01-14T10:00:03Z"
    assert hr["metadata"]["annotations"]["o2dms.o-ran.org/pinned"] == "true"
    assert hr["spec"]["upgrade"] == {"remediation": {"retries": 3, "remediateLastFailure": True}}
    assert applied.extensions["flux.pinnedRevision"] == 1
    assert applied.extensions["flux.rollbackToHelmRevision"] == "1"

    # When uninstalled (helm-controller keeps a finalizer until the Helm release is gone)
    cluster.as_controller(
        HELM_RELEASE, NS, REF.release, {"metadata": {"finalizers": ["finalizers.fluxcd.io"]}}
    )
    flux.uninstall(REF)

    # Then the repository is gone, and the release until the controller has uninstalled it
    assert cluster.read(HELM_REPOSITORY, NS, REF.release) is None
    status = flux.status(REF)
    assert status.phase is RolloutPhase.PROGRESSING
    assert "uninstalling release nginx-prod" in status.message
    cluster.as_controller(HELM_RELEASE, NS, REF.release, {"metadata": {"finalizers": None}})
    assert flux.status(REF).phase is RolloutPhase.ABSENT


def test_flux_plan_is_exactly_what_is_then_sent(cluster: EmulatedCluster) -> None:
    planner = FluxBackend(cluster.credentials(), clock=Clock())
    actions = [
        Action(OperationType.INSTALL, target(1)),
        Action(OperationType.UPGRADE, target(2, V2)),
        Action(OperationType.SCALE, target(3, V2), replicas=4),
        Action(OperationType.ROLLBACK, target(1), rollback_to_ref="1"),
        Action(OperationType.TERMINATE, target(1)),
    ]
    planned = [step for action in actions for step in planner.plan(action)]
    flux = FluxBackend(cluster.credentials(), clock=Clock())

    flux.install(target(1))
    flux.upgrade(target(2, V2))
    flux.scale(target(3, V2), replicas=4)
    flux.rollback(target(1), to_backend_ref="1")
    flux.uninstall(REF)

    assert [s.body for s in planned] == [
        {"method": s.method, "path": s.path, "contentType": s.content_type, "body": s.data}
        if s.data is not None
        else {"method": s.method, "path": s.path}
        for s in cluster.changes()
    ]
    assert "reconcile.fluxcd.io/requestedAt" in planned[7].description


def test_flux_install_adopts_a_repository_it_left_behind(
    flux: FluxBackend, cluster: EmulatedCluster
) -> None:
    # Given an install that created the repository and then failed
    cluster.as_someone_else(HELM_REPOSITORY, flux.helm_repository(target(1, V2)))

    # When installed again
    flux.install(target(1))

    # Then the repository is re-pointed and the release created
    assert repository(cluster)["spec"]["url"] == "https://charts.example.com/stable"
    assert release(cluster)["spec"]["chart"]["spec"]["version"] == "1.2.0"


def test_flux_install_refuses_a_repository_of_someone_else(
    flux: FluxBackend, cluster: EmulatedCluster
) -> None:
    theirs = json.loads((FIXTURES / "flux-helmrepository.json").read_text())
    theirs["metadata"] = {"name": REF.release, "namespace": NS}
    cluster.as_someone_else(HELM_REPOSITORY, theirs)

    with pytest.raises(ReleaseConflict):
        flux.install(target(1))
    assert cluster.read(HELM_RELEASE, NS, REF.release) is None


def test_flux_settings_render_custom_remediation(cluster: EmulatedCluster) -> None:
    settings = FluxSettings(
        namespace="gitops",
        interval="1m",
        timeout="3m",
        install_remediation=Remediation(retries=1),
        upgrade_remediation=Remediation(retries=0, remediate_last_failure=False),
    )
    FluxBackend(cluster.kubeconfig_credentials(), settings).install(target(1))

    hr = cluster.read(HELM_RELEASE, "gitops", REF.release)
    assert hr is not None
    assert (hr["spec"]["interval"], hr["spec"]["timeout"]) == ("1m", "3m")
    assert hr["spec"]["install"]["remediation"] == {"retries": 1}
    assert hr["spec"]["upgrade"]["remediation"] == {"retries": 0, "remediateLastFailure": False}
    assert hr["spec"]["chart"]["spec"]["sourceRef"]["namespace"] == "gitops"


def test_flux_refuses_a_local_chart(flux: FluxBackend) -> None:
    with pytest.raises(InvalidRequest, match="file:///charts"):
        flux.install(target(1, ChartRef("file:///charts", "nginx", "1.2.0")))


def test_flux_errors_are_translated_at_the_boundary(
    flux: FluxBackend, cluster: EmulatedCluster
) -> None:
    with pytest.raises(ReleaseNotFound):
        flux.upgrade(target(2))
    cluster.as_someone_else(HELM_REPOSITORY, flux.helm_repository(target(1)))  # orphaned
    with pytest.raises(ReleaseNotFound):
        flux.uninstall(REF)
    assert cluster.read(HELM_REPOSITORY, NS, REF.release) is None
    with pytest.raises(ReleaseNotFound):
        flux.history(REF)
    flux.install(target(1))
    with pytest.raises(ReleaseConflict):
        flux.install(target(1))


# ---------------------------------------------------------------------- status


def test_flux_status_of_the_recorded_release_waits_for_helm_controller(
    flux: FluxBackend, cluster: EmulatedCluster
) -> None:
    # Given the HelmRelease exactly as a real API server returned it (observedGeneration -1)
    recorded = json.loads((FIXTURES / "flux-helmrelease-get.json").read_text())
    cluster.as_someone_else(HELM_RELEASE, recorded)

    status = flux.status(ReleaseRef("demo", "test"))

    assert status.phase is RolloutPhase.PROGRESSING
    assert status.message == (
        "Waiting for helm-controller to reconcile HelmRelease flux-system/demo (chart demo 0.1.0)"
    )


def test_flux_status_ready_true_is_ready_with_the_helm_revision(
    flux: FluxBackend, cluster: EmulatedCluster
) -> None:
    flux.install(target(1))
    says = "Helm install succeeded for release production/nginx-prod.v1 with chart nginx@1.2.0"
    controller_writes(
        cluster,
        reconciled(
            release(cluster),
            ready="True",
            reason="InstallSucceeded",
            message=says,
            released=("True", "InstallSucceeded", says),
            history=[snapshot(1, "1.2.0", "deployed")],
        ),
    )

    status = flux.status(REF)

    assert status.phase is RolloutPhase.READY
    assert (status.progress, status.message) == (100, says)
    assert condition(status, "Released") == Condition("Released", "True", "InstallSucceeded", says)
    assert status.backend_ref == "1"
    assert status.extensions["flux.helmRevision"] == 1


def test_flux_status_ready_false_is_failed_with_the_controllers_message(
    flux: FluxBackend, cluster: EmulatedCluster
) -> None:
    flux.install(target(1))
    flux.upgrade(target(2, image={"repository": "nginx", "tag": "crash"}))
    says = (
        "Helm upgrade failed for release production/nginx-prod with chart nginx@1.2.0: "
        "context deadline exceeded"
    )
    rolled = (
        "Helm rollback to previous release production/nginx-prod.v1 with chart nginx@1.2.0 "
        "succeeded"
    )
    controller_writes(
        cluster,
        reconciled(
            release(cluster),
            ready="False",
            reason="UpgradeFailed",
            message=says,
            released=("False", "UpgradeFailed", says),
            remediated=("RollbackSucceeded", rolled),
            history=[snapshot(2, "1.2.0", "failed"), snapshot(1, "1.2.0", "superseded")],
        ),
    )

    status = flux.status(REF)

    assert status.phase is RolloutPhase.FAILED
    assert status.message == f"{says}; remediation: {rolled}"
    assert condition(status, "Remediated").reason == "RollbackSucceeded"
    assert status.extensions["flux.reason"] == "UpgradeFailed"


def test_flux_status_does_not_take_an_old_verdict_for_the_new_request(
    flux: FluxBackend, cluster: EmulatedCluster
) -> None:
    # Given revision 2 failed, then a rollback requested a new reconciliation
    flux.install(target(1))
    flux.upgrade(target(2))
    failed = reconciled(release(cluster), ready="False", reason="UpgradeFailed", message="failed")
    flux.rollback(target(1), to_backend_ref="1")
    controller_writes(cluster, failed)  # lastHandledReconcileAt is the upgrade's request

    status = flux.status(REF)

    assert status.phase is RolloutPhase.PROGRESSING
    assert status.message.startswith("Waiting for helm-controller")


def test_flux_status_running_helm_action_is_progressing(
    flux: FluxBackend, cluster: EmulatedCluster
) -> None:
    flux.install(target(1))
    says = "Running 'install' action with timeout of 10m0s"
    controller_writes(
        cluster, reconciled(release(cluster), ready="Unknown", reason="Progressing", message=says)
    )

    status = flux.status(REF)

    assert (status.phase, status.progress, status.message) == (RolloutPhase.PROGRESSING, 50, says)


def test_flux_status_of_no_release_is_absent(flux: FluxBackend) -> None:
    assert flux.status(REF).phase is RolloutPhase.ABSENT


def test_flux_history_maps_helm_snapshots_oldest_first(
    flux: FluxBackend, cluster: EmulatedCluster
) -> None:
    flux.install(target(1))
    snapshots = [
        snapshot(3, "1.2.0", "deployed"),
        snapshot(2, "1.3.0", "failed"),
        snapshot(1, "1.2.0", "superseded"),
    ]
    controller_writes(
        cluster,
        reconciled(
            release(cluster),
            ready="True",
            reason="UpgradeSucceeded",
            message="ok",
            history=snapshots,
        ),
    )

    history = flux.history(REF)

    assert [(r.backend_ref, r.status, r.chart_version) for r in history] == [
        ("1", "superseded", "1.2.0"),
        ("2", "failed", "1.3.0"),
        ("3", "deployed", "1.2.0"),
    ]
    assert history[0].description == "Install of nginx 1.2.0 by helm-controller"
    assert history[-1].app_version == "1.25.3"
    assert history[-1].updated_at == datetime(2026, 1, 14, 10, 3, tzinfo=UTC)


def test_flux_settings_refuse_a_bad_duration_and_read_the_environment() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        FluxSettings(interval="5 minutes")

    settings = FluxSettings.from_env({"O2DMS_FLUX_NAMESPACE": "gitops", "O2DMS_FLUX_TIMEOUT": "3m"})

    assert (settings.namespace, settings.interval, settings.timeout) == ("gitops", "5m", "3m")
    assert FluxSettings.from_env({}) == FluxSettings()


# --------------------------------------------------------------- secret values

VALUES_FROM = [{"kind": "Secret", "name": VALUES_SECRET, "valuesKey": "values.yaml"}]


def test_flux_install_puts_secret_values_in_a_secret_the_release_reads(
    flux: FluxBackend, cluster: EmulatedCluster
) -> None:
    # When installed with secret values
    flux.install(secret_target(1))

    # Then the Secret beside the HelmRelease holds the secret subtrees, and nothing else
    secret = values_secret(cluster)
    assert secret is not None
    assert secret["metadata"] == {
        "name": VALUES_SECRET,
        "namespace": NS,
        "labels": {
            "app.kubernetes.io/managed-by": "o2dms",
            "o2dms.o-ran.org/deployment": "nginx-prod",
        },
    }
    assert (secret["type"], list(secret["data"])) == ("Opaque", ["values.yaml"])
    assert secret_values(cluster) == {
        "db": {"password": "s3cr3t"},
        "users": [{"name": "admin", "token": "t-s3cr3t"}],
    }
    # And the HelmRelease reads it, with only the other values inline
    hr = release(cluster)  # valid against the CRD
    assert hr["spec"]["valuesFrom"] == VALUES_FROM
    assert hr["spec"]["values"] == {
        "replicaCount": 2,
        "image": {"repository": "nginx", "tag": "1.20.0"},
        "db": {"host": "db.example.com"},
    }
    assert "s3cr3t" not in json.dumps(hr)
    # And the Secret is written before the HelmRelease that reads it
    assert [(s.method, s.path.rsplit("/", 1)[-1]) for s in cluster.changes()] == [
        ("POST", "secrets"),
        ("POST", "helmrepositories"),
        ("POST", "helmreleases"),
    ]


def test_flux_secret_values_follow_upgrades_rollbacks_and_uninstall(
    flux: FluxBackend, cluster: EmulatedCluster
) -> None:
    # Given a release installed without secret values
    flux.install(target(1))
    assert values_secret(cluster) is None
    assert "valuesFrom" not in release(cluster)["spec"]

    # When upgraded with secret values: the Secret is created and referenced
    flux.upgrade(secret_target(2, "first"))
    assert secret_values(cluster)["db"] == {"password": "first"}
    hr = release(cluster)
    assert hr["spec"]["valuesFrom"] == VALUES_FROM
    assert "first" not in json.dumps(hr["spec"]["values"])

    # When upgraded with new secret values: the Secret's values are replaced
    flux.upgrade(secret_target(3, "second"))
    assert secret_values(cluster)["db"] == {"password": "second"}
    assert "second" not in json.dumps(release(cluster))

    # When rolled back to revision 2: its secret values come back
    flux.rollback(secret_target(2, "first"), to_backend_ref="2")
    assert secret_values(cluster)["users"] == [{"name": "admin", "token": "t-first"}]
    assert release(cluster)["spec"]["valuesFrom"] == VALUES_FROM

    # When rolled back to revision 1, which had none: the reference and the Secret go
    flux.rollback(target(1), to_backend_ref="1")
    assert "valuesFrom" not in release(cluster)["spec"]
    assert values_secret(cluster) is None

    # When upgraded with secret values again, then uninstalled: the Secret goes too
    flux.upgrade(secret_target(4))
    assert values_secret(cluster) is not None
    flux.uninstall(REF)
    assert values_secret(cluster) is None
    assert cluster.read(HELM_RELEASE, NS, REF.release) is None


def test_flux_install_adopts_a_values_secret_it_left_behind(
    flux: FluxBackend, cluster: EmulatedCluster
) -> None:
    # Given an install that created the Secret and then failed
    flux._kube.send(flux._secret_create(secret_target(1, "old")))

    # When installed again
    flux.install(secret_target(1, "new"))

    # Then the Secret holds the new values
    assert secret_values(cluster)["db"] == {"password": "new"}


def test_flux_plan_shows_the_values_secret_without_its_values(cluster: EmulatedCluster) -> None:
    planner = FluxBackend(cluster.credentials(), clock=Clock())
    actions = [
        Action(OperationType.INSTALL, secret_target(1)),
        Action(OperationType.UPGRADE, secret_target(2)),
        Action(OperationType.SCALE, secret_target(3), replicas=4),
        Action(OperationType.ROLLBACK, secret_target(1), rollback_to_ref="1"),
        Action(OperationType.TERMINATE, secret_target(1)),
    ]
    planned = [step for action in actions for step in planner.plan(action)]
    flux = FluxBackend(cluster.credentials(), clock=Clock())

    flux.install(secret_target(1))
    flux.upgrade(secret_target(2))
    flux.scale(secret_target(3), replicas=4)
    flux.rollback(secret_target(1), to_backend_ref="1")
    flux.uninstall(REF)

    # The plan is what is sent, but for the Secret's data, shown as ***
    def hidden(data: Any) -> Any:
        if isinstance(data, dict) and "data" in data:
            return {**data, "data": {"values.yaml": "***"}}
        return data

    assert [s.body for s in planned] == [
        {"method": s.method, "path": s.path, "contentType": s.content_type, "body": hidden(s.data)}
        if s.data is not None
        else {"method": s.method, "path": s.path}
        for s in cluster.changes()
    ]
    assert "s3cr3t" not in json.dumps([s.body for s in planned])
    assert [s.description.split(" ", 2)[:2] for s in planned[:1]] == [["Apply", "Secret"]]


def test_flux_uninstall_refused_on_its_secret_still_removes_the_release(
    flux: FluxBackend, cluster: EmulatedCluster, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a release with its values Secret, on a cluster whose identity may not delete
    # Secrets
    flux.install(secret_target(1, "x"))
    cluster.answer("delete secrets", 403, 'secrets "nginx-prod-o2dms-values" is forbidden')

    # When it is uninstalled: the release goes, and the refused cleanup is logged, not raised
    flux.uninstall(REF)

    assert cluster.read(HELM_RELEASE, NS, REF.release) is None
    assert "cannot delete the values Secret" in caplog.text


def test_flux_status_carries_the_probe_checks_of_the_charts_pods(
    flux: FluxBackend, cluster: EmulatedCluster
) -> None:
    assert cluster.emulator is not None
    cluster.emulator.resources["v1/pods"] = kmock.ResourceInfo(namespaced=True)
    flux.install(target(1))
    crashing = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "nginx-prod-xyz",
            "namespace": "production",
            "labels": {"app.kubernetes.io/instance": "nginx-prod"},
        },
        "status": {
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
                {
                    "name": "nginx",
                    "ready": False,
                    "started": False,
                    "restartCount": 4,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                }
            ],
        },
    }
    cluster.as_someone_else(POD, crashing)
    checks = {c.name: c for c in flux.status(REF).health_checks}
    assert checks["nginx-prod-xyz-liveness"].status.value == "unhealthy"
    assert "CrashLoopBackOff (4 restarts)" in checks["nginx-prod-xyz-liveness"].message
