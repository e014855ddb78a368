"""The ``ecs`` platform through ``make run`` (the local run, its AWS emulator moving ECS
services on with ``scripts/local_ecs.py``): a service made with AWS's own API on the emulator,
three versions started with ``apm deploy start --platform ecs`` (the third crashes: ECS's
circuit breaker rolls it back), then a rollback to the first over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from o2dms_cli.apm import apm
from tests.apm_bodies import V1
from tests.cli_helpers import runner
from tests.ecs_helpers import CLUSTER, REPOSITORY, SERVICE, create_service, task_definition_arn
from tests.test_local_run_acceptance import Api, fast_local_run
from tests.test_local_run_v1 import ended


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with fast_local_run(tmp_path_factory, "ecs") as running:
        yield running


def test_ecs_versions_through_the_local_run_and_its_cli(api: Api, tmp_path: Path) -> None:
    ecs = api.aws("ecs")
    create_service(ecs, breaker=True)
    run = runner(apm, api, tmp_path)

    def start(version: str) -> dict[str, Any]:
        result = run(
            f"deploy start --name my-app --version {version} --platform ecs"
            f" --environment production --config cluster={CLUSTER} --config service={SERVICE}"
            " --config replicas=2 --output json"
        )
        assert result.exit_code == 0, result.output
        return ended(api, json.loads(result.output)["id"], timeout=90)

    first = start("v1.0.0")
    assert first["status"] == "completed", first
    second = start("v2.0.0")
    assert second["status"] == "completed", second
    crashed = start("v3.0.0-crash")
    assert crashed["status"] == "rolled_back", crashed
    assert "circuit breaker" in crashed["reason"], crashed
    service = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
    assert service["taskDefinition"] == task_definition_arn(3)
    assert any("rolling back to deployment" in e["message"] for e in service["events"])

    answer = api(
        "POST",
        f"{V1}/{second['id']}/rollback",
        {"reason": "Performance degradation", "target_version": "v1.0.0"},
    )
    assert answer.status_code == 202, answer.text
    back = ended(api, answer.json()["id"], timeout=90)
    assert (back["status"], back["version"]) == ("rolled_back", "v1.0.0"), back
    service = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
    assert service["taskDefinition"] == task_definition_arn(2)
    image = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
    assert image["taskDefinition"]["containerDefinitions"][0]["image"] == f"{REPOSITORY}:v1.0.0"

    history = api("GET", "nfDeployments/my-app-production/history").json()["revisions"]
    assert [(r["revision"], r["status"], r["backendRef"]) for r in history] == [
        (5, "deployed", task_definition_arn(2)),
        (4, "superseded", task_definition_arn(3)),
        (3, "failed", task_definition_arn(4)),
        (2, "superseded", task_definition_arn(3)),
        (1, "superseded", task_definition_arn(2)),
    ]
    listed = run("deploy list --platform ecs --limit 10 --output json")
    assert [d["id"] for d in json.loads(listed.output)["deployments"]] == [
        back["id"],
        crashed["id"],
        second["id"],
        first["id"],
    ]
