"""The ECS stand-in (``scripts/local_ecs.py``) on moto, on a clock the test moves: a rolling
update's deployments and task counts, a resize, tasks that crash with and without the
deployment circuit breaker, and its bookkeeping kept across a pickled restart."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.ecs.models import ecs_backends

from scripts.local_ecs import EcsScheduler
from tests.ecs_helpers import CLUSTER, FAMILY, REPOSITORY, SERVICE, create_service


class Ecs:
    def __init__(self) -> None:
        self.now = 0.0
        self.client = boto3.client("ecs", region_name="us-east-1")
        self.scheduler = EcsScheduler(ecs_backends, clock=lambda: self.now)

    def run(self, seconds: int) -> None:
        for _ in range(seconds):
            self.now += 1
            self.scheduler.tick()

    def service(self) -> dict[str, Any]:
        found: dict[str, Any] = self.client.describe_services(cluster=CLUSTER, services=[SERVICE])[
            "services"
        ][0]
        return found

    def deployments(self) -> list[tuple[str, str, str, int, int, int]]:
        return [
            (
                d["status"],
                d["taskDefinition"].rsplit("/", 1)[1],
                d["rolloutState"],
                d["runningCount"],
                d["pendingCount"],
                d["failedTasks"],
            )
            for d in self.service()["deployments"]
        ]

    def events(self) -> list[str]:
        return [e["message"] for e in self.service()["events"]]

    def roll_out(self, tag: str) -> None:
        container = {"name": "web", "image": f"{REPOSITORY}:{tag}", "memory": 128}
        arn = self.client.register_task_definition(family=FAMILY, containerDefinitions=[container])[
            "taskDefinition"
        ]["taskDefinitionArn"]
        self.client.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=arn)


@pytest.fixture
def ecs() -> Iterator[Ecs]:
    with mock_aws():
        yield Ecs()


def test_stand_in_rolls_a_new_task_definition_out(ecs: Ecs) -> None:
    create_service(ecs.client, breaker=True)
    ecs.run(3)
    assert ecs.deployments() == [("PRIMARY", "my-app:1", "COMPLETED", 2, 0, 0)]

    ecs.roll_out("v2")
    ecs.run(1)
    assert ecs.deployments() == [
        ("PRIMARY", "my-app:2", "IN_PROGRESS", 0, 2, 0),
        ("ACTIVE", "my-app:1", "COMPLETED", 2, 0, 0),
    ]
    assert ecs.service()["runningCount"] == 2
    assert ecs.service()["pendingCount"] == 2
    ecs.run(2)
    assert ecs.deployments()[0] == ("PRIMARY", "my-app:2", "IN_PROGRESS", 2, 0, 0)
    ecs.run(1)
    assert ecs.deployments() == [("PRIMARY", "my-app:2", "COMPLETED", 2, 0, 0)]
    assert ecs.events()[0] == "(service my-app) has reached a steady state."
    assert ecs.events()[1].endswith("deployment completed.")
    assert ecs.events()[2].startswith("(service my-app) has stopped 2 running tasks: (task ")


def test_stand_in_resizes_the_primary_deployment(ecs: Ecs) -> None:
    create_service(ecs.client, breaker=False)
    ecs.run(3)
    ecs.client.update_service(cluster=CLUSTER, service=SERVICE, desiredCount=3)
    ecs.run(1)

    assert ecs.deployments() == [("PRIMARY", "my-app:1", "COMPLETED", 2, 1, 0)]
    ecs.run(2)
    assert ecs.service()["runningCount"] == 3
    ecs.client.update_service(cluster=CLUSTER, service=SERVICE, desiredCount=0)
    ecs.run(1)
    assert ecs.deployments() == [("PRIMARY", "my-app:1", "COMPLETED", 0, 0, 0)]
    assert ecs.events()[:2] == [
        "(service my-app) has reached a steady state.",
        ecs.events()[1],
    ]
    assert ecs.events()[1].startswith("(service my-app) has stopped 3 running tasks")


def test_stand_in_crash_without_breaker_keeps_failing(ecs: Ecs) -> None:
    create_service(ecs.client, breaker=False)
    ecs.run(3)
    ecs.roll_out("v2-crash")
    ecs.run(12)

    (primary, old) = ecs.deployments()
    assert primary[:3] == ("PRIMARY", "my-app:2", "IN_PROGRESS")
    assert primary[5] >= 8  # failedTasks keeps growing
    assert old == ("ACTIVE", "my-app:1", "COMPLETED", 2, 0, 0)  # still serving
    assert any("exit code 1" in e for e in ecs.events())
    assert ecs.service()["taskDefinition"].endswith("my-app:2")


def test_stand_in_breaker_without_rollback_only_fails(ecs: Ecs) -> None:
    create_service(ecs.client, breaker=True, rollback=False)
    ecs.run(3)
    ecs.roll_out("v2-crash")
    ecs.run(8)

    (primary, old) = ecs.deployments()
    assert primary[:3] == ("PRIMARY", "my-app:2", "FAILED")
    assert old[:3] == ("ACTIVE", "my-app:1", "COMPLETED")
    assert ecs.service()["taskDefinition"].endswith("my-app:2")
    assert not any("rolling back" in e for e in ecs.events())


def test_stand_in_breaker_rolls_back_to_the_last_completed(ecs: Ecs) -> None:
    create_service(ecs.client, breaker=True)
    ecs.run(3)
    ecs.roll_out("v2-crash")
    ecs.run(5)  # two crashes of two tasks: past the threshold of 3

    assert [d[:3] for d in ecs.deployments()] == [
        ("PRIMARY", "my-app:1", "IN_PROGRESS"),
        ("ACTIVE", "my-app:2", "FAILED"),
        ("ACTIVE", "my-app:1", "COMPLETED"),
    ]
    assert ecs.service()["deployments"][0]["rolloutStateReason"].startswith(
        "ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/"
    )
    ecs.run(4)
    assert ecs.deployments() == [("PRIMARY", "my-app:1", "COMPLETED", 2, 0, 0)]


def test_stand_in_bookkeeping_survives_a_pickled_restart(ecs: Ecs) -> None:
    create_service(ecs.client, breaker=True)
    ecs.run(3)
    ecs.roll_out("v2")
    ecs.run(1)
    backend = ecs_backends["123456789012"]["us-east-1"]
    restored = pickle.loads(pickle.dumps(backend.services[f"{CLUSTER}:{SERVICE}"]))

    assert restored.deployments[0]["_standIn"]["pending"][0][1] == ecs.now
    assert "_standIn" not in ecs.service()["deployments"][0]  # never in an answer
