"""Lambda's Invoke API for the app's own functions, served beside `chalice local`.

In AWS, EventBridge Scheduler and EventBridge rules invoke the app's Lambda functions
(`scheduled_scale`, `alarm_rollback`, ...). In the local run those functions must run inside
the API's process, which holds the simulated cluster, so this serves Lambda's
`POST /2015-03-31/functions/{name}/invocations` there and calls the app's own handlers. The
AWS emulator (`scripts/aws_behaviour.py`) invokes them through it with an ordinary boto3
Lambda client, as AWS would.

Function names are accepted as the app's (`scheduled_scale`), as deployed
(`o2dms-dev-scheduled_scale`) or as an ARN. `Event` invocations run on a thread and answer
202; `RequestResponse` ones answer the handler's result, or a function error as Lambda
reports it (`X-Amz-Function-Error: Unhandled`).
"""

from __future__ import annotations

import json
import logging
import threading
import traceback
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

logger = logging.getLogger(__name__)

INVOKE_PATH_PREFIX = "/2015-03-31/functions/"
INVOKE_PATH_SUFFIX = "/invocations"
Handler = Callable[[Any, Any], Any]


class FunctionNotFound(LookupError):
    pass


class LocalLambda:
    """The app's handlers by function name (``app.handler_map``), callable like Lambda."""

    def __init__(self, handlers: Mapping[str, Handler], *, deployed_prefix: str) -> None:
        self._handlers = dict(handlers)
        self._prefix = deployed_prefix

    def resolve(self, function: str) -> str:
        name = function
        if name.startswith("arn:"):
            parts = name.split(":")
            name = parts[6] if len(parts) > 6 else ""
        name = name.removeprefix(self._prefix)
        if name not in self._handlers:
            raise FunctionNotFound(f"Function not found: {function}")
        return name

    def invoke(self, function: str, payload: Any) -> Any:
        name = self.resolve(function)
        return self._handlers[name](payload, _Context(f"{self._prefix}{name}"))


class _Context:
    """The few attributes of Lambda's context object that code tends to read."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.memory_limit_in_mb = 1024
        self.aws_request_id = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def make_handler(functions: LocalLambda) -> type[BaseHTTPRequestHandler]:
    class InvokeHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            if not (path.startswith(INVOKE_PATH_PREFIX) and path.endswith(INVOKE_PATH_SUFFIX)):
                self._answer(404, {"Message": f"Unknown path {path}"}, error="UnknownOperation")
                return
            function = unquote(path[len(INVOKE_PATH_PREFIX) : -len(INVOKE_PATH_SUFFIX)])
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                name = functions.resolve(function)
                payload = json.loads(raw) if raw else {}
            except FunctionNotFound as exc:
                self._answer(
                    404, {"Type": "User", "Message": str(exc)}, "ResourceNotFoundException"
                )
                return
            except ValueError:
                self._answer(
                    400,
                    {"Type": "User", "Message": "payload is not JSON"},
                    "InvalidRequestContentException",
                )
                return
            if self.headers.get("X-Amz-Invocation-Type") == "Event":
                threading.Thread(
                    target=_run_quietly, args=(functions, name, payload), daemon=True
                ).start()
                self._answer(202, None)
                return
            try:
                result = functions.invoke(name, payload)
            except Exception as exc:
                body = {
                    "errorMessage": str(exc),
                    "errorType": type(exc).__name__,
                    "stackTrace": traceback.format_exception(exc)[-5:],
                }
                self._answer(200, body, function_error="Unhandled")
                return
            self._answer(200, result)

        def _answer(
            self,
            status: int,
            body: Any,
            error: str | None = None,
            *,
            function_error: str | None = None,
        ) -> None:
            data = b"" if body is None and status == 202 else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if error:
                self.send_header("x-amzn-ErrorType", error)
            if function_error:
                self.send_header("X-Amz-Function-Error", function_error)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug(format, *args)

    return InvokeHandler


def _run_quietly(functions: LocalLambda, name: str, payload: Any) -> None:
    try:
        result = functions.invoke(name, payload)
        print(f"local lambda: {name} -> {json.dumps(result, default=str)[:500]}", flush=True)
    except Exception:
        print(f"local lambda: {name} failed\n{traceback.format_exc()}", flush=True)


def serve_in_background(functions: LocalLambda, host: str, port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), make_handler(functions))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="local-lambda", daemon=True).start()
    return server
