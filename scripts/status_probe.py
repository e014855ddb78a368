"""Serve one cold ``GET /status`` in a fresh interpreter, the way Lambda would, and time it.

This file is the child process of every cold measurement of the status read, so the
cold-start benchmark and test (``scripts/bench_cold_start.py``, ``tests/test_cold_start.py``)
and the Lambda package's (``scripts/bench_package.py``, ``tests/test_package.py``) all run
the very same request. It imports nothing from the project and nothing outside the standard
library before the side it measures, so it runs as well in the project's virtualenv on the
source tree as under ``python -S`` on an unpacked package, seeing the standard library and
that folder only (``--package DIR`` takes the place of the script's own folder at the head
of ``sys.path``, as Lambda's ``/var/task`` heads its path).

Run it as a file, never as ``-m`` (that would import ``scripts`` first)::

    python [-S] scripts/status_probe.py app   --endpoint URL --table T --deployment ID
    python [-S] scripts/status_probe.py boto3 --endpoint URL --table T --key JSON

- ``app``: ``import app`` and call ``app.app(event, context)`` with an API Gateway REST proxy
  event for ``GET /o2dms/v1/nfDeployments/{id}/status`` whose authorizer has already checked
  the caller (``O2DMS_AUTH=gateway``, as the stack sets it and Lambda sees it);
- ``boto3``: ``import boto3``, build a DynamoDB client, one ``GetItem`` of ``--key``: the
  floor any Python Lambda function reading DynamoDB pays.

The clock starts on the script's first statement and stops with the answer in hand, so
every side leaves out the interpreter's start, which they share, and its exit, which Lambda
never waits for. The child prints one JSON line (``Report``): ``seconds``, ``cpu_seconds``
(the CPU time of the same span, which the machine's other load barely changes), ``status``
(an HTTP status; 200 for a ``GetItem`` that found the item), ``body``, ``peak_kib`` (peak
resident memory), ``modules`` (every module loaded by then) and ``compiled`` (the modules
under ``--package`` that Python compiled from source: none where the folder's bytecode was
used).

The environment is the caller's to give, the same for every side: ``lambda_environment``
builds the one the stack gives the API function (the app reads its endpoint from
``AWS_ENDPOINT_URL`` there, as its settings do; ``--endpoint`` is the boto3 side's).
A parent process builds the command line with ``command`` and reads the report with
``run``; ``scripts/status_table.py`` does both against the table it serves.
"""

from __future__ import annotations

import time

# First: everything below is part of the measured cold start.
START, START_CPU = time.perf_counter(), time.process_time()

import json  # noqa: E402 - after the clock on purpose
import sys  # noqa: E402

TYPE_CHECKING = False  # ``typing`` stays out of the measured span
if TYPE_CHECKING:
    from typing import Any, TypedDict

    class Report(TypedDict):
        """One probe's JSON line (the module's docstring), and ``process_seconds``: the
        whole subprocess as its parent saw it, the interpreter's start and exit too."""

        kind: str
        seconds: float
        cpu_seconds: float
        process_seconds: float
        status: int
        body: str
        peak_kib: int
        modules: list[str]
        compiled: list[str]


STATUS_RESOURCE = "/o2dms/v1/nfDeployments/{deployment_id}/status"
VIEWER_GROUP = "o2dms-viewer"
ACCOUNT = "123456789012"


class LambdaContext:
    """The attributes of Lambda's context object that a handler may read."""

    function_name = "o2dms-probe-APIHandler"
    function_version = "$LATEST"
    invoked_function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:o2dms-probe"
    memory_limit_in_mb = 1024
    aws_request_id = "c0ffee00-0000-4000-8000-000000000001"
    log_group_name = "/aws/lambda/o2dms-probe-APIHandler"
    log_stream_name = "probe"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def proxy_event(
    method: str,
    resource: str,
    parameters: dict[str, str] | None = None,
    *,
    body: str | None = None,
    headers: dict[str, str] | None = None,
    groups: str = VIEWER_GROUP,
) -> dict[str, object]:
    """An API Gateway REST proxy event for ``method`` on the route ``resource`` (its path
    parameters filled in from ``parameters``), as the stack's gateway hands it over: the
    Cognito authorizer has checked the caller and put its claims in
    ``requestContext.authorizer`` (``O2DMS_AUTH=gateway``)."""
    path = resource
    for name, value in (parameters or {}).items():
        path = path.replace("{" + name + "}", value)
    sent = {"Accept": "application/json", "Host": "api.example.test", **(headers or {})}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": sent,
        "multiValueHeaders": {k: [v] for k, v in sent.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": "/api" + path,
            "stage": "api",
            "requestId": LambdaContext.aws_request_id,
            "accountId": ACCOUNT,
            "identity": {"sourceIp": "192.0.2.10", "userArn": None},
            "authorizer": {
                "claims": {
                    "sub": "probe-user",
                    "cognito:username": "probe",
                    "cognito:groups": groups,
                }
            },
        },
        "body": body,
        "isBase64Encoded": False,
    }


def status_event(deployment_id: str) -> dict[str, object]:
    """The measured request: a viewer reading one deployment's status."""
    return proxy_event("GET", STATUS_RESOURCE, {"deployment_id": deployment_id})


