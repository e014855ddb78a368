"""A described ECS service as the port's status: one ``DescribeServices`` answer, no more.

ECS keeps one deployment per task definition it is moving to or away from: the ``PRIMARY``
one (the newest) and ``ACTIVE`` ones still draining. Each counts its tasks (``desiredCount``,
``pendingCount``, ``runningCount``, ``failedTasks``) and says how its rollout goes
(``rolloutState`` IN_PROGRESS, COMPLETED or FAILED, and ``rolloutStateReason``).

- READY: the PRIMARY deployment runs the task definition we applied, all its tasks run,
  ECS calls its rollout COMPLETED and no older deployment has a task left.
- FAILED: its rollout FAILED (the deployment circuit breaker tripped); or, on a service
  without the breaker, more tasks failed to start than the breaker would have allowed
  (``breaker_threshold``); or the PRIMARY deployment is no longer ours: the breaker rolled
  the service back (``ecs.rolledBackBy``), or someone changed it outside o2dms.
- ABSENT: the service is gone (deleted, draining), or it is being terminated and nothing of
  it runs any more (we scale a service to zero; we never delete one we did not create).
- PROGRESSING otherwise, with progress = running tasks / desired tasks.

With the breaker on and ``rollback: true``, ECS has rolled back by itself by the time its
rollout reads FAILED: the status says so, and the core's rollback finds the service already
on the previous task definition and sends nothing (``backend.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.ecs.target import Where
from chalicelib.adapters.ecs.taskdefs import short
from chalicelib.domain.health import HealthCheck, HealthStatus
from chalicelib.domain.models import ComponentStatus, Condition, JsonObject
from chalicelib.domain.ports import BackendStatus, Replicas, RolloutPhase

EVENTS_SHOWN = 5  # the newest service events kept with the status
APPLIED_KEY = "ecs.taskDefinition"  # the applied extension naming the task definition we set


@dataclass(frozen=True, slots=True)
class Breaker:
    """The service's deployment circuit breaker."""

    enabled: bool
    rollback: bool


def breaker_of(service: Mapping[str, Any]) -> Breaker:
    found = (service.get("deploymentConfiguration") or {}).get("deploymentCircuitBreaker") or {}
    return Breaker(bool(found.get("enable")), bool(found.get("enable") and found.get("rollback")))


def breaker_threshold(desired: int) -> int:
    """Failed tasks that fail a deployment, as ECS's breaker counts them: half the desired
    count, at least 3 and at most 200."""
    return min(200, max(3, math.ceil(0.5 * desired)))


def primary_of(service: Mapping[str, Any]) -> JsonObject | None:
    return next((d for d in service.get("deployments") or [] if d.get("status") == "PRIMARY"), None)


@dataclass(frozen=True, slots=True)
class _Seen:
    """One described service with its PRIMARY deployment, as the verdicts below read it."""

    service: Mapping[str, Any]
    primary: JsonObject
    where: Where
    breaker: Breaker
    extensions: JsonObject

    @property
    def replicas(self) -> Replicas:
        desired, running, pending, _ = _counts(self.primary)
        return Replicas(
            desired=desired, updated=running + pending, ready=running, available=running
        )

    @property
    def conditions(self) -> tuple[Condition, ...]:
        state = str(self.primary.get("rolloutState") or "")
        reason = str(self.primary.get("rolloutStateReason") or "")
        return _conditions(state, reason, self.breaker)

    @property
    def draining(self) -> int:
        others = [d for d in self.service.get("deployments") or [] if d is not self.primary]
        return sum(_counts(d)[1] + _counts(d)[2] for d in others)


