"""Live progress in tests: API Gateway's WebSocket events, a stand-in for its ``@connections``
API that records what each connection was sent, and the table's stream as moto records it.

The stream is read through the DynamoDB Streams API (moto's), so the handler gets records
exactly as Lambda's event source mapping would hand them over.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from scripts.local_streams import StreamTail

ACCOUNT = "123456789012"  # moto's default account


class RecordingConnections:
    """The ``ConnectionPoster`` port: messages kept per connection, in order. A connection
    in ``gone`` answers as a closed one does (410)."""

    def __init__(self) -> None:
        self.sent: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.gone: set[str] = set()
        self.calls = 0

    def post_many(self, messages: Mapping[str, Sequence[bytes]]) -> frozenset[str]:
        lost: set[str] = set()
        for connection_id, batch in messages.items():
            for data in batch:
                self.calls += 1
                if connection_id in self.gone:
                    lost.add(connection_id)
                    break
                self.sent[connection_id].append(json.loads(data))
        return frozenset(lost)

    def types(self, connection_id: str) -> list[str]:
        return [m["type"] for m in self.sent[connection_id]]

    def take(self, connection_id: str) -> list[dict[str, Any]]:
        found = self.sent.pop(connection_id, [])
        return found


def ws_event(
    route: str,
    connection_id: str,
    *,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    body: str | None = None,
) -> dict[str, Any]:
    """An event as API Gateway's WebSocket API hands it to a route's function."""
    kind = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE")
    event: dict[str, Any] = {
        "requestContext": {
            "routeKey": route,
            "eventType": kind,
            "connectionId": connection_id,
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "stage": "api",
            "apiId": "abc123",
            "requestId": uuid.uuid4().hex,
            "identity": {"sourceIp": "192.0.2.7"},
        },
        "isBase64Encoded": False,
    }
    if headers is not None:
        event["headers"] = dict(headers)
    if query is not None:
        event["queryStringParameters"] = dict(query)
    if body is not None:
        event["body"] = body
    return event


class TableStream:
    """The table's stream since the last read (it starts at the end, as ``LATEST`` does),
    read from moto's backend as the local run's emulator reads it."""

    def __init__(self, table: str) -> None:
        from moto.dynamodb.models import dynamodb_backends

        self._tail = StreamTail(dynamodb_backends, table, account=ACCOUNT, region="us-east-1")
        self._tail.read()

    def read(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while batch := self._tail.read():
            found += batch
        return found


def stream_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": records}
