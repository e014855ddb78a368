"""The machinery every mutating use case shares: take the lease, apply, record the outcome.

A change to a deployment runs in three steps, each one DynamoDB transaction:

1. *begin*: take the deployment's operation lease (a conditional write on the deployment
   item), write the operation record and the new revision (``pending-*``);
2. *apply*: ask the backend to make the change, then record that it was applied (or, when
   the backend refused, that the operation failed: lease released, nothing stuck);
3. *follow*: the rollout driver polls the backend until the rollout ends
   (``chalicelib.service.rollouts``).

Every write is conditional on the deployment item's ``record_version``; a write that
loses a race re-reads and tries again, and gives up only when another operation holds
the lease (409).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from chalicelib.domain.errors import (
    ConcurrentModification,
    DeploymentNotFound,
    O2DmsError,
    OperationInProgress,
    ReleaseNotFound,
    RollbackInProgress,
)
from chalicelib.domain.models import (
    ChartRef,
    Deployment,
    JsonObject,
    Lease,
    Operation,
    OperationError,
    Revision,
    StageEntry,
)
from chalicelib.domain.ports import (
    Action,
    Applied,
    Change,
    DeploymentBackend,
    ReleaseRef,
    ReleaseTarget,
)
from chalicelib.domain.states import (
    PENDING_REVISION_STATUS,
    RUNNING_STATUS,
    DeploymentStatus,
    OperationState,
    OperationType,
    RevisionStatus,
    Stage,
    check_transition,
)
from chalicelib.service.context import Caller, Deps
from chalicelib.service.managers import LOCAL_ID, backend_for

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class Proposal:
    """What an operation will deploy, computed from the deployment as read."""

    type: OperationType
    description: str
    descriptor_id: str = ""
    chart: ChartRef | None = None
    parameters: JsonObject | None = None
    values: JsonObject | None = None
    hold_descriptor: bool = False
    replicas: int | None = None
    rollback_from: int | None = None
    rollback_to: int | None = None
    rollback_to_ref: str | None = None


@dataclass(frozen=True, slots=True)
class Started:
    deployment: Deployment
    operation: Operation
    revision: Revision | None


Prepare = Callable[[Deployment], Proposal]


def release_ref(deployment: Deployment) -> ReleaseRef:
    return ReleaseRef(release=deployment.id, namespace=deployment.namespace)


def manager_use(deployment: Deployment, delta: int) -> dict[str, int]:
    """A deployment holds a use count on its cluster from creation to termination (the
    built-in local cluster is not stored, so it counts nothing)."""
    if deployment.deployment_manager_id == LOCAL_ID:
        return {}
    return {deployment.deployment_manager_id: delta}


def lease_is_live(deployment: Deployment, now: datetime) -> bool:
    return deployment.lease is not None and deployment.lease.expires_at > now


def holds_lease(deployment: Deployment, operation_id: str) -> bool:
    return deployment.lease is not None and deployment.lease.operation_id == operation_id


def stable_status(deployment: Deployment) -> DeploymentStatus:
    """The status a deployment falls back to when an operation ends without changing it."""
    if deployment.revision and deployment.revision == deployment.deployed_revision:
        return DeploymentStatus.INSTANTIATED
    return DeploymentStatus.FAILED


# ---------------------------------------------------------------------------- begin


def start(deps: Deps, deployment: Deployment, prepare: Prepare, caller: Caller) -> Started:
    """Take the lease and record the operation, then apply it; retries lost races."""
    current = deployment
    for _ in range(MAX_ATTEMPTS):
        proposal = prepare(current)
        try:
            change, started = _begin(deps, current, proposal, caller)
            stored = commit(deps, change)
        except ConcurrentModification:
            current = _reread(deps, current)
            continue
        applied = apply_change(deps, replace(started, deployment=stored), proposal)
        _start_follower(deps, applied)
        return applied
    raise OperationInProgress(
        f"Deployment {deployment.id} is being changed by other requests; retry shortly"
    )


def _reread(deps: Deps, deployment: Deployment) -> Deployment:
    try:
        return deps.store.get_deployment(deployment.id)
    except DeploymentNotFound:
        return deployment  # a create that lost its race: the retry will see it exists


def _begin(
    deps: Deps, current: Deployment, proposal: Proposal, caller: Caller
) -> tuple[Change, Started]:
    now = deps.clock()
    closing, effective_status = _close_previous(deps, current, proposal.type, now)
    check_transition(effective_status, RUNNING_STATUS[proposal.type])
    op_id = deps.new_id()
    deadline = now + timedelta(seconds=deps.settings.operation_timeout_seconds)
    revision = _new_revision(current, proposal, op_id, now)
    hold = proposal.descriptor_id if proposal.hold_descriptor else None
    operation = Operation(
        id=op_id,
        deployment_id=current.id,
        type=proposal.type,
        state=OperationState.RUNNING,
        stage=Stage.PREPARING,
        stages=(StageEntry(Stage.PREPARING, now),),
        trigger=caller.trigger,
        actor=caller.actor,
        reason=caller.reason,
        started_at=now,
        updated_at=now,
        deadline=deadline,
        revision=revision.number if revision else None,
        from_revision=current.revision or None,
        message=proposal.description,
        descriptor_ref=hold,
    )
    lease_until = deadline + timedelta(seconds=deps.settings.lease_grace_seconds)
    deployment = replace(
        current,
        status=RUNNING_STATUS[proposal.type],
        last_revision=revision.number if revision else current.last_revision,
        lease=Lease(op_id, proposal.type, lease_until),
        message=proposal.description,
        progress=0,
        updated_at=now,
        record_version=current.record_version + 1,
    )
    refs = dict(closing.descriptor_refs)
    if hold:
        refs[hold] = refs.get(hold, 0) + 1
    change = Change(
        deployment=deployment,
        expected_version=current.record_version,
        new_revisions=(revision,) if revision else (),
        revisions=closing.revisions,
        operations=(*closing.operations, operation),
        descriptor_refs=refs,
        manager_refs=manager_use(current, +1) if proposal.type is OperationType.INSTALL else {},
    )
    return change, Started(deployment, operation, revision)


def _new_revision(
    current: Deployment, proposal: Proposal, op_id: str, now: datetime
) -> Revision | None:
    if proposal.type is OperationType.TERMINATE:
        return None
    assert proposal.chart is not None
    assert proposal.values is not None
    return Revision(
        deployment_id=current.id,
        number=current.last_revision + 1,
        status=PENDING_REVISION_STATUS[proposal.type],
        operation_id=op_id,
        operation_type=proposal.type,
        description=proposal.description,
        descriptor_id=proposal.descriptor_id,
        chart=proposal.chart,
        parameters=proposal.parameters or {},
        values=proposal.values,
        created_at=now,
        updated_at=now,
        rollback_from=proposal.rollback_from,
        rollback_to=proposal.rollback_to,
    )


@dataclass(frozen=True, slots=True)
class _Closing:
    operations: tuple[Operation, ...] = ()
    revisions: tuple[Revision, ...] = ()
    descriptor_refs: Mapping[str, int] = field(default_factory=dict)


def _close_previous(
    deps: Deps, current: Deployment, new_type: OperationType, now: datetime
) -> tuple[_Closing, DeploymentStatus]:
    """Refuse while another operation runs, except that a rollback may preempt a rollout.

    An expired lease (its follower died) is taken over; the operation that held it is
    recorded as failed so it never stays ``RUNNING``.
    """
    lease = current.lease
    if lease is None:
        return _Closing(), current.status
    if lease_is_live(current, now):
        if lease.operation_type is OperationType.ROLLBACK:
            raise RollbackInProgress(
                f"Deployment {current.id} is currently rolling back "
                f"(operation {lease.operation_id})"
            )
        preemptable = {OperationType.INSTALL, OperationType.UPGRADE, OperationType.SCALE}
        if new_type is not OperationType.ROLLBACK or lease.operation_type not in preemptable:
            raise OperationInProgress(
                f"Operation {lease.operation_id} ({lease.operation_type.value}) is in progress "
                f"on deployment {current.id}; wait for it to finish"
            )
        state, why = OperationState.CANCELLED, "superseded by a rollback"
        effective = current.status
    else:
        state, why = (
            OperationState.FAILED,
            "lease expired before the rollout was followed to its end",
        )
        effective = stable_status(current)
    closing = _closed_operation(
        deps, current, operation_id=lease.operation_id, state=state, why=why, now=now
    )
    return closing, effective


def _closed_operation(
    deps: Deps,
    current: Deployment,
    *,
    operation_id: str,
    state: OperationState,
    why: str,
    now: datetime,
) -> _Closing:
    previous = deps.store.get_operation(current.id, operation_id)
    if previous.state.finished:
        return _Closing()
    ended = finish_operation(previous, state, now, error=("OperationAborted", why))
    revisions: tuple[Revision, ...] = ()
    if previous.revision:
        revision = deps.store.get_revision(current.id, previous.revision)
        if revision.status.value.startswith("pending"):
            revisions = (failed_revision(revision, why, now),)
    refs = {previous.descriptor_ref: -1} if previous.descriptor_ref else {}
    return _Closing(operations=(ended,), revisions=revisions, descriptor_refs=refs)


# ---------------------------------------------------------------------------- apply


def apply_change(deps: Deps, started: Started, proposal: Proposal) -> Started:
    """Make the backend apply a recorded change, and record that it did (or did not).

    Any error ends the operation as failed (lease released) and is raised again: not even
    a bug may leave a deployment stuck behind its lease.
    """
    try:
        applied = _call_backend(deps, started, proposal)
    except ReleaseNotFound:
        if proposal.type is not OperationType.TERMINATE:
            _record_apply_failure(deps, started, "ReleaseNotFound", "release not found")
            raise
        applied = None  # already gone: the follower will find it absent
    except O2DmsError as exc:
        _record_apply_failure(deps, started, type(exc).__name__, exc.message)
        raise
    except Exception as exc:
        _record_apply_failure(deps, started, "InternalError", f"unexpected {type(exc).__name__}")
        raise
    return _record_applied(deps, started, proposal, applied)


def _start_follower(deps: Deps, started: Started) -> None:
    deployment_id, operation_id = started.deployment.id, started.operation.id
    execution_id = deps.driver.start(deployment_id=deployment_id, operation_id=operation_id)
    logger.info(
        "rollout follower started",
        extra={"deployment": deployment_id, "operation": operation_id, "execution": execution_id},
    )
    if execution_id is None:
        return

    def change(current: Deployment, operation: Operation, now: datetime) -> Change | None:
        if current.lease is None or operation.execution_id == execution_id:
            return None
        return Change(
            deployment=replace(
                current,
                lease=replace(current.lease, execution_id=execution_id),
                record_version=current.record_version + 1,
            ),
            expected_version=current.record_version,
            operations=(replace(operation, execution_id=execution_id),),
        )

    update_owned(deps, deployment_id, operation_id, change)


def _call_backend(deps: Deps, started: Started, proposal: Proposal) -> Applied | None:
    deployment, revision = started.deployment, started.revision
    if proposal.type is OperationType.TERMINATE:
        if deployment.revision:  # else nothing ever reached the cluster
            backend_for(deps, deployment).uninstall(release_ref(deployment))
        return None
    assert revision is not None
    # Nothing was ever applied (the install failed before reaching the cluster): install.
    kind = OperationType.INSTALL if deployment.revision == 0 else proposal.type
    action = Action(
        type=kind,
        target=release_target(deps, deployment, revision, started.operation.id),
        replicas=proposal.replicas,
        rollback_to_ref=proposal.rollback_to_ref,
    )
    return apply_action(backend_for(deps, deployment), action)


def release_target(
    deps: Deps, deployment: Deployment, revision: Revision, operation_id: str
) -> ReleaseTarget:
    return ReleaseTarget(
        release=deployment.id,
        namespace=deployment.namespace,
        chart=revision.chart,
        values=revision.values,
        revision=revision.number,
        operation_id=operation_id,
        timeout_seconds=deps.settings.operation_timeout_seconds,
    )


def apply_action(backend: DeploymentBackend, action: Action) -> Applied:
    """Send one action to a backend through the port's method for it."""
    if action.type is OperationType.INSTALL:
        return backend.install(action.target)
    if action.type is OperationType.SCALE:
        assert action.replicas is not None
        return backend.scale(action.target, replicas=action.replicas)
    if action.type is OperationType.ROLLBACK:
        return backend.rollback(action.target, to_backend_ref=action.rollback_to_ref)
    return backend.upgrade(action.target)


