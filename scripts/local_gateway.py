"""The local server's request handler: chalice local's, answering in the API's error shape
where API Gateway answers without calling the app.

In AWS those answers are the stack's gateway responses (``infra/gateway.py``). Here,
chalice local's own handler would answer an unknown path with 403 ``{"message": "Missing
Authentication Token"}``, a method without a ``do_<METHOD>`` (TRACE, QUERY...) with
http.server's 501 HTML page, and an unparsable request with a 400 HTML page. With this
handler an unknown path is 404 ``NotFound``, every method name reaches the app (which
answers 405 ``MethodNotAllowed`` for one the path does not offer), and http.server's own
errors are JSON too.
"""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from typing import Any

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import ChaliceRequestHandler, RouteMatcher

from chalicelib.api.errors import NO_ROUTE, error_body, no_route_message


def per_thread_requests(app: Chalice) -> None:
    """Keep ``app.current_request`` per thread, as each Lambda instance has its own.

    chalice local serves each connection on a thread of its own, but Chalice keeps the
    request being handled in one attribute of the app: two requests at once would read each
    other's (a POST handled while a GET arrives sees the GET's empty body)."""
    base = type(app)
    requests = threading.local()

    def get(self: Chalice) -> Any:
        return getattr(requests, "current", None)

    def put(self: Chalice, request: Any) -> None:
        requests.current = request

    app.__class__ = type(base.__name__, (base,), {"current_request": property(get, put)})


class JsonErrorsRequestHandler(ChaliceRequestHandler):
    """Chalice's local request handler, with every error in ``{"error", "message", "code"}``."""

    def __init__(
        self, request: Any, client_address: Any, server: Any, app_object: Chalice, config: Config
    ) -> None:
        self._routes = RouteMatcher(list(app_object.routes))
        super().__init__(request, client_address, server, app_object=app_object, config=config)

    def __getattr__(self, name: str) -> Any:
        # http.server dispatches to ``do_<METHOD>``: every method name goes the same way.
        if name.startswith("do_"):
            return self.dispatch
        raise AttributeError(name)

    connections: Any = None  # the local ``@connections`` API (local_websockets.py)

    def dispatch(self) -> None:
        if self.connections is not None and self.path.startswith("/@connections/"):
            self._connections()
            return
        try:
            self._routes.match_route(self.path)
        except ValueError:
            self._drain_body()
            code, name = NO_ROUTE
            path = self.path.split("?", 1)[0]
            self._send_json(code, error_body(code, name, no_route_message(self.command, path)))
            return
        self._generic_handle()

    # The base class defines these (so __getattr__ never sees them): send them the same way.
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = dispatch  # noqa: N815

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (a bad request line, headers too long...) as JSON."""
        status, name = (400, "BadRequest") if 400 <= code < 500 else (500, "InternalError")
        self.close_connection = True
        self._send_json(status, error_body(status, name, message or HTTPStatus(code).phrase))

    def _send_http_response_with_body(
        self, code: int, headers: dict[str, Any], body: str | bytes
    ) -> None:
        """As chalice local's, except that an answer without content (a 204) declares no
        JSON content type."""
        if code != HTTPStatus.NO_CONTENT or body:
            super()._send_http_response_with_body(code, headers, body)
            return
        self.send_response(code)
        headers.pop("Content-Type", None)
        self._send_headers(headers)

    def _connections(self) -> None:
        length = self.headers.get("content-length", "0")
        body = self.rfile.read(int(length)) if length.isdigit() and int(length) > 0 else b""
        status, headers, payload = self.connections.handle(self.command, self.path, body)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _drain_body(self) -> None:
        length = self.headers.get("content-length", "0")
        if length.isdigit() and int(length) > 0:
            self.rfile.read(int(length))

    def _send_json(self, code: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if getattr(self, "command", "") != "HEAD":
            self.wfile.write(payload)
