"""The objects and requests of the ``kubernetes`` adapter, built from a revision's values
(plain data, no I/O: what ``plan`` shows is what is sent).

Values read: ``image.repository`` (required to create), ``image.tag`` (default: the
descriptor's version), ``replicaCount`` (default 1), ``containerPort``, ``labels``,
``container`` (the container's name, default the release), ``serviceName`` (a ClusterIP
Service selecting the pods), ``deploymentName`` (the Deployment's name, a DNS-1123
subdomain; default the release) and ``adopt`` (take over a Deployment that is not ours).
The Deployment we create selects its pods by ``app.kubernetes.io/instance=<release>``. Its
pod template carries the labels with ``app.kubernetes.io/version`` (the image tag); the
Deployment carries our tracking labels and annotations (``gitops/tracking.py``) and
``kubernetes.io/change-cause``, which the deployment controller copies to the ReplicaSet, as
``kubectl rollout history`` shows it.

Changes are JSON Patches (RFC 6902) whose ``add`` operations replace ``spec.template`` whole,
so a label or port a revision dropped does not survive from the previous one.

Adoption (``adopt: true``, the Deployment exists and is not ours) has ``kubectl set image``
semantics: the live pod template is kept and only the image tag of one container (the one
named ``container``, else the first) changes, its repository too when ``image.repository``
is given; the ``labels`` and ``app.kubernetes.io/version`` join its pod labels, and
``spec.replicas`` is written only when ``replicaCount`` is given. The Deployment then
carries our labels and the ``o2dms.o-ran.org/adopted`` annotation, and every later change
builds on its live pod template the same way, with the labels its selector needs put back
last (so no value can break the selector; labels an earlier revision added do survive).
"""

from __future__ import annotations

import copy
import re
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
ADOPTED = "o2dms.o-ran.org/adopted"
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