def service_status(
    service: Mapping[str, Any],
    *,
    where: Where,
    expected: str | None,
    version: str | None = None,
    terminating: bool = False,
) -> BackendStatus:
    """The status of ``service`` (one entry of ``DescribeServices``), whose rollout of the task
    definition ``expected`` (the ARN we applied, running ``version``; None: whatever it runs)
    we follow."""
    extensions = _extensions(service)
    if service.get("status") != "ACTIVE":
        return BackendStatus(
            RolloutPhase.ABSENT,
            100 if terminating else 0,
            f"ECS service {where.short} is {str(service.get('status', 'gone')).lower()}",
            extensions=extensions,
        )
    if terminating:
        return _stopping(service, where, extensions)
    primary = primary_of(service)
    if primary is None:
        return BackendStatus(
            RolloutPhase.PROGRESSING,
            0,
            f"ECS service {where.short} has no deployment yet",
            extensions=extensions,
        )
    seen = _Seen(service, primary, where, breaker_of(service), extensions)
    if expected is not None and primary.get("taskDefinition") != expected:
        if service.get("taskDefinition") == expected:  # ECS has not opened its deployment yet
            return BackendStatus(
                RolloutPhase.PROGRESSING,
                0,
                f"ECS service {where.short} is about to deploy {short(expected)}",
                conditions=seen.conditions,
                replicas=seen.replicas,
                extensions=extensions,
            )
        return _replaced(seen, expected)
    phase, message = _verdict(seen)
    replicas = seen.replicas
    failed = _counts(primary)[3]
    return BackendStatus(
        phase,
        100 if phase is RolloutPhase.READY else _progress(replicas.ready, replicas.desired),
        message,
        conditions=seen.conditions,
        replicas=replicas,
        backend_ref=str(primary.get("taskDefinition")),
        extensions=extensions,
        components=(_component(where, phase, replicas, version),),
        health_checks=(_readiness(where, phase, replicas, failed),),
    )


def _verdict(seen: _Seen) -> tuple[RolloutPhase, str]:
    """How the rollout of our own task definition goes."""
    desired, running, pending, failed = _counts(seen.primary)
    task_definition = short(str(seen.primary.get("taskDefinition")))
    state = str(seen.primary.get("rolloutState") or "")
    if state == "FAILED":
        reason = str(seen.primary.get("rolloutStateReason") or "ECS deployment failed")
        return RolloutPhase.FAILED, f"{reason} ({task_definition})"
    if not seen.breaker.enabled and failed >= breaker_threshold(desired) and running < desired:
        stopped = _last_stop(seen.service) or "their essential container exited"
        return RolloutPhase.FAILED, (
            f"{failed} tasks of {task_definition} failed to start ({running} of {desired}"
            f" running): {stopped}"
        )
    draining = seen.draining
    if running >= desired and pending == 0 and draining == 0 and state in {"COMPLETED", ""}:
        if desired == 0:
            return RolloutPhase.READY, f"Scaled to 0 tasks ({task_definition})"
        plural = "s" if desired != 1 else ""
        return RolloutPhase.READY, f"All {desired} task{plural} of {task_definition} running"
    message = (
        f"ECS deployment {seen.primary.get('id')} of {task_definition}: {running} of"
        f" {desired} tasks running"
    )
    if pending:
        message += f", {pending} pending"
    if failed:
        message += f", {failed} failed to start"
    if draining:
        plural = "s" if draining != 1 else ""
        message += f"; {draining} task{plural} of older deployments still running"
    return RolloutPhase.PROGRESSING, message


def _replaced(seen: _Seen, expected: str) -> BackendStatus:
    """The PRIMARY deployment runs another task definition than ours: rolled back by the
    breaker (its FAILED deployment may be drained already), or changed by someone else."""
    now_on = str(seen.primary.get("taskDefinition"))
    ours = next(
        (d for d in seen.service.get("deployments") or [] if d.get("taskDefinition") == expected),
        None,
    )
    extensions = seen.extensions
    if (ours is not None and ours.get("rolloutState") == "FAILED") or seen.breaker.rollback:
        reason = (ours or {}).get("rolloutStateReason") or "the deployment circuit breaker tripped"
        message = f"{reason} ({short(expected)}); ECS rolled the service back to {short(now_on)}"
        extensions = {
            **extensions,
            "ecs.rolledBackBy": "circuitBreaker",
            "ecs.rolledBackTo": now_on,
        }
    else:
        message = (
            f"ECS service {seen.where.short} runs {short(now_on)}, not {short(expected)}: it was"
            " changed outside o2dms"
        )
    replicas = seen.replicas
    return BackendStatus(
        RolloutPhase.FAILED,
        _progress(replicas.ready, replicas.desired),
        message,
        conditions=seen.conditions,
        replicas=replicas,
        backend_ref=now_on,
        extensions=extensions,
        components=(_component(seen.where, RolloutPhase.FAILED, replicas, None),),
    )


