"""How every mutating use case begins: take the lease, record the operation, then apply.

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
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from chalicelib import logs
from chalicelib.domain import apps
from chalicelib.domain.errors import (
    ConcurrentModification,
    DeploymentNotFound,
    OperationInProgress,
    RollbackInProgress,
)
from chalicelib.domain.models import (
    AppRollout,
    Deployment,
    Lease,
    Operation,
    Revision,
    StageEntry,
)
from chalicelib.domain.ports import (
    Change,
)
from chalicelib.domain.states import (
    GOOD_REVISION_STATUSES,
    PENDING_REVISION_STATUS,
    RUNNING_STATUS,
    DeploymentStatus,
    OperationState,
    OperationType,
    Stage,
    check_transition,
)
from chalicelib.service.access import audit_record
from chalicelib.service.applying import apply_change, start_follower
from chalicelib.service.context import Caller, Deps
from chalicelib.service.records import (
    MAX_ATTEMPTS,
    Prepare,
    Proposal,
    Started,
    commit,
    failed_revision,
    finish_operation,
    lease_is_live,
    manager_use,
    stable_status,
)
from chalicelib.service.sealing import refuse_exposed_secrets, sealed_proposal

logger = logging.getLogger(__name__)

# How each operation is named in the audit trail: the verb the caller used.
AUDITED_AS = {
    OperationType.INSTALL: "instantiate",
    OperationType.UPGRADE: "upgrade",
    OperationType.SCALE: "scale",
    OperationType.ROLLBACK: "rollback",
    OperationType.TERMINATE: "terminate",
}


# ---------------------------------------------------------------------------- begin


def start(deps: Deps, deployment: Deployment, prepare: Prepare, caller: Caller) -> Started:
    """Take the lease and record the operation, then apply it; retries lost races."""
    current = deployment
    for _ in range(MAX_ATTEMPTS):
        proposal = prepare(current)
        refuse_exposed_secrets(current.adapter, proposal)
        proposal = sealed_proposal(deps, proposal)  # secrets are never stored in clear
        try:
            change, started = _begin(deps, current, proposal, caller)
            stored = commit(deps, change)
        except ConcurrentModification:
            current = _reread(deps, current)
            continue
        logs.bind(
            deployment_id=stored.id,
            operation_id=started.operation.id,
            trigger=caller.trigger.value,
        )
        applied = apply_change(deps, replace(started, deployment=stored), proposal)
        start_follower(deps, applied)
        return applied
    raise OperationInProgress(
        f"Deployment {deployment.id} is being changed by other requests; retry shortly"
    )


def _reread(deps: Deps, deployment: Deployment) -> Deployment:
    try:
        return deps.store.get_deployment(deployment.id)
    except DeploymentNotFound:
        return deployment  # a create that lost its race: the retry will see it exists


def _direction(current: Deployment, proposal: Proposal) -> str | None:
    """Which way a scale goes, for its metrics."""
    if proposal.type is not OperationType.SCALE or proposal.replicas is None:
        return None
    before = current.replicas
    return "down" if before is not None and proposal.replicas < before else "up"


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
        app=_app_of(deps, current, proposal),
        scale_direction=_direction(current, proposal),
    )
    lease_until = deadline + timedelta(seconds=deps.settings.lease_grace_seconds)
    execution_id = deps.driver.execution_id(op_id)
    operation = replace(operation, execution_id=execution_id)
    deployment = replace(
        current,
        status=RUNNING_STATUS[proposal.type],
        last_revision=revision.number if revision else current.last_revision,
        lease=Lease(op_id, proposal.type, lease_until, execution_id=execution_id),
        message=proposal.description,
        progress=0,
        updated_at=now,
        record_version=current.record_version + 1,
    )
    refs = dict(closing.descriptor_refs)
    if hold:
        refs[hold] = refs.get(hold, 0) + 1
    audit = audit_record(
        deps,
        caller,
        what=AUDITED_AS[proposal.type],
        target=f"nfDeployments/{current.id}",
        namespace=current.namespace,
        deployment_id=current.id,
        operation_id=op_id,
    )
    change = Change(
        deployment=deployment,
        expected_version=current.record_version,
        new_revisions=(revision,) if revision else (),
        revisions=(*closing.revisions, *_discredited(deps, current, proposal, closing, now)),
        operations=(*closing.operations, operation),
        descriptor_refs=refs,
        manager_refs=_manager_refs(current, proposal),
        audit=audit,
        detach=proposal.detach,
    )
    return change, Started(deployment, operation, revision)


def _app_of(deps: Deps, current: Deployment, proposal: Proposal) -> AppRollout:
    """The operation as a seed-002 deployment: as its request named it, or in the NF
    deployment's own terms (name, namespace as environment, adapter as platform)."""
    before = (
        apps.version_of(current.adapter, current.chart, current.parameters)
        if current.revision
        else None
    )
    if proposal.type is OperationType.TERMINATE:
        version = before
    else:
        version = apps.version_of(current.adapter, proposal.chart, proposal.values)
    given = proposal.app or AppRollout(
        id="", name=current.id, environment=current.namespace, platform=current.adapter.value
    )
    rollback = proposal.type is OperationType.ROLLBACK
    return replace(
        given,
        id=deps.new_rollout_id(),
        namespace=current.namespace,
        version=version,
        previous_version=before,
        target_version=version if rollback else None,
    )


def _manager_refs(current: Deployment, proposal: Proposal) -> dict[str, int]:
    """A create holds its cluster; one that takes over a failed create's name lets go of the
    cluster that one held."""
    if proposal.type is not OperationType.INSTALL:
        return {}
    refs = manager_use(current, +1)
    if proposal.replaces is not None:
        for manager, delta in manager_use(proposal.replaces, -1).items():
            refs[manager] = refs.get(manager, 0) + delta
    return refs


def _discredited(
    deps: Deps, current: Deployment, proposal: Proposal, closing: _Closing, now: datetime
) -> tuple[Revision, ...]:
    """The revision a rollback leaves, marked failed when the rollback says it is bad."""
    number = proposal.rollback_from
    if proposal.discredit is None or not number:
        return ()
    if any(r.number == number for r in closing.revisions):
        return ()  # a preempted rollout: already marked failed
    left = deps.store.get_revision(current.id, number)
    if left.status not in GOOD_REVISION_STATUSES:
        return ()
    return (failed_revision(left, proposal.discredit, now),)


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
        secret_paths=proposal.secret_paths,
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
