"""The O2-DMS lifecycle use cases: instantiate, upgrade, scale, roll back, terminate.

Each one turns a request into a ``Proposal`` (what the new revision will hold), then
hands it to ``operations.start``, which takes the lease, records and applies it.
Each can also be *planned*: the backend says exactly what it would run, and nothing
is written (``dry_run``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.access import Action as Permission
from chalicelib.domain.errors import (
    AlreadyExists,
    DeploymentTerminated,
    DescriptorNotFound,
    InvalidRequest,
    NoPreviousRevision,
    RevisionNotFound,
    RollbackToCurrentRevision,
)
from chalicelib.domain.models import (
    AppRollout,
    Deployment,
    Descriptor,
    JsonObject,
    Page,
    Revision,
)
from chalicelib.domain.ports import Action, Detach, PlanStep, ReleaseTarget
from chalicelib.domain.secrets import schema_secret_paths
from chalicelib.domain.states import (
    GOOD_REVISION_STATUSES,
    Adapter,
    DeploymentStatus,
    OperationType,
)
from chalicelib.service import managers, triggers
from chalicelib.service.access import require, require_then_read
from chalicelib.service.context import Caller, Deps
from chalicelib.service.managers import backend_for
from chalicelib.service.operations import start
from chalicelib.service.parameters import deep_merge, leaf_paths, validate_parameters
from chalicelib.service.records import Prepare, Proposal, Started, rollback_description
from chalicelib.service.sealing import (
    refuse_exposed_secrets,
    refuse_sealed,
    revealed,
    secret_leaves,
    unsealed,
)


@dataclass(frozen=True, slots=True)
class Instantiate:
    name: str
    descriptor_id: str
    namespace: str | None = None
    parameters: JsonObject | None = None
    adapter: Adapter = Adapter.HELM
    deployment_manager_id: str | None = None
    app: AppRollout | None = None  # how a seed-002 request names it


@dataclass(frozen=True, slots=True)
class Planned:
    type: OperationType
    revision: int | None
    description: str
    steps: list[PlanStep]
    secrets: tuple[Any, ...] = ()  # values the plan's bodies may carry, never to be shown


# ------------------------------------------------------------------------ commands


PATH = "nfDeployments"


def permitted(
    deps: Deps, caller: Caller, deployment_id: str, action: Permission, what: str
) -> Deployment:
    """The deployment ``caller`` may ``what``, as stored."""
    return require_then_read(
        deps,
        caller,
        action,
        what=what,
        target=f"{PATH}/{deployment_id}",
        deployment_id=deployment_id,
        read=lambda: deps.store.get_deployment(deployment_id),
        namespace_of=lambda current: current.namespace,
    )


def _live(
    deps: Deps, caller: Caller, deployment_id: str, action: Permission, what: str
) -> Deployment:
    return ensure_live(permitted(deps, caller, deployment_id, action, what))


@dataclass(frozen=True, slots=True)
class _Creation:
    """A create as read: the deployment it starts from, the failed create it takes over
    (if any), and its descriptor."""

    current: Deployment
    replaces: Deployment | None
    descriptor: Descriptor


def _may_create(deps: Deps, caller: Caller, request: Instantiate) -> _Creation:
    target = f"{PATH}/{request.name}"
    require(deps, caller, Permission.DEPLOY, what="instantiate", target=target, anywhere=True)
    creation = _new_or_terminated(deps, request)
    require(
        deps,
        caller,
        Permission.DEPLOY,
        what="instantiate",
        target=target,
        namespace=creation.current.namespace,
        deployment_id=request.name,
    )
    return creation


def instantiate(deps: Deps, request: Instantiate, caller: Caller) -> Started:
    creation = _may_create(deps, caller, request)
    return start(deps, creation.current, _instantiate_proposal(request, creation), caller)


def upgrade(
    deps: Deps,
    deployment_id: str,
    *,
    descriptor_id: str | None,
    parameters: JsonObject | None,
    caller: Caller,
    app: AppRollout | None = None,
) -> Started:
    current = _live(deps, caller, deployment_id, Permission.UPGRADE, "upgrade")
    return start(deps, current, _upgrade_proposal(deps, descriptor_id, parameters, app), caller)


@dataclass(frozen=True, slots=True)
class Unchanged:
    """A change that would change nothing, so none was made: no operation, no revision."""

    deployment: Deployment
    message: str


def scale(deps: Deps, deployment_id: str, *, replicas: int, caller: Caller) -> Started | Unchanged:
    """Scale; a deployment already settled at that count is left alone, and says so."""
    current = _live(deps, caller, deployment_id, Permission.SCALE, "scale")
    if already_scaled(current, replicas):
        return Unchanged(
            current,
            f"{current.id} already runs {replicas} replica"
            f"{'' if replicas == 1 else 's'}; nothing changed",
        )
    return scale_read(deps, current, replicas=replicas, caller=caller)


def already_scaled(deployment: Deployment, replicas: int) -> bool:
    """Settled (instantiated, no operation running) at ``replicas`` replicas."""
    return (
        deployment.status is DeploymentStatus.INSTANTIATED
        and deployment.lease is None
        and deployment.replicas == replicas
    )


def scale_read(deps: Deps, current: Deployment, *, replicas: int, caller: Caller) -> Started:
    """``scale``, for a caller that has just read the live deployment itself."""
    require(
        deps,
        caller,
        Permission.SCALE,
        what="scale",
        target=f"{PATH}/{current.id}",
        namespace=current.namespace,
        deployment_id=current.id,
    )
    return start(deps, current, _scale_proposal(deps, replicas), caller)


def rollback(
    deps: Deps,
    deployment_id: str,
    *,
    revision: int,
    caller: Caller,
    note: str | None = None,
    discredit: bool = False,
    app: AppRollout | None = None,
) -> Started:
    """Roll back to ``revision`` (0: the previous good one); ``note`` is added to the new
    revision's description (what triggered it, for an automatic rollback). With
    ``discredit``, the revision left behind is marked failed for that reason."""
    current, newest = _rollback_read(deps, caller, deployment_id, revision)
    proposal = _rollback_proposal(
        deps, revision, note, discredit=discredit, app=app, read=(current, newest)
    )
    return start(deps, current, proposal, caller)


def terminate(deps: Deps, deployment_id: str, *, caller: Caller) -> Started:
    """Uninstall; the deployment's schedules and alarm binding go with it, their items in
    the write that begins the termination, and the schedules' EventBridge side after it."""
    current, schedules = require_then_read(
        deps,
        caller,
        Permission.TERMINATE,
        what="terminate",
        target=f"{PATH}/{deployment_id}",
        deployment_id=deployment_id,
        read=lambda: deps.automation.deployment_schedules(deployment_id),
        namespace_of=lambda found: found[0].namespace,
    )
    ensure_live(current)
    binding = deps.automation.get_alarm_binding(deployment_id)
    detach = Detach(
        deployment_id,
        schedule_ids=tuple(s.id for s in schedules),
        alarm_names=binding.alarm_names if binding else (),
        binding=binding is not None,
    )
    started = start(deps, current, lambda c: _terminate_proposal(c, detach), caller)
    triggers.stop_schedules(deps, detach.schedule_ids)
    return started


