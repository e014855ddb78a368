"""Route for ``/o2dms/v1/audit``: the audit trail, read-only (admins).

Newest first, filtered by actor, deployment and time. ``format=jsonl`` exports the same
page as JSON lines (``application/x-ndjson``, one record per line, up to
``EXPORT_PAGE`` records a page), the next page's token in ``X-O2DMS-Next-Token``. No route
changes or deletes a record.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from chalice.app import Blueprint, Response

from chalicelib.api import http
from chalicelib.api.errors import handle_errors
from chalicelib.api.names import page_token
from chalicelib.composition import deps
from chalicelib.domain.audit import AuditFilter
from chalicelib.domain.errors import InvalidRequest
from chalicelib.service import queries

bp = Blueprint(__name__)
BASE = "/o2dms/v1/audit"
QUERY = frozenset({"actor", "deploymentId", "since", "until", "limit", "nextToken", "format"})
FORMATS = ("json", "jsonl")
EXPORT_PAGE = 1000
NEXT_TOKEN_HEADER = "X-O2DMS-Next-Token"
ACTOR_MAX = 256


@bp.route(BASE, methods=["GET"])
@handle_errors
def read_audit() -> Response:
    from chalicelib.api import render  # pydantic: loaded by the views that answer with it
    from chalicelib.api import schemas as s

    req = bp.current_request
    params = http.query(req, QUERY)
    form = params.get("format", "json")
    if form not in FORMATS:
        raise InvalidRequest(f"format must be one of {', '.join(FORMATS)}")
    limit, token = _limit(params, form), page_token(params.get("nextToken") or None)
    page = queries.audit(deps(), http.caller(req), _filters(params), limit=limit, token=token)
    records = [render.audit_record(r) for r in page.items]
    if form == "json":
        return http.json(s.AuditList(records=records, next_token=page.next_token))
    lines = "".join(r.model_dump_json(by_alias=True) + "\n" for r in records)
    headers: dict[str, str | list[str]] = {"Content-Type": "application/x-ndjson"}
    if page.next_token:
        headers[NEXT_TOKEN_HEADER] = page.next_token
    return Response(body=lines, status_code=200, headers=headers)


def _limit(params: Mapping[str, str], form: str) -> int:
    if form == "json":
        return http.page_args(params)[0]
    raw = params.get("limit", str(EXPORT_PAGE))
    if not raw.isdigit() or not 1 <= int(raw) <= EXPORT_PAGE:
        raise InvalidRequest(f"limit must be an integer from 1 to {EXPORT_PAGE} with format=jsonl")
    return int(raw)


def _filters(params: Mapping[str, str]) -> AuditFilter:
    actor = params.get("actor") or None
    if actor is not None and len(actor) > ACTOR_MAX:
        raise InvalidRequest(f"actor is at most {ACTOR_MAX} characters")
    deployment = params.get("deploymentId") or None
    since, until = _instant(params, "since"), _instant(params, "until")
    if since and until and since > until:
        raise InvalidRequest("since must not be later than until")
    return AuditFilter(
        actor=actor,
        deployment_id=http.deployment_id(deployment) if deployment else None,
        since=since,
        until=until,
    )


def _instant(params: Mapping[str, str], name: str) -> datetime | None:
    """An ISO 8601 date or date-time (UTC unless it names an offset)."""
    raw = params.get(name)
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidRequest(
            f"{name} must be an ISO 8601 date-time such as 2026-12-01T08:00:00Z"
        ) from exc
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
