"""Serve the Chalice app exactly as ``chalice local`` does, but able to take a burst.

``chalice local`` listens with Python's default backlog of 5 connections, so a burst of
concurrent clients (the 20-concurrent-upgrades check, a load test) sees connection resets
before the app is even reached. This runs chalice's own local server (same request
handler, same stage configuration, same route validation) with a deeper backlog.

    python scripts/serve_api.py --project-dir . --host 127.0.0.1 --port 8080 --stage dev

With ``O2DMS_LAMBDA_PORT`` set, the app's Lambda functions are also served on that port
through Lambda's Invoke API (``local_lambda.py``), for the AWS emulator to invoke.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from chalice.cli.factory import CLIFactory
from chalice.deploy.validate import validate_routes
from chalice.local import LocalDevServer, ThreadedHTTPServer

REPO_ROOT = Path(__file__).resolve().parent.parent


class BurstTolerantServer(ThreadedHTTPServer):
    request_queue_size = 128


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
    lambda_port = os.environ.get("O2DMS_LAMBDA_PORT")
    if lambda_port:
        sys.path.insert(0, str(REPO_ROOT))  # run as a script: make `scripts` importable
        from scripts.local_lambda import LocalLambda, serve_in_background

        functions = LocalLambda(
            config.chalice_app.handler_map,
            deployed_prefix=f"{config.app_name}-{args.stage}-",
        )
        serve_in_background(functions, args.host, int(lambda_port))
    server = LocalDevServer(
        config.chalice_app, config, args.host, args.port, server_cls=BurstTolerantServer
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
