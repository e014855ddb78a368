"""``Prefer: wait=N`` (RFC 7240): a change answered once it has ended, as the seed shows its
answers (``INSTANTIATED``), or with the state of the moment when N seconds run out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.service import waiting
from tests.api_helpers import BASE, Answer
from tests.conftest import World
from tests.openapi_check import check_answer


@pytest.fixture
def stepping(world: World, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Each pause of the wait lets that much time pass in the world and steps its rollouts."""
    pauses: list[float] = []

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        world.clock.advance(seconds)
        world.driver.poll()

    monkeypatch.setattr(waiting, "pause", pause)
    return pauses


def request(client: Any, method: str, path: str, body: Any, prefer: str | None) -> Answer:
    headers = {"Content-Type": "application/json"}
    if prefer is not None:
        headers["Prefer"] = prefer
    url = f"{BASE}/{path}"
    payload = json.dumps(body) if body is not None else None
    response = client.http.request(method, url, headers=headers, body=payload)
    decoded = json.loads(response.body) if response.body else None
    check_answer(method, url, response.status_code, decoded)
    return Answer(response.status_code, decoded, response.headers)


def test_an_upgrade_with_prefer_wait_answers_once_it_is_instantiated(
    running: Any, stepping: list[float]
) -> None:
    upgrade = {"parameters": {"image": {"tag": "1.21.0"}}}

    answer = request(running, "PUT", "nfDeployments/nginx-prod", upgrade, "wait=20")

    assert answer.status == 200, answer.body
    assert (answer.body["status"], answer.body["version"]) == ("INSTANTIATED", 2)
    operation = f"nfDeployments/nginx-prod/operations/{answer.body['operationId']}"
    assert request(running, "GET", operation, None, None).body["state"] == "COMPLETED"
    assert answer.headers["Preference-Applied"] == "wait=20"
    assert 0 < sum(stepping) <= 20


def test_without_the_preference_or_when_it_runs_out_the_answer_is_the_current_state(
    running: Any, stepping: list[float]
) -> None:
    plain = request(running, "POST", "nfDeployments/nginx-prod/rollback", {"revision": 0}, None)
    assert plain.status == 409  # nothing to roll back to yet: one revision

    upgrade = {"parameters": {"replicaCount": 3}}
    answer = request(running, "PUT", "nfDeployments/nginx-prod", upgrade, "respond-async")
    assert answer.body["status"] == "DEPLOYING"
    assert "Preference-Applied" not in answer.headers
    assert stepping == []

    running_out = request(
        running, "POST", "nfDeployments/nginx-prod/rollback", {"revision": 1}, "wait=1"
    )
    assert running_out.status == 200
    assert running_out.body["status"] == "ROLLING_BACK"  # a rollback may interrupt
    assert sum(stepping) == 1


def test_wait_is_capped_under_api_gateways_limit_and_serves_scale_too(
    running: Any, stepping: list[float]
) -> None:
    answer = request(running, "POST", "nfDeployments/nginx-prod/scale", {"replicas": 4}, "wait=600")

    assert answer.status == 204
    assert answer.headers["Preference-Applied"] == f"wait={waiting.MAX_WAIT_SECONDS}"
    status = request(running, "GET", "nfDeployments/nginx-prod/status", None, None).body
    assert (status["status"], status["message"]) == (
        "INSTANTIATED",
        "Deployment scaled to 4 replicas",
    )
