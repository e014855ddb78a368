"""Seed 002's flows through ``make run`` (the local run, its simulated cluster): start three
versions of an app (the third crash-loops and is rolled back by itself), roll back to the
first with a reason, and plan a rollback, over HTTP with the local issuer's tokens."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.apm_bodies import V1, my_app, spans, two_parts
from tests.test_local_run_acceptance import Api, fast_local_run

ENDED = {"completed", "failed", "rolled_back"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with fast_local_run(tmp_path_factory, "v1") as running:
        yield running


def ended(api: Api, rollout_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found: dict[str, Any] = api("GET", f"{V1}/{rollout_id}").json()
        if found["status"] in ENDED:
            return found
        time.sleep(0.3)
    raise AssertionError(f"{rollout_id} still {found['status']} after {timeout}s")


def start(api: Api, version: str) -> dict[str, Any]:
    body = my_app(version, image="registry.example.com/my-app")
    answer = api("POST", V1, body)
    assert answer.status_code == 201, answer.text
    assert answer.headers["Location"] == f"{V1}/{answer.json()['id']}"
    return ended(api, answer.json()["id"])


def test_seed_002_flows_through_the_local_run(api: Api) -> None:
    first = start(api, "v1.0.0")
    assert first["status"] == "completed", first
    second = start(api, "v2.0.0")
    assert (second["status"], second["previous_version"]) == ("completed", "v1.0.0")
    crashed = start(api, "v3.0.0-crash")
    assert crashed["status"] == "rolled_back", crashed
    assert "CrashLoopBackOff" in crashed["reason"], crashed
    assert [s["name"] for s in crashed["stages"]][-1] == "rolling_back"

    plan = api("POST", f"{V1}/{second['id']}/rollback?dry_run=true", {"target_version": "v1.0.0"})
    assert plan.status_code == 200, plan.text
    body = plan.json()
    assert body["target_revision"] == 1
    assert {d["field"] for d in body["diff"]} >= {"image.tag", "labels.version"}
    before = api("GET", "nfDeployments/my-app-production").json()

    refused = api("POST", f"{V1}/{second['id']}/rollback", {"target_version": "v1.0.0"})
    assert refused.status_code == 400, refused.text
    answer = api(
        "POST",
        f"{V1}/{second['id']}/rollback",
        {"reason": "Performance degradation", "target_version": "v1.0.0"},
    )
    assert answer.status_code == 202, answer.text
    assert before["version"] == 4  # the dry run made no revision
    back = ended(api, answer.json()["id"])
    assert (back["status"], back["version"], back["rolled_back_from"]) == (
        "rolled_back",
        "v1.0.0",
        second["id"],
    )
    listed = api("GET", f"{V1}?platform=kubernetes&limit=10").json()["deployments"]
    assert [d["id"] for d in listed] == [
        back["id"],
        crashed["id"],
        second["id"],
        first["id"],
    ]
    completed = api("GET", f"{V1}?platform=kubernetes&status=completed&limit=10").json()
    assert [d["id"] for d in completed["deployments"]] == [second["id"], first["id"]]
    viewer = api.mint("viewer", subject="vera")
    assert api("GET", f"{V1}/{back['id']}", token=viewer).status_code == 200
    assert (
        api("POST", f"{V1}/{back['id']}/rollback", {"reason": "x"}, token=viewer).status_code == 403
    )


def test_components_through_the_local_run(api: Api) -> None:
    first = api("POST", V1, two_parts("v1.0.0")).json()
    first = ended(api, first["id"])
    assert first["status"] == "completed", first
    assert spans(first)["db"][1] <= spans(first)["api"][0]
    second = ended(api, api("POST", V1, two_parts("v2.0.0")).json()["id"])
    assert second["status"] == "completed", second
    answer = api(
        "POST",
        f"{V1}/{second['id']}/rollback",
        {"reason": "api errors", "target_version": "v1.0.0"},
    )
    assert answer.status_code == 202, answer.text
    back = ended(api, answer.json()["id"])
    assert back["status"] == "rolled_back", back
    assert spans(back)["api"][1] <= spans(back)["db"][0]
