"""The ecs adapter's IAM, built for one function without synthesizing the stack: nothing of
ECS unless the context names services; then their reads and updates on those services only,
task definitions on ``*`` (they have no ARN before they exist), and the named task roles
passed to ECS tasks only. Functions that do not deploy get none of it."""

from __future__ import annotations

from typing import Any

from infra.permissions import ALLOWED_ON_ANY_RESOURCE
from tests.cdk_template import as_list
from tests.test_infra_permissions import _allowed, _statements

SERVICES = ["arn:aws:ecs:eu-west-3:123456789012:service/apps/*"]
ROLES = [
    "arn:aws:iam::123456789012:role/my-app-task",
    "arn:aws:iam::123456789012:role/my-app-execution",
]
CONTEXT = {"ecsServiceArns": SERVICES, "ecsTaskRoleArns": ROLES}
ECS_CALLS = {
    "ecs:DescribeServices",
    "ecs:UpdateService",
    "ecs:DescribeTaskDefinition",
    "ecs:RegisterTaskDefinition",
}


def _passing(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        s
        for s in found
        if "iam:PassRole" in as_list(s["Action"]) and s["Resource"] != "role"  # not Scheduler's
    ]


def test_ecs_permissions_need_services_in_the_context() -> None:
    allowed = _allowed(_statements("API_HANDLER", {}))

    assert not {a for a in allowed if a.startswith("ecs:")}
    assert not _passing(_statements("API_HANDLER", {}))


def test_ecs_permissions_are_scoped_to_the_named_services_and_roles() -> None:
    for function in ("API_HANDLER", "ROLLOUT_FOLLOW", "SCHEDULED_SCALE", "ALARM_ROLLBACK"):
        found = _statements(function, CONTEXT)
        allowed = _allowed(found)

        assert allowed.keys() >= ECS_CALLS, function
        assert allowed["ecs:UpdateService"] == allowed["ecs:DescribeServices"] == SERVICES[0]
        assert allowed["ecs:RegisterTaskDefinition"] == "*"
        assert {"ecs:RegisterTaskDefinition", "ecs:DescribeTaskDefinition"} <= (
            ALLOWED_ON_ANY_RESOURCE
        )
        (passing,) = _passing(found)
        assert passing["Resource"] == ROLES
        assert passing["Condition"] == {
            "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
        }


def test_ecs_permissions_are_not_given_to_functions_that_do_not_deploy() -> None:
    allowed = _allowed(_statements("LIVE_UPDATES", CONTEXT, connections_arn="connections"))

    assert not ECS_CALLS & allowed.keys()
