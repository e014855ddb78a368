"""API Gateway's WebSocket API, played by the local server, on the REST API's port.

In AWS, API Gateway holds the WebSocket connections: it calls the app's ``$connect``,
``$default`` and ``$disconnect`` functions with events, and the app reaches a connection
through the ``@connections`` management API (``POST /@connections/<id>``). ``chalice
local`` serves none of this, so the local server does, on the seed's URL
``ws://127.0.0.1:8080/ws/deployments?deployment_id=...``:

- ``serve`` takes a TCP connection whose request is for ``/ws/...``: it reads the opening
  handshake (the ``websockets`` package's Sans-I/O protocol does the WebSocket part), calls
  ``$connect`` with the headers and query, and answers 101, or the function's own status
  and body when it refuses. Each message then goes to ``$default``; when the connection
  ends, ``$disconnect`` is called, whoever closed it.
- ``ConnectionsApi`` answers ``@connections`` requests as API Gateway does: ``POST`` sends
  the body as one text message, ``GET`` describes the connection, ``DELETE`` closes it, and
  a connection that is not open is ``410 GoneException``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol

logger = logging.getLogger("local_websockets")

WS_PATH = "/ws/deployments"
CONNECTIONS_PREFIX = "/@connections/"
MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's limit on a WebSocket message
RECEIVE_BYTES = 65536
API_ID = "local"
STAGE = "local"
Invoke = Callable[[str, dict[str, Any]], Any]


def is_websocket_request(peeked: bytes) -> bool:
    """Whether the first bytes of a connection ask for the WebSocket path."""
    return peeked.startswith(b"GET /ws/")


def new_connection_id() -> str:
    """An id shaped like API Gateway's (base64 of random bytes)."""
    return base64.b64encode(os.urandom(12)).decode().replace("/", "_")


def _stamp() -> str:
    return datetime.now(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


class LocalConnection:
    """One open WebSocket connection; sends are safe from any thread."""

    def __init__(
        self,
        connection_id: str,
        sock: socket.socket,
        protocol: ServerProtocol,
        source_ip: str,
        user_agent: str,
    ) -> None:
        self.id = connection_id
        self._sock = sock
        self._protocol = protocol
        self._lock = threading.Lock()
        self.source_ip = source_ip
        self.user_agent = user_agent
        self.connected_at = datetime.now(UTC)
        self.last_active_at = self.connected_at

    @property
    def open(self) -> bool:
        return self._protocol.state is State.OPEN

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        for data in self._protocol.data_to_send():
            try:
                if data:
                    self._sock.sendall(data)
                else:
                    self._sock.shutdown(socket.SHUT_WR)
            except OSError:
                return

    def send_text(self, data: bytes) -> bool:
        with self._lock:
            if self._protocol.state is not State.OPEN:
                return False
            self._protocol.send_text(data)
            self._flush()
            self.last_active_at = datetime.now(UTC)
            return True

    def close(self) -> None:
        with self._lock:
            if self._protocol.state is State.OPEN:
                self._protocol.send_close(1000, "closed by the service")
                self._flush()


class Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, LocalConnection] = {}

    def add(self, connection: LocalConnection) -> None:
        with self._lock:
            self._open[connection.id] = connection

    def remove(self, connection_id: str) -> None:
        with self._lock:
            self._open.pop(connection_id, None)

    def get(self, connection_id: str) -> LocalConnection | None:
        with self._lock:
            return self._open.get(connection_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._open)


