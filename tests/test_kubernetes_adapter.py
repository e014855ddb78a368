"""The ``kubernetes`` adapter against a Kubernetes API emulator, over HTTP with the real
client: the exact requests it sends for each step, the ReplicaSet it rolls back to, and the
status and history it reads back from the Deployment, its ReplicaSets and pods."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import kmock
import pytest

from chalicelib.adapters.gitops.kube import DEPLOYMENT, POD, REPLICA_SET, SERVICE
from chalicelib.adapters.workloads.backend import KubernetesBackend
from chalicelib.domain.errors import InvalidRequest, ReleaseConflict, ReleaseNotFound
from chalicelib.domain.models import ChartRef
from chalicelib.domain.ports import Action, ReleaseRef, ReleaseTarget, RolloutPhase
from chalicelib.domain.states import OperationType
from tests.kube_emulator import EmulatedCluster, nginx_target

REF = ReleaseRef(release="web", namespace="production")
V1 = ChartRef("https://charts.example.com/stable", "web", "1.0.0")
DEPLOYMENTS = "/apis/apps/v1/namespaces/production/deployments"
SERVICES = "/api/v1/namespaces/production/services"
JSON_PATCH = "application/json-patch+json"
OURS = {
    "app.kubernetes.io/managed-by": "o2dms",
    "o2dms.o-ran.org/deployment": "web",
    "app.kubernetes.io/instance": "web",
}


def target(revision: int, **values: Any) -> ReleaseTarget:
    return nginx_target(REF, revision, V1, **values)


def template(tag: str, **labels: str) -> dict[str, Any]:
    return {
        "metadata": {
            "labels": {
                **labels,
                "app.kubernetes.io/instance": "web",
                "app.kubernetes.io/version": tag,
            }
        },
        "spec": {"containers": [{"name": "web", "image": f"nginx:{tag}"}]},
    }


def notes(revision: int, kind: str, tag: str, *, pinned: bool = False) -> dict[str, str]:
    return {
        "o2dms.o-ran.org/revision": str(revision),
        "o2dms.o-ran.org/operation-id": f"op-{revision}",
        "o2dms.o-ran.org/pinned": "true" if pinned else "false",
        "kubernetes.io/change-cause": f"O2-DMS {kind} to revision {revision} (nginx:{tag})",
    }


def meta_ops(revision: int, kind: str, tag: str, *, pinned: bool = False) -> list[dict[str, Any]]:
    labels = {**OURS, "app.kubernetes.io/version": tag}
    return [
        *(
            {"op": "add", "path": f"/metadata/labels/{k.replace('/', '~1')}", "value": v}
            for k, v in labels.items()
        ),
        *(
            {"op": "add", "path": f"/metadata/annotations/{k.replace('/', '~1')}", "value": v}
            for k, v in notes(revision, kind, tag, pinned=pinned).items()
        ),
    ]


@pytest.fixture
def backend(cluster: EmulatedCluster) -> KubernetesBackend:
    assert cluster.emulator is not None
    for kind in ("v1/pods", "apps/v1/replicasets", "v1/services"):  # listable while empty
        cluster.emulator.resources[kind] = kmock.ResourceInfo(namespaced=True)
    return KubernetesBackend(cluster.credentials(), settle_seconds=0)


def replica_set(revision: str, tag: str, *, history: str | None = None) -> dict[str, Any]:
    annotations = {"deployment.kubernetes.io/revision": revision}
    if history:
        annotations["deployment.kubernetes.io/revision-history"] = history
    rs_template = template(tag)
    rs_template["metadata"]["labels"]["pod-template-hash"] = f"h{revision}"
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"web-h{revision}",
            "namespace": "production",
            "labels": {"app.kubernetes.io/instance": "web", "pod-template-hash": f"h{revision}"},
            "annotations": annotations,
        },
        "spec": {"replicas": 0, "template": rs_template},
    }


def test_install_creates_the_deployment_and_the_named_service(
    cluster: EmulatedCluster, backend: KubernetesBackend
) -> None:
    applied = backend.install(
        target(1, serviceName="web-svc", containerPort=8080, labels={"tier": "edge"})
    )

    sent = cluster.changes()
    assert [(s.method, s.path) for s in sent] == [("POST", DEPLOYMENTS), ("POST", SERVICES)]
    pod = template("1.20.0", tier="edge")
    pod["spec"]["containers"][0]["ports"] = [{"containerPort": 8080, "protocol": "TCP"}]
    labels = {"tier": "edge", **OURS, "app.kubernetes.io/version": "1.20.0"}
    labels = {**OURS, "app.kubernetes.io/version": "1.20.0"}
    assert sent[0].data == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "production",
            "labels": labels,
            "annotations": notes(1, "install", "1.20.0"),
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app.kubernetes.io/instance": "web"}},
            "template": pod,
        },
    }
    assert sent[1].data == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web-svc", "namespace": "production", "labels": labels},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/instance": "web"},
            "ports": [{"port": 8080, "targetPort": 8080, "protocol": "TCP"}],
        },
    }
    assert applied.app_version == "1.20.0"
    assert applied.backend_ref is None  # no controller observed it
    assert applied.extensions["kubernetes.podTemplate"] == pod


def test_the_tag_defaults_to_the_version_and_an_image_is_required(
    backend: KubernetesBackend,
) -> None:
    untagged = target(1, image={"repository": "registry.example.com/web"})
    steps = backend.plan(Action(OperationType.INSTALL, untagged))
    body = steps[0].body
    assert body is not None
    assert body["body"]["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "registry.example.com/web:1.0.0"
    )
    with pytest.raises(InvalidRequest, match=r"image\.repository"):
        backend.plan(Action(OperationType.INSTALL, target(1, image={"tag": "1"})))


def test_upgrade_and_scale_patch_the_deployment_and_plan_shows_what_is_sent(
    cluster: EmulatedCluster, backend: KubernetesBackend
) -> None:
    backend.install(target(1))
    upgrade = target(2, image={"repository": "nginx", "tag": "1.21.0"})
    planned = backend.plan(Action(OperationType.UPGRADE, upgrade))
    backend.upgrade(upgrade)
    backend.scale(target(3, image={"repository": "nginx", "tag": "1.21.0"}), replicas=5)

    upgraded, scaled = cluster.changes()[1:]
    assert (upgraded.method, upgraded.path, upgraded.content_type) == (
        "PATCH",
        f"{DEPLOYMENTS}/web",
        JSON_PATCH,
    )
    assert upgraded.data == [
        *meta_ops(2, "upgrade", "1.21.0"),
        {"op": "add", "path": "/spec/replicas", "value": 2},
        {"op": "add", "path": "/spec/template", "value": template("1.21.0")},
    ]
    assert planned[0].body == {
        "method": "PATCH",
        "path": f"{DEPLOYMENTS}/web",
        "contentType": JSON_PATCH,
        "body": upgraded.data,
    }
    assert scaled.data == [
        *meta_ops(3, "scale", "1.21.0"),
        {"op": "add", "path": "/spec/replicas", "value": 5},
    ]
    stored = cluster.read(DEPLOYMENT, "production", "web")
    assert stored is not None
    assert stored["spec"]["replicas"] == 5
    assert stored["spec"]["template"] == template("1.21.0")


def test_upgrade_creates_a_missing_deployment_and_install_refuses_one_not_ours(
    cluster: EmulatedCluster, backend: KubernetesBackend
) -> None:
    backend.upgrade(target(1))
    assert [(s.method, s.path) for s in cluster.changes()] == [("POST", DEPLOYMENTS)]
    foreign = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "other", "namespace": "production"},
        "spec": {"template": template("x")},
    }
    cluster.as_someone_else(DEPLOYMENT, foreign)
    other = ReleaseRef(release="other", namespace="production")
    with pytest.raises(ReleaseConflict, match="not ours"):
        backend.install(nginx_target(other, 1, V1))
    with pytest.raises(ReleaseNotFound):
        backend.scale(nginx_target(ReleaseRef("gone", "production"), 1, V1), replicas=1)


def test_rollback_puts_back_the_replica_sets_template_or_else_the_snapshot(
    cluster: EmulatedCluster, backend: KubernetesBackend
) -> None:
    backend.install(target(1))
    backend.upgrade(target(2, image={"repository": "nginx", "tag": "1.21.0"}))
    # revision 1 was rolled back to once already: its ReplicaSet now holds revision 3
    cluster.as_someone_else(REPLICA_SET, replica_set("3", "1.19.0", history="1"))
    kept = template("1.19.0")

    applied = backend.rollback(target(4), to_backend_ref="1")
    assert cluster.changes()[-1].data == [
        *meta_ops(4, "rollback", "1.20.0", pinned=True),
        {"op": "add", "path": "/spec/replicas", "value": 2},
        {"op": "add", "path": "/spec/template", "value": kept},  # no pod-template-hash
    ]
    assert applied.extensions["kubernetes.rollbackMethod"] == "undo"
    assert applied.extensions["kubernetes.podTemplate"] == kept

    pruned = backend.rollback(target(5), to_backend_ref="2")
    assert cluster.changes()[-1].data[-1] == {
        "op": "add",
        "path": "/spec/template",
        "value": template("1.20.0"),
    }
    assert pruned.extensions["kubernetes.rollbackMethod"] == "snapshot"

    plan = backend.plan(Action(OperationType.ROLLBACK, target(6), rollback_to_ref="2"))
    assert plan[0].command == (
        "kubectl",
        "rollout",
        "undo",
        "deployment/web",
        "--to-revision=2",
        "-n",
        "production",
    )
    assert plan[1].body is not None
    assert plan[1].body["body"][-1]["value"] == template("1.20.0")


def test_uninstall_deletes_the_deployment_and_our_service(
    cluster: EmulatedCluster, backend: KubernetesBackend
) -> None:
    backend.install(target(1, serviceName="web-svc"))
    backend.uninstall(REF)
    assert [(s.method, s.path) for s in cluster.changes()][2:] == [
        ("DELETE", f"{DEPLOYMENTS}/web"),
        ("DELETE", f"{SERVICES}/web-svc"),
    ]
    assert cluster.read(SERVICE, "production", "web-svc") is None
    plan = backend.plan(Action(OperationType.TERMINATE, target(1, serviceName="web-svc")))
    assert [s.body["path"] for s in plan if s.body] == [f"{DEPLOYMENTS}/web", f"{SERVICES}/web-svc"]


def _rolled(cluster: EmulatedCluster, status: dict[str, Any], revision: str = "2") -> None:
    cluster.as_controller(
        DEPLOYMENT,
        "production",
        "web",
        {
            "metadata": {"annotations": {"deployment.kubernetes.io/revision": revision}},
            "status": status,
        },
    )


def test_status_reads_the_rollout_and_fails_early_on_a_crash_loop(
    cluster: EmulatedCluster, backend: KubernetesBackend
) -> None:
    assert backend.status(REF).phase is RolloutPhase.ABSENT
    backend.install(target(1))
    generation = cluster.read(DEPLOYMENT, "production", "web")["metadata"].get("generation", 1)  # type: ignore[index]
    done = {
        "observedGeneration": generation,
        "replicas": 2,
        "updatedReplicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 2,
    }
    _rolled(cluster, done)
    ready = backend.status(REF)
    assert (ready.phase, ready.progress, ready.message) == (
        RolloutPhase.READY,
        100,
        "All 2 replicas ready",
    )
    assert ready.backend_ref == "2"

    _rolled(cluster, {**done, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1})
    crashing = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web-x",
            "namespace": "production",
            "labels": {"app.kubernetes.io/instance": "web"},
        },
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": "web",
                    "restartCount": 3,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                }
            ],
        },
    }
    cluster.as_someone_else(POD, crashing)
    failed = backend.status(REF)
    assert failed.phase is RolloutPhase.FAILED
    assert failed.message.endswith("the new pods keep crashing")

    _rolled(
        cluster,
        {
            **done,
            "conditions": [
                {
                    "type": "Progressing",
                    "status": "False",
                    "reason": "ProgressDeadlineExceeded",
                    "message": "x",
                }
            ],
        },
    )
    assert backend.status(REF).phase is RolloutPhase.FAILED


def test_history_is_the_replica_sets_oldest_first(
    cluster: EmulatedCluster, backend: KubernetesBackend
) -> None:
    backend.install(target(1))
    _rolled(cluster, {}, revision="3")
    for rs in (replica_set("3", "1.19.0", history="1"), replica_set("2", "1.21.0")):
        cluster.as_someone_else(REPLICA_SET, rs)
    found = backend.history(REF)
    assert [(r.backend_ref, r.status, r.app_version) for r in found] == [
        ("2", "superseded", "1.21.0"),
        ("3", "deployed", "1.19.0"),
    ]


def test_importing_the_adapter_does_not_load_kubernetes() -> None:
    code = "import sys, chalicelib.adapters.workloads.backend; print('kubernetes' in sys.modules)"
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"


def test_values_written_in_clear_cannot_be_secret(backend: KubernetesBackend) -> None:
    secret = replace(target(1, labels={"token": "x"}), secret_leaves=(("labels", "token"),))
    with pytest.raises(InvalidRequest, match=r"labels\.token"):
        backend.plan(Action(OperationType.INSTALL, secret))
    unused = replace(target(1, db={"password": "x"}), secret_leaves=(("db", "password"),))
    assert backend.plan(Action(OperationType.UPGRADE, unused))