def _record_applied(
    deps: Deps, started: Started, proposal: Proposal, applied: Applied | None
) -> Started:
    outcome: dict[str, Started] = {}

    def change(current: Deployment, operation: Operation, now: datetime) -> Change:
        op = replace(operation, updated_at=now)
        if operation.rollback_revision is None:
            op = replace(
                op,
                stage=Stage.DEPLOYING,
                stages=(*operation.stages, StageEntry(Stage.DEPLOYING, now)),
            )
        revision = started.revision
        deployment = replace(current, updated_at=now, record_version=current.record_version + 1)
        refs: dict[str, int] = {}
        revisions: tuple[Revision, ...] = ()
        if revision is not None and applied is not None:
            revision = replace(
                revision,
                backend_ref=applied.backend_ref,
                app_version=applied.app_version,
                updated_at=now,
            )
            revisions = (revision,)
            if proposal.descriptor_id != current.descriptor_ref:
                if current.descriptor_ref:
                    refs[current.descriptor_ref] = -1
                deployment = replace(deployment, descriptor_ref=operation.descriptor_ref)
                op = replace(op, descriptor_ref=None)
            deployment = replace(
                deployment,
                revision=revision.number,
                descriptor_id=revision.descriptor_id,
                chart=revision.chart,
                parameters=revision.parameters,
                app_version=applied.app_version,
                replicas=_replicas(revision.values),
                extensions=dict(applied.extensions),
            )
        outcome["started"] = Started(deployment, op, revision)
        return Change(
            deployment=deployment,
            expected_version=current.record_version,
            revisions=revisions,
            operations=(op,),
            descriptor_refs=refs,
        )

    update_owned(deps, started.deployment.id, started.operation.id, change)
    return outcome.get("started", started)


