"""Live progress over WebSocket connections: following a deployment, and telling every
follower what a stored change did.

A connection names what it follows when it connects (``?deployment_id=``: a seed-002 id or
an NF deployment id; nothing: every deployment its caller may read) and later with
``{"action": "subscribe" | "unsubscribe", "deployment_id": ...}``. Each subscription is
authorised when it is made, as a read of that deployment would be; a follower of everything
is checked at each send against the deployment's namespace.

Sends are driven by the table's stream (``deliver``): an operation's change becomes the
messages ``domain.live.updates`` lists, sent to the deployment's followers (one Query) and to
those following everything (one Query, reused for a second); a new subscription becomes its
snapshot. A connection found gone is forgotten.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain import apps as words
from chalicelib.domain.access import grants_from_groups
from chalicelib.domain.errors import (
    InvalidRequest,
    NotFound,
    O2DmsError,
    RolloutNotFound,
    Unauthenticated,
)
from chalicelib.domain.live import (
    CONNECTION_LIFETIME_SECONDS,
    EVERYTHING,
    Connection,
    Followed,
    OperationChanged,
    Subscription,
    Update,
    updates,
)
from chalicelib.domain.models import JsonObject, Operation
from chalicelib.domain.ports import ConnectionPoster, RolloutFilter, Subscriptions
from chalicelib.service import apps, queries
from chalicelib.service.access import may_read, readable_namespaces
from chalicelib.service.context import Caller, Deps

logger = logging.getLogger(__name__)

SNAPSHOT_LIST_LIMIT = 20
EVERYTHING_REUSE_SECONDS = 1.0
# A snapshot can race the connection it is for: API Gateway accepts posts to a connection
# only once its connect handler has answered. Gone answers to a snapshot are retried.
SNAPSHOT_RETRIES = (0.1, 0.2, 0.3, 0.4)
_REF_MAX = 253
ErrorBody = Callable[[O2DmsError], JsonObject]


@dataclass
class Live:
    """What the live handlers use: the service's ports, where followers are kept, how to
    reach connections, and how an operation reads (the seed-002 answer's fields)."""

    deps: Deps
    subscriptions: Subscriptions
    connections: ConnectionPoster
    render: Callable[[Operation], JsonObject]
    error_body: ErrorBody
    sleep: Callable[[float], None] = time.sleep
    _everything: tuple[float, tuple[Subscription, ...]] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def now(self) -> int:
        return int(self.deps.clock().timestamp())

    def everything(self) -> tuple[tuple[Subscription, ...], bool]:
        """Followers of everything, read at most once a second per process; and whether
        they were read just now."""
        moment = time.monotonic()
        with self._lock:
            cached = self._everything
        if cached is not None and moment - cached[0] < EVERYTHING_REUSE_SECONDS:
            return cached[1], False
        found = self.subscriptions.followers(EVERYTHING, now=self.now())
        with self._lock:
            self._everything = (moment, found)
        return found, True


def message(kind: Update | str, data: Any) -> bytes:
    return json.dumps({"type": str(kind), "data": data}, separators=(",", ":")).encode()


def caller_of(connection: Connection | Subscription) -> Caller:
    return Caller(actor=connection.actor, grants=grants_from_groups(connection.groups))


def _groups(caller: Caller) -> tuple[str, ...]:
    return tuple(g.group for g in caller.grants)


def topic_of(deps: Deps, caller: Caller, ref: str | None) -> str:
    """What ``ref`` follows, once the caller may read it: the NF deployment of a seed-002
    id, an NF deployment id itself, or everything for no ``ref``. ``NotFound`` or
    ``Forbidden`` otherwise, as the reads answer."""
    if ref is None:
        readable_namespaces(deps, caller, what="follow")
        return EVERYTHING
    if not ref or len(ref) > _REF_MAX or ref == EVERYTHING:
        raise InvalidRequest(
            "deployment_id must be a deployment id (a UUID) or an NF deployment id"
        )
    if words.is_rollout_id(ref):
        return apps.get(deps, ref, caller).deployment_id
    return queries.deployment(deps, ref, caller).id


def connect(live: Live, connection_id: str, caller: Caller, ref: str | None) -> Subscription:
    """Accept a connection following ``ref``; its snapshot follows through the stream."""
    topic = topic_of(live.deps, caller, ref)
    expires = live.now() + CONNECTION_LIFETIME_SECONDS
    live.subscriptions.open(Connection(connection_id, caller.actor, _groups(caller), expires))
    return _follow(live, connection_id, caller, topic=topic, ref=ref, expires=expires)


def _follow(
    live: Live, connection_id: str, caller: Caller, *, topic: str, ref: str | None, expires: int
) -> Subscription:
    subscription = Subscription(
        connection_id=connection_id,
        topic=topic,
        actor=caller.actor,
        groups=_groups(caller),
        expires_at=expires,
        ref=ref,
        snapshot_due=True,
        since=live.now(),
    )
    live.subscriptions.add(subscription)
    return subscription


def act(live: Live, connection_id: str, body: str) -> None:
    """A client's message: subscribe or unsubscribe. A message that cannot be acted on is
    answered on the connection with ``{"type": "error", "data": <error body>}``."""
    try:
        reply = _act(live, connection_id, body)
    except O2DmsError as exc:
        reply = message(Update.ERROR, live.error_body(exc))
    if reply is not None:
        gone = live.connections.post_many({connection_id: [reply]})
        if gone:
            live.subscriptions.forget(connection_id)


def _act(live: Live, connection_id: str, body: str) -> bytes | None:
    connection = live.subscriptions.connection(connection_id, now=live.now())
    if connection is None:
        raise Unauthenticated("This connection is not known (it expired): connect again")
    try:
        request = json.loads(body)
    except ValueError:
        request = None
    action = request.get("action") if isinstance(request, dict) else None
    if action not in ("subscribe", "unsubscribe"):
        raise InvalidRequest(
            'Send {"action": "subscribe" or "unsubscribe", "deployment_id": "<id>"}'
        )
    ref = request.get("deployment_id")
    if ref is not None and not isinstance(ref, str):
        raise InvalidRequest("deployment_id must be a string")
    caller = caller_of(connection)
    topic = topic_of(live.deps, caller, ref)
    if action == "subscribe":
        _follow(live, connection_id, caller, topic=topic, ref=ref, expires=connection.expires_at)
        return None  # the snapshot is the answer
    if topic not in connection.topics:
        raise NotFound(f"This connection does not follow {ref or 'every deployment'}")
    live.subscriptions.remove(connection_id, topic)
    return message("unsubscribed", {"deployment_id": ref, "topic": topic})


def disconnect(live: Live, connection_id: str) -> None:
    live.subscriptions.forget(connection_id)


# ------------------------------------------------------------------------ delivery


@dataclass(frozen=True, slots=True)
class Delivery:
    """What one batch of stored changes sent: for logs and the benchmark."""

    messages: int
    connections: int
    queries: int
    gone: frozenset[str]


def snapshot(live: Live, subscription: Subscription) -> Any:
    """The current state of what a subscription follows, as the REST reads answer it."""
    deps = live.deps
    if subscription.follows_everything:
        caller = caller_of(subscription)
        page = apps.list_page(
            deps, caller, filters=RolloutFilter(), limit=SNAPSHOT_LIST_LIMIT, token=None
        )
        return {"deployments": [live.render(o) for o in page.items if o.app is not None]}
    if subscription.ref and words.is_rollout_id(subscription.ref):
        return live.render(deps.store.get_rollout(subscription.ref))
    latest = deps.store.list_operations(subscription.topic, limit=1, token=None).items[0]
    if latest.app is None:  # recorded before operations had a seed-002 view
        raise RolloutNotFound(f"{subscription.topic} has no rollout to show yet")
    return live.render(latest)


def deliver(live: Live, changes: Sequence[OperationChanged | Followed]) -> Delivery:
    """Send what ``changes`` (in stream order) mean to everyone concerned, in that order.

    A new follower gets its snapshot and nothing older: changes are sent only to followers
    whose snapshot has gone out (in an earlier batch). Snapshots are read last, so that one
    already shows every change of its batch."""
    began = time.monotonic()
    arriving = [c.subscription for c in changes if isinstance(c, Followed)]
    waiting = {s.connection_id for s in arriving}
    outbox, queries_made = _updates(live, changes, waiting)
    snapshots = _snapshots(live, arriving)
    for subscription, picture in snapshots:
        outbox[subscription.connection_id].insert(0, picture)
    prepared = time.monotonic()
    gone = _send(live, outbox, waiting)
    for subscription, _ in snapshots:
        if subscription.connection_id not in gone:
            live.subscriptions.shown(subscription)
    for connection_id in gone:
        live.subscriptions.forget(connection_id)
    sent = sum(len(v) for v in outbox.values())
    if sent:
        logger.info(
            "live updates sent: %d messages to %d connections after %d queries; %d gone"
            " (%.0f ms reading, %.0f ms sending)",
            sent,
            len(outbox),
            queries_made,
            len(gone),
            (prepared - began) * 1000,
            (time.monotonic() - prepared) * 1000,
        )
    return Delivery(sent, len(outbox), queries_made, frozenset(gone))


def _updates(
    live: Live, changes: Sequence[OperationChanged | Followed], waiting: set[str]
) -> tuple[dict[str, list[bytes]], int]:
    """The messages of each operation change, per follower, and the Queries that took."""
    outbox: dict[str, list[bytes]] = defaultdict(list)
    followers: dict[str, tuple[Subscription, ...]] = {}
    queries_made = 0
    now = live.now()
    for change in changes:
        if isinstance(change, Followed):
            continue
        kinds = updates(change.old, change.new)
        if not kinds or change.new.app is None:
            continue
        deployment_id = change.new.deployment_id
        if deployment_id not in followers:
            everyone, fresh = live.everything()
            own = live.subscriptions.followers(deployment_id, now=now)
            followers[deployment_id] = own + _may_see(everyone, change.new)
            queries_made += 1 + fresh
        said: list[bytes] = []
        for follower in _once_each(followers[deployment_id]):
            if follower.connection_id in waiting or follower.waiting_for_snapshot(now):
                continue
            said = said or [message(kind, live.render(change.new)) for kind in kinds]
            outbox[follower.connection_id] += said
    return outbox, queries_made


def _send(live: Live, outbox: dict[str, list[bytes]], waiting: set[str]) -> frozenset[str]:
    """Post everything; the connections that are gone. A new follower's connection may not
    be open yet when its snapshot goes: those are tried again for a moment."""
    gone = live.connections.post_many(outbox)
    for pause in SNAPSHOT_RETRIES:
        late = gone & waiting
        if not late:
            break
        live.sleep(pause)
        gone = (gone - late) | live.connections.post_many({c: outbox[c] for c in late})
    return gone


def _snapshots(live: Live, arriving: list[Subscription]) -> list[tuple[Subscription, bytes]]:
    """Each new follower's snapshot (an error message when it cannot be read), read once
    per thing followed."""
    pictures: dict[tuple[Any, ...], bytes] = {}
    found: list[tuple[Subscription, bytes]] = []
    for sub in arriving:
        seen = (sub.topic, sub.ref, sub.groups if sub.follows_everything else ())
        if seen not in pictures:
            try:
                pictures[seen] = message(Update.SNAPSHOT, snapshot(live, sub))
            except O2DmsError as exc:
                pictures[seen] = message(Update.ERROR, live.error_body(exc))
        found.append((sub, pictures[seen]))
    return found


def _may_see(everyone: tuple[Subscription, ...], operation: Operation) -> tuple[Subscription, ...]:
    namespace = operation.app.namespace if operation.app is not None else None
    if namespace is None:
        return ()
    return tuple(s for s in everyone if may_read(caller_of(s), namespace))


def _once_each(found: tuple[Subscription, ...]) -> list[Subscription]:
    """A connection that follows a deployment and everything gets each message once."""
    seen: dict[str, Subscription] = {}
    for subscription in found:
        seen.setdefault(subscription.connection_id, subscription)
    return list(seen.values())