def _stopping(service: Mapping[str, Any], where: Where, extensions: JsonObject) -> BackendStatus:
    """A termination: the service scaled to zero, its tasks stopping."""
    left = sum(_counts(d)[1] + _counts(d)[2] for d in service.get("deployments") or [])
    left = max(left, int(service.get("runningCount") or 0) + int(service.get("pendingCount") or 0))
    if int(service.get("desiredCount") or 0) == 0 and left == 0:
        return BackendStatus(
            RolloutPhase.ABSENT,
            100,
            f"ECS service {where.short} scaled to 0: no task of it runs (the service is kept)",
            extensions=extensions,
        )
    return BackendStatus(
        RolloutPhase.PROGRESSING,
        0,
        f"Stopping ECS service {where.short}: {left} task{'s' if left != 1 else ''} left",
        extensions=extensions,
    )


def _counts(deployment: Mapping[str, Any]) -> tuple[int, int, int, int]:
    return (
        int(deployment.get("desiredCount") or 0),
        int(deployment.get("runningCount") or 0),
        int(deployment.get("pendingCount") or 0),
        int(deployment.get("failedTasks") or 0),
    )


def _progress(running: int, desired: int) -> int:
    if desired <= 0:
        return 99 if running else 100
    return min(99, running * 100 // desired)


def _conditions(state: str, reason: str, breaker: Breaker) -> tuple[Condition, ...]:
    verdict = {"COMPLETED": "True", "FAILED": "False"}.get(state, "Unknown")
    if not breaker.enabled:
        guard = ("False", "Disabled", "Failed tasks are counted by o2dms")
    elif breaker.rollback:
        guard = ("True", "RollbackEnabled", "ECS fails a deployment and rolls it back itself")
    else:
        guard = ("True", "Enabled", "ECS fails a deployment; o2dms rolls it back")
    return (
        Condition("RolloutCompleted", verdict, state or "Unknown", reason),
        Condition("DeploymentCircuitBreaker", *guard),
    )


def _component(
    where: Where, phase: RolloutPhase, replicas: Replicas, version: str | None
) -> ComponentStatus:
    words = {
        RolloutPhase.READY: "ready",
        RolloutPhase.FAILED: "failed",
        RolloutPhase.ABSENT: "absent",
    }
    return ComponentStatus(
        name=where.service.rsplit("/", 1)[-1],
        version=version,
        desired=replicas.desired,
        updated=replicas.updated,
        ready=replicas.ready,
        available=replicas.available,
        status=words.get(phase, "deploying"),
    )


def _readiness(where: Where, phase: RolloutPhase, replicas: Replicas, failed: int) -> HealthCheck:
    name = where.service.rsplit("/", 1)[-1]
    if phase is RolloutPhase.READY:
        status, message = (
            HealthStatus.HEALTHY,
            f"{replicas.ready} of {replicas.desired} tasks running",
        )
    elif phase is RolloutPhase.FAILED or (failed and replicas.ready < replicas.desired):
        status = HealthStatus.UNHEALTHY
        message = f"{replicas.ready} of {replicas.desired} tasks running; {failed} failed to start"
    else:
        status = HealthStatus.PENDING
        message = f"{replicas.ready} of {replicas.desired} tasks running"
    return HealthCheck(
        name=f"{name}-tasks", type="readiness", status=status, message=message, component=name
    )


def _last_stop(service: Mapping[str, Any]) -> str | None:
    """The newest service event about a task that stopped or failed, if any."""
    for event in service.get("events") or []:
        text = str(event.get("message") or "")
        if "stopped" in text or "failed" in text or "exit" in text:
            return text
    return None


def _extensions(service: Mapping[str, Any]) -> JsonObject:
    primary = primary_of(service) or {}
    return {
        "ecs.primaryTaskDefinition": primary.get("taskDefinition"),
        "ecs.rolloutState": primary.get("rolloutState"),
        "ecs.desiredCount": service.get("desiredCount"),
        "ecs.runningCount": service.get("runningCount"),
        "ecs.events": [str(e.get("message")) for e in (service.get("events") or [])[:EVENTS_SHOWN]],
    }
