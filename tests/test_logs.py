"""The service's own logs in Lambda: JSON lines (Powertools' formatter) that carry the keys
tying them to a request, a deployment and an operation; and CloudWatch metrics as EMF lines
when an operation ends."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import composition, logs
from chalicelib.adapters.cloudwatch_emf import EmfMetrics
from tests.api_helpers import call, create_deployment, create_descriptor
from tests.conftest import World


@pytest.fixture
def json_logs(world: World, capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    """JSON lines, written where ``capsys`` reads (set up after it)."""
    logs.reset()
    logs.setup(dataclasses.replace(world.deps.settings, json_logs=True, log_level="INFO"))
    yield
    logs.reset()


def lines(text: str) -> list[dict[str, Any]]:
    found = []
    for line in text.splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


def test_a_lambda_handlers_log_lines_are_json_with_the_correlation_keys(
    client: Any, world: World, json_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    create_descriptor(client)
    created = create_deployment(client)
    operation_id = created.headers["X-O2DMS-Operation-Id"]
    capsys.readouterr()
    event = {"deploymentId": "nginx-prod", "operationId": operation_id}
    client.lambda_.invoke("rollout_follow", event)
    out = capsys.readouterr().out
    logged = [x for x in lines(out) if x["message"] == "following the rollout"]
    assert logged, "the follow task logs what it follows"
    line = logged[0]
    assert (line["deployment_id"], line["operation_id"]) == ("nginx-prod", operation_id)
    assert (line["level"], line["service"]) == ("INFO", "o2dms")
    assert "timestamp" in line


def test_a_request_and_the_operation_it_starts_are_named_on_its_lines(
    client: Any, world: World, json_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    create_descriptor(client)
    create_deployment(client)
    world.settle()
    capsys.readouterr()
    crash = {"parameters": {"image": {"tag": "crash"}}}
    assert call(client, "PUT", "/o2dms/v1/nfDeployments/nginx-prod", crash).status == 200
    for _ in range(4):
        world.settle()
    said = [x for x in lines(capsys.readouterr().out) if "rolling back" in x["message"]]
    assert said, "the failed rollout says it rolls back"
    assert said[0]["deployment_id"] == "nginx-prod"
    assert said[0]["operation_id"].startswith("op-")
    assert said[0]["trigger"] == "api"


def test_an_ended_operation_writes_cloudwatch_metrics(
    client: Any, world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "o2dms")  # as .chalice/config.json sets it
    create_descriptor(client)
    create_deployment(client)
    world.settle()
    deployment = world.store.get_deployment("nginx-prod")
    page = world.store.list_operations("nginx-prod", limit=1, token=None)
    capsys.readouterr()
    EmfMetrics().operation_ended(page.items[0], deployment)
    blobs = lines(capsys.readouterr().out)
    names = {m["Name"] for b in blobs for m in b["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"OperationsEnded", "OperationDuration", "DeploymentsEnded"} <= names
    ended = [b for b in blobs if "OperationsEnded" in b]
    dimensions = [b["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0] for b in ended]
    assert ["Operation", "Adapter", "Outcome", "service"] in dimensions
    assert ["service"] in dimensions  # the total, for alarms
    assert all(b["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "O2DMS" for b in blobs)
    assert composition.deps() is world.deps
