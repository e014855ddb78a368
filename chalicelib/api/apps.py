"""Routes for seed 002's ``/api/v1/deployments``: start a version, read one rollout, list
them, roll back to a version (or plan it with ``?dry_run=true``).

``app`` registers these routes at every cold start, whatever the request: each view imports
its models (pydantic) and use cases when it runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint, Response

from chalicelib.api import http
from chalicelib.api.errors import handle_errors
from chalicelib.api.names import page_token
from chalicelib.composition import deps
from chalicelib.domain import apps as words
from chalicelib.domain.errors import InvalidRequest

if TYPE_CHECKING:
    from chalicelib.api import app_schemas as a
    from chalicelib.domain.models import Operation
    from chalicelib.service import app_plans
    from chalicelib.service.records import Started

bp = Blueprint(__name__)
BASE = "/api/v1/deployments"
ONE = BASE + "/{rollout_id}"


def _rollout_id(value: str) -> str:
    if not words.is_rollout_id(value):
        raise InvalidRequest(f"Invalid deployment id {value!r}: a deployment id is a UUID")
    return value


def _headers(operation: Operation) -> http.Headers:
    assert operation.app is not None
    return {
        "Location": f"{BASE}/{operation.app.id}",
        "X-O2DMS-Operation-Id": operation.id,
        "X-O2DMS-Deployment-Id": operation.deployment_id,
    }


def _accepted(result: Started, status: int) -> Response:
    return http.json(rollout(result.operation), status, _headers(result.operation))


@bp.route(BASE, methods=["POST"])
@handle_errors
def start_deployment() -> Response:
    from chalicelib.api import app_schemas as a
    from chalicelib.service import apps

    req = bp.current_request
    http.query(req, ())
    body = http.body(req, a.ApmDeploymentStart)
    c = body.configuration
    request = apps.StartApp(
        name=body.name,
        version=body.version,
        platform=body.platform,
        environment=body.environment,
        deployment_name=c.deployment_name,
        service_name=c.service_name,
        labels=dict(c.labels),
        namespace=c.namespace,
        image=c.image,
        container=c.container,
        replicas=c.replicas,
        container_port=c.container_port,
        chart=(c.chart.repository, c.chart.name) if c.chart else None,
        parameters=c.parameters,
        deployment_manager_id=body.deployment_manager_id,
        stage_timeouts=c.timeouts.model_dump(exclude_none=True) if c.timeouts else None,
        health_checks=(
            *(_declared(x) for x in c.health_checks or ()),
            *(_declared(x, dependency=True) for x in c.dependencies or ()),
        ),
        components=tuple(
            apps.Component(**{**x.model_dump(), "depends_on": tuple(x.depends_on)})
            for x in c.components or ()
        ),
        cluster=c.cluster,
        service=c.service,
        variables=dict(c.environment or {}),
        cpu=None if c.cpu is None else str(c.cpu),
        memory=None if c.memory is None else str(c.memory),
    )
    return _accepted(apps.start(deps(), request, http.caller(req, body.reason)), 201)


def _declared(check: a.ApmCustomCheck, *, dependency: bool = False) -> dict[str, Any]:
    """A check as the deployment's values hold it (camelCase)."""
    return {
        "name": check.name,
        "type": check.type,
        "service": check.service,
        "port": check.port,
        "path": check.path,
        "expectStatus": check.expect_status,
        "timeoutSeconds": check.timeout_seconds,
        "intervalSeconds": check.interval_seconds,
        "failureThreshold": check.failure_threshold,
        "required": check.required,
        "dependency": dependency,
    }


@bp.route(BASE, methods=["GET"])
@handle_errors
def list_deployments() -> Response:
    from chalicelib.api import app_schemas as a
    from chalicelib.domain.ports import RolloutFilter
    from chalicelib.service import apps

    req = bp.current_request
    params = http.query(req, {"platform", "environment", "status", "name", "limit", "next_token"})
    limit, _ = http.page_args({k: v for k, v in params.items() if k == "limit"})
    token = page_token(params.get("next_token") or None)
    status = params.get("status")
    if status is not None and status not in set(words.AppStatus):
        allowed = ", ".join(words.AppStatus)
        raise InvalidRequest(f"status must be one of: {allowed}")
    platform = params.get("platform")
    if platform is not None:
        apps.adapter_of(platform)
    filters = RolloutFilter(
        name=params.get("name"),
        environment=params.get("environment"),
        platform=platform,
        status=status,
    )
    page = apps.list_page(deps(), http.caller(req), filters=filters, limit=limit, token=token)
    return http.json(
        a.ApmDeploymentList(
            deployments=[rollout(o) for o in page.items], next_token=page.next_token
        )
    )


