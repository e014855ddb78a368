"""Scaling schedules: create, read and delete them, and run one when it fires.

A firing scales through the same path as the API (``lifecycle.scale``: lease, operation
record with trigger ``schedule``, revision, rollout). When another operation holds the
deployment, the firing waits and tries again a bounded number of times; if it still cannot
run, a ``SKIPPED`` operation records that it was due and why it did not run.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from chalicelib.domain import schedules as expressions
from chalicelib.domain.access import Action as Permission
from chalicelib.domain.errors import (
    DeploymentNotFound,
    DeploymentTerminated,
    InvalidRequest,
    O2DmsError,
    OperationInProgress,
    RollbackInProgress,
    ScheduleNotFound,
    StoreUnavailable,
)
from chalicelib.domain.models import (
    Deployment,
    Firing,
    Operation,
    OperationError,
    ScalingSchedule,
    StageEntry,
)
from chalicelib.domain.states import (
    FiringOutcome,
    OperationState,
    OperationType,
    Stage,
    Trigger,
)
from chalicelib.service import lifecycle
from chalicelib.service.access import audit_record, require
from chalicelib.service.context import Caller, Deps, system_caller

logger = logging.getLogger(__name__)

MAX_SCHEDULES_PER_DEPLOYMENT = 50
# Worth waiting for: another operation finishing, or the store coming back.
_TRANSIENT = (OperationInProgress, RollbackInProgress, StoreUnavailable)


@dataclass(frozen=True, slots=True)
class NewSchedule:
    expression: str
    timezone: str
    replicas: int
    start_date: datetime | None = None
    end_date: datetime | None = None
    reason: str | None = None


def new_schedule_id() -> str:
    return f"sch-{secrets.token_hex(8)}"


def next_firing(schedule: ScalingSchedule, now: datetime) -> datetime | None:
    """When Scheduler fires it next (None: never again). A rate counts from the start date,
    or from the schedule's creation."""
    anchor = schedule.start_date or schedule.created_at
    parsed = expressions.parse(schedule.expression, schedule.timezone, start=anchor)
    if schedule.start_date is not None and schedule.start_date > now:
        upcoming = parsed.next_after(schedule.start_date - timedelta(microseconds=1))
    else:
        upcoming = parsed.next_after(now)
    if upcoming is None or (schedule.end_date is not None and upcoming > schedule.end_date):
        return None
    return upcoming


# ---------------------------------------------------------------------- management


def create(
    deps: Deps,
    deployment_id: str,
    request: NewSchedule,
    caller: Caller,
) -> ScalingSchedule:
    target = f"nfDeployments/{deployment_id}/scalingSchedules"
    _require(deps, caller, None, deployment_id, "create-scaling-schedule", target=target)
    expressions.parse(request.expression, request.timezone, start=request.start_date)
    now = deps.clock()
    _check_window(request, now)
    deployment, existing = deps.automation.deployment_schedules(deployment_id)
    _require(deps, caller, deployment, deployment_id, "create-scaling-schedule", target=target)
    lifecycle.ensure_live(deployment)
    if len(existing) >= MAX_SCHEDULES_PER_DEPLOYMENT:
        raise InvalidRequest(
            f"Deployment {deployment_id} already has {len(existing)} scaling schedules "
            f"(at most {MAX_SCHEDULES_PER_DEPLOYMENT}); delete one first"
        )
    schedule = ScalingSchedule(
        id=new_schedule_id(),
        deployment_id=deployment_id,
        expression=request.expression,
        timezone=request.timezone,
        replicas=request.replicas,
        created_at=now,
        created_by=caller.actor,
        start_date=request.start_date,
        end_date=request.end_date,
        reason=request.reason,
    )
    if next_firing(schedule, now) is None:
        raise InvalidRequest(f"Schedule {request.expression} would never fire again")
    audit = audit_record(
        deps,
        caller,
        what="create-scaling-schedule",
        target=f"{target}/{schedule.id}",
        namespace=deployment.namespace,
        deployment_id=deployment_id,
    )
    deps.automation.put_schedule(schedule, audit=audit)
    try:
        deps.scheduler.create(schedule)
    except Exception:
        deps.automation.delete_schedule(deployment_id, schedule.id)  # no schedule half-made
        raise
    logger.info(
        "scaling schedule created",
        extra={"deployment": deployment_id, "schedule": schedule.id, "actor": caller.actor},
    )
    return schedule


