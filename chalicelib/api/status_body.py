"""The body of ``GET /o2dms/v1/nfDeployments/{id}/status``, written without pydantic, byte for
byte as ``schemas.StatusOut`` writes it.

A client polls the status read through every rollout, so it is the read a cold Lambda
process serves most, and loading pydantic (and building the models) would cost it more
than the rest of the request together. So its JSON is written here with the standard
library whenever every value in it is of a kind both writers spell alike: exact ``str``,
64-bit ``int``, ``bool``, ``None``, the enums of its fields, datetimes whose offset is whole
minutes, and lists and objects of these. Anything else (a float in the extensions, a
string holding a lone surrogate) makes the model write the body (``render.status``),
which then also answers any value the model would refuse, as before.

``tests/test_status_body.py`` holds this writer to the model's fields and to its bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, TypeVar

from chalicelib.domain.health import HealthCheck, HealthStatus
from chalicelib.domain.models import Condition, Deployment
from chalicelib.domain.states import DeploymentStatus, Stage

E = TypeVar("E", bound=Enum)
INT_RANGE = range(-(2**63), 2**63)  # what both writers surely spell alike
_MINUTE = timedelta(minutes=1)


class NotPlain(Exception):
    """A value whose JSON only the model writes (or refuses)."""


def status(d: Deployment) -> str:
    """The status answer's JSON text (``render.status``'s model, dumped by alias)."""
    try:
        text = json.dumps(fields(d), ensure_ascii=False, separators=(",", ":"))
        if not text.isascii():
            text.encode("utf-8")  # a lone surrogate: the model's error, not ours
    except (NotPlain, UnicodeEncodeError, RecursionError):
        from chalicelib.api import render

        return render.status(d).model_dump_json(by_alias=True)
    return text


def fields(d: Deployment) -> dict[str, Any]:
    """``StatusOut``'s fields by alias, in its order, as JSON values; ``NotPlain`` when one
    is not plain."""
    lease = d.lease
    return {
        "deploymentId": _text(d.id),
        "status": _enum(d.status, DeploymentStatus),
        "message": _text(d.message),
        "progress": _int(d.progress),
        "estimatedSecondsRemaining": _maybe(_int, d.eta_seconds if lease else None),
        "executionId": _maybe(_text, lease.execution_id if lease else None),
        "conditions": [_condition(c) for c in d.conditions],
        "revision": _int(d.revision),
        "operationId": _maybe(_text, lease.operation_id if lease else None),
        "stage": None if d.stage is None else _enum(d.stage, Stage),
        "updatedAt": _instant(d.updated_at),
        "extensions": _object({f"{d.adapter.value}.revision": d.revision, **d.extensions}),
        "healthChecks": [_health_check(c) for c in d.health_checks],
    }


def _condition(c: Condition) -> dict[str, Any]:
    """``ConditionOut``."""
    return {
        "type": _text(c.type),
        "status": _text(c.status),
        "reason": _text(c.reason),
        "message": _text(c.message),
    }


def _health_check(c: HealthCheck) -> dict[str, Any]:
    """``HealthCheckOut``, read from the check's attributes as the model reads them."""
    return {
        "name": _text(c.name),
        "type": _text(c.type),
        "status": _enum(c.status, HealthStatus),
        "message": _text(c.message),
        "since": None if c.since is None else _instant(c.since),
        "component": _maybe(_text, c.component),
        "pod": _maybe(_text, c.pod),
        "required": _bool(c.required),
    }


# ------------------------------------------------------------------------- values


def _maybe(kind: Callable[[Any], Any], value: Any) -> Any:
    return None if value is None else kind(value)


def _text(value: object) -> str:
    if type(value) is not str:
        raise NotPlain
    return value


def _int(value: object) -> int:
    if type(value) is not int or value not in INT_RANGE:
        raise NotPlain
    return value


def _bool(value: object) -> bool:
    if type(value) is not bool:
        raise NotPlain
    return value


def _enum(value: object, kind: type[E]) -> Any:
    if type(value) is not kind:
        raise NotPlain
    return value.value


def _instant(value: object) -> str:
    """ISO 8601 as pydantic writes it: ``Z`` for UTC, ``+hh:mm`` for another offset."""
    if type(value) is not datetime:
        raise NotPlain
    offset = value.utcoffset()
    if offset is not None and offset % _MINUTE:
        raise NotPlain  # pydantic drops an offset's seconds; ISO 8601 has none
    text = value.isoformat()
    return text[:-6] + "Z" if offset is not None and not offset else text


def _object(value: object) -> dict[str, Any]:
    if type(value) is not dict:
        raise NotPlain
    for key, item in value.items():
        _text(key)
        _json(item)
    return value


def _json(value: object) -> None:
    """Check one free-form JSON value (``JsonMap``'s ``Any``), depth first."""
    if value is None or type(value) in (str, bool):
        return
    if type(value) is int:
        _int(value)
    elif type(value) is list:
        for item in value:
            _json(item)
    elif type(value) is dict:
        _object(value)
    else:
        raise NotPlain  # floats, tuples, decimals, datetimes...: the model's spelling
