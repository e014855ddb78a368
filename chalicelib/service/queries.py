"""Reads: one deployment, its status, history and operations, and the deployment list.

Each read is one DynamoDB round trip. The exception is a deployment whose lease has
expired while it still shows a transient status (its follower died): the read then
follows the rollout once, which ends the operation, so nothing stays stuck.
"""

from __future__ import annotations

from dataclasses import replace

from chalicelib.domain.access import Action, visible_namespaces
from chalicelib.domain.audit import AuditFilter, AuditRecord
from chalicelib.domain.errors import DeploymentNotFound
from chalicelib.domain.models import Deployment, Operation, Page, Revision
from chalicelib.domain.ports import DeploymentFilter
from chalicelib.service.access import require
from chalicelib.service.context import Caller, Deps

PATH = "nfDeployments"


def _may_read(
    deps: Deps, caller: Caller, deployment_id: str, read: Deployment | None = None
) -> None:
    """403 unless the caller may read the deployment. A caller whose grants are all
    scoped to namespaces costs one more read (the deployment's namespace) when the use
    case did not read the deployment itself."""
    target = f"{PATH}/{deployment_id}"
    require(deps, caller, Action.READ, what="read", target=target, anywhere=True)
    if visible_namespaces(caller.grants) is None:
        return
    found = read or deps.store.get_deployment(deployment_id)
    require(
        deps,
        caller,
        Action.READ,
        what="read",
        target=target,
        namespace=found.namespace,
        deployment_id=deployment_id,
    )


def deployment(deps: Deps, deployment_id: str, caller: Caller) -> Deployment:
    """The deployment, a terminated one included (it reads as ``NOT_INSTANTIATED``)."""
    require(deps, caller, Action.READ, what="read", target=f"{PATH}/{deployment_id}", anywhere=True)
    current = deps.store.get_deployment(deployment_id)
    _may_read(deps, caller, deployment_id, current)
    if current.lease is not None and current.lease.expires_at <= deps.clock():
        # Rare (a follower died), and it needs the whole write path: loaded only then.
        from chalicelib.service.rollouts import reconcile

        reconcile(deps, current.id, current.lease.operation_id)
        current = deps.store.get_deployment(deployment_id)
    return current


def deployments(
    deps: Deps, caller: Caller, *, filters: DeploymentFilter, limit: int, token: str | None
) -> Page[Deployment]:
    """A page of deployments; a caller scoped to namespaces sees only theirs (asking for
    another namespace is refused)."""
    require(deps, caller, Action.READ, what="list", target=PATH, anywhere=True)
    scopes = visible_namespaces(caller.grants)
    if scopes is not None and filters.namespace is not None:
        require(deps, caller, Action.READ, what="list", target=PATH, namespace=filters.namespace)
    if scopes is not None and filters.namespace is None and len(scopes) == 1:
        filters = replace(filters, namespace=next(iter(scopes)))
    page = deps.store.list_deployments(filters=filters, limit=limit, token=token)
    if scopes is None or filters.namespace is not None:
        return page
    return Page(tuple(d for d in page.items if d.namespace in scopes), page.next_token)


def history(
    deps: Deps, deployment_id: str, caller: Caller, *, limit: int, token: str | None
) -> tuple[Deployment, Page[Revision]]:
    require(deps, caller, Action.READ, what="read", target=f"{PATH}/{deployment_id}", anywhere=True)
    found, page = deps.store.history(deployment_id, limit=limit, token=token)
    _may_read(deps, caller, deployment_id, found)
    return found, page


def revision(deps: Deps, deployment_id: str, number: int, caller: Caller) -> Revision:
    _may_read(deps, caller, deployment_id)
    return deps.store.get_revision(deployment_id, number)


def operations(
    deps: Deps, deployment_id: str, caller: Caller, *, limit: int, token: str | None
) -> Page[Operation]:
    _may_read(deps, caller, deployment_id)
    page = deps.store.list_operations(deployment_id, limit=limit, token=token)
    if not page.items and token is None:
        raise DeploymentNotFound(f"Deployment {deployment_id} not found")
    return page


def operation(deps: Deps, deployment_id: str, operation_id: str, caller: Caller) -> Operation:
    _may_read(deps, caller, deployment_id)
    return deps.store.get_operation(deployment_id, operation_id)


def audit(
    deps: Deps, caller: Caller, filters: AuditFilter, *, limit: int, token: str | None
) -> Page[AuditRecord]:
    require(deps, caller, Action.READ_AUDIT, what="read", target="audit")
    return deps.store.audit_page(filters, limit=limit, token=token)
