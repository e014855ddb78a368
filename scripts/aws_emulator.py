"""The local stand-in for AWS: moto's server, plus what real AWS does that moto does not.

`make run` and the integration tests need an AWS endpoint on loopback. moto's own
`moto_server` almost fits, but it serves requests on several threads and moto's DynamoDB
backend takes no lock, so two concurrent conditional writes on one item can both pass their
condition. Real DynamoDB serialises them, and the product promises that exactly one of many
concurrent upgrades of a deployment wins; the emulator has to keep that promise too.

So this module serves moto's WSGI application behind `SerialDynamoDB`, a middleware that
lets one DynamoDB request at a time through while every other service stays concurrent.

Behaviour that AWS performs on its own, firing Scheduler schedules and turning alarm
state changes into EventBridge events, runs beside it (`scripts/aws_behaviour.py`) when
`--lambda-endpoint` says where the Lambda functions it invokes are served.

With `--state-file`, what the emulator holds survives a restart (`scripts/aws_state.py`):
loaded at start, saved as it changes and when the emulator stops.

ECS services move on as ECS's scheduler would move them (`scripts/local_ecs.py`): moto alone
keeps a service's deployments as CreateService left them.

Run it from the repository root:

    python -m scripts.aws_emulator --host 127.0.0.1 --port 5000
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

DYNAMODB_TARGET_PREFIX = "DynamoDB_"


def is_dynamodb_request(environ: WSGIEnvironment) -> bool:
    """Tell a DynamoDB API call (not a DynamoDB Streams one) by its X-Amz-Target header."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    return isinstance(target, str) and target.startswith(DYNAMODB_TARGET_PREFIX)


class SerialDynamoDB:
    """WSGI middleware that handles DynamoDB requests one at a time, as one critical section.

    The whole response, body included, is produced while the lock is held: a lazy body
    could otherwise do its work after another request has been let in.
    """

    def __init__(self, app: WSGIApplication, lock: threading.Lock | None = None) -> None:
        self._app = app
        self._lock = lock if lock is not None else threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not is_dynamodb_request(environ):
            return self._app(environ, start_response)
        with self._lock:
            return _drain(self._app(environ, start_response))


def _drain(body: Iterable[bytes]) -> list[bytes]:
    """Read a WSGI response body to the end and close it, as PEP 3333 asks of servers."""
    try:
        return list(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()


def build_app(lock: threading.Lock | None = None) -> WSGIApplication:
    """Compose the emulator: moto's per-service dispatcher, then our AWS behaviour around it.

    Import moto here, not at module level: it is slow to import, and `MOTO_PORT` must be set
    before moto builds its backends.
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    moto_app: WSGIApplication = DomainDispatcherApplication(create_backend_app)
    return SerialDynamoDB(moto_app, lock)


ACCOUNT = "123456789012"  # moto's default account, the one the local run uses


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.aws_emulator",
        description="Serve an AWS emulator (moto) that serialises DynamoDB requests like AWS.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=5000, help="port to bind (default: %(default)s)"
    )
    parser.add_argument("--quiet", action="store_true", help="do not log every request")
    parser.add_argument(
        "--lambda-endpoint",
        help="Lambda Invoke API serving the functions that schedules and rules target; "
        "when given, due schedules fire and alarm state changes become events",
    )
    parser.add_argument("--region", default="us-east-1", help="region of the Lambda endpoint")
    parser.add_argument(
        "--stream-table",
        help="deliver this table's stream to --stream-function, as an event source mapping",
    )
    parser.add_argument("--stream-function", help="the function ARN the stream goes to")
    parser.add_argument(
        "--state-file",
        type=Path,
        help="keep the emulator's state in this file: loaded at start, saved as it changes",
    )
    return parser.parse_args(argv)


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    # A second request to stop must not interrupt the last save of the state on the way out.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(0)


def serve(app: WSGIApplication, *, host: str, port: int) -> None:
    """Serve `app` the way `moto_server` does: threaded, with moto's request handler."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import run_simple

    run_simple(host, port, app, threaded=True, request_handler=MotoRequestHandler)


ECS_CHANGES = frozenset({"CreateService", "UpdateService"})
ECS_TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113."


class EcsDeploymentsAtOnce:
    """WSGI middleware: after a CreateService or UpdateService, the ECS stand-in moves the
    services on before the next request, as ECS opens a service's new deployment within the
    call (a DescribeServices right after it shows the deployment)."""

    def __init__(self, app: WSGIApplication, tick: Callable[[], object]) -> None:
        self._app = app
        self._tick = tick

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if not target.startswith(ECS_TARGET_PREFIX):
            return self._app(environ, start_response)
        body = _drain(self._app(environ, start_response))
        if target.removeprefix(ECS_TARGET_PREFIX) in ECS_CHANGES:
            self._tick()
        return body


def with_ecs_scheduler(
    app: WSGIApplication, lock: threading.Lock, on_change: Callable[[], None] | None
) -> WSGIApplication:
    """Move moto's ECS services on in the background (and right after each change). The
    stand-in changes moto's objects under the lock the state keeper snapshots them under, and
    tells the keeper, so a save never catches a service half moved and every move is saved."""
    from moto.ecs.models import ecs_backends

    from scripts.local_ecs import EcsScheduler

    logging.getLogger("local_ecs").setLevel(logging.INFO)
    scheduler = EcsScheduler(ecs_backends, lock=lock, on_change=on_change)
    scheduler.start()
    return EcsDeploymentsAtOnce(app, scheduler.tick)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    # moto reads MOTO_PORT to reach itself (Step Functions calling other services, for one).
    os.environ["MOTO_PORT"] = str(args.port)
    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, _exit_cleanly)
    signal.signal(signal.SIGINT, _exit_cleanly)
    logging.basicConfig(level=logging.WARNING, format="aws emulator: %(message)s")
    dynamodb_lock = threading.Lock()
    app = build_app(dynamodb_lock)
    keeper = None
    restored = 0
    if args.state_file:
        from scripts.aws_state import ChangeTracker, StateKeeper

        logging.getLogger("aws_state").setLevel(logging.INFO)
        keeper = StateKeeper(args.state_file, lock=dynamodb_lock)
        restored = keeper.load()
        app = ChangeTracker(app, keeper)
        keeper.start()
    app = with_ecs_scheduler(app, dynamodb_lock, keeper.changed if keeper is not None else None)
    if args.lambda_endpoint:
        from scripts.aws_behaviour import AwsBehaviour, lambda_invoker

        logging.getLogger("aws_behaviour").setLevel(logging.INFO)
        behaviour = AwsBehaviour(lambda_invoker(args.lambda_endpoint, args.region))
        if restored:
            behaviour.resume(datetime.now(UTC))
        behaviour.start()
        if args.stream_table and args.stream_function:
            from moto.dynamodb.models import dynamodb_backends

            from scripts.aws_behaviour import StreamDelivery
            from scripts.local_streams import StreamTail

            tail = StreamTail(
                dynamodb_backends, args.stream_table, account=ACCOUNT, region=args.region
            )
            StreamDelivery(
                tail,
                lambda_invoker(args.lambda_endpoint, args.region, wait=True),
                args.stream_function,
                lock=dynamodb_lock,
            ).start()
    try:
        serve(app, host=args.host, port=args.port)
    finally:
        if keeper is not None:
            keeper.stop()


if __name__ == "__main__":
    main()
