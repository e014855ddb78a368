"""Seed 002's ``platform: ecs``: a start's configuration as an ECS service's parameters.

The version is the image tag of the task definition's container; ``cluster`` and ``service``
name the service (required by the first start, kept by later ones); ``environment``, ``cpu``,
``memory`` and ``replicas`` go with each version (``adapters/ecs/target.py`` reads them).
Fields of the Kubernetes and chart platforms are refused for ``ecs``, and ECS's for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.models import JsonObject

if TYPE_CHECKING:
    from chalicelib.service.apps import StartApp


# Fields of a start that only one kind of platform reads, by their configuration names.
_ECS_ONLY = ("cluster", "service", "environment", "cpu", "memory")
_KUBERNETES_ONLY = (
    "deployment_name",
    "service_name",
    "labels",
    "container_port",
    "components",
    "health_checks",
    "chart",
    "parameters",
)


def _given(request: StartApp) -> dict[str, Any]:
    """The configuration fields a start was given, by their configuration names."""
    found: dict[str, Any] = {
        "cluster": request.cluster,
        "service": request.service,
        "environment": request.variables or None,
        "cpu": request.cpu,
        "memory": request.memory,
        "deployment_name": request.deployment_name,
        "service_name": request.service_name,
        "labels": request.labels or None,
        "container_port": request.container_port,
        "components": request.components or None,
        "health_checks": request.health_checks or None,
        "chart": request.chart,
        "parameters": request.parameters,
    }
    return {k: v for k, v in found.items() if v is not None}


def refuse_ecs_fields(request: StartApp) -> None:
    """400 for a start on another platform that names fields only ECS reads."""
    _refuse(request, _ECS_ONLY, "the ecs platform")


def _refuse(request: StartApp, names: tuple[str, ...], platform: str) -> None:
    given = [f"configuration.{n}" for n in names if n in _given(request)]
    if given:
        raise InvalidRequest(f"{', '.join(given)}: only for {platform}")


def parameters(request: StartApp, *, first: bool) -> JsonObject:
    """An ECS service's parameters (``adapters/ecs/target.py``): the version is the image
    tag the task definition's container gets."""
    _refuse(request, _KUBERNETES_ONLY, "kubernetes, helm, argocd and flux")
    if first and (request.cluster is None or request.service is None):
        raise InvalidRequest(
            "platform ecs needs configuration.cluster and configuration.service: the ECS"
            " service to roll out (it must exist; o2dms registers its task definitions)"
        )
    image: JsonObject = {"tag": request.version}
    if request.image:
        image["repository"] = request.image
    found: JsonObject = {"image": image}
    optional: dict[str, Any] = {
        "cluster": request.cluster,
        "service": request.service,
        "container": request.container,
        "environment": dict(request.variables) or None,
        "cpu": request.cpu,
        "memory": request.memory,
        "replicaCount": request.replicas,
    }
    found.update({k: v for k, v in optional.items() if v is not None})
    return found