@bp.route(ONE, methods=["GET"])
@handle_errors
def get_deployment(rollout_id: str) -> Response:
    from chalicelib.service import apps

    req = bp.current_request
    http.query(req, ())
    found = apps.get(deps(), _rollout_id(rollout_id), http.caller(req))
    return http.json(rollout(found))


@bp.route(ONE + "/health_checks", methods=["GET"])
@handle_errors
def rollout_health(rollout_id: str) -> Response:
    from chalicelib.api import app_schemas as a
    from chalicelib.service import apps, health

    req = bp.current_request
    per_pod = http.per_pod(http.query(req, {"detail"}))
    who = http.caller(req)
    found = apps.get(deps(), _rollout_id(rollout_id), who)
    evaluated = health.evaluate(deps(), found.deployment_id, who, per_pod=per_pod)
    return http.json(
        a.ApmHealthChecks(
            id=rollout_id,
            evaluated_at=evaluated.at,
            healthy=evaluated.healthy,
            health_checks=[
                a.ApmHealthCheck.model_validate(c, from_attributes=True) for c in evaluated.checks
            ],
        )
    )


@bp.route(ONE + "/rollback", methods=["POST"])
@handle_errors
def rollback_deployment(rollout_id: str) -> Response:
    from chalicelib.api import app_schemas as a
    from chalicelib.service import app_plans, apps

    req = bp.current_request
    dry = http.dry_run(http.query(req, {"dry_run"}), "dry_run")
    rollout_id = _rollout_id(rollout_id)
    if dry:
        body = http.body(req, a.ApmDryRunRollback, required=False)
        request = apps.RollbackApp(rollout_id, body.target_version, body.force)
        planned = app_plans.plan(deps(), request, http.caller(req, body.reason))
        return http.json(plan(rollout_id, planned))
    given = http.body(req, a.ApmRollbackRequest)
    request = apps.RollbackApp(rollout_id, given.target_version, given.force)
    return _accepted(apps.rollback(deps(), request, http.caller(req, given.reason)), 202)


# ------------------------------------------------------------------------- render


def rollout(o: Operation) -> a.ApmDeployment:
    from chalicelib.api import app_schemas as a

    app = o.app
    assert app is not None, "only operations with a seed-002 view are listed"
    progress = words.progress_of(o)
    ended = o.finished_at
    reason = o.failure if o.rollback_revision is not None else o.reason
    return a.ApmDeployment(
        id=app.id,
        name=app.name,
        version=app.version,
        status=words.status_of(o),
        progress=a.ApmProgress(
            percentage=progress.percentage,
            current_step=progress.current_step,
            total_steps=progress.total_steps,
            current_stage=progress.current_stage,
            estimated_seconds_remaining=None if o.state.finished else o.eta_seconds,
        ),
        health_checks=[
            a.ApmHealthCheck.model_validate(c, from_attributes=True) for c in o.health_checks
        ],
        platform=app.platform,
        environment=app.environment,
        type=o.type.value,
        message=o.message,
        started_at=o.started_at,
        finished_at=ended,
        duration_seconds=(ended - o.started_at).total_seconds() if ended else None,
        stages=[
            a.ApmStage(
                name=span.name,
                status=span.status,
                started_at=span.started_at,
                finished_at=span.finished_at,
            )
            for span in words.timeline_of(o)
        ],
        components=[
            a.ApmComponentState.model_validate(c, from_attributes=True) for c in o.components
        ],
        previous_version=app.previous_version,
        actor=o.actor,
        trigger=o.trigger.value,
        reason=reason,
        rolled_back_from=app.rolled_back_from,
        target_version=app.target_version,
        nf_deployment_id=o.deployment_id,
        operation_id=o.id,
        revision=o.revision,
    )


def plan(rollout_id: str, p: app_plans.RollbackPlan) -> a.ApmRollbackPlan:
    from chalicelib.api import app_schemas as a

    app = p.chosen.source.app
    assert app is not None
    return a.ApmRollbackPlan(
        id=rollout_id,
        name=app.name,
        environment=app.environment,
        current_version=p.current_version,
        target_version=p.target_version,
        target_revision=p.chosen.target.number,
        commands=[
            a.ApmCommand(
                component=c.component,
                description=c.description,
                command=list(c.command) or None,
            )
            for c in p.commands
        ],
        diff=[a.ApmDiff(field=d.field, current=d.current, target=d.target) for d in p.diff],
        risks=[a.ApmRisk(flag=r.flag, message=r.message) for r in p.risks],
    )
