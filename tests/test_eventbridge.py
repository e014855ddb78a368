"""Operation-ended events reach EventBridge in the documented shape (moto delivers them to
an SQS queue through a rule), and a publishing failure never breaks the operation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.eventbridge import DETAIL_TYPE, SOURCE, EventBridgePublisher
from chalicelib.domain.models import ChartRef, Deployment, Operation, OperationError, StageEntry
from chalicelib.domain.states import (
    Adapter,
    DeploymentStatus,
    OperationState,
    OperationType,
    Stage,
    Trigger,
)

WHEN = datetime(2026, 1, 14, 10, 0, tzinfo=UTC)


def _ended() -> tuple[Operation, Deployment]:
    operation = Operation(
        id="op-1",
        deployment_id="nginx-prod",
        type=OperationType.UPGRADE,
        state=OperationState.ROLLED_BACK,
        stage=Stage.COMPLETED,
        stages=(StageEntry(Stage.PREPARING, WHEN),),
        trigger=Trigger.API,
        actor="smo-1",
        started_at=WHEN,
        updated_at=WHEN,
        deadline=WHEN + timedelta(minutes=5),
        revision=2,
        from_revision=1,
        rollback_revision=3,
        failure="CrashLoopBackOff",
        finished_at=WHEN,
        error=OperationError("RolloutFailed", "CrashLoopBackOff"),
    )
    deployment = Deployment(
        id="nginx-prod",
        namespace="production",
        adapter=Adapter.HELM,
        deployment_manager_id="local",
        descriptor_id="nginx-chart-1.2.0",
        chart=ChartRef("https://charts.example.com", "nginx", "1.2.0"),
        parameters={},
        status=DeploymentStatus.INSTANTIATED,
        revision=3,
        last_revision=3,
        deployed_revision=3,
        created_at=WHEN,
        updated_at=WHEN,
    )
    return operation, deployment


def test_eventbridge_publishes_the_outcome_with_its_revisions() -> None:
    with mock_aws():
        events = boto3.client("events", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="outcomes")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        events.put_rule(Name="o2dms", EventPattern=json.dumps({"source": [SOURCE]}))
        events.put_targets(
            Rule="o2dms", Targets=[{"Id": "q", "Arn": arn["Attributes"]["QueueArn"]}]
        )

        EventBridgePublisher(lambda: events, "default").operation_ended(*_ended())

        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    event = json.loads(messages[0]["Body"])
    assert (event["source"], event["detail-type"]) == (SOURCE, DETAIL_TYPE)
    detail: dict[str, Any] = event["detail"]
    assert detail["deploymentId"] == "nginx-prod"
    assert detail["operationId"] == "op-1"
    assert detail["outcome"] == "ROLLED_BACK"
    assert (detail["revision"], detail["fromRevision"], detail["rollbackRevision"]) == (2, 1, 3)
    assert detail["failure"] == "CrashLoopBackOff"


def test_eventbridge_failure_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    with mock_aws():
        events = boto3.client("events", region_name="us-east-1")

        EventBridgePublisher(lambda: events, "no-such-bus").operation_ended(*_ended())

    assert "not published" in caplog.text or "rejected" in caplog.text
