"""Rollback on failure: when an upgrade or scale fails to roll out, go back by itself.

This is Helm's ``--rollback-on-failure`` (the seed's ``atomic: true``) and CodeDeploy's
automatic rollback, done the same way for every backend. The failed operation keeps its
lease: it marks its revision failed, creates a rollback revision to the previous good one
("Rolled back from revision 5 to revision 4 (automatic: ...)"), applies it, and follows
that rollout with a fresh timeout. It then ends ``ROLLED_BACK``, or ``FAILED`` if the
rollback fails too.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace
from datetime import datetime, timedelta

from chalicelib.domain.errors import BackendError, DescriptorNotFound, NoPreviousRevision
from chalicelib.domain.models import Deployment, Operation, Revision, StageEntry
from chalicelib.domain.ports import Change
from chalicelib.domain.states import (
    DeploymentStatus,
    OperationType,
    RevisionStatus,
    Stage,
)
from chalicelib.service.applying import apply_change
from chalicelib.service.context import Deps
from chalicelib.service.lifecycle import previous_good_revision
from chalicelib.service.records import (
    Proposal,
    Started,
    failed_revision,
    rollback_description,
    update_owned,
)
from chalicelib.service.sealing import seal_snapshot

logger = logging.getLogger(__name__)

ROLLS_BACK = frozenset({OperationType.UPGRADE, OperationType.SCALE})


def may_roll_back(deps: Deps, operation: Operation) -> bool:
    return (
        deps.settings.helm_atomic
        and operation.type in ROLLS_BACK
        and operation.rollback_revision is None
    )


def roll_back(deps: Deps, operation: Operation, failure: str) -> bool:
    """Start the automatic rollback; False when there is nothing good to go back to."""
    deployment = deps.store.get_deployment(operation.deployment_id)
    try:
        target = previous_good_revision(deps, deployment)
    except NoPreviousRevision:
        return False
    # Stored sealed already (no KMS call), unless it was stored before secrets were sealed.
    parameters, values = seal_snapshot(deps, target.parameters, target.values, target.secret_paths)
    target = replace(target, parameters=parameters, values=values)
    started: dict[str, Started] = {}

    def change(current: Deployment, op: Operation, now: datetime) -> Change:
        assert op.revision is not None
        failed = failed_revision(deps.store.get_revision(current.id, op.revision), failure, now)
        number = current.last_revision + 1
        rollback = _rollback_revision(
            current, op=op, target=target, failure=failure, number=number, now=now
        )
        deadline = now + timedelta(seconds=deps.settings.operation_timeout_seconds)
        hold = _hold(deps, current, target)
        new_op = replace(
            op,
            rollback_revision=number,
            failure=failure,
            deadline=deadline,
            stage=Stage.ROLLING_BACK,
            stages=(*op.stages, StageEntry(Stage.ROLLING_BACK, now)),
            progress=0,
            message=f"Rolling back to revision {target.number}: {failure}",
            updated_at=now,
            descriptor_ref=hold,
        )
        assert current.lease is not None
        lease_until = deadline + timedelta(seconds=deps.settings.lease_grace_seconds)
        deployment = replace(
            current,
            status=DeploymentStatus.ROLLING_BACK,
            last_revision=number,
            lease=replace(current.lease, expires_at=lease_until),
            message=new_op.message,
            progress=0,
            updated_at=now,
            record_version=current.record_version + 1,
        )
        started["started"] = Started(deployment, new_op, rollback)
        return Change(
            deployment=deployment,
            expected_version=current.record_version,
            new_revisions=(rollback,),
            revisions=(failed,),
            operations=(new_op,),
            descriptor_refs={hold: 1} if hold else {},
        )

    if not update_owned(deps, operation.deployment_id, operation.id, change):
        return True  # no longer ours: whoever took the lease recorded the outcome
    logger.warning(
        "rollout failed; rolling back",
        extra={
            "deployment": operation.deployment_id,
            "operation": operation.id,
            "to": target.number,
            "failure": failure,
        },
    )
    proposal = Proposal(
        type=OperationType.ROLLBACK,
        description=f"Rolled back to revision {target.number}",
        descriptor_id=target.descriptor_id,
        rollback_to_ref=target.backend_ref,
    )
    # A backend error is recorded by apply_change: the operation ended FAILED, lease released.
    with contextlib.suppress(BackendError):
        apply_change(deps, started["started"], proposal)
    return True


def _rollback_revision(
    current: Deployment,
    *,
    op: Operation,
    target: Revision,
    failure: str,
    number: int,
    now: datetime,
) -> Revision:
    return Revision(
        deployment_id=current.id,
        number=number,
        status=RevisionStatus.PENDING_ROLLBACK,
        operation_id=op.id,
        operation_type=OperationType.ROLLBACK,
        description=rollback_description(
            op.revision, target.number, f"automatic, after: {failure}"
        ),
        descriptor_id=target.descriptor_id,
        chart=target.chart,
        parameters=target.parameters,
        values=target.values,
        secret_paths=target.secret_paths,
        created_at=now,
        updated_at=now,
        rollback_from=op.revision,
        rollback_to=target.number,
    )


def _hold(deps: Deps, current: Deployment, target: Revision) -> str | None:
    """The descriptor the rollback must hold a use count on, if it changes descriptor."""
    if target.descriptor_id == current.descriptor_ref:
        return None
    try:
        deps.store.get_descriptor(target.descriptor_id)
    except DescriptorNotFound:
        return None
    return target.descriptor_id