def plan_instantiate(deps: Deps, request: Instantiate, caller: Caller) -> Planned:
    creation = _may_create(deps, caller, request)
    return _plan(deps, creation.current, _instantiate_proposal(request, creation))


def plan_upgrade(
    deps: Deps,
    deployment_id: str,
    *,
    descriptor_id: str | None,
    parameters: JsonObject | None,
    caller: Caller,
) -> Planned:
    current = _live(deps, caller, deployment_id, Permission.UPGRADE, "upgrade")
    return _plan(deps, current, _upgrade_proposal(deps, descriptor_id, parameters))


def plan_scale(deps: Deps, deployment_id: str, *, replicas: int, caller: Caller) -> Planned:
    current = _live(deps, caller, deployment_id, Permission.SCALE, "scale")
    return _plan(deps, current, _scale_proposal(deps, replicas))


def plan_rollback(deps: Deps, deployment_id: str, *, revision: int, caller: Caller) -> Planned:
    current, newest = _rollback_read(deps, caller, deployment_id, revision)
    return _plan(deps, current, _rollback_proposal(deps, revision, read=(current, newest)))


def plan_terminate(deps: Deps, deployment_id: str, *, caller: Caller) -> Planned:
    current = _live(deps, caller, deployment_id, Permission.TERMINATE, "terminate")
    return _plan(deps, current, _terminate_proposal)


