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

from chalicelib.adapters.gitops.kube import DEPLOYMENT, POD, REPLICA_SET, SERVICE, Resource
from chalicelib.adapters.workloads.backend import KubernetesBackend
from chalicelib.domain.errors import InvalidRequest, ReleaseConflict, ReleaseNotFound
from chalicelib.domain.health import HealthStatus
from chalicelib.domain.models import ChartRef, JsonObject
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
    kinds = ("v1/pods", "apps/v1/replicasets", "v1/services", "apps/v1/deployments")
    for kind in kinds:  # listable while empty
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


# ------------------------------------------------------------ deploymentName and adoption

OURS_SELECTOR = "app.kubernetes.io/managed-by=o2dms,o2dms.o-ran.org/deployment=web"
APP_TEMPLATE = {
    "metadata": {"labels": {"app": "my-app"}},
    "spec": {
        "containers": [
            {"name": "sidecar", "image": "envoyproxy/envoy:v1.30.0"},
            {"name": "app", "image": "registry.example.com:5000/team/my-app:0.9.0"},
        ]
    },
}


def bare_target(revision: int, **values: Any) -> ReleaseTarget:
    """A revision of release ``web`` with exactly ``values`` (no image, no replica count)."""
    return replace(target(revision), values=values)


def foreign_app(**labels: str) -> dict[str, Any]:
    """``my-app`` as ``kubectl create deployment`` made it: not ours, no annotations."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "my-app", "namespace": "production", "labels": {"app": "my-app"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "my-app", **labels}},
            "template": APP_TEMPLATE,
        },
    }


def lists(cluster: EmulatedCluster, path: str) -> list[dict[str, str]]:
    """The label selectors of the list requests on ``path``."""
    return [s.query for s in cluster.seen() if s.method == "GET" and s.path == path]


def test_deployment_name_names_the_deployment_everywhere(
    cluster: EmulatedCluster, backend: KubernetesBackend
) -> None:
    named = {"deploymentName": "web-frontend"}
    applied = backend.install(target(1, **named))
    backend.upgrade(target(2, **named, image={"repository": "nginx", "tag": "1.21.0"}))

    created, upgraded = cluster.changes()
    assert (created.method, created.path) == ("POST", DEPLOYMENTS)
    assert created.data["metadata"]["name"] == "web-frontend"
    assert created.data["metadata"]["labels"] == {**OURS, "app.kubernetes.io/version": "1.20.0"}
    assert created.data["spec"]["selector"] == {
        "matchLabels": {"app.kubernetes.io/instance": "web"}  # pods still by the release
    }
    assert created.data["spec"]["template"] == template("1.20.0")
    assert (upgraded.method, upgraded.path) == ("PATCH", f"{DEPLOYMENTS}/web-frontend")
    assert upgraded.data == [
        *meta_ops(2, "upgrade", "1.21.0"),
        {"op": "add", "path": "/spec/replicas", "value": 2},
        {"op": "add", "path": "/spec/template", "value": template("1.21.0")},
    ]
    assert applied.extensions["kubernetes.deployment"] == "web-frontend"
    assert cluster.read(DEPLOYMENT, "production", "web") is None

    install = backend.plan(Action(OperationType.INSTALL, target(1, **named)))
    assert install[0].description == "Create Deployment production/web-frontend (or adopt ours)"
    upgrade = backend.plan(Action(OperationType.UPGRADE, target(2, **named)))
    assert upgrade[0].body is not None
    assert upgrade[0].body["path"] == f"{DEPLOYMENTS}/web-frontend"
    rollback = backend.plan(Action(OperationType.ROLLBACK, target(3, **named), rollback_to_ref="1"))
    assert rollback[0].command is not None
    assert "deployment/web-frontend" in rollback[0].command
    terminate = backend.plan(Action(OperationType.TERMINATE, target(3, **named)))
    assert terminate[0].body is not None
    assert terminate[0].body["path"] == f"{DEPLOYMENTS}/web-frontend"
    for wrong in ("Web_Frontend", "-web", "x" * 254, 7):
        with pytest.raises(InvalidRequest, match="deploymentName"):
            backend.plan(Action(OperationType.INSTALL, target(1, deploymentName=wrong)))


def test_status_history_and_uninstall_find_the_deployment_by_our_labels(
    cluster: EmulatedCluster, backend: KubernetesBackend
) -> None:
    backend.install(target(1, deploymentName="web-frontend"))
    cluster.as_someone_else(
        DEPLOYMENT, {**foreign_app(), "metadata": {"name": "web", "namespace": "production"}}
    )
    _rolled_named(cluster, "web-frontend", revision="1")
    cluster.as_someone_else(REPLICA_SET, replica_set("1", "1.20.0"))
    before = len(cluster.seen())

    status = backend.status(REF)
    history = backend.history(REF)
    backend.uninstall(REF)

    reads = [(s.method, s.path, s.query) for s in cluster.seen()[before:] if s.method == "GET"]
    by_labels = {"labelSelector": OURS_SELECTOR}
    by_release = {"labelSelector": "app.kubernetes.io/instance=web"}
    assert reads == [
        ("GET", DEPLOYMENTS, by_labels),  # one list request, never a read by name
        ("GET", "/api/v1/namespaces/production/pods", by_release),
        ("GET", SERVICES, by_labels),  # for endpoint health (none: no EndpointSlice read)
        ("GET", DEPLOYMENTS, by_labels),
        ("GET", "/apis/apps/v1/namespaces/production/replicasets", by_release),
        ("GET", DEPLOYMENTS, by_labels),
        ("GET", SERVICES, by_labels),
    ]
    assert status.extensions["kubernetes.deployment"] == "web-frontend"
    assert status.backend_ref == "1"
    assert [r.backend_ref for r in history] == ["1"]
    assert [(s.method, s.path) for s in cluster.seen()[before:] if s.method != "GET"] == [
        ("DELETE", f"{DEPLOYMENTS}/web-frontend")
    ]
    assert cluster.read(DEPLOYMENT, "production", "web") is not None  # not ours: kept
    assert backend.status(REF).phase is RolloutPhase.ABSENT
    with pytest.raises(ReleaseNotFound):
        backend.history(REF)
    with pytest.raises(ReleaseNotFound):
        backend.uninstall(REF)


def test_of_several_labelled_deployments_the_one_named_after_the_release_wins(
    cluster: EmulatedCluster, backend: KubernetesBackend
) -> None:
    def labelled(name: str) -> JsonObject:
        made = foreign_app()
        made["metadata"] = {"name": name, "namespace": "production", "labels": dict(OURS)}
        return made

    for name in ("web-b", "web-a"):
        cluster.as_someone_else(DEPLOYMENT, labelled(name))
    assert backend.status(REF).extensions["kubernetes.deployment"] == "web-a"  # first by name
    cluster.as_someone_else(DEPLOYMENT, labelled("web"))
    assert backend.status(REF).extensions["kubernetes.deployment"] == "web"


def _rolled_named(cluster: EmulatedCluster, name: str, *, revision: str) -> None:
    cluster.as_controller(
        DEPLOYMENT,
        "production",
        name,
        {"metadata": {"annotations": {"deployment.kubernetes.io/revision": revision}}},
    )


def adopted_notes(revision: int, kind: str, image: str, *, pinned: bool = False) -> JsonObject:
    return {
        "o2dms.o-ran.org/revision": str(revision),
        "o2dms.o-ran.org/operation-id": f"op-{revision}",
        "o2dms.o-ran.org/pinned": "true" if pinned else "false",
        "o2dms.o-ran.org/adopted": "true",
        "kubernetes.io/change-cause": f"O2-DMS {kind} to revision {revision} ({image})",
    }


def adoption_ops(
    revision: int, kind: str, tag: str, image: str, *, pinned: bool = False
) -> list[JsonObject]:
    labels = {**OURS, "app.kubernetes.io/version": tag}
    return [
        *(
            {"op": "add", "path": f"/metadata/labels/{k.replace('/', '~1')}", "value": v}
            for k, v in labels.items()
        ),
        *(
            {"op": "add", "path": f"/metadata/annotations/{k.replace('/', '~1')}", "value": v}
            for k, v in adopted_notes(revision, kind, image, pinned=pinned).items()
        ),
    ]


def app_template(tag: str, image: str, **labels: str) -> JsonObject:
    return {
        "metadata": {"labels": {"app": "my-app", **labels, "app.kubernetes.io/version": tag}},
        "spec": {
            "containers": [
                {"name": "sidecar", "image": "envoyproxy/envoy:v1.30.0"},
                {"name": "app", "image": image},
            ]
        },
    }


def test_adopt_takes_over_a_foreign_deployment_as_kubectl_set_image_would(
    cluster: EmulatedCluster, backend: KubernetesBackend
) -> None:
    cluster.as_someone_else(DEPLOYMENT, foreign_app())
    adopt = {"deploymentName": "my-app", "adopt": True, "container": "app"}
    first = bare_target(1, **adopt, image={"tag": "1.1.0"}, labels={"tier": "edge"})
    plan = backend.plan(Action(OperationType.INSTALL, first))
    applied = backend.install(first)

    v1 = "registry.example.com:5000/team/my-app:1.1.0"
    adopted = app_template("1.1.0", v1, tier="edge")
    (patch,) = cluster.changes()[1:]
    assert (patch.method, patch.path, patch.content_type) == (
        "PATCH",
        f"{DEPLOYMENTS}/my-app",
        JSON_PATCH,
    )
    assert patch.data == [
        {"op": "add", "path": "/metadata/annotations", "value": {}},  # kubectl set none
        *adoption_ops(1, "install", "1.1.0", v1),
        {"op": "add", "path": "/spec/template", "value": adopted},  # no /spec/replicas
    ]
    stored = cluster.read(DEPLOYMENT, "production", "my-app")
    assert stored is not None
    assert stored["spec"]["selector"] == {"matchLabels": {"app": "my-app"}}
    assert stored["spec"]["replicas"] == 3
    assert stored["metadata"]["labels"] == {
        "app": "my-app",
        **OURS,
        "app.kubernetes.io/version": "1.1.0",
    }
    assert applied.extensions["kubernetes.podTemplate"] == adopted
    assert applied.extensions["kubernetes.image"] == v1
    assert applied.extensions["kubernetes.replicas"] == 3
    assert plan[0].body is None
    assert "kubectl set image" in plan[0].description

    # now ours, but its selector is not: an upgrade keeps the live template and the
    # labels the selector needs, whatever the labels value says
    second = bare_target(
        2,
        **adopt,
        image={"repository": "registry.example.com/my-app", "tag": "1.2.0"},
        labels={"app": "other"},
        replicaCount=4,
    )
    backend.upgrade(second)
    v2 = "registry.example.com/my-app:1.2.0"
    upgraded = app_template("1.2.0", v2, tier="edge")
    assert cluster.changes()[-1].data == [
        *adoption_ops(2, "upgrade", "1.2.0", v2),
        {"op": "add", "path": "/spec/replicas", "value": 4},
        {"op": "add", "path": "/spec/template", "value": upgraded},
    ]

    # its pods and ReplicaSets are selected by its own selector
    before = len(cluster.seen())
    backend.status(REF)
    backend.history(REF)
    by_app = {"labelSelector": "app=my-app"}
    queries = [s.query for s in cluster.seen()[before:]]
    # status: ours, its pods, our Services (for endpoint health); history: ours, its sets
    assert [queries[1], queries[4]] == [by_app, by_app]

    # rolling back to a pruned revision re-applies its snapshot on the live template
    pruned = backend.rollback(replace(first, revision=3, operation_id="op-3"), to_backend_ref="1")
    back = app_template("1.1.0", "registry.example.com/my-app:1.1.0", tier="edge")
    assert cluster.changes()[-1].data[-1] == {"op": "add", "path": "/spec/template", "value": back}
    assert pruned.extensions["kubernetes.podTemplate"] == back
    assert pruned.extensions["kubernetes.rollbackMethod"] == "snapshot"


def test_adopt_sets_the_only_or_first_container_and_refuses_an_unknown_one(
    cluster: EmulatedCluster, backend: KubernetesBackend
) -> None:
    cluster.as_someone_else(DEPLOYMENT, foreign_app())
    unknown = bare_target(1, deploymentName="my-app", adopt=True, container="nope")
    with pytest.raises(InvalidRequest, match="no container nope: its containers are sidecar, app"):
        backend.install(unknown)
    first = backend.install(bare_target(1, deploymentName="my-app", adopt=True))
    assert first.extensions["kubernetes.image"] == "envoyproxy/envoy:1.0.0"
    assert len(cluster.changes()) == 2


def test_adopt_needs_an_image_to_create_a_missing_deployment(
    cluster: EmulatedCluster, backend: KubernetesBackend
) -> None:
    missing = bare_target(1, deploymentName="my-app", adopt=True, image={"tag": "1.1.0"})
    with pytest.raises(
        InvalidRequest, match=r"production/my-app does not exist: to create it, .*image\.repository"
    ):
        backend.install(missing)
    assert cluster.changes() == []
    backend.install(replace(missing, values={**missing.values, "image": {"repository": "nginx"}}))
    assert [(s.method, s.path) for s in cluster.changes()] == [("POST", DEPLOYMENTS)]


def test_a_foreign_deployment_is_a_conflict_without_adopt(
    cluster: EmulatedCluster, backend: KubernetesBackend
) -> None:
    cluster.as_someone_else(DEPLOYMENT, foreign_app())
    for values in ({}, {"adopt": False}):
        with pytest.raises(ReleaseConflict, match="my-app exists and is not ours"):
            backend.install(target(1, deploymentName="my-app", **values))
        with pytest.raises(ReleaseConflict, match="not ours"):
            backend.upgrade(target(1, deploymentName="my-app", **values))
    with pytest.raises(ReleaseConflict, match="not ours"):  # scale never adopts
        backend.scale(target(1, deploymentName="my-app", adopt=True), replicas=1)
    with pytest.raises(InvalidRequest, match="adopt"):
        backend.install(target(1, deploymentName="my-app", adopt="yes"))
    others = foreign_app()
    others["metadata"].update(name="theirs", labels={**OURS, "o2dms.o-ran.org/deployment": "api"})
    cluster.as_someone_else(DEPLOYMENT, others)
    with pytest.raises(ReleaseConflict, match="belongs to deployment api"):
        backend.install(target(1, deploymentName="theirs", adopt=True))
    assert len(cluster.changes()) == 2  # only the foreign Deployments' creation


PARTS = {
    "version": "2.0.0",
    "components": [
        {
            "name": "api",
            "image": {"repository": "shop/api", "tag": "2.0.0"},
            "dependsOn": ["db"],
            "replicaCount": 2,
        },
        {"name": "db", "image": {"repository": "shop/db", "tag": "2.0.0"}, "dependsOn": []},
    ],
}


def part_change(seen: Any) -> tuple[str, str, Any]:
    return seen.method, seen.path, seen.data


def test_components_are_written_at_once_with_later_waves_paused(
    cluster: EmulatedCluster, backend: KubernetesBackend
) -> None:
    applied = backend.install(bare_target(1, **PARTS))
    created = {s.data["metadata"]["name"]: s.data for s in cluster.changes()}
    db, api = created["db"], created["api"]
    assert db["spec"]["paused"] is False
    assert api["spec"]["paused"] is True
    assert api["metadata"]["annotations"]["o2dms.o-ran.org/waits-for"] == "db"
    assert api["metadata"]["annotations"]["o2dms.o-ran.org/depends-on"] == "db"
    assert api["metadata"]["annotations"]["o2dms.o-ran.org/started-at"] == ""
    assert db["metadata"]["annotations"]["o2dms.o-ran.org/started-at"] != ""
    selector = {"app.kubernetes.io/instance": "web", "app.kubernetes.io/component": "api"}
    assert api["spec"]["selector"]["matchLabels"] == selector
    assert api["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == "api"
    assert api["spec"]["template"]["spec"]["containers"][0]["image"] == "shop/api:2.0.0"
    assert api["spec"]["replicas"] == 2
    assert applied.extensions["kubernetes.order"] == [["db"], ["api"]]
    assert applied.app_version == "2.0.0"

    # db is still rolling out: api stays paused, nothing is written
    before = len(cluster.changes())
    status = backend.status(REF)
    assert status.phase is RolloutPhase.PROGRESSING
    assert {c.name: c.status for c in status.components} == {"api": "pending", "db": "deploying"}
    assert len(cluster.changes()) == before

    # db rolled out: the next status read resumes api, and says so
    generation = cluster.read(DEPLOYMENT, "production", "db")["metadata"].get("generation", 1)  # type: ignore[index]
    done = {"observedGeneration": generation, "replicas": 1, "updatedReplicas": 1}
    done |= {"readyReplicas": 1, "availableReplicas": 1}
    cluster.as_controller(DEPLOYMENT, "production", "db", {"status": done})
    before = len(cluster.changes())
    status = backend.status(REF)
    resumed = cluster.changes()[before:]
    assert [(s.method, s.path) for s in resumed] == [("PATCH", f"{DEPLOYMENTS}/api")]
    ops = resumed[0].data
    assert ops[0] == {"op": "add", "path": "/spec/paused", "value": False}
    assert ops[1]["path"] == "/metadata/annotations/o2dms.o-ran.org~1started-at"
    assert {c.name: c.status for c in status.components} == {"api": "deploying", "db": "ready"}
    assert status.phase is RolloutPhase.PROGRESSING


def test_components_roll_back_in_reverse_and_refuse_a_scale(
    cluster: EmulatedCluster, backend: KubernetesBackend
) -> None:
    backend.install(bare_target(1, **PARTS))
    before = len(cluster.changes())
    backend.rollback(bare_target(2, **PARTS), to_backend_ref=None)
    patched = {s.path.rsplit("/", 1)[-1]: s.data for s in cluster.changes()[before:]}
    paused = {
        name: next(o["value"] for o in ops if o["path"] == "/spec/paused")
        for name, ops in patched.items()
    }
    assert paused == {"api": False, "db": True}  # dependents first
    with pytest.raises(InvalidRequest, match="per component"):
        backend.scale(bare_target(3, **PARTS), replicas=3)
    steps = backend.plan(Action(OperationType.ROLLBACK, bare_target(3, **PARTS)))
    assert [s.component for s in steps] == ["api", "api", "db", "db"]
    assert steps[0].command == (
        "kubectl",
        "set",
        "image",
        "deployment/api",
        "api=shop/api:2.0.0",
        "-n",
        "production",
    )
    backend.uninstall(REF)
    deleted = [s.path for s in cluster.changes() if s.method == "DELETE"]
    assert set(deleted) >= {f"{DEPLOYMENTS}/api", f"{DEPLOYMENTS}/db"}


def _pod(name: str, *, ready: bool) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "production",
            "labels": {"app.kubernetes.io/instance": "web"},
        },
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [
                {"name": "web", "ready": ready, "started": True, "restartCount": 0}
            ],
        },
    }


def test_status_reads_health_in_four_requests_whatever_the_pods(
    cluster: EmulatedCluster, backend: KubernetesBackend
) -> None:
    assert cluster.emulator is not None
    cluster.emulator.resources["discovery.k8s.io/v1/endpointslices"] = kmock.ResourceInfo(
        namespaced=True
    )
    backend.install(target(1, serviceName="web-svc"))
    for index in range(5):
        cluster.as_someone_else(POD, _pod(f"web-{index}", ready=index < 4))
    endpoints = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "web-svc-abc",
            "namespace": "production",
            "labels": {"kubernetes.io/service-name": "web-svc"},
        },
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": [f"10.0.0.{i}"], "conditions": {"ready": True}} for i in range(4)
        ],
    }
    slices = Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice")
    cluster.as_someone_else(slices, endpoints)
    before = len(cluster.seen())

    checks = {c.name: c for c in backend.status(REF).health_checks}

    reads = [(s.path, s.query) for s in cluster.seen()[before:]]
    assert reads == [
        (DEPLOYMENTS, {"labelSelector": OURS_SELECTOR}),
        ("/api/v1/namespaces/production/pods", {"labelSelector": "app.kubernetes.io/instance=web"}),
        ("/api/v1/namespaces/production", {}),  # does it inject Istio sidecars?
        (SERVICES, {"labelSelector": OURS_SELECTOR}),
        (
            "/apis/discovery.k8s.io/v1/namespaces/production/endpointslices",
            {"labelSelector": "kubernetes.io/service-name in (web-svc)"},
        ),
    ]
    assert checks["web-svc-endpoints"].status is HealthStatus.HEALTHY
    assert checks["web-0-readiness"].status is HealthStatus.HEALTHY
    assert checks["web-4-readiness"].status is HealthStatus.UNHEALTHY
    assert len([c for c in checks.values() if c.pod]) == 15

    cluster.answer("list services", 403, 'services is forbidden: User "deployer" cannot list')
    unread = {c.name: c for c in backend.status(REF).health_checks}["endpoints"]
    assert unread.status is HealthStatus.UNKNOWN
