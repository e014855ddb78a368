"""Least privilege, checked on the synthesized template: no wildcard action anywhere,
``Resource: "*"`` only for actions that accept nothing else, and each function allowed only
what its code does, on the stack's own resources or the configured clusters."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from infra.permissions import ALLOWED_ON_ANY_RESOURCE
from tests.cdk_template import (
    CLUSTER_ARNS,
    CLUSTER_ROLE_ARNS,
    arn_of,
    as_list,
    policy_documents,
    render,
    resources,
    scheduler_role_id,
    statements,
)

ARN = "arn:${AWS::Partition}"
REGION_ACCOUNT = "${AWS::Region}:${AWS::AccountId}"
# Those that act on deployments: any table item, events, kubeconfigs, clusters.
DEPLOYMENT_FUNCTIONS = (
    "APIHandler",
    "RolloutFollow",
    "RolloutAbort",
    "ScheduledScale",
    "AlarmRollback",
    "WebsocketConnect",
    "WebsocketMessage",
)
FUNCTIONS = (*DEPLOYMENT_FUNCTIONS, "WebsocketDisconnect", "LiveUpdates")
STARTS_ROLLOUTS = {"APIHandler", "ScheduledScale", "AlarmRollback"}

Grants = dict[str, set[str]]  # action -> resources


def _grants(template: dict[str, Any], function: str) -> Grants:
    role = template["Resources"][arn_of(template["Resources"][function]["Properties"]["Role"])]
    granted: Grants = defaultdict(set)
    for policy in role["Properties"].get("Policies", []):
        for statement in statements(policy["PolicyDocument"]):
            for action in as_list(statement["Action"]):
                granted[action] |= {str(r) for r in as_list(render(statement["Resource"]))}
    return granted


@pytest.fixture(scope="module")
def grants(stack_template: dict[str, Any]) -> dict[str, Grants]:
    return {function: _grants(stack_template, function) for function in FUNCTIONS}


def test_no_policy_in_the_template_has_a_wildcard_action(stack_template: dict[str, Any]) -> None:
    offending = [
        (where, action)
        for where, document in policy_documents(stack_template)
        for statement in statements(document)
        for action in as_list(statement.get("Action", [])) + as_list(statement.get("NotAction", []))
        if "*" in action or "NotAction" in statement
    ]

    assert offending == []


def test_resource_star_only_with_actions_that_need_it(stack_template: dict[str, Any]) -> None:
    offending = [
        (where, sorted(set(as_list(statement["Action"])) - ALLOWED_ON_ANY_RESOURCE))
        for where, document in policy_documents(stack_template)
        for statement in statements(document)
        if "*" in as_list(statement.get("Resource", [])) or "NotResource" in statement
        if set(as_list(statement["Action"])) - ALLOWED_ON_ANY_RESOURCE or "NotResource" in statement
    ]

    assert offending == []


def test_every_function_has_a_role_of_its_own(stack_template: dict[str, Any]) -> None:
    roles = [
        render(stack_template["Resources"][function]["Properties"]["Role"])
        for function in FUNCTIONS
    ]

    assert len(set(roles)) == len(FUNCTIONS)
    assert not resources(stack_template, "AWS::IAM::Role").keys() & {"DefaultRole"}


def test_clusters_are_reached_only_through_the_configured_roles_and_clusters(
    grants: dict[str, Grants],
) -> None:
    for function, granted in grants.items():
        reaching = function in DEPLOYMENT_FUNCTIONS
        assert granted.get("sts:AssumeRole", set()) == (
            set(CLUSTER_ROLE_ARNS) if reaching else set()
        )
        assert granted.get("eks:DescribeCluster", set()) == (
            set(CLUSTER_ARNS) if reaching else set()
        )


def test_table_and_key_actions_are_bounded_to_the_stacks_own(
    stack_template: dict[str, Any], grants: dict[str, Grants]
) -> None:
    (table_id,) = resources(stack_template, "AWS::DynamoDB::Table")
    (key_id,) = resources(stack_template, "AWS::KMS::Key")
    table = f"${{{table_id}.Arn}}"
    # The table, its indexes (reads), its stream (the stream's function only).
    own = {table, f"{table}/index/*", f"${{{table_id}.StreamArn}}", f"{table}/stream/*"}
    for function, granted in grants.items():
        for action, on in granted.items():
            if action.startswith("dynamodb:"):
                assert on <= own, (function, action)
            if action.startswith("kms:"):
                assert on == {f"${{{key_id}.Arn}}"}, action
        assert {"dynamodb:GetItem", "dynamodb:Query", "kms:Decrypt"} <= granted.keys()
        if function in DEPLOYMENT_FUNCTIONS:
            assert granted["dynamodb:PutItem"] == {table, f"{table}/index/*"}, function


def test_only_functions_that_start_operations_may_start_rollouts(
    grants: dict[str, Grants],
) -> None:
    machine = f"{ARN}:states:{REGION_ACCOUNT}:stateMachine:o2dms-dev-rollout"

    allowed = {f for f, granted in grants.items() if "states:StartExecution" in granted}

    assert allowed == STARTS_ROLLOUTS
    assert all(grants[f]["states:StartExecution"] == {machine} for f in allowed)


def test_events_and_kubeconfig_secrets_are_bounded(grants: dict[str, Grants]) -> None:
    for function in set(FUNCTIONS) - set(DEPLOYMENT_FUNCTIONS):
        assert not {"events:PutEvents", "ssm:GetParameter"} & grants[function].keys(), function
    for granted in (grants[f] for f in DEPLOYMENT_FUNCTIONS):
        assert granted["events:PutEvents"] == {f"{ARN}:events:{REGION_ACCOUNT}:event-bus/default"}
        assert granted["ssm:GetParameter"] == {f"{ARN}:ssm:{REGION_ACCOUNT}:parameter/o2dms/*"}
        assert granted["secretsmanager:GetSecretValue"] == {
            f"{ARN}:secretsmanager:{REGION_ACCOUNT}:secret:o2dms/*"
        }


def test_only_the_api_creates_schedules_and_passes_only_the_scheduler_role(
    stack_template: dict[str, Any], grants: dict[str, Grants]
) -> None:
    schedules = f"{ARN}:scheduler:{REGION_ACCOUNT}:schedule/o2dms-dev/*"
    scheduler_role = scheduler_role_id(stack_template)
    api = grants["APIHandler"]

    assert api["scheduler:CreateSchedule"] == api["scheduler:DeleteSchedule"] == {schedules}
    assert grants["ScheduledScale"]["scheduler:DeleteSchedule"] == {schedules}
    assert api["iam:PassRole"] == {f"${{{scheduler_role}.Arn}}"}
    passing = [
        s
        for _, document in policy_documents(stack_template)
        for s in statements(document)
        if "iam:PassRole" in as_list(s["Action"])
    ]
    assert [s["Condition"] for s in passing] == [
        {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
    ]
    for function in set(FUNCTIONS) - {"APIHandler"}:
        assert "scheduler:CreateSchedule" not in grants[function]
        assert not any(a.startswith("iam:") for a in grants[function])
    for function in ("RolloutFollow", "RolloutAbort", "AlarmRollback"):
        assert not any(a.startswith("scheduler:") for a in grants[function])


def test_scheduler_role_trusts_only_this_account_and_invokes_only_the_scaling_function(
    stack_template: dict[str, Any],
) -> None:
    role = stack_template["Resources"][scheduler_role_id(stack_template)]
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    (policy,) = role["Properties"]["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    scale = f"{ARN}:lambda:{REGION_ACCOUNT}:function:o2dms-dev-scheduled_scale"

    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert render(trust["Condition"]) == {
        "StringEquals": {"aws:SourceAccount": "${AWS::AccountId}"}
    }
    assert statement["Action"] == "lambda:InvokeFunction"
    assert render(statement["Resource"]) == [scale, f"{scale}:*"]


def test_only_the_alarm_handler_reads_alarms(grants: dict[str, Grants]) -> None:
    alarms = f"{ARN}:cloudwatch:{REGION_ACCOUNT}:alarm:*"

    readers = {
        f for f, granted in grants.items() if any(a.startswith("cloudwatch:") for a in granted)
    }

    assert readers == {"AlarmRollback"}
    assert grants["AlarmRollback"]["cloudwatch:ListTagsForResource"] == {alarms}


def test_functions_write_logs_only_to_their_own_group(grants: dict[str, Grants]) -> None:
    for function, granted in grants.items():
        (group,) = granted["logs:PutLogEvents"]
        assert group.startswith(f"{ARN}:logs:{REGION_ACCOUNT}:log-group:/aws/lambda/o2dms-dev")
        assert granted["logs:CreateLogStream"] == {group}, function