def _plan(deps: Deps, current: Deployment, prepare: Prepare) -> Planned:
    """What ``prepare`` would make the backend do; nothing is written or applied."""
    proposal = prepare(current)
    refuse_exposed_secrets(current.adapter, proposal)
    terminating = proposal.type is OperationType.TERMINATE
    number = None if terminating else current.last_revision + 1
    values, secrets = revealed(deps, proposal.values or {}, proposal.secret_paths)
    target = ReleaseTarget(
        release=current.id,
        namespace=current.namespace,
        chart=proposal.chart or current.chart,
        values=values,
        revision=number or current.revision,
        operation_id="dry-run",
        timeout_seconds=deps.settings.operation_timeout_seconds,
        secret_leaves=secret_leaves(proposal.values or {}, proposal.secret_paths),
    )
    action = Action(
        type=proposal.type,
        target=target,
        replicas=proposal.replicas,
        rollback_to_ref=proposal.rollback_to_ref,
    )
    steps = backend_for(deps, current).plan(action)
    return Planned(proposal.type, number, proposal.description, steps, secrets)


# ------------------------------------------------------------------------ proposals


def _instantiate_proposal(request: Instantiate, creation: _Creation) -> Prepare:
    descriptor = creation.descriptor
    if request.adapter not in descriptor.adapters:
        suited = ", ".join(a.value for a in descriptor.adapters)
        raise InvalidRequest(
            f"Descriptor {descriptor.id} does not suit adapter {request.adapter.value} "
            f"(it suits: {suited})"
        )
    refuse_sealed(request.parameters or {})
    parameters = deep_merge({}, request.parameters or {})
    values = _effective_values(descriptor, parameters)

    def prepare(_: Deployment) -> Proposal:
        return Proposal(
            type=OperationType.INSTALL,
            description=f"Installed {descriptor.id}",
            descriptor_id=descriptor.id,
            chart=descriptor.chart,
            parameters=parameters,
            values=values,
            hold_descriptor=True,
            replaces=creation.replaces,
            secret_paths=schema_secret_paths(descriptor.parameter_schema),
            app=request.app,
        )

    return prepare


def _upgrade_proposal(
    deps: Deps,
    descriptor_id: str | None,
    parameters: JsonObject | None,
    app: AppRollout | None = None,
) -> Prepare:
    patch = parameters or {}
    refuse_sealed(patch)

    def prepare(current: Deployment) -> Proposal:
        target_id = descriptor_id or current.descriptor_id
        descriptor = deps.store.get_descriptor(target_id)
        if current.adapter not in descriptor.adapters:
            raise InvalidRequest(
                f"Descriptor {descriptor.id} does not suit adapter {current.adapter.value}"
            )
        stored = unsealed(deps, current.parameters)  # checked in clear; sealed when stored
        merged = deep_merge(stored, patch)
        values = _effective_values(descriptor, merged)
        before = deep_merge(descriptor.default_parameters, stored)
        changed = _changed_paths(before, values, patch)
        if descriptor_id:
            description = f"Upgraded to {descriptor.id}"
        elif changed:
            description = f"Upgraded parameters: {changed}"
        else:
            description = f"Upgraded {descriptor.id} (no parameter changes)"
        return Proposal(
            type=OperationType.UPGRADE,
            description=description,
            descriptor_id=descriptor.id,
            chart=descriptor.chart,
            parameters=merged,
            values=values,
            hold_descriptor=descriptor.id != current.descriptor_ref,
            secret_paths=schema_secret_paths(descriptor.parameter_schema),
            app=app,
        )

    return prepare


