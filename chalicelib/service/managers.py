"""Deployment managers (target clusters): registering them and resolving which one a
deployment uses. The local run and the tests also have a built-in simulated cluster,
``local``, which is never stored."""

from __future__ import annotations

from chalicelib.domain.access import Action
from chalicelib.domain.errors import DeploymentManagerNotFound, InvalidRequest
from chalicelib.domain.models import Deployment, DeploymentManager, Page
from chalicelib.domain.ports import CreateReads, DeploymentBackend
from chalicelib.domain.states import ClusterKind
from chalicelib.service.access import audit_record, require
from chalicelib.service.context import Caller, Deps

LOCAL_ID = "local"
PATH = "deploymentManagers"


def local_manager(deps: Deps, *, is_default: bool = False) -> DeploymentManager:
    return DeploymentManager(
        id=LOCAL_ID,
        kind=ClusterKind.LOCAL,
        name="Simulated local cluster",
        default_namespace=deps.settings.default_namespace,
        created_at=deps.clock(),
        is_default=is_default,
    )


def _described_local(deps: Deps) -> DeploymentManager:
    """The local cluster as the API shows it: the default unless one was registered."""
    return local_manager(deps, is_default=deps.store.default_manager_id() is None)


def register(deps: Deps, manager: DeploymentManager, caller: Caller) -> DeploymentManager:
    target = f"{PATH}/{manager.id}"
    require(deps, caller, Action.MANAGE_MANAGERS, what="register-deployment-manager", target=target)
    if manager.id == LOCAL_ID:
        raise InvalidRequest(f"{LOCAL_ID!r} is the built-in simulated cluster's id")
    if manager.kind is ClusterKind.LOCAL:
        raise InvalidRequest("kind must be eks, kubeconfig, gke or aks")
    source = manager.kubeconfig_source or ""
    if source.startswith("file:") and not deps.settings.allow_local_charts:
        raise InvalidRequest("file: kubeconfig sources are not allowed in this stage")
    audit = audit_record(deps, caller, what="register-deployment-manager", target=target)
    deps.store.put_manager(manager, audit=audit)
    return manager


def get(deps: Deps, manager_id: str, caller: Caller) -> DeploymentManager:
    require(deps, caller, Action.READ, what="read", target=f"{PATH}/{manager_id}", anywhere=True)
    return _get(deps, manager_id)


def _get(deps: Deps, manager_id: str) -> DeploymentManager:
    if manager_id == LOCAL_ID and deps.settings.local_cluster:
        return _described_local(deps)
    return deps.store.get_manager(manager_id)


def list_page(
    deps: Deps, caller: Caller, *, limit: int, token: str | None
) -> Page[DeploymentManager]:
    require(deps, caller, Action.READ, what="list", target=PATH, anywhere=True)
    default_id, page = deps.store.list_managers(limit=limit, token=token)
    if token is None and deps.settings.local_cluster:
        local = local_manager(deps, is_default=default_id is None)
        return Page((local, *page.items), page.next_token)
    return page


def delete(deps: Deps, manager_id: str, caller: Caller) -> None:
    target = f"{PATH}/{manager_id}"
    require(deps, caller, Action.MANAGE_MANAGERS, what="delete-deployment-manager", target=target)
    if manager_id == LOCAL_ID and deps.settings.local_cluster:
        raise InvalidRequest("the built-in local cluster cannot be deleted")
    audit = audit_record(deps, caller, what="delete-deployment-manager", target=target)
    deps.store.delete_manager(manager_id, audit=audit)


def resolve(deps: Deps, requested: str | None) -> DeploymentManager:
    """The manager a new deployment goes to: the one named, else the default."""
    if requested is not None:
        return _get(deps, requested)
    default = deps.settings.default_deployment_manager or deps.store.default_manager_id()
    if default is not None:
        return _get(deps, default)
    return _without_default(deps)


def _without_default(deps: Deps) -> DeploymentManager:
    """None named and no default: the built-in local cluster where there is one."""
    if deps.settings.local_cluster:
        return local_manager(deps)
    raise DeploymentManagerNotFound(
        "No deployment manager named and no default registered; register one with "
        "POST /o2dms/v1/deploymentManagers"
    )


def to_read(deps: Deps, requested: str | None) -> str | None:
    """The stored manager a create must read, when it is known before reading: the one
    named, or the configured default (the built-in local cluster is not stored)."""
    name = requested or deps.settings.default_deployment_manager
    if name == LOCAL_ID and deps.settings.local_cluster:
        return None
    return name


def resolve_read(deps: Deps, requested: str | None, reads: CreateReads) -> DeploymentManager:
    """``resolve``, from what a create read in its one round trip; only a registered
    default costs a second read (its id was not known before)."""
    name = requested or deps.settings.default_deployment_manager or reads.default_manager_id
    if name is None:
        return _without_default(deps)
    if name == LOCAL_ID and deps.settings.local_cluster:
        return local_manager(deps, is_default=reads.default_manager_id is None)
    if reads.manager is not None and reads.manager.id == name:
        return reads.manager
    return deps.store.get_manager(name)


def backend_for(deps: Deps, deployment: Deployment) -> DeploymentBackend:
    """The deployment's backend; the built-in local cluster costs no read."""
    if deployment.deployment_manager_id == LOCAL_ID and deps.settings.local_cluster:
        manager = local_manager(deps)
    else:
        manager = deps.store.get_manager(deployment.deployment_manager_id)
    return deps.backends(adapter=deployment.adapter, manager=manager)
