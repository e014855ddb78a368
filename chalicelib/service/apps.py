"""Seed 002's use cases on the one core: start a version, read and list rollouts, roll back
to a version with a reason (or only plan it).

A seed-002 ``name`` in an ``environment`` is the NF deployment ``<name>-<environment>``: the
first start instantiates it, later ones upgrade it. Each version is a descriptor
``<name>-<version>`` (``-<platform>`` too for chart platforms), recorded by the first start
that names it. Everything then runs through ``lifecycle``: the same leases, revisions,
operations, rollout driver and automatic rollback as ``/o2dms/v1``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from chalicelib.domain import apps
from chalicelib.domain.access import Action as Permission
from chalicelib.domain.access import visible_namespaces
from chalicelib.domain.errors import (
    AlreadyExists,
    Conflict,
    DeploymentNotFound,
    DescriptorNotFound,
    InvalidRequest,
    NoPreviousRevision,
    RollbackToCurrentRevision,
    VersionFailed,
    VersionNotFound,
)
from chalicelib.domain.models import (
    AppRollout,
    ChartRef,
    Deployment,
    Descriptor,
    JsonObject,
    Operation,
    Page,
    Revision,
)
from chalicelib.domain.ports import RolloutFilter
from chalicelib.domain.states import GOOD_REVISION_STATUSES, Adapter
from chalicelib.service import app_ecs, lifecycle
from chalicelib.service.access import audit_record, require
from chalicelib.service.context import Caller, Deps
from chalicelib.service.records import Started
from chalicelib.service.rollouts import reconcile

PATH = "deployments"


@dataclass(frozen=True, slots=True)
class StartApp:
    name: str
    version: str
    platform: str
    environment: str
    deployment_name: str | None = None
    service_name: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    namespace: str | None = None
    image: str | None = None
    container: str | None = None
    replicas: int | None = None
    container_port: int | None = None
    chart: tuple[str, str] | None = None  # repository, chart name
    parameters: JsonObject | None = None
    deployment_manager_id: str | None = None
    components: tuple[Component, ...] = ()
    stage_timeouts: dict[str, int] | None = None
    health_checks: tuple[JsonObject, ...] = ()  # as values: camelCase, dependency marked
    # the ecs platform: the service to roll out, and what each version sets on its task
    # definition (the container's variables, the task's size)
    cluster: str | None = None
    service: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    cpu: str | None = None
    memory: str | None = None


@dataclass(frozen=True, slots=True)
class Component:
    """One Deployment of a several-part application."""

    name: str
    image: str
    version: str | None = None
    container: str | None = None
    replicas: int | None = None
    container_port: int | None = None
    service_name: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()


def adapter_of(platform: str) -> Adapter:
    found = apps.PLATFORMS.get(platform)
    if found is None:
        supported = ", ".join(apps.PLATFORMS)
        raise InvalidRequest(
            f"platform {platform[:40]!r} is not supported; supported platforms: {supported}"
        )
    return found


# -------------------------------------------------------------------------- start


def start(deps: Deps, request: StartApp, caller: Caller) -> Started:
    """Roll ``request.version`` out: instantiate the NF deployment, or upgrade it."""
    adapter = adapter_of(request.platform)
    nf_id = apps.nf_deployment_id(request.name, request.environment)
    existing = _existing(deps, nf_id)
    namespace = existing.namespace if existing else request.namespace or request.environment
    require(
        deps,
        caller,
        Permission.DEPLOY,
        what="start",
        target=f"{PATH}/{nf_id}",
        namespace=namespace,
        deployment_id=nf_id,
    )
    app = AppRollout(
        id="",
        name=request.name,
        environment=request.environment,
        platform=request.platform,
        stage_timeouts=request.stage_timeouts or None,
    )
    if existing is not None:
        _same_place(existing, request, adapter)
    descriptor = _version_descriptor(deps, request, adapter, existing, caller)
    if existing is None:
        create = lifecycle.Instantiate(
            name=nf_id,
            descriptor_id=descriptor.id,
            namespace=namespace,
            parameters=_parameters(request, adapter, first=True),
            adapter=adapter,
            deployment_manager_id=request.deployment_manager_id,
            app=app,
        )
        return lifecycle.instantiate(deps, create, caller)
    return lifecycle.upgrade(
        deps,
        nf_id,
        descriptor_id=descriptor.id,
        parameters=_parameters(request, adapter, first=False),
        caller=caller,
        app=app,
    )


def _existing(deps: Deps, nf_id: str) -> Deployment | None:
    """The NF deployment a start upgrades; ``None`` when a start must instantiate it."""
    try:
        found = deps.store.get_deployment(nf_id)
    except DeploymentNotFound:
        return None
    if found.terminated or lifecycle.never_deployed(found):
        return None
    return found


def _same_place(existing: Deployment, request: StartApp, adapter: Adapter) -> None:
    """A later version goes where the first went: same platform, namespace and cluster."""
    where = f"{request.name} in {request.environment}"
    if existing.adapter is not adapter:
        raise Conflict(
            f"{where} runs on platform {existing.adapter.value}; a new version cannot move it"
            f" to {request.platform}"
        )
    if request.namespace is not None and request.namespace != existing.namespace:
        raise Conflict(f"{where} lives in namespace {existing.namespace}, not {request.namespace}")
    manager = request.deployment_manager_id
    if manager is not None and manager != existing.deployment_manager_id:
        raise Conflict(
            f"{where} runs on deployment manager {existing.deployment_manager_id}, not {manager}"
        )
    several = "components" in existing.parameters
    if adapter is Adapter.KUBERNETES and several != bool(request.components):
        had = "several components" if several else "one Deployment"
        raise Conflict(f"{where} runs {had}; a new version cannot change that (start another name)")
    stored = existing.parameters.get("deploymentName")
    if request.deployment_name is not None and stored and stored != request.deployment_name:
        raise Conflict(f"{where} rolls out Deployment {stored}, not {request.deployment_name}")
    for key, asked in (("cluster", request.cluster), ("service", request.service)):
        kept = existing.parameters.get(key)
        if asked is not None and kept and kept != asked:
            raise Conflict(f"{where} rolls out ECS {key} {kept}, not {asked}")


def _parameters(request: StartApp, adapter: Adapter, *, first: bool) -> JsonObject:
    """The NF deployment's parameters a start sets (an upgrade merges them onto the old);
    its own health checks replace the old ones when it names any."""
    found = _platform_parameters(request, adapter, first=first)
    if request.health_checks:
        found["healthChecks"] = [dict(c) for c in request.health_checks]
    return found


def _platform_parameters(request: StartApp, adapter: Adapter, *, first: bool) -> JsonObject:
    if adapter is Adapter.ECS:
        return app_ecs.parameters(request, first=first)
    app_ecs.refuse_ecs_fields(request)
    if adapter is not Adapter.KUBERNETES:
        if request.components:
            raise InvalidRequest("configuration.components is for the kubernetes platform")
        return dict(request.parameters or {})
    if request.components:
        return _component_parameters(request)
    image: JsonObject = {"tag": request.version}
    if request.image:
        image["repository"] = request.image
    found: JsonObject = {"image": image}
    if first:
        found["deploymentName"] = request.deployment_name or request.name
        found["adopt"] = True  # a Deployment the team already runs is taken over
    elif request.deployment_name:
        found["deploymentName"] = request.deployment_name
    optional: dict[str, Any] = {
        "serviceName": request.service_name,
        "container": request.container,
        "replicaCount": request.replicas,
        "containerPort": request.container_port,
        "labels": request.labels or None,
    }
    found.update({k: v for k, v in optional.items() if v is not None})
    return found


def _component_parameters(request: StartApp) -> JsonObject:
    """Several Deployments: each component's values, checked for a rollout order."""
    single = {
        "deployment_name": request.deployment_name,
        "image": request.image,
        "container": request.container,
        "replicas": request.replicas,
        "container_port": request.container_port,
    }
    clashing = [f"configuration.{k}" for k, v in single.items() if v is not None]
    if clashing:
        raise InvalidRequest(
            f"{', '.join(clashing)} name a single Deployment; with configuration.components,"
            " give them per component"
        )
    names = [c.name for c in request.components]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidRequest(f"component names must be unique: {', '.join(twice)}")
    apps.dependency_waves({c.name: c.depends_on for c in request.components})
    components: list[JsonObject] = []
    for c in request.components:
        values: JsonObject = {
            "name": c.name,
            "image": {"repository": c.image, "tag": c.version or request.version},
            "labels": {**request.labels, **c.labels},
            "dependsOn": list(c.depends_on),
        }
        optional: dict[str, Any] = {
            "container": c.container,
            "replicaCount": c.replicas,
            "containerPort": c.container_port,
            "serviceName": c.service_name,
        }
        values.update({k: v for k, v in optional.items() if v is not None})
        components.append(values)
    return {"version": request.version, "components": components}


