"""A local DynamoDB endpoint holding one finished deployment: what the status probes read.

moto's server runs in a process of its own, so the probes reach it over HTTP, as a Lambda
function reaches DynamoDB; moto's imports never enter a probe's ``sys.modules`` or the
parent's; no moto mock in the parent (another test's) can reset its state; and it shares
neither a process nor an interpreter lock with whatever else the parent runs while a probe
is timed. The table is the stack's (``infra/table.json``, without its stream) and the
deployment is stored by the app itself, through its Lambda entry point, so the probes read
a real item (a 200 with a real body). ``Seeded.probe`` runs ``scripts/status_probe.py``
against it.

Seeding runs this module in a process of its own, from the repository root, with the
probe's environment (``status_probe.lambda_environment``); it prints the deployment's id
and its item's key as one JSON line::

    python -m scripts.status_table
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scripts.lambda_package import runtime
from scripts.status_probe import LambdaContext, command, lambda_environment, proxy_event, run

if TYPE_CHECKING:
    from scripts.status_probe import Report

ROOT = Path(__file__).resolve().parent.parent
TABLE = "o2dms-probe"
START_SECONDS = 30.0

DEPLOYMENT_ID = "status-probe"
DESCRIPTOR: dict[str, Any] = {
    "descriptorId": "nginx-chart-1.2.0",
    "name": "nginx",
    "artifactRepoUrl": "https://charts.example.com/stable",
    "artifactName": "nginx",
    "artifactVersion": "1.2.0",
    "defaultParameters": {"replicaCount": 2, "image": {"repository": "nginx", "tag": "1.20.0"}},
}
DEPLOYMENT = {
    "name": DEPLOYMENT_ID,
    "descriptorId": DESCRIPTOR["descriptorId"],
    "namespace": "production",
    "reason": "the cold-start probes' deployment",
}
# Not Lambda: the rollout runs on a thread against the simulated cluster, and quickly.
LOCAL_RUN = {"O2DMS_LOCAL_CLUSTER": "true", "O2DMS_LOCAL_ROLLOUT_SECONDS": "0.5"}


def environment(endpoint: str, table: str, *, read_only: bool) -> dict[str, str]:
    """The API function's environment (``lambda_environment``) on this endpoint, with
    nothing of the caller's but ``PATH``. ``read_only``: Python writes no bytecode, as it
    cannot on Lambda's read-only ``/var/task``, so an unpacked package stays as shipped."""
    found = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")} | lambda_environment(endpoint, table)
    return (found | {"PYTHONDONTWRITEBYTECODE": "1"}) if read_only else found


@dataclass(frozen=True, slots=True)
class Seeded:
    endpoint: str
    table: str
    deployment_id: str
    key: dict[str, Any]  # the deployment item's key, for the bare GetItem

    def environment(self, *, read_only: bool = True) -> dict[str, str]:
        """The probes' environment on this table (the module's ``environment``)."""
        return environment(self.endpoint, self.table, read_only=read_only)

    def probe(
        self,
        kind: str = "app",
        *,
        package: Path = ROOT,
        python: str = sys.executable,
        flags: tuple[str, ...] = (),
        deployment: str | None = None,
        read_only: bool = True,
    ) -> Report:
        """One probe of ``kind`` (``status_probe``) in a fresh ``python`` run in and
        importing from ``package``: ``GET /status`` of ``deployment`` (this table's own by
        default) for ``app``, the bare ``GetItem`` of its item for ``boto3``."""
        line = command(
            kind,
            endpoint=self.endpoint,
            table=self.table,
            deployment=self.deployment_id if deployment is None else deployment,
            key=self.key,
            package=str(package),
            python=python,
            flags=flags,
        )
        return run(line, self.environment(read_only=read_only), cwd=str(package))

    def as_lambda(
        self, package: Path, *, deployment: str | None = None, read_only: bool = True
    ) -> Report:
        """``GET /status`` served from an unpacked Lambda package as Lambda serves it: by
        the runtime's interpreter under ``-S``, which sees the standard library and the
        package only, so nothing of this project's virtualenv can hide a missing module."""
        return self.probe(
            package=package,
            python=runtime.interpreter(),
            flags=("-S",),
            deployment=deployment,
            read_only=read_only,
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's server in its own process, on a free loopback port: its URL."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(port, server)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_for(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"moto's server exited with {server.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"moto's server did not listen on port {port} in {START_SECONDS:.0f} s")


def create_table(endpoint: str, table: str) -> None:
    """The stack's table (``infra/table.json``); its stream only feeds live progress."""
    import boto3

    definition = json.loads((ROOT / "infra" / "table.json").read_text())
    definition.pop("StreamSpecification", None)
    variables = lambda_environment(endpoint, table)
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=variables["AWS_REGION"],
        aws_access_key_id=variables["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=variables["AWS_SECRET_ACCESS_KEY"],
    )
    client.create_table(TableName=table, **definition)


@contextmanager
def seeded_table(table: str = TABLE) -> Iterator[Seeded]:
    """A moto server whose ``table`` holds one finished deployment, for the block."""
    with moto_server() as endpoint:
        create_table(endpoint, table)
        stored = subprocess.run(
            [sys.executable, "-m", "scripts.status_table"],
            cwd=ROOT,
            env=environment(endpoint, table, read_only=False),
            capture_output=True,
            text=True,
            check=False,
        )
        if stored.returncode != 0:
            raise RuntimeError(f"seeding the probe table failed:\n{stored.stderr}")
        seeded = json.loads(stored.stdout.strip().splitlines()[-1])
        yield Seeded(endpoint, table, seeded["deployment"], seeded["key"])


def _call(handler: Any, resource: str, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    event = proxy_event(
        "POST",
        resource,
        body=json.dumps(body),
        headers={"Content-Type": "application/json", **headers},
        groups="o2dms-admin",
    )
    answer: dict[str, Any] = handler(event, LambdaContext())
    if answer["statusCode"] != 201:
        raise RuntimeError(f"POST {resource}: {answer['statusCode']} {answer['body']}")
    return answer


def seed() -> dict[str, Any]:
    """Create the descriptor and the deployment in this process, waiting for its rollout
    to end, so the probes read a settled item (no lease to follow): the deployment's id
    and its item's key."""
    os.environ.pop("AWS_LAMBDA_FUNCTION_NAME", None)
    os.environ.update(LOCAL_RUN)
    import app
    from chalicelib.adapters.dynamodb_items import deployment_key

    _call(app.app, "/o2dms/v1/nfDeploymentDescriptors", DESCRIPTOR)
    created = _call(app.app, "/o2dms/v1/nfDeployments", DEPLOYMENT, Prefer="wait=25")
    status = json.loads(created["body"])["status"]
    if status != "INSTANTIATED":
        raise RuntimeError(f"the probe deployment is {status}, not INSTANTIATED")
    return {"deployment": DEPLOYMENT_ID, "key": deployment_key(DEPLOYMENT_ID)}


if __name__ == "__main__":
    print(json.dumps(seed()))
