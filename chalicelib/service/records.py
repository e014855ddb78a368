"""What every operation step shares: the proposal it deploys, and the way it records what
happens. Every write after an operation has begun goes through ``update_owned``, which
commits only while the operation still holds the deployment's lease, and ``commit``
announces every operation a change ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from chalicelib.domain import metrics
from chalicelib.domain.errors import (
    ConcurrentModification,
    OperationInProgress,
)
from chalicelib.domain.models import (
    AppRollout,
    ChartRef,
    Deployment,
    JsonObject,
    Operation,
    OperationError,
    Revision,
    StageEntry,
)
from chalicelib.domain.ports import (
    Change,
    Detach,
    ReleaseRef,
)
from chalicelib.domain.states import (
    DeploymentStatus,
    OperationState,
    OperationType,
    RevisionStatus,
    Stage,
)
from chalicelib.service.context import Deps
from chalicelib.service.managers import LOCAL_ID

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
    # A rollback that proves the revision it leaves bad (an alarm went off): that revision
    # is marked failed with this reason, so "the previous good revision" never picks it.
    discredit: str | None = None
    # A create that takes over the name of a create that never reached its cluster: the
    # cluster that one held is released (see ``manager_use``).
    replaces: Deployment | None = None
    secret_paths: tuple[str, ...] = ()
    # How a seed-002 request names the rollout (its id, version and previous version are
    # filled in when the operation begins); ``None``: in the NF deployment's own terms.
    app: AppRollout | None = None
    # A terminate's: the automation items its first write deletes.
    detach: Detach | None = None


@dataclass(frozen=True, slots=True)
class Started:
    deployment: Deployment
    operation: Operation
    revision: Revision | None


Prepare = Callable[[Deployment], Proposal]


def release_ref(deployment: Deployment) -> ReleaseRef:
    return ReleaseRef(
        release=deployment.id,
        namespace=deployment.namespace,
        applied=deployment.extensions,
        terminating=deployment.status is DeploymentStatus.DELETING,
    )


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


OwnedChange = Callable[[Deployment, Operation, datetime], Change | None]


def update_owned(
    deps: Deps,
    deployment_id: str,
    operation_id: str,
    build: OwnedChange,
    *,
    known: tuple[Deployment, Operation] | None = None,
) -> Deployment | None:
    """Commit ``build``'s change while ``operation_id`` still holds the lease; the
    deployment as stored then (as read, when ``build`` had nothing to write).

    ``known`` is the deployment and operation as this process last stored them: the first
    attempt builds on them without reading. The write is conditional on the deployment's
    ``record_version``, so a copy that is no longer current only costs the retry that
    reads. Returns None (and writes nothing) once the operation has lost its lease: it was
    preempted by a rollback or taken over after expiry, and the new holder recorded it.
    """
    for _ in range(MAX_ATTEMPTS):
        if known is not None and holds_lease(known[0], operation_id):
            current, operation = known
            known = None
        else:
            current = deps.store.get_deployment(deployment_id)
            if not holds_lease(current, operation_id):
                return None
            operation = deps.store.get_operation(deployment_id, operation_id)
        change = build(current, operation, deps.clock())
        if change is None:
            return current
        try:
            return commit(deps, change)
        except ConcurrentModification:
            continue
    raise OperationInProgress(f"Deployment {deployment_id} keeps changing; retry shortly")


def commit(deps: Deps, change: Change) -> Deployment:
    """Store ``change``, with the metrics it moves (in the same transaction, so they stay
    exact); then announce every operation it ended."""
    samples = metrics.samples_of(change.operations, change.deployment)
    stored = deps.store.commit(_with_copies(replace(change, metrics=samples)))
    for operation in change.operations:
        if operation.state.finished:
            deps.events.operation_ended(operation, stored)
    return stored


def _with_copies(change: Change) -> Change:
    """The deployment with its copies brought up to date from what the change writes: the
    stage of the operation holding its lease (or, once released, of the one that ended),
    and the description of its current revision."""
    d = change.deployment
    for op in change.operations:
        holder = d.lease.operation_id == op.id if d.lease else op.state.finished
        if holder:
            d = replace(d, stage=op.stage)
    for revision in (*change.new_revisions, *change.revisions):
        if revision.number == d.revision:
            d = replace(d, description=revision.description)
    return replace(change, deployment=d)


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


def rollback_description(from_revision: int | None, to_revision: int, note: str | None) -> str:
    """What a rollback revision says in the history; ``note`` names what triggered it."""
    said = f"Rolled back from revision {from_revision} to revision {to_revision}"
    return f"{said} ({note})" if note else said


def failed_revision(revision: Revision, reason: str, now: datetime) -> Revision:
    return replace(
        revision,
        status=RevisionStatus.FAILED,
        description=f"{revision.description} (failed: {reason})",
        updated_at=now,
    )