def _chart_of(request: StartApp, adapter: Adapter, existing: Deployment | None) -> ChartRef:
    if adapter in apps.IMAGE_PLATFORMS:
        return ChartRef("", request.name, request.version)
    if request.chart is not None:
        return ChartRef(request.chart[0], request.chart[1], request.version)
    if existing is not None:
        return replace(existing.chart, version=request.version)
    raise InvalidRequest(
        f"platform {request.platform} needs configuration.chart (repository and name): the"
        " version is that chart's version"
    )


def descriptor_id_of(request: StartApp, adapter: Adapter) -> str:
    version = request.version.replace("+", "_")
    if adapter is Adapter.KUBERNETES:
        return f"{request.name}-{version}"
    return f"{request.name}-{request.platform}-{version}"


def _version_descriptor(
    deps: Deps, request: StartApp, adapter: Adapter, existing: Deployment | None, caller: Caller
) -> Descriptor:
    """The descriptor of this version, recorded by the first start that names it."""
    chart = _chart_of(request, adapter, existing)
    descriptor_id = descriptor_id_of(request, adapter)
    wanted = Descriptor(
        id=descriptor_id,
        name=request.name,
        chart=chart,
        default_parameters={},
        parameter_schema=None,
        adapters=(adapter,),
        created_at=deps.clock(),
    )
    for _ in range(2):
        try:
            found = deps.store.get_descriptor(descriptor_id)
        except DescriptorNotFound:
            target = f"nfDeploymentDescriptors/{descriptor_id}"
            audit = audit_record(deps, caller, what="record-version", target=target)
            try:
                deps.store.put_descriptor(wanted, audit=audit)
            except AlreadyExists:
                continue  # another start recorded it meanwhile: compare with that one
            return wanted
        if found.chart != chart or adapter not in found.adapters:
            raise Conflict(
                f"Descriptor {descriptor_id} already describes {found.chart.name}"
                f" {found.chart.version} from {found.chart.repo_url or 'images'} for"
                f" {', '.join(a.value for a in found.adapters)}; it cannot also describe"
                f" this version"
            )
        return found
    raise Conflict(f"Descriptor {descriptor_id} keeps changing; retry shortly")


