"""Applying a recorded change: the backend makes it, then the outcome is written down.

Whatever goes wrong while applying (a backend error, or even a bug) ends the operation and
releases the lease, so a deployment never stays stuck behind an operation that died.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from chalicelib.domain.errors import (
    O2DmsError,
    ReleaseNotFound,
    StoreUnavailable,
)
from chalicelib.domain.models import (
    Deployment,
    JsonObject,
    Operation,
    Revision,
    StageEntry,
)
from chalicelib.domain.ports import (
    Action,
    Applied,
    Change,
    DeploymentBackend,
    ReleaseTarget,
)
from chalicelib.domain.states import (
    OperationState,
    OperationType,
    Stage,
)
from chalicelib.service.context import Deps
from chalicelib.service.managers import backend_for
from chalicelib.service.records import (
    Proposal,
    Started,
    failed_revision,
    finish_operation,
    release_ref,
    stable_status,
    update_owned,
)
from chalicelib.service.sealing import secret_leaves, unsealed

logger = logging.getLogger(__name__)


def apply_change(deps: Deps, started: Started, proposal: Proposal) -> Started:
    """Make the backend apply a recorded change, and record that it did (or did not).

    Any error ends the operation as failed (lease released) and is raised again: not even
    a bug may leave a deployment stuck behind its lease.
    """
    try:
        applied = _call_backend(deps, started, proposal)
    except ReleaseNotFound as exc:
        if proposal.type is not OperationType.TERMINATE:
            _record_apply_failure(deps, started, "ReleaseNotFound", exc.message)
            raise
        applied = None  # already gone: the follower will find it absent
    except O2DmsError as exc:
        _record_apply_failure(deps, started, type(exc).__name__, exc.message)
        raise
    except Exception as exc:
        _record_apply_failure(deps, started, "InternalError", f"unexpected {type(exc).__name__}")
        raise
    return _record_applied(deps, started, proposal, applied)


def start_follower(deps: Deps, started: Started) -> None:
    """Hand the operation to the rollout driver. Its execution id was recorded when the
    operation began (``RolloutDriver.execution_id``), so a start that goes as planned
    writes nothing; one that did not start (or got another id) corrects the record."""
    deployment_id, operation_id = started.deployment.id, started.operation.id
    execution_id = deps.driver.start(deployment_id=deployment_id, operation_id=operation_id)
    logger.info(
        "rollout follower started",
        extra={"deployment": deployment_id, "operation": operation_id, "execution": execution_id},
    )
    if execution_id == started.operation.execution_id:
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

    update_owned(deps, deployment_id, operation_id, change, known=_known(started))


def _known(started: Started) -> tuple[Deployment, Operation]:
    return started.deployment, started.operation


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
    """What a backend needs to deploy ``revision``: its secret values are unsealed here."""
    return ReleaseTarget(
        release=deployment.id,
        namespace=deployment.namespace,
        chart=revision.chart,
        values=unsealed(deps, revision.values),
        revision=revision.number,
        operation_id=operation_id,
        timeout_seconds=deps.settings.operation_timeout_seconds,
        secret_leaves=secret_leaves(revision.values, revision.secret_paths),
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
                secret_paths=revision.secret_paths,
                app_version=applied.app_version,
                replicas=_replicas(revision.values),
                extensions=dict(applied.extensions),
            )
        outcome["change"] = Started(deployment, op, revision)
        return Change(
            deployment=deployment,
            expected_version=current.record_version,
            revisions=revisions,
            operations=(op,),
            descriptor_refs=refs,
        )

    stored = _despite_outages(
        lambda: update_owned(
            deps, started.deployment.id, started.operation.id, change, known=_known(started)
        )
    )
    if stored is None or "change" not in outcome:
        return started
    return replace(outcome["change"], deployment=stored)


# Pauses before asking the store again to record what the backend has already done: lost,
# that record would leave the operation holding its lease, unfollowed, until it expires.
RECORD_RETRY_PAUSES = (0.5, 2.0)


def _despite_outages(write: Callable[[], Deployment | None]) -> Deployment | None:
    for pause in RECORD_RETRY_PAUSES:
        try:
            return write()
        except StoreUnavailable as exc:
            logger.warning("store unavailable; recording again", extra={"error": exc.message})
            time.sleep(pause)
    return write()


def _record_apply_failure(deps: Deps, started: Started, error: str, message: str) -> None:
    def change(current: Deployment, operation: Operation, now: datetime) -> Change:
        summary = f"{operation.type.value} failed: {message}"
        if operation.rollback_revision is not None:
            summary = (
                f"automatic rollback failed: {message} (the rollout had failed: "
                f"{operation.failure})"
            )
        op = finish_operation(operation, OperationState.FAILED, now, error=(error, summary))
        op = replace(op, descriptor_ref=None)
        deployment = replace(
            current,
            status=stable_status(current),
            lease=None,
            eta_seconds=None,
            message=summary,
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

    update_owned(deps, started.deployment.id, started.operation.id, change, known=_known(started))
    logger.warning(
        "operation failed to apply",
        extra={
            "deployment": started.deployment.id,
            "operation": started.operation.id,
            "error": error,
            "detail": message,
        },
    )


def _replicas(values: JsonObject) -> int | None:
    count = values.get("replicaCount")
    return count if isinstance(count, int) and not isinstance(count, bool) else None
