"""An ECS service's status as the port reports it, from recorded ``DescribeServices`` answers
(``tests/fixtures/ecs``): phase, progress, message, conditions, components, and the circuit
breaker's rollback told apart from a change made outside o2dms."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chalicelib.adapters.ecs.status import breaker_threshold, service_status
from chalicelib.adapters.ecs.target import Where
from chalicelib.domain.health import HealthStatus
from chalicelib.domain.ports import Replicas, RolloutPhase
from tests.ecs_helpers import task_definition_arn

FIXTURES = Path(__file__).parent / "fixtures" / "ecs"
WHERE = Where("apps", "my-app")


def recorded(name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((FIXTURES / f"describe_services_{name}.json").read_text())
    return found["services"][0] if found["services"] else found


def test_ecs_status_of_a_steady_service_is_ready() -> None:
    status = service_status(
        recorded("steady"), where=WHERE, expected=task_definition_arn(1), version="v0"
    )

    assert (status.phase, status.progress) == (RolloutPhase.READY, 100)
    assert status.message == "All 2 tasks of my-app:1 running"
    assert status.replicas == Replicas(desired=2, updated=2, ready=2, available=2)
    assert status.backend_ref == task_definition_arn(1)
    assert [(c.type, c.status, c.reason) for c in status.conditions] == [
        ("RolloutCompleted", "True", "COMPLETED"),
        ("DeploymentCircuitBreaker", "True", "RollbackEnabled"),
    ]
    (component,) = status.components
    assert (component.name, component.version, component.status) == ("my-app", "v0", "ready")
    (check,) = status.health_checks
    assert (check.name, check.type, check.status) == (
        "my-app-tasks",
        "readiness",
        HealthStatus.HEALTHY,
    )
    assert status.extensions["ecs.events"][0] == "(service my-app) has reached a steady state."


def test_ecs_status_of_a_rollout_under_way_counts_tasks() -> None:
    status = service_status(recorded("in_progress"), where=WHERE, expected=task_definition_arn(2))

    assert (status.phase, status.progress) == (RolloutPhase.PROGRESSING, 0)
    assert status.message.endswith(
        "of my-app:2: 0 of 2 tasks running, 2 pending; 2 tasks of older deployments still running"
    )
    assert status.replicas == Replicas(desired=2, updated=2, ready=0, available=0)
    assert status.health_checks[0].status is HealthStatus.PENDING
    assert status.extensions["ecs.rolloutState"] == "IN_PROGRESS"


def test_ecs_status_names_the_circuit_breakers_rollback() -> None:
    status = service_status(
        recorded("breaker_rolled_back"), where=WHERE, expected=task_definition_arn(3)
    )

    assert status.phase is RolloutPhase.FAILED
    assert status.message == (
        "ECS deployment circuit breaker: tasks failed to start. (my-app:3); ECS rolled the"
        " service back to my-app:2"
    )
    assert status.extensions["ecs.rolledBackBy"] == "circuitBreaker"
    assert status.extensions["ecs.rolledBackTo"] == task_definition_arn(2)
    assert status.backend_ref == task_definition_arn(2)


def test_ecs_status_keeps_the_verdict_once_the_failed_deployment_drained() -> None:
    done = recorded("breaker_rollback_done")

    failed = service_status(done, where=WHERE, expected=task_definition_arn(3))
    back = service_status(done, where=WHERE, expected=task_definition_arn(2))

    assert failed.phase is RolloutPhase.FAILED
    assert "ECS rolled the service back to my-app:2" in failed.message
    assert back.phase is RolloutPhase.READY  # the rollback we recorded, followed to its end


def test_ecs_status_without_a_breaker_fails_on_the_breakers_threshold() -> None:
    crash = recorded("crash_no_breaker")

    status = service_status(crash, where=WHERE, expected=task_definition_arn(3))

    assert status.phase is RolloutPhase.FAILED
    assert status.message.startswith("4 tasks of my-app:3 failed to start (0 of 2 running): ")
    assert "exit code 1" in status.message
    assert status.health_checks[0].status is HealthStatus.UNHEALTHY
    assert [c.reason for c in status.conditions] == ["IN_PROGRESS", "Disabled"]


def test_ecs_status_waits_for_the_breaker_when_it_is_on() -> None:
    crash = recorded("crash_no_breaker")
    guarded = {
        **crash,
        "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    }

    status = service_status(guarded, where=WHERE, expected=task_definition_arn(3))

    # ECS fails it and rolls back itself: reporting FAILED first would race it
    assert status.phase is RolloutPhase.PROGRESSING
    assert "4 failed to start" in status.message


def test_ecs_status_of_a_service_changed_outside_o2dms() -> None:
    plain = {**recorded("steady"), "deploymentConfiguration": {}}

    status = service_status(plain, where=WHERE, expected=task_definition_arn(7))

    assert status.phase is RolloutPhase.FAILED
    assert status.message == (
        "ECS service apps/my-app runs my-app:1, not my-app:7: it was changed outside o2dms"
    )
    assert "ecs.rolledBackBy" not in status.extensions


def test_ecs_status_of_a_termination_ends_when_no_task_runs() -> None:
    steady, zero = recorded("steady"), recorded("scaled_to_zero")

    stopping = service_status(steady, where=WHERE, expected=None, terminating=True)
    gone = service_status(zero, where=WHERE, expected=None, terminating=True)
    scaled = service_status(zero, where=WHERE, expected=task_definition_arn(2))

    assert (stopping.phase, stopping.message) == (
        RolloutPhase.PROGRESSING,
        "Stopping ECS service apps/my-app: 2 tasks left",
    )
    assert gone.phase is RolloutPhase.ABSENT
    assert "the service is kept" in gone.message
    # the same service, scaled to zero by a scale: a finished rollout, not an absence
    assert (scaled.phase, scaled.message) == (RolloutPhase.READY, "Scaled to 0 tasks (my-app:2)")


def test_ecs_status_of_a_deleted_service_is_absent() -> None:
    deleted = {**recorded("steady"), "status": "INACTIVE"}

    status = service_status(deleted, where=WHERE, expected=task_definition_arn(1))

    assert (status.phase, status.message) == (
        RolloutPhase.ABSENT,
        "ECS service apps/my-app is inactive",
    )


def test_ecs_breaker_threshold_is_half_the_tasks_between_3_and_200() -> None:
    assert [breaker_threshold(n) for n in (0, 1, 6, 7, 10, 1000)] == [3, 3, 3, 4, 5, 200]