# -------------------------------------------------------------------------- reads


def get(deps: Deps, rollout_id: str, caller: Caller) -> Operation:
    """One rollout; one that outlived its follower is judged once first, as on the O2 side."""
    require(
        deps, caller, Permission.READ, what="read", target=f"{PATH}/{rollout_id}", anywhere=True
    )
    found = deps.store.get_rollout(rollout_id)
    _may_see(deps, caller, found, rollout_id)
    grace = timedelta(seconds=deps.settings.lease_grace_seconds)
    if not found.state.finished and deps.clock() > found.deadline + grace:
        reconcile(deps, found.deployment_id, found.id)
        found = deps.store.get_operation(found.deployment_id, found.id)
    return found


def _may_see(deps: Deps, caller: Caller, found: Operation, rollout_id: str) -> None:
    namespace = found.app.namespace if found.app else None
    require(
        deps,
        caller,
        Permission.READ,
        what="read",
        target=f"{PATH}/{rollout_id}",
        namespace=namespace or None,
        deployment_id=found.deployment_id,
    )


def list_page(
    deps: Deps, caller: Caller, *, filters: RolloutFilter, limit: int, token: str | None
) -> Page[Operation]:
    """Newest first; a caller scoped to namespaces sees only theirs."""
    require(deps, caller, Permission.READ, what="list", target=PATH, anywhere=True)
    scopes = visible_namespaces(caller.grants)
    if scopes is not None and len(scopes) == 1:
        filters = replace(filters, namespace=next(iter(scopes)))
    page = deps.store.list_rollouts(filters=filters, limit=limit, token=token)
    if scopes is None:
        return page
    seen = tuple(o for o in page.items if o.app is not None and o.app.namespace in scopes)
    return Page(seen, page.next_token)


