"""Routes for a deployment's automation: scaling schedules and alarm rollbacks.

Each view imports its models (pydantic), renderers and use cases when it runs: ``app``
registers these routes at every cold start, whatever the request.
"""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api import http
from chalicelib.api.errors import handle_errors
from chalicelib.composition import deps
from chalicelib.domain.errors import InvalidRequest

bp = Blueprint(__name__)
ONE = "/o2dms/v1/nfDeployments/{deployment_id}"
SCHEDULES = ONE + "/scalingSchedules"
ALARMS = ONE + "/rollbackAlarms"


def _schedule_id(value: str) -> str:
    if not value.startswith("sch-") or len(value) > 64 or not value[4:].isalnum():
        raise InvalidRequest(f"Invalid scaling schedule id {value!r}")
    return value


@bp.route(SCHEDULES, methods=["POST"])
@handle_errors
def create_schedule(deployment_id: str) -> Response:
    from chalicelib.api import render
    from chalicelib.api import schemas as s
    from chalicelib.service import schedules

    req = bp.current_request
    http.query(req, ())
    name = http.deployment_id(deployment_id)
    body = http.body(req, s.ScheduleCreate)
    request = schedules.NewSchedule(
        expression=body.expression,
        timezone=body.timezone,
        replicas=body.replicas,
        start_date=body.start_date,
        end_date=body.end_date,
        reason=body.reason,
    )
    wiring = deps()
    created = schedules.create(wiring, name, request, http.caller(req, body.reason))
    location = f"/o2dms/v1/nfDeployments/{name}/scalingSchedules/{created.id}"
    return http.json(render.schedule(created, now=wiring.clock()), 201, {"Location": location})


@bp.route(SCHEDULES, methods=["GET"])
@handle_errors
def list_schedules(deployment_id: str) -> Response:
    from chalicelib.api import render
    from chalicelib.api import schemas as s
    from chalicelib.service import schedules

    http.query(bp.current_request, ())
    name = http.deployment_id(deployment_id)
    wiring = deps()
    now = wiring.clock()
    found = schedules.listing(wiring, name, http.caller(bp.current_request))
    return http.json(
        s.ScheduleList(
            deployment_id=name,
            scaling_schedules=[render.schedule(sc, now=now) for sc in found],
        )
    )


@bp.route(SCHEDULES + "/{schedule_id}", methods=["GET"])
@handle_errors
def get_schedule(deployment_id: str, schedule_id: str) -> Response:
    from chalicelib.api import render
    from chalicelib.service import schedules

    http.query(bp.current_request, ())
    wiring = deps()
    name, schedule = http.deployment_id(deployment_id), _schedule_id(schedule_id)
    found = schedules.get(wiring, name, schedule, http.caller(bp.current_request))
    return http.json(render.schedule(found, now=wiring.clock()))


@bp.route(SCHEDULES + "/{schedule_id}", methods=["DELETE"])
@handle_errors
def delete_schedule(deployment_id: str, schedule_id: str) -> Response:
    from chalicelib.service import schedules

    http.query(bp.current_request, ())
    name, schedule = http.deployment_id(deployment_id), _schedule_id(schedule_id)
    schedules.delete(deps(), name, schedule, http.caller(bp.current_request))
    return http.no_content()


@bp.route(ALARMS, methods=["PUT"])
@handle_errors
def bind_alarms(deployment_id: str) -> Response:
    from chalicelib.api import render
    from chalicelib.api import schemas as s
    from chalicelib.service import alarms

    req = bp.current_request
    http.query(req, ())
    body = http.body(req, s.AlarmBindingIn)
    bound = alarms.bind(
        deps(),
        http.deployment_id(deployment_id),
        alarm_names=tuple(body.alarm_names),
        watch_window_seconds=body.watch_window_seconds,
        cooldown_seconds=body.cooldown_seconds,
        caller=http.caller(req),
    )
    return http.json(render.alarm_binding(bound))


@bp.route(ALARMS, methods=["GET"])
@handle_errors
def get_alarms(deployment_id: str) -> Response:
    from chalicelib.api import render
    from chalicelib.service import alarms

    req = bp.current_request
    http.query(req, ())
    found = alarms.binding(deps(), http.deployment_id(deployment_id), http.caller(req))
    return http.json(render.alarm_binding(found))
