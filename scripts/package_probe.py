"""One cold ``GET /status`` served by an unpacked Lambda package, the way Lambda runs it.

Lambda starts ``python -S`` with the package on ``PYTHONPATH`` and calls ``app.app(event,
context)``; so does ``status_request``, in a fresh interpreter of the runtime's version that
sees nothing of this project or its virtualenv, only the package folder and the standard
library. The child also counts the modules under the package folder that Python compiled
from source (``SourceLoader.source_to_code``): with the shipped bytecode that count is 0.
Both the package's test (``tests/test_package.py``) and its benchmark
(``scripts/bench_package.py``) make this very request.

The table it reads is served by moto's server in this process (``seeded_table``): the
stack's table (``infra/table.json``) holding one finished deployment. The child gets the
API function's environment as the stack sets it, except that it checks a token of the
local issuer (``O2DMS_AUTH=local``) where API Gateway's authorizer would have checked one.
"""

from __future__ import annotations

import json
import logging
import secrets
import subprocess
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
ACCOUNT = "123456789012"
TABLE = "o2dms-package-probe"
DEPLOYMENT_ID = "package-probe"
STAGE = "dev"
TIMEOUT_SECONDS = 120

# Runs in the child under ``python -S``: the standard library and the package only.
CHILD = r"""
import time
start = time.perf_counter()
import importlib._bootstrap_external as bootstrap, json, os, sys

package = os.path.join(sys.argv[1], "")
compiled = []
source_to_code = bootstrap.SourceLoader.source_to_code

def counting(self, data, path, *, _optimize=-1):
    if str(path).startswith(package):
        compiled.append(os.path.relpath(path, package))
    return source_to_code(self, data, path, _optimize=_optimize)

bootstrap.SourceLoader.source_to_code = counting

class Context:
    function_name = "o2dms-dev"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:o2dms-dev"
    memory_limit_in_mb = 1024
    aws_request_id = "0b5e55ed-0000-4000-8000-000000000001"
    log_group_name = "/aws/lambda/o2dms-dev"
    log_stream_name = "package-probe"

    @staticmethod
    def get_remaining_time_in_millis():
        return 30000

import app
answer = app.app(json.loads(sys.argv[2]), Context())
seconds = time.perf_counter() - start
print(json.dumps({"answer": answer, "compiled": compiled, "seconds": seconds}))
"""


@dataclass(frozen=True, slots=True)
class Table:
    endpoint: str
    name: str
    deployment_id: str  # the one deployment it holds


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int
    body: Any
    compiled: list[str]  # package modules compiled from source, relative to the package
    seconds: float  # the child's imports and request, leaving out the interpreter's start


def unpack(zip_path: Path, into: Path) -> Path:
    """``zip_path`` extracted into ``into`` (Lambda's ``/var/task``)."""
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(into)
    return into


@contextmanager
def seeded_table() -> Iterator[Table]:
    """moto's server on a free loopback port, its table holding one deployment."""
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        # moto's state outlives the server in this process: a table of its own each time.
        name = f"{TABLE}-{secrets.token_hex(4)}"
        definition = json.loads((ROOT / "infra" / "table.json").read_text())
        definition.pop("StreamSpecification", None)  # it only feeds live progress
        client.create_table(TableName=name, **definition)
        try:
            client.put_item(TableName=name, Item=_deployment_item(DEPLOYMENT_ID))
            yield Table(endpoint, name, DEPLOYMENT_ID)
        finally:
            client.delete_table(TableName=name)
    finally:
        server.stop()


def _deployment_item(deployment_id: str) -> dict[str, Any]:
    """A finished helm deployment, as the store writes it."""
    from chalicelib.adapters.dynamodb_items import deployment_item
    from chalicelib.domain.models import ChartRef, Deployment
    from chalicelib.domain.states import Adapter, DeploymentStatus

    when = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    return deployment_item(
        Deployment(
            id=deployment_id,
            namespace="production",
            adapter=Adapter.HELM,
            deployment_manager_id="default",
            descriptor_id="nginx-chart-1.2.0",
            chart=ChartRef("https://charts.example.com/stable", "nginx", "1.2.0"),
            parameters={"replicaCount": 2},
            status=DeploymentStatus.INSTANTIATED,
            revision=1,
            last_revision=1,
            deployed_revision=1,
            created_at=when,
            updated_at=when,
            message="Deployed",
            progress=100,
            record_version=1,
        )
    )