# ----------------------------------------------------------------------- rollback


@dataclass(frozen=True, slots=True)
class RollbackApp:
    rollout_id: str
    target_version: str | None
    force: bool = False


@dataclass(frozen=True, slots=True)
class Chosen:
    """What a rollback of a rollout goes back to, and from where."""

    source: Operation
    deployment: Deployment
    current: Revision | None
    target: Revision


def choose(deps: Deps, request: RollbackApp, caller: Caller, *, what: str) -> Chosen:
    source = deps.store.get_rollout(request.rollout_id)
    _may_see(deps, caller, source, request.rollout_id)
    deployment = lifecycle.ensure_live(
        lifecycle.permitted(deps, caller, source.deployment_id, Permission.ROLLBACK, what)
    )
    target = _target(deps, deployment, source, request)
    current = (
        deps.store.get_revision(deployment.id, deployment.revision) if deployment.revision else None
    )
    if current is not None and current.status in GOOD_REVISION_STATUSES:
        running = version_of(deployment, current)
        if running == version_of(deployment, target) and not request.force:
            raise RollbackToCurrentRevision(
                f"{deployment.id} already runs version {running} (revision {current.number});"
                ' send "force": true to roll back to it anyway'
            )
    return Chosen(source, deployment, current, target)


def rollback(deps: Deps, request: RollbackApp, caller: Caller) -> Started:
    chosen = choose(deps, request, caller, what="rollback")
    app = chosen.source.app
    assert app is not None
    return lifecycle.rollback(
        deps,
        chosen.deployment.id,
        revision=chosen.target.number,
        caller=caller,
        app=AppRollout(
            id="",
            name=app.name,
            environment=app.environment,
            platform=app.platform,
            rolled_back_from=request.rollout_id,
        ),
    )


def version_of(deployment: Deployment, revision: Revision) -> str | None:
    return apps.version_of(deployment.adapter, revision.chart, revision.values)


def _target(
    deps: Deps, deployment: Deployment, source: Operation, request: RollbackApp
) -> Revision:
    """The newest good revision of ``target_version``; without one, the newest good
    revision before the source rollout's, of another version than its own."""
    wanted = request.target_version
    own = source.app.version if source.app else None
    failed: Revision | None = None
    for revision in newest_first(deps, deployment.id):
        version = version_of(deployment, revision)
        good = revision.status in GOOD_REVISION_STATUSES
        if wanted is not None:
            if version != wanted:
                continue
            if good:
                return revision
            failed = failed or revision
        elif (
            good
            and version != own
            and (source.revision is None or revision.number < source.revision)
        ):
            return revision
    if wanted is None:
        raise NoPreviousRevision(
            f"{deployment.id} has no good version before {own} to roll back to"
        )
    if failed is None:
        raise VersionNotFound(f"Version {wanted} was never deployed to {deployment.id}")
    if request.force:
        return failed
    raise VersionFailed(
        f"The rollout of version {wanted} to {deployment.id} failed (revision"
        f' {failed.number}); send "force": true to roll back to it anyway'
    )


def newest_first(deps: Deps, deployment_id: str) -> Iterator[Revision]:
    token: str | None = None
    while True:
        _, page = deps.store.history(deployment_id, limit=50, token=token)
        yield from page.items
        token = page.next_token
        if token is None:
            return
