"""Who is calling: the principal behind a request, from credentials nobody can forge.

In AWS, API Gateway checks credentials before the app runs and hands over what it found:
a Cognito user pool authorizer puts the token's claims in
``requestContext.authorizer.claims`` (the actor is ``cognito:username``, the groups
``cognito:groups``); a SigV4-signed request on the IAM API puts the caller's ARN in
``requestContext.identity.userArn``, whose groups come from ``O2DMS_IAM_GROUPS``. In the
local run (``O2DMS_AUTH=local``) there is no API Gateway, so the app checks the bearer
token itself against the local issuer's key. A request with none of these is refused
with 401; a client's own header never names the actor.

Every route needs credentials except the ones in ``PUBLIC``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

from chalice.app import Request, Response

from chalicelib.api.errors import error_response
from chalicelib.config import Settings
from chalicelib.domain.access import grants_from_groups
from chalicelib.domain.errors import Unauthenticated
from chalicelib.service.context import Caller

PUBLIC = frozenset({("GET", "/o2dms/v1/health"), ("GET", "/o2dms/v1/openapi.json")})
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="o2dms"'}
_CALLER_ATTRIBUTE = "_o2dms_caller"
_ASSUMED_ROLE = re.compile(r"^arn:(aws[\w-]*):sts::(\d{12}):assumed-role/([\w+=,.@-]+)/")
ACTOR_MAX = 256


def is_public(method: str, path: str) -> bool:
    return (method.upper(), path) in PUBLIC


def principal(request: Request, settings: Settings) -> Caller:
    """The request's caller (actor, grants, request id, source IP), or 401."""
    context: dict[str, Any] = request.context or {}
    identity = context.get("identity") or {}
    if settings.auth_mode == "local":
        actor, groups = _local(request, settings)
    else:
        actor, groups = _gateway(context, settings)
    return Caller(
        actor=actor[:ACTOR_MAX],
        grants=grants_from_groups(groups),
        request_id=context.get("requestId") or None,
        source_ip=identity.get("sourceIp") or None,
    )


def caller(request: Request, settings: Settings, reason: str | None = None) -> Caller:
    """The caller the middleware authenticated (computed once per request), with the
    reason the request gives."""
    found = getattr(request, _CALLER_ATTRIBUTE, None)
    if not isinstance(found, Caller):
        found = principal(request, settings)
        setattr(request, _CALLER_ATTRIBUTE, found)
    if reason is None:
        return found
    return dataclasses.replace(found, reason=reason)


def middleware(settings: Callable[[], Settings]) -> Callable[..., Response]:
    """HTTP middleware: 401 for every non-public route without valid credentials, before
    the view runs (so no route can forget to ask)."""

    def authenticate(event: Request, get_response: Callable[[Request], Response]) -> Response:
        if is_public(event.method, event.path) or event.method == "OPTIONS":
            return get_response(event)
        try:
            caller(event, settings())
        except Unauthenticated as exc:
            return error_response(401, "Unauthorized", exc.message, CHALLENGE)
        return get_response(event)

    return authenticate


# ---------------------------------------------------------------------- sources


def _gateway(context: Mapping[str, Any], settings: Settings) -> tuple[str, tuple[str, ...]]:
    authorizer = context.get("authorizer") or {}
    claims = authorizer.get("claims") if isinstance(authorizer, Mapping) else None
    if isinstance(claims, Mapping) and (claims.get("cognito:username") or claims.get("sub")):
        actor = str(claims.get("cognito:username") or claims.get("sub"))
        return actor, split_groups(claims.get("cognito:groups"))
    arn = (context.get("identity") or {}).get("userArn")
    if arn:
        groups = dict(settings.iam_groups).get(iam_identity(str(arn)), ())
        return str(arn), groups
    raise Unauthenticated(
        "No credentials: send a Cognito token as 'Authorization: Bearer <token>', or sign"
        " the request with SigV4 on the IAM endpoint"
    )


def _local(request: Request, settings: Settings) -> tuple[str, tuple[str, ...]]:
    header = request.headers.get("authorization") or ""
    scheme, _, token = header.strip().partition(" ")
    if not header:
        raise Unauthenticated(
            "No credentials: send 'Authorization: Bearer <token>' (make token ROLE=viewer,"
            " operator or admin prints one)"
        )
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("The Authorization header must be 'Bearer <token>'")
    return local_token(token.strip(), settings)


def local_token(token: str, settings: Settings) -> tuple[str, tuple[str, ...]]:
    """The actor and groups of a token of the local run's issuer; 401 for any other."""
    from chalicelib.adapters import local_tokens  # the local run only

    if not settings.auth_signing_key:
        raise Unauthenticated("This server has no token signing key; no token can be checked")
    try:
        claims = local_tokens.verify(bytes.fromhex(settings.auth_signing_key), token)
    except local_tokens.InvalidToken as exc:
        raise Unauthenticated(str(exc)) from exc
    return claims.subject, claims.groups


def split_groups(value: Any) -> tuple[str, ...]:
    """Groups as API Gateway passes them: a list, ``"a,b"``, or ``"[a b]"``."""
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    if not isinstance(value, str):
        return ()
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return tuple(part for part in re.split(r"[,\s]+", text) if part)


def iam_identity(arn: str) -> str:
    """The IAM role behind an assumed-role session ARN (``O2DMS_IAM_GROUPS`` names roles),
    or the ARN itself (an IAM user)."""
    match = _ASSUMED_ROLE.match(arn)
    if match is None:
        return arn
    partition, account, role = match.groups()
    return f"arn:{partition}:iam::{account}:role/{role}"
