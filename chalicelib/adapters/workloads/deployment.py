"""The objects and requests of the ``kubernetes`` adapter, built from a revision's values
(plain data, no I/O: what ``plan`` shows is what is sent).

Values read: ``image.repository`` (required), ``image.tag`` (default: the descriptor's
version), ``replicaCount`` (default 1), ``containerPort``, ``labels``, ``container`` (the
container's name, default the release) and ``serviceName`` (a ClusterIP Service selecting
the pods). The Deployment is named after the release, in the target namespace, and selects
its pods by ``app.kubernetes.io/instance=<release>``. Its pod template carries the labels
with ``app.kubernetes.io/version`` (the image tag); the Deployment carries our tracking
labels and annotations (``gitops/tracking.py``) and ``kubernetes.io/change-cause``, which
the deployment controller copies to the ReplicaSet, as ``kubectl rollout history`` shows it.

Changes are JSON Patches (RFC 6902) whose ``add`` operations replace ``spec.template`` whole,
so a label or port a revision dropped does not survive from the previous one.
"""

from __future__ import annotations

import copy
from typing import Any

from chalicelib.adapters.gitops import tracking
from chalicelib.adapters.gitops.kube import (
    DEPLOYMENT,
    SERVICE,
    Request,
    create,
    delete,
    json_patch,
    pointer,
)
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.models import JsonObject
from chalicelib.domain.ports import ReleaseTarget
from chalicelib.domain.states import OperationType

INSTANCE = "app.kubernetes.io/instance"
VERSION = "app.kubernetes.io/version"
CHANGE_CAUSE = "kubernetes.io/change-cause"
RS_REVISION = "deployment.kubernetes.io/revision"
RS_REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
TEMPLATE_HASH = "pod-template-hash"


WRITTEN = frozenset(
    {"image", "replicaCount", "containerPort", "labels", "container", "serviceName"}
)


def refuse_secrets(target: ReleaseTarget) -> None:
    """Values we write into the Deployment or Service must not be secret: anyone who may
    read those objects would read them."""
    written = [leaf for leaf in target.secret_leaves if leaf and leaf[0] in WRITTEN]
    if written:
        where = ", ".join(dict.fromkeys(".".join(str(step) for step in leaf) for leaf in written))
        raise InvalidRequest(
            f"the kubernetes adapter writes {where} into the Deployment in clear: "
            "it cannot be a secret value"
        )


def selector(release: str) -> str:
    return f"{INSTANCE}={release}"


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest(f"the kubernetes adapter needs {what} to be an object")
    return value


def image_of(target: ReleaseTarget) -> tuple[str, str]:
    """The image repository and tag of ``target`` (the tag defaults to its version)."""
    image = _mapping(target.values.get("image"), "image")
    repository = image.get("repository")
    if not isinstance(repository, str) or not repository:
        raise InvalidRequest("the kubernetes adapter needs the value image.repository")
    tag = image.get("tag") or target.chart.version
    return repository, str(tag)