WRITTEN = frozenset(
    {
        "image",
        "replicaCount",
        "containerPort",
        "labels",
        "container",
        "serviceName",
        "deploymentName",
    }
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


def deployment_name(release: str, values: JsonObject) -> str:
    """``deploymentName``, else the release."""
    name = values.get("deploymentName")
    if name is None:
        return release
    if not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
        raise InvalidRequest(
            "the kubernetes adapter needs deploymentName to be a DNS-1123 name "
            "(lower-case letters, digits, '-' and '.', at most 253 characters)"
        )
    return name


def adopting(values: JsonObject) -> bool:
    """Whether ``adopt`` asks to take over a Deployment that is not ours."""
    adopt = values.get("adopt", False)
    if not isinstance(adopt, bool):
        raise InvalidRequest("the kubernetes adapter needs adopt to be true or false")
    return adopt


def match_labels(deployment: JsonObject | None) -> dict[str, str]:
    found = tracking.dig(deployment, "spec", "selector", "matchLabels")
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def pod_selector(deployment: JsonObject | None, release: str) -> str:
    """The Deployment's ``spec.selector`` as a label selector (that of its pods and
    ReplicaSets); ours, ``app.kubernetes.io/instance=<release>``, when it has none."""
    parts = [f"{key}={value}" for key, value in match_labels(deployment).items()]
    for rule in tracking.dig(deployment, "spec", "selector", "matchExpressions") or []:
        key, op = rule.get("key"), rule.get("operator")
        listed = ",".join(str(v) for v in rule.get("values") or [])
        shapes = {"In": f"{key} in ({listed})", "NotIn": f"{key} notin ({listed})"}
        shapes.update({"Exists": str(key), "DoesNotExist": f"!{key}"})
        parts.extend([shapes[op]] if op in shapes else [])
    return ",".join(parts) or selector(release)


def keeps_template(live: JsonObject | None, target: ReleaseTarget) -> bool:
    """Whether a change builds on ``live``'s pod template (``kubectl set image``) instead of
    replacing it: for a Deployment we are adopting, or did adopt (its selector is its own)."""
    if live is None:
        return False
    adopted = tracking.text(live, "metadata", "annotations", ADOPTED) == "true"
    return (
        adopted
        or not tracking.made_for(live, target)
        or match_labels(live) != {INSTANCE: target.release}
    )


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest(f"the kubernetes adapter needs {what} to be an object")
    return value


def repository_of(target: ReleaseTarget) -> str | None:
    repository = _mapping(target.values.get("image"), "image").get("repository")
    if repository is not None and (not isinstance(repository, str) or not repository):
        raise InvalidRequest("the kubernetes adapter needs image.repository to be a name")
    return repository


def tag_of(target: ReleaseTarget) -> str:
    """``image.tag``, else the descriptor's version."""
    return str(_mapping(target.values.get("image"), "image").get("tag") or target.chart.version)


def image_of(target: ReleaseTarget, *, why: str = "") -> tuple[str, str]:
    """The image repository and tag of ``target`` (the tag defaults to its version)."""
    repository = repository_of(target)
    if repository is None:
        raise InvalidRequest(f"{why}the kubernetes adapter needs the value image.repository")
    return repository, tag_of(target)


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
    return {**labels, INSTANCE: target.release, VERSION: tag_of(target)}


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


def _container_index(template: JsonObject, wanted: Any, where: str) -> int:
    """Which container of a pod template is ours: the one named ``wanted``, else the first."""
    containers = tracking.dig(template, "spec", "containers")
    if not isinstance(containers, list) or not containers:
        raise InvalidRequest(f"{where} has no container")
    if wanted is None:
        return 0
    names = [str(tracking.dig(c, "name")) for c in containers]
    if str(wanted) not in names:
        raise InvalidRequest(
            f"{where} has no container {wanted}: its containers are {', '.join(names)}"
        )
    return names.index(str(wanted))


def _repository_in(image: str) -> str:
    """``registry:5000/team/app`` of ``registry:5000/team/app:1.2@sha256:...``."""
    name = image.split("@", 1)[0]
    head, slash, last = name.rpartition("/")
    return head + slash + last.split(":", 1)[0]


def set_image(live: JsonObject, target: ReleaseTarget) -> tuple[JsonObject, str]:
    """``live``'s pod template as ``kubectl set image`` leaves it for ``target``, and the
    image it sets."""
    template = copy.deepcopy(tracking.dig(live, "spec", "template") or {})
    where = f"Deployment {target.namespace}/{tracking.text(live, 'metadata', 'name')}"
    container = template["spec"]["containers"][
        _container_index(template, target.values.get("container"), where)
    ]
    repository = repository_of(target) or _repository_in(str(container.get("image", "")))
    image = container["image"] = f"{repository}:{tag_of(target)}"
    metadata = template.setdefault("metadata", {})
    metadata.pop("creationTimestamp", None)
    added = {str(k): str(v) for k, v in _mapping(target.values.get("labels"), "labels").items()}
    metadata["labels"] = {
        **(metadata.get("labels") or {}),
        **added,
        VERSION: tag_of(target),
        **match_labels(live),  # what its selector needs comes last
    }
    return template, image


def written(target: ReleaseTarget, live: JsonObject | None) -> tuple[JsonObject, str]:
    """The pod template a change to ``target`` writes over ``live`` (``None``: none yet),
    and the image it gives our container."""
    if live is not None and keeps_template(live, target):  # (``is not None`` for mypy)
        return set_image(live, target)
    repository, tag = image_of(target)
    return pod_template(target), f"{repository}:{tag}"


def replicas_for(target: ReleaseTarget, live: JsonObject | None) -> int | None:
    """The replica count to write: none for an adopted Deployment unless asked for."""
    if keeps_template(live, target) and "replicaCount" not in target.values:
        return None
    return replicas_of(target)


def change_cause(target: ReleaseTarget, kind: OperationType, image: str | None = None) -> str:
    if image is None:
        image = ":".join(image_of(target))
    return f"O2-DMS {kind.value} to revision {target.revision} ({image})"


def annotations_of(
    target: ReleaseTarget, kind: OperationType, image: str | None = None, *, adopted: bool = False
) -> dict[str, str]:
    pinned = kind is OperationType.ROLLBACK
    return {
        **tracking.annotations_for(target, pinned=pinned),
        **({ADOPTED: "true"} if adopted else {}),
        CHANGE_CAUSE: change_cause(target, kind, image),
    }


def labels_of(target: ReleaseTarget) -> dict[str, str]:
    return {**tracking.labels_for(target), INSTANCE: target.release, VERSION: tag_of(target)}


def deployment(target: ReleaseTarget, kind: OperationType = OperationType.INSTALL) -> JsonObject:
    """The whole Deployment that ``install`` creates."""
    refuse_secrets(target)
    return {
        "apiVersion": DEPLOYMENT.api_version,
        "kind": DEPLOYMENT.kind,
        "metadata": {
            "name": deployment_name(target.release, target.values),
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


def service(target: ReleaseTarget, pods: dict[str, str] | None = None) -> JsonObject | None:
    """The ClusterIP Service ``serviceName`` asks for, or ``None``: selecting ``pods`` (an
    adopted Deployment's ``matchLabels``), else the pods of the Deployment we create."""
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
            "selector": pods or {INSTANCE: target.release},
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
    live: JsonObject | None = None,
) -> Request:
    """The patch for an upgrade, scale, rollback or adoption of ``live`` (the Deployment as
    read; ``None`` in a plan, which cannot read it): labels, annotations, replicas, and the
    pod template (``target``'s own unless ``template``, a ReplicaSet's, is given)."""
    refuse_secrets(target)
    built, image = written(target, live)
    meta_ops = [
        {"op": "add", "path": pointer("metadata", "labels", key), "value": value}
        for key, value in labels_of(target).items()
    ]
    notes = annotations_of(target, kind, image, adopted=keeps_template(live, target))
    missing = [  # a Deployment made by kubectl may have no annotations yet
        {"op": "add", "path": f"/metadata/{key}", "value": {}}
        for key in ("labels", "annotations")
        if live is not None and not isinstance(tracking.dig(live, "metadata", key), dict)
    ]
    ops: list[JsonObject] = [*missing, *meta_ops, *tracking.annotation_ops(notes)]
    count = replicas if replicas is not None else replicas_for(target, live)
    if count is not None:
        ops.append({"op": "add", "path": "/spec/replicas", "value": count})
    if kind is not OperationType.SCALE:
        ops.append({"op": "add", "path": "/spec/template", "value": template or built})
    name = deployment_name(target.release, target.values)
    return json_patch(DEPLOYMENT, target.namespace, name, ops)


def removes(release: str, namespace: str, values: JsonObject | None) -> list[Request]:
    found = [delete(DEPLOYMENT, namespace, deployment_name(release, values or {}))]
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


def undo_command(name: str, namespace: str, to_revision: str) -> tuple[str, ...]:
    return (
        "kubectl",
        "rollout",
        "undo",
        f"deployment/{name}",
        f"--to-revision={to_revision}",
        "-n",
        namespace,
    )
