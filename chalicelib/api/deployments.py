"""Routes for ``/o2dms/v1/nfDeployments``: create, list, get, upgrade, terminate, and the
lifecycle actions on one deployment (scale, rollback, status, history, operations).

Only what the status read needs is imported with the module (``app`` registers every route
at each cold start): each other view imports its models (pydantic), renderers and use cases
when it runs, so a cold ``GET .../status`` loads none of them (``status_body``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Generic, TypeVar

from chalice.app import Blueprint, Response

from chalicelib.api import http, names, status_body
from chalicelib.api.errors import handle_errors
from chalicelib.composition import deps
from chalicelib.domain.errors import InvalidRequest
from chalicelib.service import queries
from chalicelib.service.context import Caller

if TYPE_CHECKING:
    from chalicelib.api import schemas as s
    from chalicelib.service import lifecycle
    from chalicelib.service.records import Started

E = TypeVar("E", bound=StrEnum)
B = TypeVar(
    "B", bound="s.TerminateRequest | s.DeploymentUpgrade | s.ScaleRequest | s.RollbackRequest"
)

bp = Blueprint(__name__)
BASE = "/o2dms/v1/nfDeployments"
ONE = BASE + "/{deployment_id}"


@dataclass(frozen=True, slots=True)
class _Mutation(Generic[B]):
    """What every change to one deployment reads first: its id, its body, who asks, and
    whether only the plan is wanted."""

    name: str
    body: B
    caller: Caller
    dry_run: bool


def _mutation(deployment_id: str, model: type[B], *, required: bool = True) -> _Mutation[B]:
    req = bp.current_request
    dry = http.dry_run(http.query(req, {"dryRun"}))
    name = http.deployment_id(deployment_id)
    body = http.body(req, model, required=required)
    return _Mutation(name, body, http.caller(req, body.reason), dry)


def _operation_headers(result: Started) -> http.Headers:
    operation_id = result.operation.id
    headers: http.Headers = {
        "Location": f"{BASE}/{result.deployment.id}/operations/{operation_id}",
        "X-O2DMS-Operation-Id": operation_id,
    }
    if result.operation.app is not None:  # the same change in seed 002's view (and its live URL)
        headers["X-O2DMS-Rollout-Id"] = result.operation.app.id
    return headers


def _waited(result: Started, headers: http.Headers) -> Started:
    """With ``Prefer: wait=N``, the change as it stands once it has ended (or after N s)."""
    from chalicelib.service import waiting

    seconds = http.prefer_wait(bp.current_request)
    if seconds is None:
        return result
    seconds = min(seconds, waiting.MAX_WAIT_SECONDS)
    headers["Preference-Applied"] = f"wait={seconds}"
    return waiting.until_ended(deps(), result, seconds)


def _started(result: Started, status: int = 200) -> Response:
    from chalicelib.api import render

    headers = _operation_headers(result)
    if status == 201:
        headers["Location"] = f"{BASE}/{result.deployment.id}"
    return http.json(render.started(_waited(result, headers)), status, headers)


def _planned(deployment_id: str, planned: lifecycle.Planned) -> Response:
    from chalicelib.api import render

    return http.json(render.plan(deployment_id, planned))


@bp.route(BASE, methods=["POST"])
@handle_errors
def create_deployment() -> Response:
    from chalicelib.api import schemas as s
    from chalicelib.service import lifecycle

    req = bp.current_request
    dry = http.dry_run(http.query(req, {"dryRun"}))
    body = http.body(req, s.DeploymentCreate)
    request = lifecycle.Instantiate(
        name=body.name,
        descriptor_id=body.descriptor_id,
        namespace=body.namespace,
        parameters=body.parameters,
        adapter=body.adapter,
        deployment_manager_id=body.deployment_manager_id,
    )
    who = http.caller(req, body.reason)
    if dry:
        return _planned(body.name, lifecycle.plan_instantiate(deps(), request, who))
    return _started(lifecycle.instantiate(deps(), request, who), 201)


@bp.route(BASE, methods=["GET"])
@handle_errors
def list_deployments() -> Response:
    from chalicelib.api import render
    from chalicelib.api import schemas as s
    from chalicelib.domain.ports import DeploymentFilter
    from chalicelib.domain.states import Adapter, DeploymentStatus

    allowed = {
        "limit",
        "nextToken",
        "status",
        "descriptorId",
        "namespace",
        "adapter",
        "deploymentManagerId",
    }
    params = http.query(bp.current_request, allowed)
    limit, token = http.page_args(params)
    token = names.page_token(token)
    filters = DeploymentFilter(
        status=_enum(DeploymentStatus, params.get("status"), "status"),
        descriptor_id=params.get("descriptorId"),
        namespace=params.get("namespace"),
        adapter=_enum(Adapter, params.get("adapter"), "adapter"),
        deployment_manager_id=params.get("deploymentManagerId"),
    )
    who = http.caller(bp.current_request)
    page = queries.deployments(deps(), who, filters=filters, limit=limit, token=token)
    return http.json(
        s.DeploymentList(
            nf_deployments=[render.deployment(d) for d in page.items],
            next_token=page.next_token,
        )
    )


def _enum(kind: type[E], value: str | None, name: str) -> E | None:
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError as exc:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidRequest(f"{name} must be one of: {allowed}") from exc


@bp.route(ONE, methods=["GET"])
@handle_errors
def get_deployment(deployment_id: str) -> Response:
    from chalicelib.api import render

    req = bp.current_request
    http.query(req, ())
    found = queries.deployment(deps(), http.deployment_id(deployment_id), http.caller(req))
    return http.json(render.deployment(found))


@bp.route(ONE, methods=["PUT"])
@handle_errors
def upgrade_deployment(deployment_id: str) -> Response:
    from chalicelib.api import schemas as s
    from chalicelib.service import lifecycle

    m = _mutation(deployment_id, s.DeploymentUpgrade)
    descriptor_id, parameters = m.body.descriptor_id, m.body.parameters
    if m.dry_run:
        planned = lifecycle.plan_upgrade(
            deps(), m.name, descriptor_id=descriptor_id, parameters=parameters, caller=m.caller
        )
        return _planned(m.name, planned)
    result = lifecycle.upgrade(
        deps(), m.name, descriptor_id=descriptor_id, parameters=parameters, caller=m.caller
    )
    return _started(result)


@bp.route(ONE, methods=["DELETE"])
@handle_errors
def terminate_deployment(deployment_id: str) -> Response:
    from chalicelib.api import schemas as s
    from chalicelib.service import lifecycle

    m = _mutation(deployment_id, s.TerminateRequest, required=False)
    if m.dry_run:
        return _planned(m.name, lifecycle.plan_terminate(deps(), m.name, caller=m.caller))
    return _started(lifecycle.terminate(deps(), m.name, caller=m.caller), 202)


@bp.route(ONE + "/scale", methods=["POST"])
@handle_errors
def scale_deployment(deployment_id: str) -> Response:
    from chalicelib.api import render
    from chalicelib.api import schemas as s
    from chalicelib.service import lifecycle

    m = _mutation(deployment_id, s.ScaleRequest)
    if m.dry_run:
        planned = lifecycle.plan_scale(deps(), m.name, replicas=m.body.replicas, caller=m.caller)
        return _planned(m.name, planned)
    result = lifecycle.scale(deps(), m.name, replicas=m.body.replicas, caller=m.caller)
    if isinstance(result, lifecycle.Unchanged):
        return http.json(render.unchanged(result))
    headers = _operation_headers(result)
    _waited(result, headers)
    return http.no_content(headers)


@bp.route(ONE + "/rollback", methods=["POST"])
@handle_errors
def rollback_deployment(deployment_id: str) -> Response:
    from chalicelib.api import schemas as s
    from chalicelib.service import lifecycle

    m = _mutation(deployment_id, s.RollbackRequest)
    if m.dry_run:
        planned = lifecycle.plan_rollback(deps(), m.name, revision=m.body.revision, caller=m.caller)
        return _planned(m.name, planned)
    return _started(lifecycle.rollback(deps(), m.name, revision=m.body.revision, caller=m.caller))


@bp.route(ONE + "/status", methods=["GET"])
@handle_errors
def deployment_status(deployment_id: str) -> Response:
    req = bp.current_request
    http.query(req, ())
    found = queries.deployment(deps(), http.deployment_id(deployment_id), http.caller(req))
    return http.json_text(status_body.status(found))


@bp.route(ONE + "/healthChecks", methods=["GET"])
@handle_errors
def deployment_health(deployment_id: str) -> Response:
    from chalicelib.api import render
    from chalicelib.api import schemas as s
    from chalicelib.service import health

    req = bp.current_request
    per_pod = http.per_pod(http.query(req, {"detail"}))
    name = http.deployment_id(deployment_id)
    found = health.evaluate(deps(), name, http.caller(req), per_pod=per_pod)
    return http.json(
        s.HealthChecksOut(
            deployment_id=found.deployment_id,
            evaluated_at=found.at,
            healthy=found.healthy,
            health_checks=[render.health_check(c) for c in found.checks],
        )
    )


@bp.route(ONE + "/history", methods=["GET"])
@handle_errors
def deployment_history(deployment_id: str) -> Response:
    from chalicelib.api import render
    from chalicelib.api import schemas as s

    limit, token = http.page(bp.current_request)
    token = names.page_token(token)
    name = http.deployment_id(deployment_id)
    who = http.caller(bp.current_request)
    current, page = queries.history(deps(), name, who, limit=limit, token=token)
    return http.json(
        s.HistoryOut(
            deployment_id=name,
            current_revision=current.revision,
            revisions=[render.revision(r) for r in page.items],
            next_token=page.next_token,
        )
    )


@bp.route(ONE + "/history/{revision}", methods=["GET"])
@handle_errors
def deployment_revision(deployment_id: str, revision: str) -> Response:
    from chalicelib.api import render

    req = bp.current_request
    http.query(req, ())
    found = queries.revision(
        deps(), http.deployment_id(deployment_id), http.revision_number(revision), http.caller(req)
    )
    return http.json(render.revision_detail(found))


@bp.route(ONE + "/operations", methods=["GET"])
@handle_errors
def deployment_operations(deployment_id: str) -> Response:
    from chalicelib.api import render
    from chalicelib.api import schemas as s

    limit, token = http.page(bp.current_request)
    token = names.page_token(token)
    name = http.deployment_id(deployment_id)
    who = http.caller(bp.current_request)
    page = queries.operations(deps(), name, who, limit=limit, token=token)
    return http.json(
        s.OperationList(
            deployment_id=name,
            operations=[render.operation(o) for o in page.items],
            next_token=page.next_token,
        )
    )


@bp.route(ONE + "/operations/{operation_id}", methods=["GET"])
@handle_errors
def deployment_operation(deployment_id: str, operation_id: str) -> Response:
    from chalicelib.api import render

    req = bp.current_request
    http.query(req, ())
    if not operation_id.startswith("op-") or len(operation_id) > 64:
        raise InvalidRequest(f"Invalid operation id {operation_id!r}")
    name = http.deployment_id(deployment_id)
    found = queries.operation(deps(), name, operation_id, http.caller(req))
    return http.json(render.operation(found))