def lambda_environment(endpoint: str, table: str, region: str = "us-east-1") -> dict[str, str]:
    """The variables Lambda, ``.chalice/config.json`` and the stack (``infra/stack.py``) give
    the API function, with AWS reached at ``endpoint``; every side of a comparison runs with
    the same ones. Lambda sets ``AWS_LAMBDA_FUNCTION_NAME``, so the app takes its Lambda
    defaults (Step Functions, no simulated cluster, gateway auth) as it does deployed."""
    from pathlib import Path  # the parent's side: kept out of the child's measured span

    config = Path(__file__).resolve().parent.parent / ".chalice" / "config.json"
    chalice: dict[str, str] = json.loads(config.read_text())["environment_variables"]

    def arn(service: str, resource: str) -> str:
        return f"arn:aws:{service}:{region}:{ACCOUNT}:{resource}"

    return {
        "LANG": "C.UTF-8",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_LAMBDA_FUNCTION_NAME": LambdaContext.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(LambdaContext.memory_limit_in_mb),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{sys.version_info[0]}.{sys.version_info[1]}",
        **chalice,
        "O2DMS_TABLE_NAME": table,
        "O2DMS_STAGE": "probe",
        "O2DMS_ROLLOUT_STATE_MACHINE_ARN": arn("states", "stateMachine:o2dms-probe-rollout"),
        "O2DMS_SCHEDULE_GROUP": "o2dms-probe",
        "O2DMS_SCHEDULER_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/o2dms-probe-scheduler",
        "O2DMS_SCHEDULE_TARGET_ARN": arn("lambda", "function:o2dms-probe-scheduled_scale"),
        "O2DMS_EVENT_BUS": "o2dms-probe",
        "O2DMS_AUTH": "gateway",
        "O2DMS_IAM_GROUPS": "{}",
        "O2DMS_SECRETS_KEY_ARN": arn("kms", "key/00000000-0000-4000-8000-000000000000"),
        "O2DMS_PAGE_TOKEN_KEY": "probe-page-token-key",
    }


def serve_status(deployment_id: str) -> tuple[int, str]:
    """The app's answer to the status read, through the Lambda entry point."""
    import app  # what Lambda's runtime imports for the handler ``app.app``

    answer = app.app(status_event(deployment_id), LambdaContext())
    return int(answer["statusCode"]), str(answer["body"])


def get_item(endpoint: str, table: str, key: dict[str, Any]) -> tuple[int, str]:
    """Bare boto3: a client and one consistent ``GetItem`` (what the store does)."""
    import boto3

    client = boto3.client("dynamodb", endpoint_url=endpoint)
    answer = client.get_item(TableName=table, Key=key, ConsistentRead=True)
    found = answer.get("Item")
    return (200 if found else 404), json.dumps(found)


def count_compiled(folder: str) -> list[str]:
    """A list that fills, from now on, with the modules under ``folder`` (relative to it)
    that Python compiles from source: every ``.py`` without usable bytecode passes through
    ``SourceLoader.source_to_code``, so an empty list proves the folder's bytecode served.
    Its module is frozen and loaded before any script runs: importing it costs nothing."""
    import _frozen_importlib_external as bootstrap

    prefix = folder.rstrip("/") + "/" if folder else ""
    compiled: list[str] = []
    compile_source = bootstrap.SourceLoader.source_to_code

    def counting(self: Any, data: Any, path: Any, *args: Any, **kwargs: Any) -> Any:
        if str(path).startswith(prefix):
            compiled.append(str(path)[len(prefix) :])
        return compile_source(self, data, path, *args, **kwargs)

    bootstrap.SourceLoader.source_to_code = counting  # type: ignore[method-assign]
    return compiled


def command(
    kind: str,
    *,
    endpoint: str,
    table: str,
    deployment: str = "",
    key: dict[str, object] | None = None,
    package: str | None = None,
    python: str = sys.executable,
    flags: tuple[str, ...] = (),
) -> list[str]:
    """The command line of one probe (``flags``: the interpreter's, e.g. ``("-S",)``)."""
    line = [python, *flags, __file__, kind, "--endpoint", endpoint, "--table", table]
    if kind == "app":
        line += ["--deployment", deployment]
    else:
        line += ["--key", json.dumps(key or {})]
    if package:
        line += ["--package", package]
    return line


def run(line: list[str], env: dict[str, str], cwd: str | None = None) -> Report:
    """Run one probe in a fresh interpreter: its report (see the module's docstring)."""
    import subprocess

    started = time.perf_counter()
    done = subprocess.run(line, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    process_seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"probe {line!r} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    report: Report = json.loads(done.stdout.strip().splitlines()[-1])
    report["process_seconds"] = process_seconds
    return report


def _option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def main(args: list[str]) -> None:
    kind, package = args[0], _option(args, "--package")
    if package:
        # In this script's folder's place, not before it: nothing of ``scripts/`` may stand
        # in for a module the package lacks, as nothing would on Lambda.
        sys.path[0] = package
    compiled = count_compiled(package or "")
    endpoint = _option(args, "--endpoint") or ""
    table = _option(args, "--table") or ""
    if kind == "app":
        status, body = serve_status(_option(args, "--deployment") or "")
    elif kind == "boto3":
        status, body = get_item(endpoint, table, json.loads(_option(args, "--key") or "{}"))
    else:
        raise SystemExit(f"usage: status_probe.py app|boto3 ..., not {kind!r}")
    seconds, cpu_seconds = time.perf_counter() - START, time.process_time() - START_CPU
    report = {
        "kind": kind,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "status": status,
        "body": body,
        "peak_kib": peak_kib(),
        "modules": sorted(sys.modules),
        "compiled": compiled,
    }
    print(json.dumps(report))


def peak_kib() -> int:
    """This process's peak resident memory. Linux's ``VmHWM`` counts from the ``exec``;
    ``ru_maxrss`` (elsewhere) also counts the parent's pages the child was forked with."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


if __name__ == "__main__":
    main(sys.argv[1:])
