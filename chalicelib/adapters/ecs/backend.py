"""Deployments as Amazon ECS services: the ``ecs`` adapter's ``DeploymentBackend``.

- install and upgrade (``_roll_out``): ``DescribeServices`` -> ``DescribeTaskDefinition`` of
  the task definition the service runs -> ``RegisterTaskDefinition`` of a revision copied from
  it (``taskdefs.register_request``) -> ``UpdateService(taskDefinition, desiredCount)``. The
  service must exist and use ECS rolling updates: we adopt it, never create it. The new
  revision's ARN is the ``backend_ref`` our revision keeps; its image, environment and size
  are the applied extensions (``taskdefs.snapshot``).
- rollback: ``UpdateService`` back to the task definition our history recorded for the target
  revision. When the service runs it already, nothing is sent: ECS's deployment circuit
  breaker (``rollback: true``) rolled it back by itself, and the rollback is recorded as its
  (``ecs.rollbackMethod: circuitBreaker``). A task definition since deregistered is replaced
  by a new revision registered from our snapshot (our history outlives ECS's).
- scale: ``UpdateService(desiredCount)``; scheduled scaling calls the same.
- uninstall: ``UpdateService(desiredCount=0)``. The service is not ours to delete; the
  termination ends once no task of it runs (``status`` with ``terminating``).
- status: one ``DescribeServices`` (``status.service_status``).
- plan: the ``aws ecs`` commands (``plan.py``); an upgrade's reads the service and its task
  definition to show the exact revision it would register.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from chalicelib.adapters.ecs import calls
from chalicelib.adapters.ecs import plan as commands
from chalicelib.adapters.ecs.calls import EcsClient
from chalicelib.adapters.ecs.errors import translated
from chalicelib.adapters.ecs.status import breaker_of, primary_of, service_status
from chalicelib.adapters.ecs.target import Wanted, wanted, where_of
from chalicelib.adapters.ecs.taskdefs import register_request, snapshot, split_image
from chalicelib.domain.errors import (
    BackendTargetNotFound,
    InvalidRequest,
    ReleaseNotFound,
)
from chalicelib.domain.health import CustomCheck, HealthCheck
from chalicelib.domain.models import JsonObject
from chalicelib.domain.ports import (
    Action,
    Applied,
    BackendRevision,
    BackendStatus,
    PlanStep,
    ReleaseRef,
    ReleaseTarget,
    RolloutPhase,
)
from chalicelib.domain.states import OperationType

logger = logging.getLogger(__name__)

Clients = Callable[..., EcsClient]  # clients(operation_id=...) -> the ECS client to call


class EcsBackend:
    """``DeploymentBackend`` rolling task definitions out to existing ECS services."""

    kind = "ecs"

    def __init__(self, clients: Clients) -> None:
        self._clients = clients

    # ------------------------------------------------------------------ the port

    def install(self, target: ReleaseTarget) -> Applied:
        return self._roll_out(target)

    def upgrade(self, target: ReleaseTarget) -> Applied:
        return self._roll_out(target)

    def scale(self, target: ReleaseTarget, *, replicas: int) -> Applied:
        asked = wanted(target)
        ecs = self._clients(operation_id=target.operation_id)
        service = calls.service(ecs, asked.where)
        running = calls.task_definition(ecs, str(service["taskDefinition"]), asked.where)
        calls.update(ecs, asked.where, desired=replicas)
        return _applied(ecs, running, asked, desired=replicas)

    def rollback(self, target: ReleaseTarget, *, to_backend_ref: str | None) -> Applied:
        asked = wanted(target)
        ecs = self._clients(operation_id=target.operation_id)
        service = calls.service(ecs, asked.where)
        desired = asked.desired
        change = desired if desired is not None and desired != service.get("desiredCount") else None
        primary = primary_of(service) or {}
        if to_backend_ref is not None and to_backend_ref in {
            primary.get("taskDefinition"),
            service.get("taskDefinition"),
        }:
            return self._back_already(ecs, service, asked, to_backend_ref, change)
        found = calls.registered(ecs, to_backend_ref, asked.where) if to_backend_ref else None
        if found is not None:
            arn = str(found["taskDefinitionArn"])
            calls.update(ecs, asked.where, task_definition=arn, desired=change)
            return _applied(ecs, found, asked, desired=desired, method="updateService")
        current = calls.task_definition(ecs, str(service["taskDefinition"]), asked.where)
        registered = calls.register(ecs, register_request(current, asked), asked.where)
        arn = str(registered["taskDefinitionArn"])
        calls.update(ecs, asked.where, task_definition=arn, desired=change)
        return _applied(ecs, registered, asked, desired=desired, method="snapshot")

    def _back_already(
        self,
        ecs: EcsClient,
        service: JsonObject,
        asked: Wanted,
        arn: str,
        change: int | None,
    ) -> Applied:
        """The service runs (or ECS is putting back) the rollback's task definition: its
        circuit breaker rolled back by itself. Nothing is sent but a desired count that
        differs from the target revision's."""
        kept = calls.task_definition(ecs, arn, asked.where)
        if change is not None:
            calls.update(ecs, asked.where, desired=change)
        by = "circuitBreaker" if breaker_of(service).rollback else "alreadyRunning"
        logger.info(
            "ecs rollback found the service on its target already",
            extra={"service": asked.where.short, "taskDefinition": arn, "by": by},
        )
        return _applied(ecs, kept, asked, desired=asked.desired, method=by)

    def uninstall(self, ref: ReleaseRef) -> None:
        where = where_of(_applied_where(ref))
        ecs = self._clients()
        try:
            calls.update(ecs, where, desired=0)
        except BackendTargetNotFound as exc:
            raise ReleaseNotFound(exc.message) from exc

    def status(self, ref: ReleaseRef) -> BackendStatus:
        try:
            where = where_of(_applied_where(ref))
        except InvalidRequest as exc:
            return BackendStatus(RolloutPhase.ABSENT, 0, exc.message)
        ecs = self._clients()
        try:
            with translated("DescribeServices", where):
                answer = ecs.describe_services(cluster=where.cluster, services=[where.service])
        except BackendTargetNotFound as exc:  # the cluster is gone
            return BackendStatus(RolloutPhase.ABSENT, 100 if ref.terminating else 0, exc.message)
        services = answer.get("services") or []
        if not services:
            message = f"ECS service {where.short} not found"
            return BackendStatus(RolloutPhase.ABSENT, 100 if ref.terminating else 0, message)
        image = ref.applied.get("ecs.image")
        return service_status(
            services[0],
            where=where,
            expected=_text(ref.applied.get("ecs.taskDefinition")),
            version=split_image(image)[1] if isinstance(image, str) else None,
            terminating=ref.terminating,
        )

    def history(self, ref: ReleaseRef) -> list[BackendRevision]:
        """The service's deployments as ECS keeps them (the PRIMARY one and those draining):
        ECS keeps no longer history; ours is in the table."""
        where = where_of(_applied_where(ref))
        service = calls.service(self._clients(), where)
        return [
            BackendRevision(
                backend_ref=str(d.get("taskDefinition")),
                status=str(d.get("rolloutState") or d.get("status") or ""),
                chart_version="",
                app_version=None,
                description=f"ECS deployment {d.get('id')} ({d.get('status')})",
                updated_at=d.get("updatedAt"),
            )
            for d in reversed(service.get("deployments") or [])
        ]

    def probe(self, ref: ReleaseRef, checks: tuple[CustomCheck, ...]) -> tuple[HealthCheck, ...]:
        """Custom checks go through a Kubernetes API server's service proxy, which an ECS
        service does not have: an ``ecs`` deployment declares none (refused on apply)."""
        return ()

    def plan(self, action: Action) -> list[PlanStep]:
        target, kind = action.target, action.type
        where = where_of(target.values)
        ecs = self._clients()
        region = getattr(getattr(ecs, "meta", None), "region_name", None)
        if kind is OperationType.TERMINATE:
            return commands.terminate_steps(where, region)
        asked = wanted(target)
        if kind is OperationType.SCALE:
            if action.replicas is None:
                raise InvalidRequest("a scale plan needs a replica count")
            return commands.scale_steps(where, region, action.replicas)
        if kind is OperationType.ROLLBACK:
            return commands.rollback_steps(
                where, region, to=action.rollback_to_ref, desired=asked.desired
            )
        _refuse_checks(target)
        service = calls.service(ecs, where)
        current = str(service["taskDefinition"])
        request = register_request(calls.task_definition(ecs, current, where), asked)
        return commands.register_steps(
            where, region, request=request, current=current, desired=asked.desired
        )

    # ------------------------------------------------------------------ calls

    def _roll_out(self, target: ReleaseTarget) -> Applied:
        asked = wanted(target)
        _refuse_checks(target)
        ecs = self._clients(operation_id=target.operation_id)
        service = calls.service(ecs, asked.where)
        current = calls.task_definition(ecs, str(service["taskDefinition"]), asked.where)
        registered = calls.register(ecs, register_request(current, asked), asked.where)
        calls.update(
            ecs, asked.where, task_definition=registered["taskDefinitionArn"], desired=asked.desired
        )
        return _applied(ecs, registered, asked, desired=asked.desired)