def _check_window(request: NewSchedule, now: datetime) -> None:
    start, end = request.start_date, request.end_date
    if start is not None and end is not None and end <= start:
        raise InvalidRequest("endDate must be after startDate")
    if end is not None and end <= now:
        raise InvalidRequest("endDate must be in the future")


def _require(
    deps: Deps,
    caller: Caller,
    deployment: Deployment | None,
    deployment_id: str,
    what: str,
    *,
    target: str,
    action: Permission = Permission.MANAGE_SCHEDULES,
) -> None:
    """The caller's grants against the deployment's namespace; with no deployment read
    yet, whether any grant has the role (so a refusal reads nothing)."""
    require(
        deps,
        caller,
        action,
        what=what,
        target=target,
        namespace=deployment.namespace if deployment else None,
        deployment_id=deployment_id,
        anywhere=deployment is None,
    )


def _schedules(
    deps: Deps, caller: Caller, deployment_id: str, what: str, action: Permission
) -> tuple[Deployment, tuple[ScalingSchedule, ...]]:
    target = f"nfDeployments/{deployment_id}/scalingSchedules"
    _require(deps, caller, None, deployment_id, what, target=target, action=action)
    deployment, found = deps.automation.deployment_schedules(deployment_id)
    _require(deps, caller, deployment, deployment_id, what, target=target, action=action)
    return deployment, found


def listing(deps: Deps, deployment_id: str, caller: Caller) -> tuple[ScalingSchedule, ...]:
    """The deployment's schedules (none once it is terminated: terminating deletes them)."""
    _, found = _schedules(deps, caller, deployment_id, "read", Permission.READ)
    return found


def _one(
    found: tuple[ScalingSchedule, ...], deployment_id: str, schedule_id: str
) -> ScalingSchedule:
    for schedule in found:
        if schedule.id == schedule_id:
            return schedule
    raise ScheduleNotFound(
        f"Scaling schedule {schedule_id} not found for deployment {deployment_id}"
    )


def get(deps: Deps, deployment_id: str, schedule_id: str, caller: Caller) -> ScalingSchedule:
    _, found = _schedules(deps, caller, deployment_id, "read", Permission.READ)
    return _one(found, deployment_id, schedule_id)


def delete(deps: Deps, deployment_id: str, schedule_id: str, caller: Caller) -> None:
    what = "delete-scaling-schedule"
    deployment, found = _schedules(deps, caller, deployment_id, what, Permission.MANAGE_SCHEDULES)
    _one(found, deployment_id, schedule_id)  # 404 when it is not there
    deps.scheduler.delete(schedule_id)
    audit = audit_record(
        deps,
        caller,
        what=what,
        target=f"nfDeployments/{deployment_id}/scalingSchedules/{schedule_id}",
        namespace=deployment.namespace,
        deployment_id=deployment_id,
    )
    deps.automation.delete_schedule(deployment_id, schedule_id, audit=audit)


# -------------------------------------------------------------------------- firing


@dataclass(frozen=True, slots=True)
class FireResult:
    outcome: FiringOutcome | None  # None: nothing to do (schedule or deployment gone)
    message: str
    operation_id: str | None = None


