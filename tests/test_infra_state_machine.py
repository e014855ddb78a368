"""The deployed rollout state machine runs the definition that
``test_rollout_state_machine.py`` executes, with the app's own task functions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.cdk_template import ROOT, arn_of, render, resources


@pytest.fixture(scope="module")
def machine(stack_template: dict[str, Any]) -> dict[str, Any]:
    (found,) = resources(stack_template, "AWS::StepFunctions::StateMachine").values()
    return found


def test_state_machine_definition_is_the_file_the_tests_execute(machine: dict[str, Any]) -> None:
    expected = json.loads((ROOT / "infra" / "rollout.asl.json").read_text())

    assert json.loads(machine["Properties"]["DefinitionString"]) == expected


def test_state_machine_substitutes_the_rollout_task_functions(machine: dict[str, Any]) -> None:
    substitutions = render(machine["Properties"]["DefinitionSubstitutions"])

    assert substitutions == {
        "RolloutFollowFunctionArn": "${RolloutFollow.Arn}",
        "RolloutAbortFunctionArn": "${RolloutAbort.Arn}",
    }


def test_state_machine_is_traced_and_logs_to_its_own_group(
    stack_template: dict[str, Any], machine: dict[str, Any]
) -> None:
    properties = machine["Properties"]
    logging = properties["LoggingConfiguration"]
    (destination,) = logging["Destinations"]
    group_id = arn_of(destination["CloudWatchLogsLogGroup"]["LogGroupArn"])

    assert properties["TracingConfiguration"] == {"Enabled": True}
    assert logging["Level"] == "ERROR"
    group = stack_template["Resources"][group_id]
    assert group["Properties"]["LogGroupName"] == "/aws/vendedlogs/states/o2dms-dev-rollout"
    assert group["Properties"]["RetentionInDays"] == 14


def test_state_machine_name_matches_the_arn_the_functions_are_given(
    stack_template: dict[str, Any], machine: dict[str, Any]
) -> None:
    name = machine["Properties"]["StateMachineName"]
    functions = resources(stack_template, "AWS::Serverless::Function")

    for function in functions.values():
        variables = function["Properties"]["Environment"]["Variables"]
        arn = render(variables["O2DMS_ROLLOUT_STATE_MACHINE_ARN"])
        assert arn == (
            "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:" + name
        )


def test_state_machine_role_invokes_only_the_rollout_tasks(
    stack_template: dict[str, Any], machine: dict[str, Any]
) -> None:
    role_id = arn_of(machine["Properties"]["RoleArn"])
    policies = [
        p
        for p in resources(stack_template, "AWS::IAM::Policy").values()
        if render(p["Properties"]["Roles"]) == [f"${{{role_id}}}"]
    ]
    invoked = {
        resource
        for policy in policies
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "lambda:InvokeFunction"
        for resource in render(statement["Resource"])
    }

    assert invoked == {
        "${RolloutFollow.Arn}",
        "${RolloutFollow.Arn}:*",
        "${RolloutAbort.Arn}",
        "${RolloutAbort.Arn}:*",
    }