def _record_apply_failure(deps: Deps, started: Started, error: str, message: str) -> None:
    def change(current: Deployment, operation: Operation, now: datetime) -> Change:
        op = finish_operation(operation, OperationState.FAILED, now, error=(error, message))
        op = replace(op, descriptor_ref=None)
        deployment = replace(
            current,
            status=stable_status(current),
            lease=None,
            eta_seconds=None,
            message=f"{operation.type.value} failed: {message}",
            updated_at=now,
            record_version=current.record_version + 1,
        )
        revisions = (failed_revision(started.revision, message, now),) if started.revision else ()
        refs = {operation.descriptor_ref: -1} if operation.descriptor_ref else {}
        return Change(
            deployment=deployment,
            expected_version=current.record_version,
            revisions=revisions,
            operations=(op,),
            descriptor_refs=refs,
        )

    update_owned(deps, started.deployment.id, started.operation.id, change)
    logger.warning(
        "operation failed to apply",
        extra={
            "deployment": started.deployment.id,
            "operation": started.operation.id,
            "error": error,
            "detail": message,
        },
    )


# ------------------------------------------------------------------------ recording

OwnedChange = Callable[[Deployment, Operation, datetime], Change | None]


def update_owned(deps: Deps, deployment_id: str, operation_id: str, build: OwnedChange) -> bool:
    """Commit ``build``'s change while ``operation_id`` still holds the lease.

    Returns False (and writes nothing) once the operation has lost its lease: it was
    preempted by a rollback or taken over after expiry, and the new holder recorded it.
    """
    for _ in range(MAX_ATTEMPTS):
        current = deps.store.get_deployment(deployment_id)
        if not holds_lease(current, operation_id):
            return False
        operation = deps.store.get_operation(deployment_id, operation_id)
        change = build(current, operation, deps.clock())
        if change is None:
            return True
        try:
            commit(deps, change)
        except ConcurrentModification:
            continue
        return True
    raise OperationInProgress(f"Deployment {deployment_id} keeps changing; retry shortly")


