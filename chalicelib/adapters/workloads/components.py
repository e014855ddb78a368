"""A several-part application on the ``kubernetes`` platform: its ``components`` values, the
order they roll out in (dependency waves; reversed for a rollback), and the commands a person
would type to do the same by hand. Plain data, no I/O.

Each component value: ``name`` (also its Deployment's and container's name), ``image``
(``repository``, ``tag``), ``replicaCount``, ``containerPort``, ``serviceName``, ``labels``,
``dependsOn`` (names of components that must be ready first).
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain.apps import dependency_waves
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.models import JsonObject
from chalicelib.domain.ports import PlanStep
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
