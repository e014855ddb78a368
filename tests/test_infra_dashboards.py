"""The dashboard and the alerts as deployed: the CloudWatch dashboard ``o2dms-dev`` has the
Grafana dashboard's ten panels, drawn from the app's metrics in ``O2DMS`` (the one panel
those cannot draw reads the rollout state machine); failed deployments and rollbacks raise
alarms that notify an encrypted topic operators can subscribe to, and that the alarm
rollback handler leaves alone."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra.dashboards import ACTIVE_DEPLOYMENTS, DIMENSIONS, NAMESPACE, PANEL_TITLES
from scripts.dashboard_queries import load, panels
from tests.cdk_template import as_list, render, resources

SEARCH = re.compile(r"SEARCH\('\{([^}]*)\}\s*MetricName=\"(\w+)\"")
CLOUDWATCH = "cloudwatch.amazonaws.com"
TOPIC_ARN = "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:o2dms-dev-alerts"
GRID_COLUMNS = 24


@pytest.fixture(scope="module")
def widgets(stack_template: dict[str, Any]) -> list[dict[str, Any]]:
    (dashboard,) = resources(stack_template, "AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == "o2dms-dev"
    body = json.loads(render(dashboard["Properties"]["DashboardBody"]))
    found: list[dict[str, Any]] = body["widgets"]
    return found


@pytest.fixture(scope="module")
def topic_id(stack_template: dict[str, Any]) -> str:
    (found,) = resources(stack_template, "AWS::SNS::Topic")
    return found


def _read(widget: dict[str, Any]) -> set[tuple[str, str]]:
    """(namespace, metric name) of every metric the widget reads, searched ones too."""
    read: set[tuple[str, str]] = set()
    for line in widget["properties"]["metrics"]:
        if isinstance(line[0], str):  # [namespace, metric name, dimension, value, ..., options]
            read.add((line[0], line[1]))
            continue
        for schema, metric_name in SEARCH.findall(line[0].get("expression", "")):
            namespace, *dimensions = schema.split(",")
            assert set(dimensions) == set(DIMENSIONS[metric_name]), (metric_name, dimensions)
            read.add((namespace, metric_name))
    return read


def test_dashboard_has_the_grafana_dashboards_ten_panels(widgets: list[dict[str, Any]]) -> None:
    titles = [widget["properties"]["title"] for widget in widgets]

    assert titles == list(PANEL_TITLES)
    assert sorted(titles) == sorted(panel["title"] for panel in panels(load()))
    assert all(widget["type"] == "metric" for widget in widgets)


def test_widgets_draw_the_apps_metrics_in_its_namespace(
    stack_template: dict[str, Any], widgets: list[dict[str, Any]]
) -> None:
    (machine_id,) = resources(stack_template, "AWS::StepFunctions::StateMachine")

    for widget in widgets:
        title = widget["properties"]["title"]
        read = _read(widget)
        assert read, title
        if title == ACTIVE_DEPLOYMENTS:  # the EMF metrics count only what ended
            assert {namespace for namespace, _ in read} == {"AWS/States"}
            assert ("AWS/States", "ExecutionsStarted") in read
            for line in widget["properties"]["metrics"]:
                if isinstance(line[0], str):
                    assert line[2:4] == ["StateMachineArn", f"${{{machine_id}}}"]
            continue
        assert {namespace for namespace, _ in read} == {NAMESPACE}, title
        assert {metric for _, metric in read} <= set(DIMENSIONS), title


def test_widgets_lie_on_the_grid_without_overlapping(widgets: list[dict[str, Any]]) -> None:
    taken: set[tuple[int, int]] = set()
    for widget in widgets:
        assert widget["x"] + widget["width"] <= GRID_COLUMNS
        cells = {
            (column, row)
            for column in range(widget["x"], widget["x"] + widget["width"])
            for row in range(widget["y"], widget["y"] + widget["height"])
        }
        assert not cells & taken, widget["properties"]["title"]
        taken |= cells


def test_failed_deployments_and_rollbacks_raise_alarms_that_notify_the_topic(
    stack_template: dict[str, Any], topic_id: str
) -> None:
    alarms = {
        alarm["Properties"]["MetricName"]: alarm
        for alarm in resources(stack_template, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("Namespace") == NAMESPACE
    }

    assert set(alarms) == {"DeploymentsFailed", "Rollbacks"}
    for name, alarm in alarms.items():
        properties = alarm["Properties"]
        # The total over every platform and environment: Powertools' ``service`` alone.
        assert properties.get("Dimensions", []) == [{"Name": "service", "Value": "o2dms"}], name
        assert (
            properties["Statistic"],
            properties["Period"],
            properties["EvaluationPeriods"],
            properties["Threshold"],
            properties["ComparisonOperator"],
            properties["TreatMissingData"],
        ) == ("Sum", 300, 1, 1, "GreaterThanOrEqualToThreshold", "notBreaching"), name
        assert render(properties["AlarmActions"]) == [f"${{{topic_id}}}"], name
        # The alarm rollback handler acts only on alarms tagged o2dms:deployment.
        tags = {tag["Key"] for tag in properties.get("Tags", [])}
        assert "o2dms:deployment" not in tags, name


def test_alerts_topic_is_encrypted_with_the_stacks_key_which_cloudwatch_may_use_for_it_alone(
    stack_template: dict[str, Any], topic_id: str
) -> None:
    (key_id,) = resources(stack_template, "AWS::KMS::Key")
    topic = stack_template["Resources"][topic_id]["Properties"]
    key_policy = render(stack_template["Resources"][key_id]["Properties"]["KeyPolicy"])
    cloudwatch = [
        statement
        for statement in key_policy["Statement"]
        if CLOUDWATCH in as_list(statement["Principal"].get("Service", []))
    ]

    assert topic["TopicName"] == "o2dms-dev-alerts"
    assert render(topic["KmsMasterKeyId"]) == f"${{{key_id}.Arn}}"
    (statement,) = cloudwatch
    assert statement["Effect"] == "Allow"
    assert sorted(as_list(statement["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statement["Condition"] == {
        "StringEquals": {"kms:EncryptionContext:aws:sns:topicArn": TOPIC_ARN}
    }


def test_stack_outputs_the_topic_operators_subscribe_to(
    stack_template: dict[str, Any], topic_id: str
) -> None:
    outputs = {name: render(output["Value"]) for name, output in stack_template["Outputs"].items()}

    assert outputs["AlertsTopicArn"] == f"${{{topic_id}}}"
