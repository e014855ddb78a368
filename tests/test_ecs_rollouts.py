"""Seed 002's ``/api/v1/deployments`` with ``platform: ecs``, on moto's ECS moved on by the
stand-in: versions become task definition revisions of an existing service, a crashing one
is rolled back (by ECS's circuit breaker, or by us on a service without one), a rollback to a
version puts that version's task definition back, and our history names each revision's."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api_helpers import call
from tests.apm_bodies import V1
from tests.conftest import World
from tests.ecs_helpers import (
    CLUSTER,
    REPOSITORY,
    SERVICE,
    EcsRig,
    create_service,
    ecs_rig,
    task_definition_arn,
)

NF = "/o2dms/v1/nfDeployments/my-app-production"


def ecs_app(version: str, **configuration: Any) -> dict[str, Any]:
    return {
        "name": "my-app",
        "version": version,
        "platform": "ecs",
        "environment": "production",
        "configuration": {"cluster": CLUSTER, "service": SERVICE, **configuration},
    }


def started(client: Any, rig: EcsRig, version: str, **configuration: Any) -> dict[str, Any]:
    answer = call(client, "POST", V1, ecs_app(version, **configuration))
    assert answer.status == 201, answer.body
    return ended(client, rig, answer.body["id"])


def ended(client: Any, rig: EcsRig, rollout_id: str) -> dict[str, Any]:
    for _ in range(12):
        rig.settle()
        found: dict[str, Any] = call(client, "GET", f"{V1}/{rollout_id}").body
        if found["status"] in {"completed", "failed", "rolled_back"}:
            return found
    raise AssertionError(f"{rollout_id} still {found['status']}: {found['message']}")


@pytest.fixture
def rig(world: World) -> EcsRig:
    return ecs_rig(world)


def test_ecs_versions_roll_back_by_the_circuit_breaker(client: Any, rig: EcsRig) -> None:
    create_service(rig.ecs, breaker=True)
    rig.steady()

    first = started(client, rig, "v1.0.0", container="web", replicas=2)
    assert first["status"] == "completed", first
    assert first["platform"] == "ecs"
    assert [(c["name"], c["version"], c["ready"]) for c in first["components"]] == [
        ("my-app", "v1.0.0", 2)
    ]
    second = started(client, rig, "v2.0.0", environment={"LOG_LEVEL": "debug"}, cpu=512)
    assert (second["status"], second["previous_version"]) == ("completed", "v1.0.0")
    assert rig.service()["taskDefinition"] == task_definition_arn(3)
    assert rig.image_of(task_definition_arn(3)) == f"{REPOSITORY}:v2.0.0"

    crashed = started(client, rig, "v3.0.0-crash")
    assert crashed["status"] == "rolled_back", crashed
    assert "circuit breaker" in crashed["reason"], crashed
    assert crashed["stages"][-1]["name"] == "rolling_back"
    # ECS rolled back by itself; we recorded it and sent nothing more
    updates = rig.requests("UpdateService")
    assert [u.get("taskDefinition") for u in updates] == [
        task_definition_arn(2),
        task_definition_arn(3),
        task_definition_arn(4),
    ]
    assert rig.service()["taskDefinition"] == task_definition_arn(3)
    nf = call(client, "GET", NF).body
    assert nf["extensions"]["ecs.rollbackMethod"] == "circuitBreaker"

    answer = call(
        client,
        "POST",
        f"{V1}/{second['id']}/rollback",
        {"reason": "Performance degradation", "target_version": "v1.0.0"},
    )
    assert answer.status == 202, answer.body
    back = ended(client, rig, answer.body["id"])
    assert (back["status"], back["version"]) == ("rolled_back", "v1.0.0"), back
    assert rig.service()["taskDefinition"] == task_definition_arn(2)
    assert rig.requests("UpdateService")[-1] == {
        "cluster": CLUSTER,
        "service": SERVICE,
        "taskDefinition": task_definition_arn(2),
    }

    history = call(client, "GET", f"{NF}/history").body["revisions"]
    assert [(r["revision"], r["status"], r["rollbackTo"], r["backendRef"]) for r in history] == [
        (5, "deployed", 1, task_definition_arn(2)),
        (4, "superseded", 2, task_definition_arn(3)),
        (3, "failed", None, task_definition_arn(4)),
        (2, "superseded", None, task_definition_arn(3)),
        (1, "superseded", None, task_definition_arn(2)),
    ]
    # every revision's task definition runs its version
    assert rig.image_of(task_definition_arn(4)) == f"{REPOSITORY}:v3.0.0-crash"
    assert rig.image_of(task_definition_arn(2)) == f"{REPOSITORY}:v1.0.0"


def test_ecs_without_a_breaker_is_rolled_back_by_us(client: Any, rig: EcsRig) -> None:
    create_service(rig.ecs, breaker=False)
    rig.steady()
    assert started(client, rig, "v1.0.0")["status"] == "completed"
    second = started(client, rig, "v2.0.0")
    assert second["status"] == "completed"

    crashed = started(client, rig, "v3.0.0-crash")
    assert crashed["status"] == "rolled_back", crashed
    assert "failed to start" in crashed["reason"], crashed
    assert "exit code 1" in crashed["reason"], crashed
    updates = [u.get("taskDefinition") for u in rig.requests("UpdateService")]
    assert updates == [
        task_definition_arn(2),
        task_definition_arn(3),
        task_definition_arn(4),
        task_definition_arn(3),  # ours: ECS has no breaker to do it
    ]
    assert rig.service()["taskDefinition"] == task_definition_arn(3)
    nf = call(client, "GET", NF).body
    assert nf["extensions"]["ecs.rollbackMethod"] == "updateService"

    answer = call(
        client,
        "POST",
        f"{V1}/{second['id']}/rollback",
        {"reason": "back to the first", "target_version": "v1.0.0"},
    )
    back = ended(client, rig, answer.body["id"])
    assert back["status"] == "rolled_back", back
    assert rig.service()["taskDefinition"] == task_definition_arn(2)


def test_ecs_dry_run_rollback_shows_the_aws_command(client: Any, rig: EcsRig) -> None:
    create_service(rig.ecs, breaker=True)
    rig.steady()
    started(client, rig, "v1.0.0")
    second = started(client, rig, "v2.0.0", replicas=3)
    plan = call(
        client, "POST", f"{V1}/{second['id']}/rollback?dry_run=true", {"target_version": "v1.0.0"}
    )
    assert plan.status == 200, plan.body
    assert [c["command"] for c in plan.body["commands"]] == [
        [
            "aws",
            "ecs",
            "update-service",
            "--cluster",
            CLUSTER,
            "--service",
            SERVICE,
            "--task-definition",
            task_definition_arn(2),
            "--region",
            "us-east-1",
        ]
    ]
    assert {d["field"] for d in plan.body["diff"]} == {"chart", "image.tag", "replicaCount"}
    assert [r["flag"] for r in plan.body["risks"]] == ["changes_outside_pod_template"]
    assert len(rig.requests("UpdateService")) == 2  # the dry run sent nothing


def test_ecs_start_refusals(client: Any, rig: EcsRig) -> None:
    create_service(rig.ecs, breaker=True)
    rig.steady()
    body = ecs_app("v1.0.0")
    del body["configuration"]["service"]
    assert call(client, "POST", V1, body).status == 400
    labelled = call(client, "POST", V1, ecs_app("v1.0.0", labels={"app": "x"}))
    assert (labelled.status, labelled.body["message"]) == (
        400,
        "configuration.labels: only for kubernetes, helm, argocd and flux",
    )
    elsewhere = ecs_app("v1.0.0")
    elsewhere["platform"] = "kubernetes"
    assert call(client, "POST", V1, elsewhere).body["message"] == (
        "configuration.cluster, configuration.service: only for the ecs platform"
    )
    bad_size = call(client, "POST", V1, ecs_app("v1.0.0", cpu="lots"))
    assert bad_size.status == 400, bad_size.body
    missing = call(client, "POST", V1, ecs_app("v1.0.0", service="nope"))
    assert missing.status == 404, missing.body

    assert started(client, rig, "v1.0.0")["status"] == "completed"
    moved = call(client, "POST", V1, ecs_app("v2.0.0", service="other"))
    assert (moved.status, moved.body["message"]) == (
        409,
        "my-app in production rolls out ECS service my-app, not other",
    )