def _scale_proposal(deps: Deps, replicas: int) -> Prepare:
    def prepare(current: Deployment) -> Proposal:
        stored = unsealed(deps, current.parameters)  # checked in clear; sealed when stored
        merged = deep_merge(stored, {"replicaCount": replicas})
        descriptor = _descriptor_if_any(deps, current.descriptor_id)
        if descriptor is not None:
            values = _effective_values(descriptor, merged)
            chart = descriptor.chart
        else:
            revision = deps.store.get_revision(current.id, current.revision)
            values = deep_merge(revision.values, {"replicaCount": replicas})
            chart = current.chart
        return Proposal(
            type=OperationType.SCALE,
            description=f"Scaled to {replicas} replica{'' if replicas == 1 else 's'}",
            descriptor_id=current.descriptor_id,
            chart=chart,
            parameters=merged,
            values=values,
            hold_descriptor=False,
            replicas=replicas,
            secret_paths=current.secret_paths,
        )

    return prepare


def _rollback_proposal(
    deps: Deps,
    requested: int,
    note: str | None = None,
    *,
    discredit: bool = False,
    app: AppRollout | None = None,
    read: tuple[Deployment, Page[Revision] | None] | None = None,
) -> Prepare:
    """``read``: the deployment and its newest revisions as the request read them, used
    while the deployment is still the one read (a retry after a lost race reads again)."""
    if requested < 0:
        raise InvalidRequest("Invalid revision number: must be 0 (previous) or a revision number")

    def prepare(current: Deployment) -> Proposal:
        newest = read[1] if read is not None and read[0] is current else None
        target = _rollback_target(deps, current, requested, newest)
        held = target.descriptor_id != current.descriptor_ref and (
            _descriptor_if_any(deps, target.descriptor_id) is not None
        )
        return Proposal(
            type=OperationType.ROLLBACK,
            description=rollback_description(current.revision, target.number, note),
            descriptor_id=target.descriptor_id,
            chart=target.chart,
            parameters=target.parameters,
            values=target.values,
            hold_descriptor=held,
            replicas=None,
            rollback_from=current.revision,
            rollback_to=target.number,
            rollback_to_ref=target.backend_ref,
            discredit=note if discredit else None,
            secret_paths=target.secret_paths,
            app=app,
        )

    return prepare


def _terminate_proposal(current: Deployment, detach: Detach | None = None) -> Proposal:
    return Proposal(
        type=OperationType.TERMINATE, description=f"Terminating {current.id}", detach=detach
    )


def _rollback_read(
    deps: Deps, caller: Caller, deployment_id: str, requested: int
) -> tuple[Deployment, Page[Revision] | None]:
    """The deployment a rollback may change; for a rollback to the previous good revision,
    with the newest revisions too, in the same round trip (the deployment item sorts after
    its revisions, so one query newest-first gives both)."""
    if requested != 0:
        return _live(deps, caller, deployment_id, Permission.ROLLBACK, "rollback"), None
    deployment, newest = require_then_read(
        deps,
        caller,
        Permission.ROLLBACK,
        what="rollback",
        target=f"{PATH}/{deployment_id}",
        deployment_id=deployment_id,
        read=lambda: deps.store.history(deployment_id, limit=FIRST_LOOK, token=None),
        namespace_of=lambda found: found[0].namespace,
    )
    return ensure_live(deployment), newest


def _rollback_target(
    deps: Deps, current: Deployment, requested: int, newest: Page[Revision] | None = None
) -> Revision:
    if requested == 0:
        return previous_good_revision(deps, current, newest)
    if requested == current.revision:
        raise RollbackToCurrentRevision(
            f"Revision {requested} is the current revision; choose a different revision"
        )
    if requested > current.last_revision:
        raise RevisionNotFound(f"Revision {requested} not found in deployment history")
    return deps.store.get_revision(current.id, requested)


# The previous good revision is nearly always among the newest few (the current one, and a
# failed attempt or two after it): a first look reads that many, later pages more.
FIRST_LOOK = 3
HISTORY_PAGE = 50


