"""The one table from domain errors to HTTP statuses, and the seed's error body.

Every error leaves the API as ``{"error": ..., "message": ..., "code": ...}``. Views are
wrapped by ``handle_errors`` (Chalice middleware never sees exceptions raised in a
view), which catches ``Exception``: it logs and answers 500. What Chalice answers itself,
before or around a view (a method the path does not offer, its own 500), is put in the same
shape by ``framework_errors``, the app's HTTP middleware.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar, cast

from chalice.app import BadRequestError, Request, Response

from chalicelib.domain import errors

if TYPE_CHECKING:
    from pydantic import ValidationError

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

# Most specific first: the first matching row wins.
ERROR_TABLE: tuple[tuple[type[Exception], int, str], ...] = (
    (errors.PayloadTooLarge, 413, "PayloadTooLarge"),
    (errors.InvalidRequest, 400, "BadRequest"),
    (errors.Unauthenticated, 401, "Unauthorized"),
    (errors.Forbidden, 403, "Forbidden"),
    (errors.NotFound, 404, "NotFound"),
    (errors.BackendTargetNotFound, 404, "NotFound"),
    (errors.BackendInvalidRequest, 400, "BadRequest"),
    (errors.BackendAccessDenied, 403, "Forbidden"),
    (errors.ReleaseNotFound, 409, "Conflict"),
    (errors.ReleaseConflict, 409, "Conflict"),
    (errors.Conflict, 409, "Conflict"),
    (errors.ConcurrentModification, 409, "Conflict"),
    (errors.ParameterValidationFailed, 422, "ValidationError"),
    (errors.BackendRejected, 422, "ValidationError"),
    (errors.BackendUnavailable, 503, "ServiceUnavailable"),
    (errors.StoreUnavailable, 503, "ServiceUnavailable"),
    (errors.BackendTimeout, 500, "InternalError"),
    (errors.BackendError, 500, "InternalError"),
)


# Answers outside the table: a path or a method the API does not have.
NO_ROUTE = (404, "NotFound")
METHOD_NOT_ALLOWED = (405, "MethodNotAllowed")


def error_body(code: int, error: str, message: str) -> dict[str, Any]:
    return {"error": error, "message": message, "code": code}


def error_response(
    code: int, error: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        body=error_body(code, error, message),
        status_code=code,
        headers={**(headers or {}), "Content-Type": "application/json"},
    )


def no_route_message(method: str, path: str) -> str:
    return f"No resource {path} in this API (see /o2dms/v1/openapi.json); method {method}"


def framework_errors(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """HTTP middleware: Chalice's own error answers (``{"Code", "Message"}``) in our shape.

    A method the route does not offer is 405 ``MethodNotAllowed`` (with ``Allow``); any other
    4xx Chalice makes is a 400, any 5xx a 500. This is the outermost handler of the API.
    """
    try:
        response = get_response(event)
    except Exception:
        logger.exception("unhandled error around %s %s", event.method, event.path)
        return error_response(500, "InternalError", "Internal error; see the service logs")
    body = response.body
    if response.status_code < 400 or not isinstance(body, dict) or set(body) != {"Code", "Message"}:
        return response
    headers = {k: v for k, v in response.headers.items() if isinstance(v, str)}
    if response.status_code == 405:
        code, name = METHOD_NOT_ALLOWED
        message = f"Method {event.method} is not allowed on {event.path}"
        allowed = headers.get("Allow")
        if allowed:
            message += f"; allowed: {allowed}"
        return error_response(code, name, message, headers)
    if response.status_code < 500:
        return error_response(400, "BadRequest", str(body["Message"]), headers)
    logger.error("framework error %s: %s", response.status_code, body["Message"])
    return error_response(500, "InternalError", "Internal error; see the service logs", headers)


def status_for(exc: errors.O2DmsError) -> tuple[int, str]:
    for kind, code, name in ERROR_TABLE:
        if isinstance(exc, kind):
            return code, name
    return 500, "InternalError"


def describe_validation_error(exc: ValidationError) -> str:
    """One line per bad field, in the request's own (camelCase) names.

    Our own validators' messages already say what is wrong; a broken bound or pattern (the
    constraints the document states, see ``schemas``) is worded by ``BOUND_MESSAGES`` ("Replica
    count must be non-negative", as the seed documents) or ``PATTERN_MEANINGS``; pydantic's
    other messages get the field's name.
    """
    from chalicelib.api.schemas import BOUND_MESSAGES, PATTERN_MEANINGS

    parts = []
    for problem in exc.errors(include_url=False)[:5]:
        location = ".".join(str(p) for p in problem["loc"]) or "body"
        kind, context = problem["type"], problem.get("ctx") or {}
        field = str(problem["loc"][-1]) if problem["loc"] else ""
        bound = BOUND_MESSAGES.get((field, kind))
        meaning = PATTERN_MEANINGS.get(context.get("pattern", ""))
        if kind == "value_error":
            parts.append(problem["msg"].removeprefix("Value error, "))
        elif kind == "extra_forbidden":
            parts.append(f"{location}: unknown field")
        elif bound is not None:
            parts.append(bound.format(**context))
        elif kind == "string_pattern_mismatch" and meaning is not None:
            parts.append(f"{location} {problem['input']!r} must be {meaning}")
        else:
            parts.append(f"{location}: {problem['msg']}")
    return "; ".join(parts)


def is_validation_error(exc: BaseException) -> TypeGuard[ValidationError]:
    """Whether ``exc`` is pydantic's ``ValidationError``, without importing pydantic: only a
    process that loaded it can have raised one, and a read that takes no body never does."""
    core = sys.modules.get("pydantic_core")
    return core is not None and isinstance(exc, core.ValidationError)


def handle_errors(view: F) -> F:
    """Turn every exception a view raises into the documented error body."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except errors.O2DmsError as exc:
            code, name = status_for(exc)
            return error_response(code, name, exc.message)
        except BadRequestError as exc:
            return error_response(400, "BadRequest", str(exc).removeprefix("BadRequestError: "))
        except Exception as exc:
            if is_validation_error(exc):
                return error_response(400, "BadRequest", describe_validation_error(exc))
            logger.exception("unhandled error in %s", view.__name__)
            return error_response(500, "InternalError", "Internal error; see the service logs")

    return cast(F, wrapper)
