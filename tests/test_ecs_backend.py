"""The ``ecs`` backend's requests, exactly as built (botocore's ``Stubber`` checks every
parameter of every call, in order, with no I/O): install and upgrade register a revision
copied from the running one, rollback goes back to a recorded task definition (or sends
nothing when the circuit breaker did it), scale and terminate set the desired count, and a
dry run reads but never writes."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber

from chalicelib.adapters.ecs.backend import EcsBackend
from chalicelib.adapters.ecs.taskdefs import REGISTER_FIELDS
from chalicelib.domain.errors import InvalidRequest, ReleaseNotFound
from chalicelib.domain.models import ChartRef
from chalicelib.domain.ports import Action, ReleaseRef, ReleaseTarget, RolloutPhase
from chalicelib.domain.states import OperationType
from tests.ecs_helpers import task_definition_arn

CLUSTER, SERVICE = "apps", "my-app"
WHERE = {"cluster": CLUSTER, "service": SERVICE}
TASK_DEFINITION: dict[str, Any] = {
    "taskDefinitionArn": task_definition_arn(1),
    "family": "my-app",
    "revision": 1,
    "status": "ACTIVE",
    "taskRoleArn": "arn:aws:iam::123456789012:role/my-app-task",
    "executionRoleArn": "arn:aws:iam::123456789012:role/my-app-execution",
    "networkMode": "awsvpc",
    "requiresCompatibilities": ["FARGATE"],
    "compatibilities": ["EC2", "FARGATE"],
    "cpu": "256",
    "memory": "512",
    "volumes": [],
    "placementConstraints": [],
    "registeredBy": "arn:aws:iam::123456789012:role/deployer",
    "containerDefinitions": [
        {
            "name": "web",
            "image": "registry.example.com:5000/shop/my-app:v0",
            "essential": True,
            "portMappings": [{"containerPort": 8080}],
            "environment": [
                {"name": "LOG_LEVEL", "value": "info"},
                {"name": "REGION", "value": "eu"},
            ],
        },
        {"name": "log-router", "image": "fluent-bit:2", "essential": False},
    ],
}


def _service(task_definition: str, *, breaker: bool = False, **primary: Any) -> dict[str, Any]:
    return {
        "serviceName": SERVICE,
        "status": "ACTIVE",
        "taskDefinition": task_definition,
        "desiredCount": 2,
        "runningCount": 2,
        "pendingCount": 0,
        "deploymentController": {"type": "ECS"},
        "deploymentConfiguration": {
            "deploymentCircuitBreaker": {"enable": breaker, "rollback": breaker}
        },
        "deployments": [
            {
                "id": "ecs-svc/1",
                "status": "PRIMARY",
                "taskDefinition": task_definition,
                "desiredCount": 2,
                "runningCount": 2,
                "pendingCount": 0,
                "rolloutState": "COMPLETED",
                **primary,
            }
        ],
        "events": [],
    }


def _registered(revision: int, image: str) -> dict[str, Any]:
    found = copy.deepcopy(TASK_DEFINITION)
    found["taskDefinitionArn"] = task_definition_arn(revision)
    found["revision"] = revision
    found["containerDefinitions"][0]["image"] = image
    return found


def _target(values: dict[str, Any], *, version: str = "v1") -> ReleaseTarget:
    return ReleaseTarget(
        release="my-app-production",
        namespace="production",
        chart=ChartRef("", "my-app", version),
        values={**WHERE, **values},
        revision=2,
        operation_id="op-1",
        timeout_seconds=60,
    )


class Rig:
    """A real ECS client whose calls the stubber answers, and the backend on it."""

    def __init__(self) -> None:
        self.client = boto3.client("ecs", region_name="eu-west-3")
        self.stub = Stubber(self.client)
        self.operations: list[str | None] = []
        self.backend = EcsBackend(self._clients)

    def _clients(self, *, operation_id: str | None = None) -> Any:
        self.operations.append(operation_id)
        return self.client

    def expect(self, method: str, params: dict[str, Any], answer: dict[str, Any]) -> None:
        self.stub.add_response(method, answer, params)

    def describe(self, service: dict[str, Any]) -> None:
        self.expect(
            "describe_services",
            {"cluster": CLUSTER, "services": [SERVICE]},
            {"services": [service], "failures": []},
        )

    def task_definition(self, arn: str, found: dict[str, Any]) -> None:
        self.expect("describe_task_definition", {"taskDefinition": arn}, {"taskDefinition": found})


@pytest.fixture
def rig() -> Iterator[Rig]:
    made = Rig()
    with made.stub:
        yield made
        made.stub.assert_no_pending_responses()


def test_ecs_upgrade_registers_a_copy_with_the_new_tag_then_updates_the_service(rig: Rig) -> None:
    rig.describe(_service(task_definition_arn(1)))
    rig.task_definition(task_definition_arn(1), TASK_DEFINITION)
    expected_request = {
        "family": "my-app",
        "taskRoleArn": "arn:aws:iam::123456789012:role/my-app-task",
        "executionRoleArn": "arn:aws:iam::123456789012:role/my-app-execution",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "512",
        "memory": "1 GB",
        "containerDefinitions": [
            {
                "name": "web",
                "image": "registry.example.com:5000/shop/my-app:v2.0.0",
                "essential": True,
                "portMappings": [{"containerPort": 8080}],
                "environment": [
                    {"name": "FEATURE_X", "value": "true"},
                    {"name": "LOG_LEVEL", "value": "debug"},
                    {"name": "REGION", "value": "eu"},
                ],
            },
            {"name": "log-router", "image": "fluent-bit:2", "essential": False},
        ],
    }
    registered = {**_registered(2, "x"), **expected_request}  # ECS echoes what it registered
    rig.expect("register_task_definition", expected_request, {"taskDefinition": registered})
    rig.expect(
        "update_service",
        {
            "cluster": CLUSTER,
            "service": SERVICE,
            "taskDefinition": task_definition_arn(2),
            "desiredCount": 3,
        },
        {"service": {}},
    )
    target = _target(
        {
            "container": "web",
            "image": {"tag": "v2.0.0"},
            "environment": {"LOG_LEVEL": "debug", "FEATURE_X": True},
            "cpu": 512,
            "memory": "1 GB",
            "replicaCount": 3,
        }
    )

    applied = rig.backend.upgrade(target)

    assert applied.backend_ref == task_definition_arn(2)
    assert applied.app_version == "v2.0.0"
    assert applied.extensions["ecs.taskDefinition"] == task_definition_arn(2)
    assert applied.extensions["ecs.image"] == "registry.example.com:5000/shop/my-app:v2.0.0"
    assert applied.extensions["ecs.cluster"] == CLUSTER
    assert applied.extensions["ecs.region"] == "eu-west-3"
    assert applied.extensions["ecs.desiredCount"] == 3
    # the container's variables by name only: the team's values are not ours to show
    assert applied.extensions["ecs.environment"] == ["FEATURE_X", "LOG_LEVEL", "REGION"]
    assert rig.operations == ["op-1"]  # the operation's client (its assumed-role session)


def test_ecs_install_without_a_container_picks_the_one_named_like_the_service(rig: Rig) -> None:
    two = copy.deepcopy(TASK_DEFINITION)
    two["containerDefinitions"][0]["name"] = SERVICE
    two["containerDefinitions"][1]["essential"] = True  # two essential ones: by its name
    rig.describe(_service(task_definition_arn(1)))
    rig.task_definition(task_definition_arn(1), two)
    request = {key: two[key] for key in REGISTER_FIELDS if two.get(key) not in (None, [], {})}
    request["containerDefinitions"] = copy.deepcopy(two["containerDefinitions"])
    request["containerDefinitions"][0]["image"] = "registry.example.com/my-app:v1"
    rig.expect("register_task_definition", request, {"taskDefinition": _registered(2, "x:v1")})
    rig.expect(
        "update_service",
        {"cluster": CLUSTER, "service": SERVICE, "taskDefinition": task_definition_arn(2)},
        {"service": {}},
    )

    rig.backend.install(
        _target({"image": {"repository": "registry.example.com/my-app"}}, version="v1")
    )


def test_ecs_scale_sets_the_desired_count_only(rig: Rig) -> None:
    rig.describe(_service(task_definition_arn(4)))
    rig.task_definition(task_definition_arn(4), _registered(4, "r/my-app:v2"))
    rig.expect("update_service", {"cluster": CLUSTER, "service": SERVICE, "desiredCount": 0}, {})

    applied = rig.backend.scale(_target({"image": {"tag": "v2"}, "replicaCount": 0}), replicas=0)

    assert applied.backend_ref == task_definition_arn(4)
    assert applied.extensions["ecs.desiredCount"] == 0


def test_ecs_rollback_sends_nothing_when_the_breaker_rolled_back(rig: Rig) -> None:
    rig.describe(_service(task_definition_arn(2), breaker=True, rolloutState="IN_PROGRESS"))
    rig.task_definition(task_definition_arn(2), _registered(2, "r/my-app:v1"))

    applied = rig.backend.rollback(
        _target({"image": {"tag": "v1"}}), to_backend_ref=task_definition_arn(2)
    )

    assert applied.backend_ref == task_definition_arn(2)
    assert applied.extensions["ecs.rollbackMethod"] == "circuitBreaker"


def test_ecs_rollback_points_the_service_back_at_the_recorded_revision(rig: Rig) -> None:
    rig.describe(_service(task_definition_arn(4)))
    rig.task_definition(task_definition_arn(2), _registered(2, "r/my-app:v1"))
    rig.expect(
        "update_service",
        {
            "cluster": CLUSTER,
            "service": SERVICE,
            "taskDefinition": task_definition_arn(2),
            "desiredCount": 5,
        },
        {},
    )

    applied = rig.backend.rollback(
        _target({"image": {"tag": "v1"}, "replicaCount": 5}), to_backend_ref=task_definition_arn(2)
    )

    assert applied.extensions["ecs.rollbackMethod"] == "updateService"
    assert applied.app_version == "v1"


def test_ecs_rollback_to_a_deregistered_revision_registers_the_snapshot(rig: Rig) -> None:
    rig.describe(_service(task_definition_arn(4)))
    rig.stub.add_client_error(
        "describe_task_definition",
        service_error_code="ClientException",
        service_message="Unable to describe task definition.",
        expected_params={"taskDefinition": task_definition_arn(2)},
    )
    rig.task_definition(task_definition_arn(4), _registered(4, "r/my-app:v2"))
    registered = _registered(5, "r/my-app:v1")
    rig.stub.add_response(
        "register_task_definition", {"taskDefinition": registered}, expected_params=None
    )
    rig.expect(
        "update_service",
        {"cluster": CLUSTER, "service": SERVICE, "taskDefinition": task_definition_arn(5)},
        {},
    )

    applied = rig.backend.rollback(
        _target({"container": "web", "image": {"tag": "v1"}}),
        to_backend_ref=task_definition_arn(2),
    )

    assert applied.extensions["ecs.rollbackMethod"] == "snapshot"
    assert applied.backend_ref == task_definition_arn(5)


def test_ecs_uninstall_scales_to_zero_and_a_missing_service_is_gone(rig: Rig) -> None:
    ref = ReleaseRef(
        "my-app-production", "production", applied={"ecs.cluster": CLUSTER, "ecs.service": SERVICE}
    )
    rig.expect("update_service", {"cluster": CLUSTER, "service": SERVICE, "desiredCount": 0}, {})
    rig.stub.add_client_error(
        "update_service",
        service_error_code="ServiceNotFoundException",
        service_message="Service not found.",
    )

    rig.backend.uninstall(ref)
    with pytest.raises(ReleaseNotFound, match="ECS service my-app not found in cluster apps"):
        rig.backend.uninstall(ref)


def test_ecs_status_reads_the_service_the_apply_recorded(rig: Rig) -> None:
    applied = {
        "ecs.cluster": CLUSTER,
        "ecs.service": SERVICE,
        "ecs.taskDefinition": task_definition_arn(2),
        "ecs.image": "r/my-app:v1",
    }
    rig.describe(_service(task_definition_arn(2)))
    rig.expect(
        "describe_services",
        {"cluster": CLUSTER, "services": [SERVICE]},
        {"services": [], "failures": [{"arn": "x", "reason": "MISSING"}]},
    )

    ready = rig.backend.status(ReleaseRef("my-app-production", "production", applied=applied))
    gone = rig.backend.status(ReleaseRef("my-app-production", "production", applied=applied))
    never = rig.backend.status(ReleaseRef("my-app-production", "production"))

    assert (ready.phase, ready.components[0].version) == (RolloutPhase.READY, "v1")
    assert gone.phase is RolloutPhase.ABSENT
    assert never.phase is RolloutPhase.ABSENT  # nothing applied yet: nothing to read
    assert rig.operations == [None, None]  # reads: no operation's session


def test_ecs_history_lists_the_deployments_ecs_keeps(rig: Rig) -> None:
    service = _service(task_definition_arn(3), rolloutState="IN_PROGRESS")
    service["deployments"].append(
        {"id": "ecs-svc/0", "status": "ACTIVE", "taskDefinition": task_definition_arn(2)}
    )
    rig.describe(service)
    ref = ReleaseRef(
        "my-app-production", "production", applied={"ecs.cluster": CLUSTER, "ecs.service": SERVICE}
    )

    found = rig.backend.history(ref)

    assert [(r.backend_ref, r.status) for r in found] == [
        (task_definition_arn(2), "ACTIVE"),
        (task_definition_arn(3), "IN_PROGRESS"),
    ]


def test_ecs_upgrade_plan_reads_and_shows_the_aws_commands(rig: Rig) -> None:
    rig.describe(_service(task_definition_arn(1)))
    rig.task_definition(task_definition_arn(1), TASK_DEFINITION)
    action = Action(OperationType.UPGRADE, _target({"image": {"tag": "v3"}, "replicaCount": 4}))

    steps = rig.backend.plan(action)

    register, update = steps
    assert register.command[:4] == ("aws", "ecs", "register-task-definition", "--cli-input-json")
    assert register.command[-2:] == ("--region", "eu-west-3")
    sent = json.loads(register.command[4])
    assert sent == register.body
    assert sent["containerDefinitions"][0]["image"] == "registry.example.com:5000/shop/my-app:v3"
    assert "taskDefinitionArn" not in sent
    assert "registeredBy" not in sent
    assert update.command == (
        "aws",
        "ecs",
        "update-service",
        "--cluster",
        CLUSTER,
        "--service",
        SERVICE,
        "--task-definition",
        "my-app",
        "--desired-count",
        "4",
        "--region",
        "eu-west-3",
    )
    assert "my-app:1" in register.description


def test_ecs_scale_and_terminate_plans_send_nothing(rig: Rig) -> None:
    target = _target({"image": {"tag": "v3"}})

    scale = rig.backend.plan(Action(OperationType.SCALE, target, replicas=0))
    stop = rig.backend.plan(Action(OperationType.TERMINATE, target))

    assert scale[0].command[2:] == (
        "update-service",
        "--cluster",
        CLUSTER,
        "--service",
        SERVICE,
        "--desired-count",
        "0",
        "--region",
        "eu-west-3",
    )
    assert stop[0].command == scale[0].command
    assert "the service itself is kept" in stop[0].description


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"cluster": None}, "needs parameters cluster and service"),
        ({"service": "has space"}, "is not an ECS service name"),
        ({"image": {"tag": "v1:bad"}}, "image.tag"),
        ({"environment": {"1X": "y"}}, "is not a variable name"),
        ({"cpu": "lots"}, "is not a task size"),
        ({"healthChecks": [{"name": "x"}]}, "healthChecks run through"),
    ],
)
def test_ecs_refuses_bad_parameters_before_any_call(
    rig: Rig, values: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(InvalidRequest, match=fragment):
        rig.backend.upgrade(_target(values))


def test_ecs_register_fields_are_what_both_calls_know() -> None:
    """Every field RegisterTaskDefinition takes that a described task definition also has,
    except tags (they need ecs:TagResource), per botocore's model."""
    model = botocore.session.get_session().get_service_model("ecs")
    takes_shape: Any = model.operation_model("RegisterTaskDefinition").input_shape
    has_shape: Any = model.shape_for("TaskDefinition")
    takes, has = set(takes_shape.members), set(has_shape.members)

    assert set(REGISTER_FIELDS) == (takes & has) - {"tags"}
