"""Following a rollout to its end: one poll of the backend per call.

``follow`` is what the rollout driver runs in a loop (a thread locally, a Step Functions
wait loop in AWS). Each call reads the operation, asks the backend for the workload's
status, and either records progress or ends the operation: ``COMPLETED`` when the
workload is ready, ``FAILED`` when the backend reports a failure or the deadline passes.
Ending releases the lease in the same transaction, so no path leaves a deployment stuck.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from chalicelib.domain.errors import BackendError
from chalicelib.domain.health import aggregate
from chalicelib.domain.models import (
    ComponentStatus,
    Deployment,
    Operation,
    Revision,
    StageEntry,
)
from chalicelib.domain.ports import BackendStatus, Change, RolloutPhase
from chalicelib.domain.states import (
    DeploymentStatus,
    OperationState,
    OperationType,
    RevisionStatus,
    Stage,
)
from chalicelib.service.context import Deps
from chalicelib.service.health import observe
from chalicelib.service.records import (
    failed_revision,
    finish_operation,
    holds_lease,
    manager_use,
    update_owned,
)
from chalicelib.service.recovery import may_roll_back, roll_back
from chalicelib.service.verifying import Verdict, verify

logger = logging.getLogger(__name__)


def reconcile(deps: Deps, deployment_id: str, operation_id: str) -> bool:
    """End an operation whose follower died (its lease expired): judge it once, and never
    start an automatic rollback that nobody would follow."""
    return follow(deps, deployment_id, operation_id, may_recover=False)


def abort(deps: Deps, deployment_id: str, operation_id: str, *, reason: str) -> None:
    """End an operation whose follower keeps failing: FAILED, lease released."""
    operation = deps.store.get_operation(deployment_id, operation_id)
    if not operation.state.finished:
        _end(deps, operation, failure=f"the rollout follower failed: {reason}")


def follow(deps: Deps, deployment_id: str, operation_id: str, *, may_recover: bool = True) -> bool:
    """Poll once; True when the operation has ended (or is no longer this follower's)."""
    operation = deps.store.get_operation(deployment_id, operation_id)
    if operation.state.finished:
        return True
    deployment = deps.store.get_deployment(deployment_id)
    if not holds_lease(deployment, operation_id):
        return True
    if operation.type is OperationType.TERMINATE and not deployment.revision:
        return _end(deps, operation)  # nothing ever reached the cluster: nothing to wait for
    now = deps.clock()
    try:
        status = observe(deps, deployment)
    except BackendError as exc:
        if now < operation.deadline:
            logger.warning(
                "status poll failed", extra={"deployment": deployment_id, "error": exc.message}
            )
            return False
        failure = f"timed out; last status poll failed: {exc.message}"
        return _fail(deps, operation, failure, may_recover=may_recover)
    return _judge(deps, operation, status, now, may_recover=may_recover)


def _judge(
    deps: Deps, operation: Operation, status: BackendStatus, now: datetime, *, may_recover: bool
) -> bool:
    terminating = operation.type is OperationType.TERMINATE
    if terminating and status.phase is RolloutPhase.ABSENT:
        return _end(deps, operation, status=status)
    if not terminating and status.phase is RolloutPhase.READY:
        if not _gated(operation, status):
            return _end(deps, operation, status=status)
        verdict = verify(
            aggregate(status.health_checks),
            healthy_since=operation.healthy_since,
            failures=operation.check_failures,
            now=now,
            window_seconds=_window(deps, operation),
            threshold=deps.settings.check_failure_threshold,
        )
        if verdict.passed:
            return _end(deps, operation, status=status)
        if verdict.failure is None and now < operation.deadline:
            _record_progress(deps, operation, status, verdict)
            return False
        unhealthy = verdict.failure or (
            f"timed out after {deps.settings.operation_timeout_seconds}s: {verdict.message}"
        )
        return _fail(deps, operation, unhealthy, status, may_recover=may_recover)
    failure: str | None = None
    if not terminating and status.phase is RolloutPhase.FAILED:
        failure = status.message
    elif not terminating and status.phase is RolloutPhase.ABSENT:
        failure = "the release is no longer on the cluster"
    elif now >= operation.deadline:
        failure = f"timed out after {deps.settings.operation_timeout_seconds}s: {status.message}"
    elif not terminating:
        failure = _stage_overran(operation, status, now)
    if failure is not None:
        return _fail(deps, operation, failure, status, may_recover=may_recover)
    _record_progress(deps, operation, status)
    return False


def _gated(operation: Operation, status: BackendStatus) -> bool:
    """Whether the rollout must pass its health checks: not an automatic rollback (it goes
    back to what ran), nor a workload scaled to nothing (no pod to be healthy)."""
    if operation.rollback_revision is not None:
        return False
    return not (status.replicas is not None and status.replicas.desired == 0)


def _window(deps: Deps, operation: Operation) -> float:
    asked = operation.app.stage_timeouts if operation.app else None
    stable = (asked or {}).get("stable")
    return float(stable) if stable is not None else deps.settings.verify_stable_seconds


def _stage_overran(operation: Operation, status: BackendStatus, now: datetime) -> str | None:
    """The failure of a stage that has lasted longer than its timeout, if one has."""
    limits = operation.app.stage_timeouts if operation.app else None
    stage = _stage_for(operation, status)
    limit = (limits or {}).get(stage.value)
    if limit is None or stage is not operation.stage:
        return None
    began = operation.stages[-1].at
    if (now - began).total_seconds() < limit:
        return None
    return f"the {stage.value} stage took longer than its {limit}s timeout: {status.message}"


def _fail(
    deps: Deps,
    operation: Operation,
    failure: str,
    status: BackendStatus | None = None,
    *,
    may_recover: bool,
) -> bool:
    """End the operation as failed, unless rollback on failure takes it back (not done yet)."""
    if may_recover and may_roll_back(deps, operation) and roll_back(deps, operation, failure):
        return False
    return _end(deps, operation, status=status, failure=failure)


def _stage_for(operation: Operation, status: BackendStatus) -> Stage:
    if operation.rollback_revision is not None:
        return Stage.ROLLING_BACK
    replicas = status.replicas
    if replicas is not None and replicas.updated >= replicas.desired:
        return Stage.VERIFYING
    return Stage.DEPLOYING


def _record_progress(
    deps: Deps, operation: Operation, status: BackendStatus, verdict: Verdict | None = None
) -> None:
    def change(current: Deployment, op: Operation, now: datetime) -> Change | None:
        stage = _stage_for(op, status) if verdict is None else Stage.VERIFYING
        message = status.message if verdict is None else verdict.message
        since = verdict.healthy_since if verdict else None
        failures = verdict.failures if verdict else {}
        if op.rollback_revision is not None:
            message = f"{message} (rolling back after: {op.failure})"
        components = components_of(op, status)
        checks = aggregate(status.health_checks)
        if (
            op.progress,
            op.stage,
            op.message,
            op.components,
            op.health_checks,
            op.healthy_since,
            op.check_failures,
        ) == (status.progress, stage, message, components, checks, since, failures):
            return None
        stages = op.stages if stage is op.stage else (*op.stages, StageEntry(stage, now))
        eta = _eta_seconds(op, status.progress, now)
        new_op = replace(
            op,
            progress=status.progress,
            eta_seconds=eta,
            stage=stage,
            stages=stages,
            message=message,
            updated_at=now,
            components=components,
            health_checks=checks,
            healthy_since=since,
            check_failures=failures,
        )
        deployment = replace(
            current,
            progress=status.progress,
            eta_seconds=eta,
            message=message,
            conditions=status.conditions,
            extensions={**current.extensions, **status.extensions},
            health_checks=checks,
            updated_at=now,
            record_version=current.record_version + 1,
        )
        return Change(
            deployment=deployment, expected_version=current.record_version, operations=(new_op,)
        )

    update_owned(deps, operation.deployment_id, operation.id, change)


_COMPONENT_STATUS = {
    RolloutPhase.READY: "ready",
    RolloutPhase.FAILED: "failed",
    RolloutPhase.PROGRESSING: "deploying",
    RolloutPhase.ABSENT: "absent",
}


def components_of(op: Operation, status: BackendStatus) -> tuple[ComponentStatus, ...]:
    """The rollout's workloads as ``status`` shows them: the backend's own list, or its one
    workload's replica counts."""
    if status.components:
        return status.components
    replicas = status.replicas
    if replicas is None:
        return op.components
    name = status.extensions.get("kubernetes.deployment") or op.deployment_id
    return (
        ComponentStatus(
            name=str(name),
            version=_running_version(op),
            desired=replicas.desired,
            updated=replicas.updated,
            ready=replicas.ready,
            available=replicas.available,
            status=_COMPONENT_STATUS.get(status.phase, "deploying"),
        ),
    )


def _running_version(op: Operation) -> str | None:
    """The version the workload is rolling to: the rollout's own, or, once it failed and is
    being rolled back, the one it had replaced."""
    if op.app is None:
        return None
    return op.app.previous_version if op.rollback_revision is not None else op.app.version


def _eta_seconds(op: Operation, progress: int, now: datetime) -> int | None:
    """Time left at the pace seen so far in this rollout (since it was applied or since the
    automatic rollback began); unknown before any progress."""
    starts = [e.at for e in op.stages if e.stage in {Stage.DEPLOYING, Stage.ROLLING_BACK}]
    if not starts or progress <= 0:
        return None
    elapsed = (now - starts[-1]).total_seconds()
    return max(0, round(elapsed * (100 - progress) / progress))


def _end(
    deps: Deps,
    operation: Operation,
    *,
    status: BackendStatus | None = None,
    failure: str | None = None,
) -> bool:
    def change(current: Deployment, op: Operation, now: datetime) -> Change:
        if failure is not None:
            return _failed(deps, current, op, failure=failure, status=status, now=now)
        if op.type is OperationType.TERMINATE:
            return _terminated(deps, current, op, now)
        return _completed(deps, current, op, status, now)

    update_owned(deps, operation.deployment_id, operation.id, change)
    logger.info(
        "operation ended",
        extra={
            "deployment": operation.deployment_id,
            "operation": operation.id,
            "failure": failure,
        },
    )
    return True


def _completed(
    deps: Deps,
    current: Deployment,
    op: Operation,
    status: BackendStatus | None,
    now: datetime,
) -> Change:
    checks = aggregate(status.health_checks) if status is not None else current.health_checks
    watched = op.watched_revision
    assert watched is not None
    revisions: list[Revision] = []
    revision = deps.store.get_revision(current.id, watched)
    revisions.append(replace(revision, status=RevisionStatus.DEPLOYED, updated_at=now))
    previous = current.deployed_revision
    if previous and previous != revision.number:
        old = deps.store.get_revision(current.id, previous)
        if old.status is RevisionStatus.DEPLOYED:
            revisions.append(replace(old, status=RevisionStatus.SUPERSEDED, updated_at=now))
    message = _success_message(op, revision, status)
    deployment = replace(
        current,
        status=DeploymentStatus.INSTANTIATED,
        deployed_revision=revision.number,
        lease=None,
        eta_seconds=None,
        progress=100,
        message=message,
        conditions=status.conditions if status else current.conditions,
        extensions={**current.extensions, **(status.extensions if status else {})},
        health_checks=checks,
        updated_at=now,
        record_version=current.record_version + 1,
    )
    if status is not None:
        op = replace(op, components=components_of(op, status), health_checks=checks)
    if op.rollback_revision is not None:
        done = finish_operation(
            op, OperationState.ROLLED_BACK, now, error=("RolloutFailed", op.failure or "")
        )
        done = replace(done, message=message)
    else:
        done = finish_operation(op, OperationState.COMPLETED, now, message=message)
    return Change(
        deployment=deployment,
        expected_version=current.record_version,
        revisions=tuple(revisions),
        operations=(done,),
    )


def _success_message(op: Operation, revision: Revision, status: BackendStatus | None) -> str:
    if op.rollback_revision is not None:
        return (
            f"Rolled back to revision {revision.rollback_to} (now revision {revision.number}) "
            f"after: {op.failure}"
        )
    if op.type is OperationType.SCALE:
        count = revision.values.get("replicaCount")
        return f"Deployment scaled to {count} replica{'' if count == 1 else 's'}"
    if op.type is OperationType.ROLLBACK:
        return f"Rolled back to revision {revision.rollback_to} (now revision {revision.number})"
    return status.message if status else "Deployment ready"


def _failed(
    deps: Deps,
    current: Deployment,
    op: Operation,
    *,
    failure: str,
    status: BackendStatus | None,
    now: datetime,
) -> Change:
    checks = aggregate(status.health_checks) if status is not None else current.health_checks
    revisions: tuple[Revision, ...] = ()
    if op.watched_revision:
        revision = deps.store.get_revision(current.id, op.watched_revision)
        revisions = (failed_revision(revision, failure, now),)
    if op.rollback_revision is not None:
        failure = f"automatic rollback failed: {failure} (the rollout had failed: {op.failure})"
    deployment = replace(
        current,
        status=DeploymentStatus.FAILED,
        lease=None,
        eta_seconds=None,
        message=failure,
        conditions=status.conditions if status else current.conditions,
        health_checks=checks,
        updated_at=now,
        record_version=current.record_version + 1,
    )
    if status is not None:
        op = replace(op, components=components_of(op, status), health_checks=checks)
    done = finish_operation(op, OperationState.FAILED, now, error=("RolloutFailed", failure))
    return Change(
        deployment=deployment,
        expected_version=current.record_version,
        revisions=revisions,
        operations=(done,),
    )


def _terminated(deps: Deps, current: Deployment, op: Operation, now: datetime) -> Change:
    revisions: tuple[Revision, ...] = ()
    if current.deployed_revision:
        revision = deps.store.get_revision(current.id, current.deployed_revision)
        revisions = (replace(revision, status=RevisionStatus.UNINSTALLED, updated_at=now),)
    deployment = replace(
        current,
        status=DeploymentStatus.NOT_INSTANTIATED,
        deployed_revision=0,
        lease=None,
        eta_seconds=None,
        progress=100,
        message="Deployment terminated",
        conditions=(),
        health_checks=(),  # nothing left to be healthy
        terminated_at=now,
        descriptor_ref=None,
        updated_at=now,
        record_version=current.record_version + 1,
    )
    done = finish_operation(op, OperationState.COMPLETED, now, message="Deployment terminated")
    refs = {current.descriptor_ref: -1} if current.descriptor_ref else {}
    return Change(
        deployment=deployment,
        expected_version=current.record_version,
        revisions=revisions,
        operations=(done,),
        descriptor_refs=refs,
        manager_refs=manager_use(current, -1),
    )
