"""Reads: one deployment, its status, history and operations, and the deployment list.

Each read is one DynamoDB round trip. The exception is a deployment whose lease has
expired while it still shows a transient status (its follower died): the read then
follows the rollout once, which ends the operation, so nothing stays stuck.
"""

from __future__ import annotations

from chalicelib.domain.errors import DeploymentNotFound
from chalicelib.domain.models import Deployment, Operation, Page, Revision
from chalicelib.domain.ports import DeploymentFilter
from chalicelib.service.context import Deps
from chalicelib.service.records import lease_is_live
from chalicelib.service.rollouts import reconcile


def deployment(deps: Deps, deployment_id: str) -> Deployment:
    """The deployment, a terminated one included (it reads as ``NOT_INSTANTIATED``)."""
    current = deps.store.get_deployment(deployment_id)
    if current.lease is not None and not lease_is_live(current, deps.clock()):
        reconcile(deps, current.id, current.lease.operation_id)
        current = deps.store.get_deployment(deployment_id)
    return current


def deployments(
    deps: Deps, *, filters: DeploymentFilter, limit: int, token: str | None
) -> Page[Deployment]:
    return deps.store.list_deployments(filters=filters, limit=limit, token=token)


def history(
    deps: Deps, deployment_id: str, *, limit: int, token: str | None
) -> tuple[Deployment, Page[Revision]]:
    return deps.store.history(deployment_id, limit=limit, token=token)


def revision(deps: Deps, deployment_id: str, number: int) -> Revision:
    return deps.store.get_revision(deployment_id, number)


def operations(deps: Deps, deployment_id: str, *, limit: int, token: str | None) -> Page[Operation]:
    page = deps.store.list_operations(deployment_id, limit=limit, token=token)
    if not page.items and token is None:
        raise DeploymentNotFound(f"Deployment {deployment_id} not found")
    return page


def operation(deps: Deps, deployment_id: str, operation_id: str) -> Operation:
    return deps.store.get_operation(deployment_id, operation_id)