def fire(
    deps: Deps,
    *,
    deployment_id: str,
    schedule_id: str,
    scheduled_time: datetime | None,
    sleep: Callable[[float], None] = time.sleep,
) -> FireResult:
    """Run one firing. Never raises for the deployment's state: every outcome is recorded
    on the schedule (and as an operation when the scale started or was skipped)."""
    try:
        schedule = deps.automation.get_schedule(deployment_id, schedule_id)
    except ScheduleNotFound:
        deps.scheduler.delete(schedule_id)  # deleted meanwhile: make sure it stops firing
        return FireResult(None, f"schedule {schedule_id} no longer exists")
    due = _minute(scheduled_time or deps.clock())
    if not deps.automation.claim_firing(schedule, due):
        return FireResult(FiringOutcome.DUPLICATE, f"the firing due {due.isoformat()} ran already")
    try:
        result = _scale_with_retries(deps, schedule, due, sleep)
    except StoreUnavailable:
        # Nothing could be recorded: give the firing back so the retried delivery runs it.
        deps.automation.release_firing(schedule, due)
        raise
    if result.outcome is not None:
        firing = Firing(due, deps.clock(), result.outcome, result.message, result.operation_id)
        deps.automation.record_firing(replace(schedule, last_firing=firing))
    logger.info(
        "scaling schedule fired",
        extra={
            "deployment": deployment_id,
            "schedule": schedule_id,
            "outcome": result.outcome.value if result.outcome else "gone",
            "operation": result.operation_id,
        },
    )
    return result


def _scale_with_retries(
    deps: Deps, schedule: ScalingSchedule, due: datetime, sleep: Callable[[float], None]
) -> FireResult:
    caller = system_caller(
        f"schedule/{schedule.id}",
        Trigger.SCHEDULE,
        f"Scaling schedule {schedule.id}: {schedule.expression} ({schedule.timezone})",
    )
    attempts = max(1, deps.settings.schedule_retry_attempts)
    last_error: O2DmsError | None = None
    for attempt in range(attempts):
        if attempt:
            sleep(deps.settings.schedule_retry_seconds)
        try:
            deployment = lifecycle.live_deployment(deps, schedule.deployment_id)
        except (DeploymentNotFound, DeploymentTerminated):
            deps.scheduler.delete(schedule.id)
            deps.automation.delete_schedule(schedule.deployment_id, schedule.id)
            return FireResult(None, f"deployment {schedule.deployment_id} is gone")
        if lifecycle.already_scaled(deployment, schedule.replicas):
            return FireResult(
                FiringOutcome.UNCHANGED,
                f"{deployment.id} already runs {schedule.replicas} replicas",
            )
        try:
            started = lifecycle.scale_read(
                deps, deployment, replicas=schedule.replicas, caller=caller
            )
        except _TRANSIENT as exc:
            last_error = exc
            continue
        except O2DmsError as exc:
            last_error = exc
            break  # not a matter of waiting: record it now
        return FireResult(FiringOutcome.STARTED, started.operation.message, started.operation.id)
    assert last_error is not None
    skipped = _skipped(deps, schedule, caller, due=due, error=last_error, attempts=attempts)
    deps.events.operation_ended(skipped, deployment)
    return FireResult(FiringOutcome.SKIPPED, skipped.message, skipped.id)


def _skipped(
    deps: Deps,
    schedule: ScalingSchedule,
    caller: Caller,
    *,
    due: datetime,
    error: O2DmsError,
    attempts: int,
) -> Operation:
    """Record, as an operation, that the firing due at ``due`` could not run, and why."""
    now = deps.clock()
    tried = f" after {attempts} attempts" if isinstance(error, _TRANSIENT) else ""
    message = (
        f"Skipped the scale to {schedule.replicas} replicas due {due.isoformat()}{tried}: "
        f"{error.message}"
    )
    operation = Operation(
        id=deps.new_id(),
        deployment_id=schedule.deployment_id,
        type=OperationType.SCALE,
        state=OperationState.SKIPPED,
        stage=Stage.SKIPPED,
        stages=(StageEntry(Stage.SKIPPED, now),),
        trigger=caller.trigger,
        actor=caller.actor,
        reason=caller.reason,
        started_at=now,
        updated_at=now,
        deadline=now,
        finished_at=now,
        message=message,
        error=OperationError(type(error).__name__, error.message),
    )
    deps.automation.record_operation(operation)
    return operation


def _minute(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def parse_scheduled_time(text: object) -> datetime | None:
    """Scheduler's ``<aws.scheduler.scheduled-time>`` (ISO 8601, UTC); None if absent or not
    filled in."""
    if not isinstance(text, str) or not text or text.startswith("<"):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
