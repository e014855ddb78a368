"""Seed 002's live progress: the WebSocket API's handlers, and the table stream's.

``ws://<host>/ws/deployments?deployment_id=<id>`` (in AWS, the WebSocket API's stage URL)
connects; the handlers are API Gateway's ``$connect``, ``$default`` and ``$disconnect``
routes. Every message a client gets is ``{"type": ..., "data": ...}``, ``data`` holding the
fields of ``GET /api/v1/deployments/{id}``.

Credentials are those of the REST API, checked here because a WebSocket API has no user
pool authorizer: ``Authorization: Bearer <token>``, or, from a browser (which cannot set
headers on a WebSocket), the subprotocols ``o2dms`` and ``bearer.<token>``; the answer then
selects ``o2dms``. Refused connections get the REST API's error body and status.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chalice.app import DynamoDBEvent, Response, WebsocketEvent

from chalicelib import composition, tracing
from chalicelib.api.auth import ACTOR_MAX, local_token
from chalicelib.api.errors import error_body, error_response, status_for
from chalicelib.config import Settings
from chalicelib.domain.access import grants_from_groups
from chalicelib.domain.errors import InvalidRequest, O2DmsError, Unauthenticated
from chalicelib.service.context import Caller

if TYPE_CHECKING:  # loaded by the handlers: ``app`` imports this module at every cold start
    from chalicelib.domain.models import JsonObject, Operation
    from chalicelib.service import live as service

logger = logging.getLogger(__name__)

PROTOCOL = "o2dms"
TOKEN_PROTOCOL_PREFIX = "bearer."
QUERY = frozenset({"deployment_id"})
# The stack points the stream handler at the table's stream (infra/stack.py); Chalice needs
# an ARN when the app is packaged, before the table exists.
STREAM_ARN_PLACEHOLDER = "arn:aws:dynamodb:us-east-1:123456789012:table/o2dms/stream/placeholder"

_live: service.Live | None = None


def live() -> service.Live:
    global _live  # noqa: PLW0603 - one per process, like the ports it holds
    from chalicelib.service import live as service

    subscriptions, connections = composition.live_ports()
    if _live is None or _live.subscriptions is not subscriptions:
        _live = service.Live(
            deps=composition.deps(),
            subscriptions=subscriptions,
            connections=connections,
            render=_render,
            error_body=_error_body,
        )
    return _live


def _render(operation: Operation) -> JsonObject:
    from chalicelib.api.apps import rollout

    return rollout(operation).model_dump(mode="json", by_alias=True)


def _error_body(exc: O2DmsError) -> JsonObject:
    code, name = status_for(exc)
    return error_body(code, name, exc.message)


# ----------------------------------------------------------------------- handlers


def connect(event: WebsocketEvent) -> Response:
    from chalicelib.service import live as service

    raw = event.to_dict()
    query = raw.get("queryStringParameters") or {}
    context = raw.get("requestContext") or {}
    try:
        unknown = sorted(set(query) - QUERY)
        if unknown:
            raise InvalidRequest(
                f"Unknown query parameter {', '.join(unknown)}; this endpoint takes deployment_id"
            )
        caller, protocol = ws_caller(raw.get("headers") or {}, composition.deps().settings)
        caller = Caller(
            actor=caller.actor,
            grants=caller.grants,
            request_id=context.get("requestId"),
            source_ip=(context.get("identity") or {}).get("sourceIp"),
        )
        service.connect(live(), event.connection_id, caller, query.get("deployment_id"))
    except O2DmsError as exc:
        code, name = status_for(exc)
        return error_response(code, name, exc.message)
    except Exception:
        logger.exception("could not accept a WebSocket connection")
        return error_response(500, "InternalError", "Internal error; see the service logs")
    headers: dict[str, str | list[str]] = {"Sec-WebSocket-Protocol": protocol} if protocol else {}
    return Response(body="", status_code=200, headers=headers)


def message(event: WebsocketEvent) -> None:
    from chalicelib.service import live as service

    service.act(live(), event.connection_id, event.body)


def disconnect(event: WebsocketEvent) -> None:
    from chalicelib.service import live as service

    service.disconnect(live(), event.connection_id)


def stream(event: DynamoDBEvent) -> None:
    """The table's stream: every stored change, sent to whoever follows it."""
    from chalicelib.adapters.dynamodb_stream import changes
    from chalicelib.service import live as service

    records = event.to_dict().get("Records") or []
    found = live()
    tracing.start(found.deps.settings)
    with tracing.subsegment("## live_updates"):
        service.deliver(found, changes(records))


# ---------------------------------------------------------------------- credentials


def ws_caller(headers: Mapping[str, Any], settings: Settings) -> tuple[Caller, str | None]:
    """The connecting caller, and the subprotocol to select; 401 without valid credentials."""
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    offered = [p.strip() for p in lowered.get("sec-websocket-protocol", "").split(",")]
    token = next(
        (
            p.removeprefix(TOKEN_PROTOCOL_PREFIX)
            for p in offered
            if p.startswith(TOKEN_PROTOCOL_PREFIX)
        ),
        None,
    )
    if token is None:
        scheme, _, value = lowered.get("authorization", "").strip().partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else None
    if not token:
        raise Unauthenticated(
            "No credentials: send 'Authorization: Bearer <token>', or offer the subprotocols "
            f"'{PROTOCOL}' and '{TOKEN_PROTOCOL_PREFIX}<token>'"
        )
    if settings.auth_mode == "local":
        actor, groups = local_token(token, settings)
    else:
        actor, groups = _pool_token(token, settings)
    caller = Caller(actor=actor[:ACTOR_MAX], grants=grants_from_groups(groups))
    return caller, PROTOCOL if PROTOCOL in offered else None


_pool: Any = None


def _pool_token(token: str, settings: Settings) -> tuple[str, tuple[str, ...]]:
    global _pool  # noqa: PLW0603 - the pool's keys, fetched once per process
    if not settings.user_pool_issuer or not settings.user_pool_client_id:
        raise Unauthenticated("Sign-in over WebSocket is not configured on this service")
    if _pool is None:
        from chalicelib.adapters.user_pool_tokens import UserPoolTokens

        _pool = UserPoolTokens(settings.user_pool_issuer, settings.user_pool_client_id)
    claims = _pool.check(token)
    return claims.username, claims.groups
