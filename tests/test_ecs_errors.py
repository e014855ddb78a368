"""ECS's refusals as the API answers them: each recorded answer (``tests/fixtures/ecs``:
moto's, and AWS's for what moto does not make) goes on the wire to a real botocore client,
which parses it as it would AWS's; the backend's error then takes the documented body
``{"error", "message", "code"}`` with a 404, 400, 403 or 503, never a 500."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.config import Config
from botocore.exceptions import ConnectTimeoutError

from chalicelib.adapters.ecs.backend import EcsBackend
from chalicelib.api.errors import status_for
from chalicelib.domain.errors import BackendError
from chalicelib.domain.models import ChartRef
from chalicelib.domain.ports import ReleaseTarget

FIXTURES = Path(__file__).parent / "fixtures" / "ecs"
RECORDED: dict[str, dict[str, Any]] = {
    **json.loads((FIXTURES / "errors_moto.json").read_text()),
    **json.loads((FIXTURES / "errors_aws.json").read_text()),
}
TARGET = ReleaseTarget(
    release="my-app-production",
    namespace="production",
    chart=ChartRef("", "my-app", "v2"),
    values={"cluster": "apps", "service": "my-app", "replicaCount": 1},
    revision=2,
    operation_id="op-1",
    timeout_seconds=60,
)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def answering(recorded: dict[str, Any]) -> Any:
    """An ECS client that gets ``recorded`` (status and JSON body) for every call."""
    client = boto3.client(
        "ecs", region_name="us-east-1", config=Config(retries={"max_attempts": 1})
    )

    def send(request: Any, **_: Any) -> AWSResponse:
        headers = HTTPHeaders()
        headers["content-type"] = "application/x-amz-json-1.1"
        headers["x-amzn-requestid"] = "c0ffee00-0000-4000-8000-000000000000"
        body = json.dumps(recorded["body"]).encode()
        return AWSResponse(request.url, recorded["status"], headers, _Raw(body))

    client.meta.events.register("before-send.ecs", send)
    return client


@pytest.mark.parametrize(
    ("code", "status", "error", "words"),
    [
        ("ClusterNotFoundException", 404, "NotFound", "ECS cluster apps not found"),
        (
            "ServiceNotFoundException",
            404,
            "NotFound",
            "ECS service my-app not found in cluster apps",
        ),
        ("ServiceNotActiveException", 404, "NotFound", "is not active: it was deleted"),
        ("InvalidParameterException", 400, "BadRequest", "ECS refused DescribeServices"),
        ("ClientException", 400, "BadRequest", "Unable to describe task definition"),
        ("AccessDeniedException", 403, "Forbidden", "AWS denied DescribeServices for ECS service"),
        ("ThrottlingException", 503, "ServiceUnavailable", "Rate exceeded"),
        ("ServerException", 503, "ServiceUnavailable", "retry shortly"),
    ],
)
def test_ecs_error_answers_become_clear_statuses(
    code: str, status: int, error: str, words: str
) -> None:
    backend = EcsBackend(lambda **_: answering(RECORDED[code]))

    with pytest.raises(BackendError) as raised:
        backend.scale(TARGET, replicas=1)

    assert status_for(raised.value) == (status, error)
    assert words in raised.value.message
    assert code in raised.value.message or status == 404


def test_ecs_call_without_an_answer_is_unavailable() -> None:
    client = boto3.client(
        "ecs", region_name="us-east-1", config=Config(retries={"max_attempts": 1})
    )

    def hang(request: Any, **_: Any) -> None:
        raise ConnectTimeoutError(endpoint_url=request.url)

    client.meta.events.register("before-send.ecs", hang)
    backend = EcsBackend(lambda **_: client)

    with pytest.raises(BackendError) as raised:
        backend.upgrade(TARGET)

    assert status_for(raised.value) == (503, "ServiceUnavailable")
    assert raised.value.message.startswith(
        "ECS DescribeServices for ECS service apps/my-app got no answer"
    )
