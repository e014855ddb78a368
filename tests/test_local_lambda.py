"""Lambda's Invoke API for the app's functions in the local run, called with boto3's own
Lambda client as the emulator calls it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from scripts.local_lambda import FunctionNotFound, LocalLambda, serve_in_background
from tests.test_local_run import free_ports

received: list[Any] = []


def _echo(event: Any, context: Any) -> Any:
    received.append(event)
    return {"got": event, "function": context.function_name}


def _fail(event: Any, context: Any) -> Any:
    raise ValueError("bad payload")


FUNCTIONS = LocalLambda({"echo": _echo, "fail": _fail}, deployed_prefix="o2dms-dev-")


@pytest.fixture
def lambda_client() -> Iterator[Any]:
    [port] = free_ports(1)
    server = serve_in_background(FUNCTIONS, "127.0.0.1", port)
    try:
        yield boto3.client(
            "lambda",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    finally:
        server.shutdown()
        server.server_close()


def test_names_resolve_as_the_apps_as_deployed_or_as_arns() -> None:
    assert FUNCTIONS.resolve("echo") == "echo"
    assert FUNCTIONS.resolve("o2dms-dev-echo") == "echo"
    assert (
        FUNCTIONS.resolve("arn:aws:lambda:us-east-1:123456789012:function:o2dms-dev-echo") == "echo"
    )
    with pytest.raises(FunctionNotFound):
        FUNCTIONS.resolve("o2dms-prod-echo")


def test_request_response_invocation_answers_the_handlers_result(lambda_client: Any) -> None:
    answer = lambda_client.invoke(
        FunctionName="arn:aws:lambda:us-east-1:123456789012:function:o2dms-dev-echo",
        Payload=json.dumps({"a": 1}),
    )

    assert answer["StatusCode"] == 200
    assert "FunctionError" not in answer
    assert json.loads(answer["Payload"].read()) == {"got": {"a": 1}, "function": "o2dms-dev-echo"}


def test_event_invocation_is_accepted_then_run(lambda_client: Any) -> None:
    received.clear()
    answer = lambda_client.invoke(
        FunctionName="o2dms-dev-echo", InvocationType="Event", Payload=json.dumps({"b": 2})
    )

    assert answer["StatusCode"] == 202
    deadline = time.monotonic() + 5
    while not received and time.monotonic() < deadline:
        time.sleep(0.05)
    assert received == [{"b": 2}]


def test_handler_errors_are_function_errors_and_unknown_functions_404(lambda_client: Any) -> None:
    failed = lambda_client.invoke(FunctionName="fail", Payload=b"{}")
    assert failed["FunctionError"] == "Unhandled"
    body = json.loads(failed["Payload"].read())
    assert (body["errorType"], body["errorMessage"]) == ("ValueError", "bad payload")

    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.invoke(FunctionName="missing", Payload=b"{}")
