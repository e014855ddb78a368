"""Reading requests and writing responses, the same way for every view."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, TypeVar

from chalice.app import Request, Response
from pydantic import BaseModel

from chalicelib.api.schemas import _Wire, check_deployment_name, check_descriptor_id, is_dns_label
from chalicelib.domain.errors import InvalidRequest
from chalicelib.service.context import Caller

M = TypeVar("M", bound=BaseModel)

DEFAULT_PAGE = 20
MAX_PAGE = 100


def body(request: Request, model: type[M], *, required: bool = True) -> M:
    """The JSON body validated against ``model`` (pydantic errors become 400s)."""
    raw = request.json_body if request.raw_body else None
    if raw is None:
        if required:
            raise InvalidRequest("A JSON request body is required")
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidRequest("The request body must be a JSON object")
    return model.model_validate(raw)


def query(request: Request, allowed: Collection[str]) -> dict[str, str]:
    """The query string, refusing parameters the endpoint does not know."""
    params: Mapping[str, str] = request.query_params or {}
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        known = ", ".join(sorted(allowed)) or "none"
        raise InvalidRequest(f"Unknown query parameter(s): {', '.join(unknown)}; allowed: {known}")
    return dict(params)


def page_args(params: Mapping[str, str]) -> tuple[int, str | None]:
    raw = params.get("limit", str(DEFAULT_PAGE))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise InvalidRequest(f"limit must be an integer from 1 to {MAX_PAGE}")
    return int(raw), params.get("nextToken") or None


def page(request: Request) -> tuple[int, str | None]:
    """Page size and token of a listing that takes no other query parameter."""
    return page_args(query(request, {"limit", "nextToken"}))


def dry_run(params: Mapping[str, str]) -> bool:
    value = params.get("dryRun", "false").lower()
    if value not in {"true", "false"}:
        raise InvalidRequest("dryRun must be true or false")
    return value == "true"


def deployment_id(value: str) -> str:
    try:
        return check_deployment_name(value)
    except ValueError as exc:
        raise InvalidRequest(f"Invalid deployment id: {exc}") from exc


def descriptor_id(value: str) -> str:
    try:
        return check_descriptor_id(value)
    except ValueError as exc:
        raise InvalidRequest(f"Invalid descriptor id: {exc}") from exc


def manager_id(value: str) -> str:
    if not is_dns_label(value):
        raise InvalidRequest(f"Invalid deployment manager id {value!r}: must be a DNS-1123 label")
    return value


def revision_number(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise InvalidRequest(f"Invalid revision number {value!r}: must be an integer >= 1")
    return int(value)


def caller(request: Request, reason: str | None) -> Caller:
    """Who is asking: the API Gateway principal when there is one."""
    context: dict[str, Any] = request.context or {}
    authorizer = context.get("authorizer") or {}
    identity = context.get("identity") or {}
    actor = (
        authorizer.get("principalId")
        or identity.get("userArn")
        or identity.get("caller")
        or request.headers.get("x-o2dms-actor")
        or "anonymous"
    )
    return Caller(actor=str(actor)[:256], reason=reason)


Headers = dict[str, str | list[str]]


def json(model: _Wire, status: int = 200, headers: Headers | None = None) -> Response:
    return Response(
        body=model.model_dump_json(by_alias=True),
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def no_content(headers: Headers | None = None) -> Response:
    return Response(body="", status_code=204, headers=headers or {})
