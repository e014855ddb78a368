"""A several-part application on the ``kubernetes`` platform: its ``components`` values, the
order they roll out in (dependency waves; reversed for a rollback), the Deployments and
Services that carry them, and the commands a person would type to do the same by hand.
Plain data, no I/O.

Each component value: ``name`` (also its Deployment's and container's name), ``image``
(``repository``, ``tag``), ``replicaCount``, ``containerPort``, ``serviceName``, ``labels``,
``dependsOn`` (names of components that must be ready first).

Each component is a Deployment of its own, selecting its pods by the release and
``app.kubernetes.io/component``. The order is the cluster's to keep: a change writes every
component at once, but those of later waves ``spec.paused`` (the deployment controller then
starts no new ReplicaSet), naming the components they wait for in an annotation; whoever
reads the status resumes a paused one once those are rolled out (``backend.py``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chalicelib.adapters.gitops import tracking
from chalicelib.adapters.gitops.kube import DEPLOYMENT, Request, create, json_patch, pointer
from chalicelib.adapters.workloads import deployment as objects
from chalicelib.domain.apps import dependency_waves
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.models import JsonObject
from chalicelib.domain.ports import PlanStep, ReleaseTarget
from chalicelib.domain.states import OperationType


def components_of(values: JsonObject) -> list[JsonObject]:
    found = values.get("components")
    if found is None:
        return []
    if not isinstance(found, list) or not all(
        isinstance(c, dict) and isinstance(c.get("name"), str) for c in found
    ):
        raise InvalidRequest("components must be a list of objects, each with a name")
    return found


def waves(values: JsonObject, *, reverse: bool = False) -> list[list[JsonObject]]:
    """The components wave by wave: dependencies first (last when ``reverse``)."""
    parts = {str(c["name"]): c for c in components_of(values)}
    order = dependency_waves({n: tuple(c.get("dependsOn") or ()) for n, c in parts.items()})
    if reverse:
        order.reverse()
    return [[parts[name] for name in wave] for wave in order]


def image_of(component: JsonObject) -> str:
    image: Any = component.get("image") or {}
    repository, tag = image.get("repository"), image.get("tag")
    if not isinstance(repository, str) or not isinstance(tag, str):
        raise InvalidRequest(f"component {component['name']} needs image.repository and a tag")
    return f"{repository}:{tag}"


def manual_steps(values: JsonObject, namespace: str, kind: OperationType) -> list[PlanStep]:
    """What a person would run to make the same change, component by component in the
    order the change takes (a rollback: dependents first)."""
    reverse = kind is OperationType.ROLLBACK
    steps: list[PlanStep] = []
    for number, wave in enumerate(waves(values, reverse=reverse), start=1):
        for part in wave:
            name = str(part["name"])
            container = str(part.get("container") or name)
            image = image_of(part)
            after = "" if number == 1 else f" (wave {number}: once the previous wave is ready)"
            steps.append(
                PlanStep(
                    f"Set component {name} to {image}{after}",
                    (
                        "kubectl",
                        "set",
                        "image",
                        f"deployment/{name}",
                        f"{container}={image}",
                        "-n",
                        namespace,
                    ),
                    component=name,
                )
            )
            steps.append(
                PlanStep(
                    f"Wait until component {name} is rolled out",
                    ("kubectl", "rollout", "status", f"deployment/{name}", "-n", namespace),
                    component=name,
                )
            )
    return steps


COMPONENT = "app.kubernetes.io/component"
WAITS_FOR = "o2dms.o-ran.org/waits-for"
DEPENDS_ON = "o2dms.o-ran.org/depends-on"
STARTED_AT = "o2dms.o-ran.org/started-at"


def part_target(target: ReleaseTarget, part: JsonObject) -> ReleaseTarget:
    """``target`` as if the component were a single Deployment."""
    name = str(part["name"])
    values: JsonObject = {
        "image": part.get("image"),
        "labels": {**(part.get("labels") or {}), COMPONENT: name},
        "container": part.get("container") or name,
        "deploymentName": name,
    }
    for key in ("replicaCount", "containerPort", "serviceName"):
        if key in part:
            values[key] = part[key]
    return replace(target, values=values)


def part_selector(release: str, name: str) -> dict[str, str]:
    return {objects.INSTANCE: release, COMPONENT: name}


def part_labels(target: ReleaseTarget, part: JsonObject) -> dict[str, str]:
    one = part_target(target, part)
    return {**objects.labels_of(one), COMPONENT: str(part["name"])}


def part_annotations(
    target: ReleaseTarget, part: JsonObject, kind: OperationType, waits_for: list[str], now: str
) -> dict[str, str]:
    one = part_target(target, part)
    return {
        **objects.annotations_of(one, kind, image_of(part)),
        WAITS_FOR: ",".join(waits_for),
        DEPENDS_ON: ",".join(str(d) for d in part.get("dependsOn") or ()),
        STARTED_AT: "" if waits_for else now,
    }


def part_deployment(
    target: ReleaseTarget, part: JsonObject, kind: OperationType, waits_for: list[str], now: str
) -> JsonObject:
    one = part_target(target, part)
    name = str(part["name"])
    return {
        "apiVersion": DEPLOYMENT.api_version,
        "kind": DEPLOYMENT.kind,
        "metadata": {
            "name": name,
            "namespace": target.namespace,
            "labels": part_labels(target, part),
            "annotations": part_annotations(target, part, kind, waits_for, now),
        },
        "spec": {
            "replicas": objects.replicas_of(one),
            "paused": bool(waits_for),
            "selector": {"matchLabels": part_selector(target.release, name)},
            "template": objects.pod_template(one),
        },
    }


def creates(
    target: ReleaseTarget, part: JsonObject, kind: OperationType, waits_for: list[str], now: str
) -> Request:
    return create(DEPLOYMENT, part_deployment(target, part, kind, waits_for, now))


def change(
    target: ReleaseTarget, part: JsonObject, kind: OperationType, waits_for: list[str], now: str
) -> Request:
    """Rewrite a component's Deployment whole but for its selector: labels, annotations,
    replicas, pause and pod template."""
    built = part_deployment(target, part, kind, waits_for, now)
    ops: list[JsonObject] = [
        {"op": "add", "path": "/metadata/labels", "value": built["metadata"]["labels"]},
        {"op": "add", "path": "/metadata/annotations", "value": built["metadata"]["annotations"]},
        *(
            {"op": "add", "path": f"/spec/{key}", "value": built["spec"][key]}
            for key in ("replicas", "paused", "template")
        ),
    ]
    return json_patch(DEPLOYMENT, target.namespace, str(part["name"]), ops)


def resume(namespace: str, name: str, now: str) -> Request:
    """Let a paused component roll out: its dependencies are."""
    return json_patch(
        DEPLOYMENT,
        namespace,
        name,
        [
            {"op": "add", "path": "/spec/paused", "value": False},
            {"op": "add", "path": pointer("metadata", "annotations", STARTED_AT), "value": now},
        ],
    )


def service(target: ReleaseTarget, part: JsonObject) -> JsonObject | None:
    one = part_target(target, part)
    found = objects.service(one, part_selector(target.release, str(part["name"])))
    if found is not None:
        found["metadata"]["labels"] = part_labels(target, part)
    return found


def is_part(obj: JsonObject) -> bool:
    return bool(tracking.text(obj, "metadata", "labels", COMPONENT))


def listed(obj: JsonObject, key: str) -> tuple[str, ...]:
    text = tracking.text(obj, "metadata", "annotations", key) or ""
    return tuple(n for n in text.split(",") if n)