def replicas_of(target: ReleaseTarget) -> int:
    count = target.values.get("replicaCount", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise InvalidRequest("the kubernetes adapter needs replicaCount to be a count")
    return count


def service_name(values: JsonObject) -> str | None:
    name = values.get("serviceName")
    return name if isinstance(name, str) and name else None


def pod_labels(target: ReleaseTarget) -> dict[str, str]:
    labels = {str(k): str(v) for k, v in _mapping(target.values.get("labels"), "labels").items()}
    return {**labels, INSTANCE: target.release, VERSION: image_of(target)[1]}


def _port(target: ReleaseTarget) -> int | None:
    port = target.values.get("containerPort")
    if port is None:
        return None
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise InvalidRequest("the kubernetes adapter needs containerPort to be a port number")
    return port


def pod_template(target: ReleaseTarget) -> JsonObject:
    """The Deployment's ``spec.template`` for ``target``."""
    repository, tag = image_of(target)
    name = target.values.get("container") or target.release
    container: JsonObject = {"name": str(name), "image": f"{repository}:{tag}"}
    port = _port(target)
    if port is not None:
        container["ports"] = [{"containerPort": port, "protocol": "TCP"}]
    return {"metadata": {"labels": pod_labels(target)}, "spec": {"containers": [container]}}


def change_cause(target: ReleaseTarget, kind: OperationType) -> str:
    repository, tag = image_of(target)
    return f"O2-DMS {kind.value} to revision {target.revision} ({repository}:{tag})"


def annotations_of(target: ReleaseTarget, kind: OperationType) -> dict[str, str]:
    pinned = kind is OperationType.ROLLBACK
    return {
        **tracking.annotations_for(target, pinned=pinned),
        CHANGE_CAUSE: change_cause(target, kind),
    }


def labels_of(target: ReleaseTarget) -> dict[str, str]:
    return {**tracking.labels_for(target), INSTANCE: target.release, VERSION: image_of(target)[1]}


def deployment(target: ReleaseTarget, kind: OperationType = OperationType.INSTALL) -> JsonObject:
    """The whole Deployment that ``install`` creates."""
    refuse_secrets(target)
    return {
        "apiVersion": DEPLOYMENT.api_version,
        "kind": DEPLOYMENT.kind,
        "metadata": {
            "name": target.release,
            "namespace": target.namespace,
            "labels": labels_of(target),
            "annotations": annotations_of(target, kind),
        },
        "spec": {
            "replicas": replicas_of(target),
            "selector": {"matchLabels": {INSTANCE: target.release}},
            "template": pod_template(target),
        },
    }


def service(target: ReleaseTarget) -> JsonObject | None:
    """The ClusterIP Service ``serviceName`` asks for, or ``None``."""
    name = service_name(target.values)
    if name is None:
        return None
    port = _port(target) or 80
    return {
        "apiVersion": SERVICE.api_version,
        "kind": SERVICE.kind,
        "metadata": {"name": name, "namespace": target.namespace, "labels": labels_of(target)},
        "spec": {
            "type": "ClusterIP",
            "selector": {INSTANCE: target.release},
            "ports": [{"port": port, "targetPort": port, "protocol": "TCP"}],
        },
    }


def creates(target: ReleaseTarget, kind: OperationType = OperationType.INSTALL) -> list[Request]:
    """Create the Deployment, and the Service when one is named."""
    found = [create(DEPLOYMENT, deployment(target, kind))]
    svc = service(target)
    if svc is not None:
        found.append(create(SERVICE, svc))
    return found


def change(
    target: ReleaseTarget,
    kind: OperationType,
    template: JsonObject | None = None,
    *,
    replicas: int | None = None,
) -> Request:
    """The patch for an upgrade, scale or rollback: labels, annotations, replicas, and the
    pod template (``target``'s own unless ``template``, a ReplicaSet's, is given)."""
    refuse_secrets(target)
    meta_ops = [
        {"op": "add", "path": pointer("metadata", "labels", key), "value": value}
        for key, value in labels_of(target).items()
    ]
    ops: list[JsonObject] = [
        *meta_ops,
        *tracking.annotation_ops(annotations_of(target, kind)),
        {
            "op": "add",
            "path": "/spec/replicas",
            "value": replicas if replicas is not None else replicas_of(target),
        },
    ]
    if kind is not OperationType.SCALE:
        ops.append(
            {"op": "add", "path": "/spec/template", "value": template or pod_template(target)}
        )
    return json_patch(DEPLOYMENT, target.namespace, target.release, ops)


def removes(release: str, namespace: str, values: JsonObject | None) -> list[Request]:
    found = [delete(DEPLOYMENT, namespace, release)]
    name = service_name(values or {})
    if name is not None:
        found.append(delete(SERVICE, namespace, name))
    return found


def replica_set_template(replica_set: JsonObject) -> JsonObject:
    """A ReplicaSet's pod template as a Deployment holds it: without ``pod-template-hash``."""
    template = copy.deepcopy(tracking.dig(replica_set, "spec", "template") or {})
    found = tracking.dig(template, "metadata", "labels")
    if isinstance(found, dict):
        found.pop(TEMPLATE_HASH, None)
    template.get("metadata", {}).pop("creationTimestamp", None)
    return template


def revisions_of(replica_set: JsonObject) -> tuple[str, ...]:
    """The Deployment revisions a ReplicaSet holds: its own and those it held before."""
    notes = tracking.dig(replica_set, "metadata", "annotations") or {}
    own = notes.get(RS_REVISION)
    before = str(notes.get(RS_REVISION_HISTORY) or "")
    return tuple(r for r in (str(own or ""), *before.split(",")) if r)


def undo_command(release: str, namespace: str, to_revision: str) -> tuple[str, ...]:
    return (
        "kubectl",
        "rollout",
        "undo",
        f"deployment/{release}",
        f"--to-revision={to_revision}",
        "-n",
        namespace,
    )
