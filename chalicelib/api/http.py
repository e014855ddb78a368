"""Reading requests and writing responses, the same way for every view.

A body is read as JSON whatever media type it declares (the seed's own ``curl -d`` examples
declare ``application/x-www-form-urlencoded``). It is refused with a 413 ``PayloadTooLarge``
when larger than ``MAX_BODY_BYTES``, before it is decoded, and with a 400 when it is not
JSON or nests deeper than ``MAX_JSON_DEPTH``: nothing downstream (merging, schema
validation, rendering) then meets input deep enough to exhaust the interpreter's stack.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from chalice.app import Chalice, Request, Response

from chalicelib.api import auth
from chalicelib.api.names import check_deployment_name, check_descriptor_id, is_dns_label
from chalicelib.domain.errors import InvalidRequest, PayloadTooLarge
from chalicelib.service.context import Caller

if TYPE_CHECKING:  # only views that take a body or answer with a model load pydantic
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")

DEFAULT_PAGE = 20
MAX_PAGE = 100
# A request's parameters are stored in the deployment item and in the revision item, each
# within DynamoDB's 400 KB per item; what they merge into is held to 64 KiB of JSON on its
# own (``service.parameters.MAX_VALUES_BYTES``, a 422). The body may be larger (a descriptor,
# whitespace): 256 KiB, and an item DynamoDB still finds too large is a 413 from the store.
MAX_BODY_BYTES = 256 * 1024
MAX_JSON_DEPTH = 32
# Every media type: the body is read as JSON whatever it declares (see ``read_json``).
ANY_MEDIA_TYPE = ["*/*"]


def accept_any_media_type(app: Chalice) -> None:
    """Let every route take any declared media type: Chalice would answer other types than
    ``application/json`` with its own 415 before the view runs."""
    for methods in app.routes.values():
        for entry in methods.values():
            entry.content_types = list(ANY_MEDIA_TYPE)


def body(request: Request, model: type[M], *, required: bool = True) -> M:
    """The JSON body validated against ``model`` (pydantic errors become 400s)."""
    raw = read_json(request.raw_body)
    if raw is None:
        if required:
            raise InvalidRequest("A JSON request body is required")
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidRequest("The request body must be a JSON object")
    return model.model_validate(raw)


def read_json(raw: str | bytes) -> Any:
    """The body's JSON value, or None for an empty body, whatever its declared media type."""
    data = raw.encode() if isinstance(raw, str) else raw
    if len(data) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The request body is too large: at most {MAX_BODY_BYTES} bytes")
    if not data.strip():
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest("The request body is not UTF-8 JSON") from exc
    brackets = text.count("[") + text.count("{")  # fast: most bodies need no closer look
    if brackets > MAX_JSON_DEPTH and _nesting(text) > MAX_JSON_DEPTH:
        _too_deep()
    try:
        value = jsonlib.loads(text, parse_constant=_refuse_constant)
    except RecursionError:  # unreachable after _nesting, kept as a guard for the C parser
        _too_deep()
    except ValueError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from exc
    if "\\u" in text and _has_lone_surrogate(value):
        raise InvalidRequest(
            "The request body holds a lone surrogate escape (\\ud800-\\udfff without its pair),"
            " which no UTF-8 text can carry"
        )
    return value


def _has_lone_surrogate(value: Any) -> bool:
    """Whether a string anywhere in ``value`` (keys included) holds a lone surrogate, which
    JSON's escapes allow but UTF-8, and so DynamoDB and every later answer, cannot carry."""
    try:
        jsonlib.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _nesting(text: str) -> int:
    """How deep the arrays and objects of a JSON text nest (an upper bound when the text is
    not JSON), counted without parsing: brackets inside strings do not count."""
    deepest = depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _too_deep() -> NoReturn:
    raise InvalidRequest(
        f"The request body is nested too deeply: at most {MAX_JSON_DEPTH} levels of objects"
        " and arrays"
    )


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


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


def dry_run(params: Mapping[str, str], name: str = "dryRun") -> bool:
    """The dry-run flag, ``name`` as each view spells it (``dry_run`` in seed 002's)."""
    value = params.get(name, "false").lower()
    if value not in {"true", "false"}:
        raise InvalidRequest(f"{name} must be true or false")
    return value == "true"


def per_pod(params: Mapping[str, str]) -> bool:
    """``?detail=pods``: every pod's health checks, not one per component and type."""
    value = params.get("detail")
    if value not in (None, "pods"):
        raise InvalidRequest("detail must be pods (or absent: one check per component and type)")
    return value == "pods"


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


def caller(request: Request, reason: str | None = None) -> Caller:
    """Who is asking (see ``auth``), and why when the request says."""
    from chalicelib.composition import deps

    return auth.caller(request, deps().settings, reason)


def prefer_wait(request: Request) -> int | None:
    """The seconds of a ``Prefer: wait=N`` header (RFC 7240), if it asks for any. Other
    preferences, and a malformed wait, are ignored, as the RFC says."""
    for preference in (request.headers.get("prefer") or "").split(","):
        name, _, value = preference.strip().partition("=")
        if name.strip().lower() == "wait" and value.strip().isdigit():
            return int(value.strip())
    return None


Headers = dict[str, str | list[str]]


def json(model: BaseModel, status: int = 200, headers: Headers | None = None) -> Response:
    return json_text(model.model_dump_json(by_alias=True), status, headers)


def json_text(body: str, status: int = 200, headers: Headers | None = None) -> Response:
    """A JSON answer already written (``json`` writes a model's)."""
    return Response(
        body=body,
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def no_content(headers: Headers | None = None) -> Response:
    return Response(body="", status_code=204, headers=headers or {})


def log_keys(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """HTTP middleware: every log line of a request carries its request id (and none of a
    previous request's keys)."""
    from chalicelib import logs

    logs.forget()
    logs.bind(request_id=(event.context or {}).get("requestId"))
    answer: Response = get_response(event)
    return answer