def commit(deps: Deps, change: Change) -> Deployment:
    """Store ``change``; then announce every operation it ended."""
    stored = deps.store.commit(change)
    for operation in change.operations:
        if operation.state.finished:
            deps.events.operation_ended(operation, stored)
    return stored


def finish_operation(
    operation: Operation,
    state: OperationState,
    now: datetime,
    *,
    error: tuple[str, str] | None = None,
    message: str | None = None,
) -> Operation:
    succeeded = state in {OperationState.COMPLETED, OperationState.ROLLED_BACK}
    stage = Stage.COMPLETED if succeeded else Stage.FAILED
    return replace(
        operation,
        state=state,
        stage=stage,
        stages=(*operation.stages, StageEntry(stage, now)),
        progress=100 if succeeded else operation.progress,
        eta_seconds=None,
        message=message if message is not None else (error[1] if error else operation.message),
        updated_at=now,
        finished_at=now,
        error=OperationError(*error) if error else None,
    )


def failed_revision(revision: Revision, reason: str, now: datetime) -> Revision:
    return replace(
        revision,
        status=RevisionStatus.FAILED,
        description=f"{revision.description} (failed: {reason})",
        updated_at=now,
    )


def _replicas(values: JsonObject) -> int | None:
    count = values.get("replicaCount")
    return count if isinstance(count, int) and not isinstance(count, bool) else None
