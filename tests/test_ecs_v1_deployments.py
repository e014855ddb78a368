"""``/o2dms/v1`` deployments with ``adapter: ecs``: the descriptor names the ECS service, each
upgrade registers a task definition revision, a crashing one is rolled back by ECS's circuit
breaker, a rollback by revision number puts that revision's task definition back, a scaling
schedule's firing sets the desired count, and a termination scales the service to zero
(it is not ours to delete)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api_helpers import call
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

NF = "nfDeployments/web-prod"
DESCRIPTOR = {
    "descriptorId": "web-ecs",
    "name": "web",
    "artifactRepoUrl": f"oci://{REPOSITORY}",
    "artifactName": "my-app",
    "artifactVersion": "1.0.0",
    "defaultParameters": {"cluster": CLUSTER, "service": SERVICE, "container": "web"},
    "supportedAdapters": ["ecs"],
}


@pytest.fixture
def rig(world: World) -> EcsRig:
    found = ecs_rig(world)
    create_service(found.ecs, breaker=True)
    found.steady()
    return found


def settled(client: Any, rig: EcsRig) -> dict[str, Any]:
    for _ in range(12):
        rig.settle()
        status: dict[str, Any] = call(client, "GET", f"{NF}/status").body
        if status["status"] not in {"DEPLOYING", "ROLLING_BACK", "DELETING"}:
            return status
    raise AssertionError(f"web-prod still {status['status']}")


def upgrade(client: Any, tag: str, **parameters: Any) -> None:
    body = {"parameters": {"image": {"tag": tag}, **parameters}}
    answer = call(client, "PUT", NF, body)
    assert answer.status == 200, answer.body


def test_v1_ecs_deployment_through_its_lifecycle(client: Any, rig: EcsRig) -> None:
    assert call(client, "POST", "nfDeploymentDescriptors", DESCRIPTOR).status == 201
    created = call(
        client,
        "POST",
        "nfDeployments",
        {"name": "web-prod", "descriptorId": "web-ecs", "adapter": "ecs", "namespace": "prod"},
    )
    assert created.status == 201, created.body
    first = settled(client, rig)
    assert first["status"] == "INSTANTIATED", first
    # no tag given: the descriptor's version is the image tag
    assert rig.image_of(task_definition_arn(2)) == f"{REPOSITORY}:1.0.0"

    upgrade(client, "1.1.0", replicaCount=3)
    assert settled(client, rig)["status"] == "INSTANTIATED"
    assert rig.service()["desiredCount"] == 3
    upgrade(client, "1.2.0-crash")
    status = settled(client, rig)
    assert status["status"] == "INSTANTIATED", status  # back on 1.1.0, by ECS itself
    assert rig.service()["taskDefinition"] == task_definition_arn(3)

    rolled = call(client, "POST", f"{NF}/rollback", {"revision": 1, "reason": "back to 1.0.0"})
    assert rolled.status in {200, 202}, rolled.body
    assert settled(client, rig)["status"] == "INSTANTIATED"
    assert rig.service()["taskDefinition"] == task_definition_arn(2)
    history = call(client, "GET", f"{NF}/history").body["revisions"]
    assert [(r["revision"], r["appVersion"], r["backendRef"]) for r in history] == [
        (5, "1.0.0", task_definition_arn(2)),
        (4, "1.1.0", task_definition_arn(3)),
        (3, "1.2.0-crash", task_definition_arn(4)),
        (2, "1.1.0", task_definition_arn(3)),
        (1, "1.0.0", task_definition_arn(2)),
    ]
    detail = call(client, "GET", f"{NF}/history/2").body
    assert detail["values"]["image"] == {"tag": "1.1.0"}
    assert detail["values"]["replicaCount"] == 3

    # a scaling schedule's firing goes through the same scale: UpdateService(desiredCount)
    schedule = call(
        client, "POST", f"{NF}/scalingSchedules", {"expression": "rate(1 hour)", "replicas": 1}
    )
    assert schedule.status == 201, schedule.body
    fired = client.lambda_.invoke(
        "scheduled_scale",
        {
            "deploymentId": "web-prod",
            "scheduleId": schedule.body["scheduleId"],
            "replicas": 1,
            "scheduledTime": "2026-01-14T11:00:00Z",
        },
    )
    assert fired.payload["outcome"] == "started", fired.payload
    assert settled(client, rig)["status"] == "INSTANTIATED"
    assert rig.requests("UpdateService")[-1] == {
        "cluster": CLUSTER,
        "service": SERVICE,
        "desiredCount": 1,
    }
    assert rig.service()["runningCount"] == 1

    terminated = call(client, "DELETE", NF, {"reason": "done"})
    assert terminated.status in {200, 202}, terminated.body
    assert settled(client, rig)["status"] == "NOT_INSTANTIATED"
    service = rig.service()
    assert (service["status"], service["desiredCount"], service["runningCount"]) == ("ACTIVE", 0, 0)
    assert not rig.requests("DeleteService")


def test_v1_ecs_errors_are_clear(client: Any, rig: EcsRig) -> None:
    assert call(client, "POST", "nfDeploymentDescriptors", DESCRIPTOR).status == 201
    missing = call(
        client,
        "POST",
        "nfDeployments",
        {
            "name": "web-prod",
            "descriptorId": "web-ecs",
            "adapter": "ecs",
            "parameters": {"service": "nope"},
        },
    )
    assert missing.status == 404, missing.body
    assert missing.body["error"] == "NotFound"
    assert "ECS service nope not found in cluster apps" in missing.body["message"]

    no_cluster = call(
        client,
        "POST",
        "nfDeployments",
        {
            "name": "web-prod",
            "descriptorId": "web-ecs",
            "adapter": "ecs",
            "parameters": {"cluster": "elsewhere"},
        },
    )
    assert no_cluster.status == 404, no_cluster.body
    assert "ECS cluster elsewhere not found" in no_cluster.body["message"]

    secret = call(
        client,
        "POST",
        "nfDeploymentDescriptors",
        {
            **DESCRIPTOR,
            "descriptorId": "web-ecs-secret",
            "parameterSchema": {
                "type": "object",
                "properties": {
                    "environment": {
                        "type": "object",
                        "properties": {"DB_PASSWORD": {"type": "string", "writeOnly": True}},
                    }
                },
            },
        },
    )
    assert secret.status == 201, secret.body
    refused = call(
        client,
        "POST",
        "nfDeployments",
        {
            "name": "web-prod",
            "descriptorId": "web-ecs-secret",
            "adapter": "ecs",
            "parameters": {"environment": {"DB_PASSWORD": "hunter2"}},
        },
    )
    assert refused.status == 422, refused.body
    assert "Secrets Manager" in refused.body["message"]