def _applied(
    ecs: EcsClient,
    task_definition: JsonObject,
    asked: Wanted,
    *,
    desired: int | None,
    method: str | None = None,
) -> Applied:
    shown = snapshot(task_definition, asked.container, asked.where.service)
    image = shown.get("ecs.image")
    extensions: JsonObject = {
        **shown,
        "ecs.cluster": asked.where.cluster,
        "ecs.service": asked.where.service,
        "ecs.region": getattr(getattr(ecs, "meta", None), "region_name", None),
        "ecs.desiredCount": desired,
    }
    if method is not None:
        extensions["ecs.rollbackMethod"] = method
    return Applied(
        backend_ref=_text(task_definition.get("taskDefinitionArn")),
        app_version=split_image(image)[1] if isinstance(image, str) else asked.tag,
        extensions=extensions,
    )


def _applied_where(ref: ReleaseRef) -> JsonObject:
    """The service an apply recorded (``_applied``): reads and uninstalls get no values."""
    return {"cluster": ref.applied.get("ecs.cluster"), "service": ref.applied.get("ecs.service")}


def _refuse_checks(target: ReleaseTarget) -> None:
    if target.values.get("healthChecks"):
        raise InvalidRequest(
            "healthChecks run through a Kubernetes API server's service proxy; an ecs"
            " deployment cannot declare any (ECS's own container health checks count instead)"
        )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
