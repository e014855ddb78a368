"""Serve the Chalice app exactly as ``chalice local`` does, but able to take a burst.

``chalice local`` listens with Python's default backlog of 5 connections, so a burst of
concurrent clients (the 20-concurrent-upgrades check, a load test) sees connection resets
before the app is even reached. This runs chalice's own local server (same request
handler, same stage configuration, same route validation) with a deeper backlog.

    python scripts/serve_api.py --project-dir . --host 127.0.0.1 --port 8080 --stage dev

With ``O2DMS_LAMBDA_PORT`` set, the app's Lambda functions are also served on that port
through Lambda's Invoke API (``local_lambda.py``), for the AWS emulator to invoke.

Before serving, it follows again the rollouts a previous API process left running: their
follower threads died with that process, and their deployments would otherwise answer 409
until the leases expire.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

from chalice.cli.factory import CLIFactory
from chalice.deploy.validate import validate_routes
from chalice.local import LocalDevServer, ThreadedHTTPServer

REPO_ROOT = Path(__file__).resolve().parent.parent
logger = logging.getLogger("serve_api")


class BurstTolerantServer(ThreadedHTTPServer):
    """chalice local's server with a deeper backlog, handing WebSocket requests (``GET
    /ws/...``) to the local stand-in for API Gateway's WebSocket API."""

    request_queue_size = 128
    gateway: Any = None  # a local_websockets.Gateway

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.gateway is not None and _asks_for_websocket(request):
            self.gateway.serve(request, client_address)
            return
        super().finish_request(request, client_address)


def _asks_for_websocket(sock: socket.socket) -> bool:
    from scripts.local_websockets import is_websocket_request

    sock.settimeout(10)
    try:
        peeked = sock.recv(8, socket.MSG_PEEK | socket.MSG_WAITALL)
    except OSError:
        return False
    finally:
        sock.settimeout(None)
    return is_websocket_request(peeked)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the API locally (chalice local).")
    parser.add_argument("--project-dir", default=".")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--stage", default="dev")
    args = parser.parse_args(argv)
    os.environ["AWS_CHALICE_CLI_MODE"] = "true"
    os.chdir(args.project_dir)
    sys.path.insert(0, os.getcwd())
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    factory = CLIFactory(os.getcwd(), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name=args.stage)
    validate_routes(config.chalice_app.routes)
    sys.path.insert(0, str(REPO_ROOT))  # run as a script: make `scripts` importable
    from scripts.local_gateway import JsonErrorsRequestHandler, per_thread_requests
    from scripts.local_lambda import LocalLambda, serve_in_background
    from scripts.local_websockets import ConnectionsApi, Gateway

    per_thread_requests(config.chalice_app)

    functions = LocalLambda(
        config.chalice_app.handler_map,
        deployed_prefix=f"{config.app_name}-{args.stage}-",
    )
    lambda_port = os.environ.get("O2DMS_LAMBDA_PORT")
    if lambda_port:
        serve_in_background(functions, args.host, int(lambda_port))
    gateway = Gateway(functions.invoke, domain=f"{args.host}:{args.port}")
    handler = type(
        "LocalHandler",
        (JsonErrorsRequestHandler,),
        {"connections": ConnectionsApi(gateway.registry)},
    )
    server = LocalDevServer(
        config.chalice_app,
        config,
        args.host,
        args.port,
        handler_cls=handler,
        server_cls=BurstTolerantServer,
    )
    server.server.gateway = gateway
    resume_rollouts()
    server.serve_forever()


def resume_rollouts() -> None:
    """Give every operation still holding a lease a follower again (see the module doc)."""
    from chalicelib import composition
    from chalicelib.domain.errors import StoreUnavailable

    try:
        resumed = composition.resume_rollouts(composition.deps())
    except StoreUnavailable as exc:
        logger.warning("could not resume unfinished rollouts: %s", exc.message)
        return
    for deployment_id, operation_id in resumed:
        logger.info("following operation %s of %s again", operation_id, deployment_id)


if __name__ == "__main__":
    main()