def previous_good_revision(
    deps: Deps, current: Deployment, newest: Page[Revision] | None = None
) -> Revision:
    """The newest good revision other than the current one; ``newest``: the first page of
    history, newest first, when it was read already."""
    page = newest
    if page is None:
        page = deps.store.history(current.id, limit=FIRST_LOOK, token=None)[1]
    while True:
        for revision in page.items:
            if revision.number != current.revision and revision.status in GOOD_REVISION_STATUSES:
                return revision
        if page.next_token is None:
            raise NoPreviousRevision(
                f"Deployment {current.id} has no previous good revision to roll back to"
            )
        page = deps.store.history(current.id, limit=HISTORY_PAGE, token=page.next_token)[1]


# ------------------------------------------------------------------------- helpers


def live_deployment(deps: Deps, deployment_id: str) -> Deployment:
    """The deployment; ``DeploymentNotFound`` if it never existed, ``DeploymentTerminated``
    if it was terminated."""
    return ensure_live(deps.store.get_deployment(deployment_id))


def ensure_live(deployment: Deployment) -> Deployment:
    """``deployment`` as read, or ``DeploymentTerminated`` (409) if it was terminated: it
    reads as NOT_INSTANTIATED, and only a new create brings it back."""
    if deployment.terminated:
        raise DeploymentTerminated(
            f"Deployment {deployment.id} is NOT_INSTANTIATED: it was terminated; its history"
            " remains readable, and POST /nfDeployments with its name instantiates it again"
        )
    return deployment


def _new_or_terminated(deps: Deps, request: Instantiate) -> _Creation:
    """The deployment a create starts from, the failed create it takes over (if any), and
    its descriptor: one read, unless a registered default manager must be looked up."""
    reads = deps.store.create_reads(
        request.name,
        descriptor_id=request.descriptor_id,
        manager_id=managers.to_read(deps, request.deployment_manager_id),
    )
    manager = managers.resolve_read(deps, request.deployment_manager_id, reads)
    now = deps.clock()
    existing = reads.existing
    if existing is not None and not (existing.terminated or never_deployed(existing)):
        raise AlreadyExists(f"Deployment {request.name} already exists")
    descriptor = reads.descriptor
    if descriptor is None:
        raise DescriptorNotFound(f"Descriptor {request.descriptor_id} not found")
    fresh = Deployment(
        id=request.name,
        namespace=request.namespace or manager.default_namespace,
        adapter=request.adapter,
        deployment_manager_id=manager.id,
        descriptor_id=descriptor.id,
        chart=descriptor.chart,
        parameters={},
        status=DeploymentStatus.NOT_INSTANTIATED,
        revision=0,
        last_revision=existing.last_revision if existing else 0,
        deployed_revision=0,
        created_at=now,
        updated_at=now,
        record_version=existing.record_version if existing else 0,
    )
    replaces = existing if existing is not None and not existing.terminated else None
    return _Creation(fresh, replaces, descriptor)


def _changed_paths(before: Mapping[str, Any], after: Mapping[str, Any], patch: JsonObject) -> str:
    """The parameters a patch really changed, as dotted paths: at most five, then how many
    more ("image.tag, replicaCount and 3 more")."""
    changed = sorted(path for path in leaf_paths(patch) if _at(before, path) != _at(after, path))
    shown = ", ".join(changed[:5])
    return f"{shown} and {len(changed) - 5} more" if len(changed) > 5 else shown


def _at(values: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or a marker distinct from every value when absent."""
    found: Any = values
    for key in path.split("."):
        if not isinstance(found, Mapping) or key not in found:
            return _ABSENT
        found = found[key]
    return found


_ABSENT = object()


def never_deployed(deployment: Deployment) -> bool:
    """A create that failed before anything reached the cluster (an unreachable cluster or
    chart repository, unreadable credentials) and is over: a new create may take its name,
    continuing its revision numbers, as after a termination."""
    return deployment.revision == 0 and deployment.lease is None


def _descriptor_if_any(deps: Deps, descriptor_id: str) -> Descriptor | None:
    try:
        return deps.store.get_descriptor(descriptor_id)
    except DescriptorNotFound:
        return None


def _effective_values(descriptor: Descriptor, parameters: Mapping[str, Any]) -> JsonObject:
    values = deep_merge(descriptor.default_parameters, parameters)
    validate_parameters(descriptor.parameter_schema, values)
    return values
