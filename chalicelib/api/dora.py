"""Route for ``/api/v1/metrics/dora``: DORA figures of the rollouts in a window, overall and
per platform and environment."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from chalice.app import Blueprint, Response

from chalicelib.api import http
from chalicelib.api.errors import handle_errors
from chalicelib.composition import deps

if TYPE_CHECKING:  # the view loads them when it runs, not every cold start of ``app``
    from chalicelib.api import app_schemas as a
    from chalicelib.service import dora

bp = Blueprint(__name__)
PATH = "/api/v1/metrics/dora"


@bp.route(PATH, methods=["GET"])
@handle_errors
def dora_metrics() -> Response:
    from chalicelib.domain.dora import DEFAULT_WINDOW, parse_window
    from chalicelib.service import apps, dora

    req = bp.current_request
    # An empty value is as good as none: a form or a script may send every field.
    params = {
        k: v for k, v in http.query(req, {"window", "environment", "platform", "name"}).items() if v
    }
    window = params.get("window", DEFAULT_WINDOW)
    platform = params.get("platform")
    if platform is not None:
        apps.adapter_of(platform)
    query = dora.DoraQuery(
        window=parse_window(window),
        name=params.get("name"),
        environment=params.get("environment"),
        platform=platform,
    )
    measured = dora.measure(deps(), http.caller(req), query)
    return http.json(answer(window, measured))


def answer(window: str, measured: dora.Measured) -> a.ApmDoraMetrics:
    """The report as the wire has it: a group's figures sit beside its platform and
    environment."""
    from chalicelib.api import app_schemas as a

    found = measured.report
    return a.ApmDoraMetrics(
        window=window,
        from_=found.start,
        to=found.end,
        truncated=measured.truncated,
        overall=a.ApmDoraFigures.model_validate(asdict(found.overall)),
        groups=[
            a.ApmDoraGroup.model_validate(
                {"platform": g.platform, "environment": g.environment, **asdict(g.figures)}
            )
            for g in found.groups
        ],
    )
