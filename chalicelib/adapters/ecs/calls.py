"""The four ECS calls the ``ecs`` adapter makes, each with its errors translated (``errors``)
and its outcome logged: ``DescribeServices`` (a service that may be rolled out),
``DescribeTaskDefinition``, ``RegisterTaskDefinition`` and ``UpdateService``."""

from __future__ import annotations

import logging
from typing import Any

from chalicelib.adapters.ecs.errors import translated
from chalicelib.adapters.ecs.target import Where
from chalicelib.domain.errors import BackendInvalidRequest, BackendTargetNotFound
from chalicelib.domain.models import JsonObject

logger = logging.getLogger(__name__)

EcsClient = Any  # botocore's ECS client (typed stubs are not a runtime dependency)


def service(ecs: EcsClient, where: Where) -> JsonObject:
    """The service as ECS describes it: it must exist, be active and roll out with ECS's
    own rolling updates (CodeDeploy and external controllers take no UpdateService of a
    task definition)."""
    with translated("DescribeServices", where):
        answer = ecs.describe_services(cluster=where.cluster, services=[where.service])
    services = answer.get("services") or []
    if not services:
        reasons = ", ".join(str(f.get("reason")) for f in answer.get("failures") or [])
        raise BackendTargetNotFound(
            f"ECS service {where.service} not found in cluster {where.cluster}"
            + (f" ({reasons})" if reasons else "")
        )
    service: JsonObject = services[0]
    if service.get("status") != "ACTIVE":
        raise BackendTargetNotFound(
            f"ECS service {where.short} is {str(service.get('status')).lower()}: it was deleted"
        )
    controller = (service.get("deploymentController") or {}).get("type", "ECS")
    if controller != "ECS":
        raise BackendInvalidRequest(
            f"ECS service {where.short} uses the {controller} deployment controller; o2dms"
            " rolls out services that use ECS rolling updates"
        )
    return service


def task_definition(ecs: EcsClient, arn: str, where: Where) -> JsonObject:
    with translated("DescribeTaskDefinition", where):
        found: JsonObject = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    return found


def registered(ecs: EcsClient, arn: str, where: Where) -> JsonObject | None:
    """The task definition ``arn`` if ECS still runs it (ACTIVE); None once deregistered."""
    try:
        found = task_definition(ecs, arn, where)
    except BackendInvalidRequest:  # ClientException: ECS no longer knows it
        return None
    return found if found.get("status", "ACTIVE") == "ACTIVE" else None


def register(ecs: EcsClient, request: JsonObject, where: Where) -> JsonObject:
    with translated("RegisterTaskDefinition", where):
        found: JsonObject = ecs.register_task_definition(**request)["taskDefinition"]
    logger.info(
        "ecs task definition registered",
        extra={"service": where.short, "taskDefinition": found.get("taskDefinitionArn")},
    )
    return found


def update(
    ecs: EcsClient,
    where: Where,
    *,
    task_definition: str | None = None,
    desired: int | None = None,
) -> None:
    request: JsonObject = {"cluster": where.cluster, "service": where.service}
    if task_definition is not None:
        request["taskDefinition"] = task_definition
    if desired is not None:
        request["desiredCount"] = desired
    with translated("UpdateService", where):
        ecs.update_service(**request)
    logger.info("ecs service updated", extra={"service": where.short, **request})
