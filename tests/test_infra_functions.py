"""The Chalice app's functions as deployed: sized for helm (those that run it), given the
helm layer (only those) and their settings, traced, logged with a retention; the alarm rule
exists once; the service watches its own errors."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.events.automation import ALARM_EVENT_PATTERN
from tests.cdk_template import render, resources, scheduler_role_id

SIZES = {  # logical id -> (name, memory MB, timeout s)
    "APIHandler": ("o2dms-dev", 1024, 30),
    "RolloutFollow": ("o2dms-dev-rollout_follow", 1024, 120),
    "RolloutAbort": ("o2dms-dev-rollout_abort", 1024, 60),
    "ScheduledScale": ("o2dms-dev-scheduled_scale", 1024, 180),
    "AlarmRollback": ("o2dms-dev-alarm_rollback", 1024, 60),
    "WebsocketConnect": ("o2dms-dev-websocket_connect", 1024, 29),
    "WebsocketMessage": ("o2dms-dev-websocket_message", 1024, 29),
    "WebsocketDisconnect": ("o2dms-dev-websocket_disconnect", 512, 29),
    "LiveUpdates": ("o2dms-dev-live_updates", 512, 60),
}
WITHOUT_HELM = {"WebsocketDisconnect", "LiveUpdates"}  # they never reach a cluster
ARN = "arn:${AWS::Partition}"
REGION_ACCOUNT = "${AWS::Region}:${AWS::AccountId}"


@pytest.fixture(scope="module")
def functions(stack_template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resources(stack_template, "AWS::Serverless::Function")


def test_stack_deploys_every_function_of_the_app(functions: dict[str, dict[str, Any]]) -> None:
    assert set(functions) == set(SIZES)


def test_functions_are_named_and_sized_for_helm(functions: dict[str, dict[str, Any]]) -> None:
    for logical_id, (name, memory, timeout) in SIZES.items():
        properties = functions[logical_id]["Properties"]
        assert (properties["FunctionName"], properties["MemorySize"], properties["Timeout"]) == (
            name,
            memory,
            timeout,
        )
    assert functions["APIHandler"]["Properties"]["Timeout"] <= 30  # API Gateway answers in 29 s


def test_functions_get_the_helm_layer_and_tracing(
    stack_template: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    (layer_id,) = resources(stack_template, "AWS::Lambda::LayerVersion")

    for logical_id, function in functions.items():
        layers = render(function["Properties"].get("Layers", []))
        assert layers == ([] if logical_id in WITHOUT_HELM else [f"${{{layer_id}}}"]), logical_id
        assert function["Properties"]["Tracing"] == "Active"


def test_functions_are_told_where_everything_is(
    stack_template: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    (table_id,) = resources(stack_template, "AWS::DynamoDB::Table")
    scheduler_role = scheduler_role_id(stack_template)
    (group,) = resources(stack_template, "AWS::Scheduler::ScheduleGroup").values()

    for function in functions.values():
        variables = render(function["Properties"]["Environment"]["Variables"])
        expected = {
            "O2DMS_TABLE_NAME": f"${{{table_id}}}",
            "O2DMS_STAGE": "dev",
            "O2DMS_SCHEDULE_GROUP": "o2dms-dev",
            "O2DMS_EVENT_BUS": "default",
        }
        assert {k: variables.get(k) for k in expected} == expected
        assert variables["O2DMS_SCHEDULER_ROLE_ARN"] == f"${{{scheduler_role}.Arn}}"
        assert variables["O2DMS_SCHEDULE_TARGET_ARN"] == (
            f"{ARN}:lambda:{REGION_ACCOUNT}:function:o2dms-dev-scheduled_scale"
        )
    assert group["Properties"]["Name"] == "o2dms-dev"


def test_functions_log_to_groups_with_a_retention_made_before_them(
    stack_template: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    for logical_id, (name, _, _) in SIZES.items():
        (group_id,) = functions[logical_id]["DependsOn"]
        group = stack_template["Resources"][group_id]
        assert group["Properties"] == {"LogGroupName": f"/aws/lambda/{name}", "RetentionInDays": 14}


def test_alarm_state_changes_reach_the_alarm_handler_through_one_rule(
    stack_template: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    chalice_rules = [
        (logical_id, event["Properties"]["Pattern"])
        for logical_id, function in functions.items()
        for event in function["Properties"].get("Events", {}).values()
        if event["Type"] == "CloudWatchEvent"
    ]
    own_rules = resources(stack_template, "AWS::Events::Rule")

    assert chalice_rules == [("AlarmRollback", ALARM_EVENT_PATTERN)]
    assert ALARM_EVENT_PATTERN == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
    }
    assert own_rules == {}


def test_service_alarms_watch_its_functions_and_rollouts(stack_template: dict[str, Any]) -> None:
    alarms = resources(stack_template, "AWS::CloudWatch::Alarm").values()
    watched = {
        (a["Properties"]["Namespace"], a["Properties"]["MetricName"], render(d["Value"]))
        for a in alarms
        for d in a["Properties"].get("Dimensions", [])  # the app's own alarms have none
    }

    for name, _, _ in SIZES.values():
        assert ("AWS/Lambda", "Errors", name) in watched
        assert ("AWS/Lambda", "Throttles", name) in watched
    machine = {m for ns, m, _ in watched if ns == "AWS/States"}
    assert machine == {"ExecutionsFailed", "ExecutionsTimedOut"}
