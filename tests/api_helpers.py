"""Calling the API from tests in a few words, with bodies decoded."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.openapi_check import check_answer

BASE = "/o2dms/v1"

NGINX_DESCRIPTOR: dict[str, Any] = {
    "descriptorId": "nginx-chart-1.2.0",
    "name": "nginx",
    "artifactRepoUrl": "https://charts.example.com/stable",
    "artifactName": "nginx",
    "artifactVersion": "1.2.0",
    "defaultParameters": {"replicaCount": 2, "image": {"repository": "nginx", "tag": "1.20.0"}},
}


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


def call(client: Any, method: str, path: str, body: Any = None, raw: str | None = None) -> Answer:
    headers = {"Content-Type": "application/json"}
    payload = raw if raw is not None else (json.dumps(body) if body is not None else None)
    url = path if path.startswith("/") else f"{BASE}/{path}"
    response = client.http.request(method, url, headers=headers, body=payload)
    text = response.body.decode() if response.body else ""
    decoded = json.loads(text) if text else None
    check_answer(method, url, response.status_code, decoded)
    return Answer(response.status_code, decoded, response.headers)


def create_descriptor(client: Any, **overrides: Any) -> Answer:
    answer = call(client, "POST", "nfDeploymentDescriptors", {**NGINX_DESCRIPTOR, **overrides})
    assert answer.status == 201, answer.body
    return answer


def create_deployment(client: Any, name: str = "nginx-prod", **overrides: Any) -> Answer:
    body = {"name": name, "descriptorId": "nginx-chart-1.2.0", "namespace": "production"}
    answer = call(client, "POST", "nfDeployments", {**body, **overrides})
    assert answer.status == 201, answer.body
    return answer


def put_alarm(cloudwatch: Any, name: str, **extra: Any) -> None:
    """A CloudWatch alarm on an NF's 5xx count (its state is then set by the test)."""
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        MetricName="http_5xx",
        Namespace="NF",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=5,
        ComparisonOperator="GreaterThanThreshold",
        **extra,
    )


@contextmanager
def local_server() -> Iterator[tuple[str, int]]:
    """The app (as the current composition has it) behind the local server's request
    handler (what ``make run`` serves), on a free port: its address."""
    from chalice.config import Config
    from chalice.local import LocalDevServer

    from app import app
    from scripts.local_gateway import JsonErrorsRequestHandler

    server = LocalDevServer(
        app, Config.create(), "127.0.0.1", 0, handler_cls=JsonErrorsRequestHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server.server_address[:2]
    finally:
        server.shutdown()
        server.server.server_close()
        thread.join(timeout=5)