class Gateway:
    """The WebSocket API: connections in ``registry``, events to the app's functions."""

    def __init__(self, invoke: Invoke, *, domain: str, registry: Registry | None = None) -> None:
        self._invoke = invoke
        self._domain = domain
        self.registry = registry or Registry()

    def _context(self, route: str, connection_id: str, **extra: Any) -> dict[str, Any]:
        now = int(time.time() * 1000)
        kinds = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}
        return {
            "routeKey": route,
            "eventType": kinds.get(route, "MESSAGE"),
            "extendedRequestId": uuid.uuid4().hex,
            "requestTime": _stamp(),
            "messageDirection": "IN",
            "stage": STAGE,
            "requestTimeEpoch": now,
            "requestId": uuid.uuid4().hex,
            "domainName": self._domain,
            "connectionId": connection_id,
            "apiId": API_ID,
            **extra,
        }

    def serve(self, sock: socket.socket, address: tuple[str, int]) -> None:
        """Run one connection from its opening handshake to its end."""
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
        protocol = ServerProtocol(max_size=MAX_MESSAGE_BYTES)
        request = self._read_request(sock, protocol)
        if request is None:
            _send_all(sock, protocol)
            return
        connection_id = new_connection_id()
        response = protocol.accept(request)
        path, _, query = request.path.partition("?")
        if response.status_code == 101 and path.rstrip("/") != WS_PATH:
            response = _json_reject(protocol, 404, "NotFound", f"No WebSocket endpoint at {path}")
        if response.status_code == 101:
            response = self._connect(
                protocol,
                request=request,
                accepted=response,
                connection_id=connection_id,
                address=address,
                query=query,
            )
        protocol.send_response(response)
        if response.status_code != 101:
            _send_all(sock, protocol)
            return
        headers = request.headers
        connection = LocalConnection(
            connection_id, sock, protocol, address[0], headers.get("User-Agent", "")
        )
        connection.flush()
        self.registry.add(connection)
        try:
            self._receive(sock, protocol, connection)
        finally:
            self.registry.remove(connection_id)
            self._call(
                "websocket_disconnect",
                {
                    "headers": _flat(request),
                    "requestContext": self._context(
                        "$disconnect",
                        connection_id,
                        disconnectStatusCode=protocol.close_code or 1006,
                        disconnectReason=protocol.close_reason or "",
                    ),
                    "isBase64Encoded": False,
                },
            )
            with _quietly():
                sock.close()

    def _read_request(self, sock: socket.socket, protocol: ServerProtocol) -> Request | None:
        while True:
            data = sock.recv(RECEIVE_BYTES)
            if data:
                protocol.receive_data(data)
            else:
                protocol.receive_eof()
            for event in protocol.events_received():
                if isinstance(event, Request):
                    return event
            if protocol.handshake_exc is not None or not data:
                if protocol.handshake_exc is not None:
                    protocol.send_response(
                        _json_reject(protocol, 400, "BadRequest", str(protocol.handshake_exc))
                    )
                return None

    def _connect(
        self,
        protocol: ServerProtocol,
        *,
        request: Request,
        accepted: Response,
        connection_id: str,
        address: tuple[str, int],
        query: str,
    ) -> Response:
        params = dict(parse_qsl(query, keep_blank_values=True))
        event = {
            "headers": _flat(request),
            "multiValueHeaders": {k: request.headers.get_all(k) for k in request.headers},
            "queryStringParameters": params or None,
            "requestContext": self._context(
                "$connect",
                connection_id,
                connectedAt=int(time.time() * 1000),
                identity={
                    "sourceIp": address[0],
                    "userAgent": request.headers.get("User-Agent", ""),
                },
            ),
            "isBase64Encoded": False,
        }
        answer = self._call("websocket_connect", event)
        if not isinstance(answer, dict):
            return _json_reject(protocol, 500, "InternalError", "The connect handler failed")
        status = int(answer.get("statusCode", 200))
        if status != 200:
            body = answer.get("body") or ""
            text = body if isinstance(body, str) else json.dumps(body)
            rejected = protocol.reject(status, text)
            del rejected.headers["Content-Type"]
            rejected.headers["Content-Type"] = "application/json"
            return rejected
        chosen = (answer.get("headers") or {}).get("Sec-WebSocket-Protocol")
        if chosen:
            accepted.headers["Sec-WebSocket-Protocol"] = chosen
        return accepted

    def _receive(
        self, sock: socket.socket, protocol: ServerProtocol, connection: LocalConnection
    ) -> None:
        parts: list[bytes] = []
        while True:
            try:
                data = sock.recv(RECEIVE_BYTES)
            except OSError:
                data = b""
            with connection._lock:
                if data:
                    protocol.receive_data(data)
                else:
                    protocol.receive_eof()
                events = protocol.events_received()
                connection._flush()  # pongs, and the answer to a close
            for event in events:
                if not isinstance(event, Frame):
                    continue
                if event.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                    parts.append(bytes(event.data))
                    if event.fin:
                        self._message(connection, b"".join(parts))
                        parts = []
            if not data or protocol.state is State.CLOSED:
                return

    def _message(self, connection: LocalConnection, data: bytes) -> None:
        connection.last_active_at = datetime.now(UTC)
        self._call(
            "websocket_message",
            {
                "requestContext": self._context(
                    "$default", connection.id, messageId=uuid.uuid4().hex
                ),
                "body": data.decode(errors="replace"),
                "isBase64Encoded": False,
            },
        )

    def _call(self, function: str, event: dict[str, Any]) -> Any:
        try:
            return self._invoke(function, event)
        except Exception:
            logger.exception("%s failed", function)
            return None


class ConnectionsApi:
    """``@connections``: what the app's ``post_to_connection`` calls reach locally."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        connection_id = unquote(urlsplit(path).path.removeprefix(CONNECTIONS_PREFIX).strip("/"))
        connection = self._registry.get(connection_id)
        if connection is None or not connection.open:
            return _gone()
        if method == "POST":
            if not connection.send_text(body):
                return _gone()
            return 200, {}, b""
        if method == "DELETE":
            connection.close()
            return 204, {}, b""
        if method == "GET":
            info = {
                "ConnectedAt": connection.connected_at.isoformat(),
                "LastActiveAt": connection.last_active_at.isoformat(),
                "Identity": {"SourceIp": connection.source_ip, "UserAgent": connection.user_agent},
            }
            return 200, {"Content-Type": "application/json"}, json.dumps(info).encode()
        return 405, {"Content-Type": "application/json"}, b'{"message": "Method not allowed"}'


def _gone() -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": "GoneException"}
    return 410, headers, b'{"message": null}'


def _flat(request: Request) -> dict[str, str]:
    return {k: ", ".join(request.headers.get_all(k)) for k in request.headers}


def _json_reject(protocol: ServerProtocol, status: int, error: str, message: str) -> Response:
    body = json.dumps({"error": error, "message": message, "code": status})
    response = protocol.reject(status, body)
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response


def _send_all(sock: socket.socket, protocol: ServerProtocol) -> None:
    with _quietly():
        for data in protocol.data_to_send():
            if data:
                sock.sendall(data)
    with _quietly():
        sock.close()


def _quietly() -> contextlib.suppress:
    return contextlib.suppress(OSError)
