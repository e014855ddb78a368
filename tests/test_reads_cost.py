"""Read endpoints cost one DynamoDB round trip each, whatever the history length.

The count comes from botocore's own event hooks on the store's client, so every
request the store sends is seen.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api_helpers import call, create_deployment, create_descriptor
from tests.conftest import World


class RequestCounter:
    def __init__(self, client: Any) -> None:
        self.calls: list[str] = []
        client.meta.events.register("before-call.dynamodb", self._seen)

    def _seen(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)


@pytest.fixture
def counted(client: Any, world: World, dynamodb: Any) -> tuple[Any, RequestCounter]:
    create_descriptor(client)
    create_deployment(client)
    world.settle()
    for replicas in range(1, 26):  # a history longer than one page and than Helm's 10
        call(client, "POST", "nfDeployments/nginx-prod/scale", {"replicas": replicas})
        world.settle()
    counter = RequestCounter(dynamodb)
    return client, counter


@pytest.mark.parametrize(
    "path",
    [
        "nfDeployments/nginx-prod",
        "nfDeployments/nginx-prod/status",
        "nfDeployments/nginx-prod/history",
        "nfDeployments/nginx-prod/history/3",
        "nfDeployments/nginx-prod/operations",
        "nfDeployments",
        "nfDeploymentDescriptors/nginx-chart-1.2.0",
        "nfDeployments/nginx-prod/scalingSchedules",
        "nfDeployments/nginx-prod/rollbackAlarms",
    ],
)
def test_read_endpoint_costs_one_round_trip(counted: tuple[Any, RequestCounter], path: str) -> None:
    client, counter = counted

    answer = call(client, "GET", path)

    assert answer.status == 200
    assert len(counter.calls) == 1, counter.calls


def test_operation_read_costs_one_round_trip(counted: tuple[Any, RequestCounter]) -> None:
    client, counter = counted
    newest = call(client, "GET", "nfDeployments/nginx-prod/operations?limit=1").body
    counter.calls.clear()

    answer = call(
        client,
        "GET",
        f"nfDeployments/nginx-prod/operations/{newest['operations'][0]['operationId']}",
    )

    assert answer.status == 200
    assert counter.calls == ["GetItem"]