def lambda_environment(table: Table, signing_key_hex: str) -> dict[str, str]:
    """The API function's variables: ``.chalice/config.json``'s and the stack's
    (``infra/stack.py``), AWS reached at the table's endpoint. Local tokens are refused
    where ``AWS_LAMBDA_FUNCTION_NAME`` is set, so the defaults it brings are set here."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    arn = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:{{}}"
    return {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": table.endpoint,
        **config["environment_variables"],
        **config["stages"][STAGE]["environment_variables"],
        "O2DMS_TABLE_NAME": table.name,
        "O2DMS_STAGE": STAGE,
        "O2DMS_ROLLOUT_STATE_MACHINE_ARN": arn.format("states", "stateMachine:o2dms-dev-rollout"),
        "O2DMS_SCHEDULE_GROUP": "o2dms-dev",
        "O2DMS_SCHEDULER_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/o2dms-dev-scheduler",
        "O2DMS_SCHEDULE_TARGET_ARN": arn.format("lambda", "function:o2dms-dev-scheduled_scale"),
        "O2DMS_EVENT_BUS": "default",
        "O2DMS_IAM_GROUPS": "{}",
        "O2DMS_SECRETS_KEY_ARN": arn.format("kms", "key/00000000-0000-4000-8000-000000000000"),
        "O2DMS_PAGE_TOKEN_KEY": "package-probe-page-token-key",
        "O2DMS_AUTH": "local",
        "O2DMS_AUTH_SIGNING_KEY": signing_key_hex,
        # What AWS_LAMBDA_FUNCTION_NAME would default to (chalicelib/config.py).
        "O2DMS_ROLLOUT_DRIVER": "stepfunctions",
        "O2DMS_LOCAL_CLUSTER": "false",
        "O2DMS_VERIFY_STABLE": "30s",
        "O2DMS_EMF": "true",
        "O2DMS_JSON_LOGS": "true",
        "O2DMS_TRACING": "true",
        # The package's folder must stay as unpacked, as read-only /var/task does.
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def status_event(deployment_id: str, token: str) -> dict[str, Any]:
    """API Gateway's REST proxy event for ``GET .../{deployment_id}/status``."""
    resource = "/o2dms/v1/nfDeployments/{deployment_id}/status"
    path = resource.replace("{deployment_id}", deployment_id)
    headers = {"Accept": "application/json", "Authorization": f"Bearer {token}"}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": "GET",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"deployment_id": deployment_id},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": "GET",
            "path": f"/api{path}",
            "stage": "api",
            "requestId": "package-probe",
            "accountId": ACCOUNT,
            "identity": {"sourceIp": "192.0.2.10"},
        },
        "body": None,
        "isBase64Encoded": False,
    }


def status_request(
    package: Path,
    table: Table,
    *,
    python: str,
    deployment_id: str | None = None,
    read_only: bool = True,
) -> Answer:
    """``GET /status`` of ``deployment_id`` (the table's own by default) in a fresh
    ``python -S`` whose only path entry beyond the standard library is ``package``.
    ``read_only``: no bytecode is written, as on Lambda's read-only ``/var/task``."""
    from chalicelib.adapters import local_tokens

    key = secrets.token_bytes(32)
    token = local_tokens.mint(key, subject="package-probe", groups=["o2dms-viewer"])
    event = status_event(deployment_id or table.deployment_id, token)
    env = lambda_environment(table, key.hex()) | {"PYTHONPATH": str(package)}
    if not read_only:
        del env["PYTHONDONTWRITEBYTECODE"]
    done = subprocess.run(
        [python, "-S", "-c", CHILD, str(package), json.dumps(event)],
        cwd=package,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the package could not serve GET /status:\n{done.stderr[-4000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    answer = report["answer"]
    return Answer(
        status_code=int(answer["statusCode"]),
        body=json.loads(answer["body"]) if answer.get("body") else None,
        compiled=report["compiled"],
        seconds=float(report["seconds"]),
    )
