"""Alarms on the service itself: its functions failing or being throttled, and rollouts whose
follower failed or timed out. They tell the operator the service is unwell; they carry no
deployment tags, so the alarm handler (which acts on tagged alarms) leaves them alone.

Two more tell the operator about the deployments it runs: one failed, or one was rolled back
(for whatever cause), in the last five minutes. Those publish to the alerts topic, which
operators subscribe to (the stack outputs its ARN as ``AlertsTopicArn``). The topic is
encrypted with the stack's key: CloudWatch cannot publish to a topic under the AWS-managed
SNS key (its policy cannot be changed to let CloudWatch use it), and the key's policy lets
CloudWatch use the key only for this topic's messages (SNS's encryption context names the
topic), so nothing else the key protects becomes readable to it.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.dashboards import (
    DEPLOYMENTS_FAILED,
    NAMESPACE,
    ROLLBACKS,
    SERVICE,
    SERVICE_DIMENSION,
)
from infra.settings import StageSettings

PERIOD = Duration.minutes(5)
CLOUDWATCH = "cloudwatch.amazonaws.com"


def alerts_topic_name(settings: StageSettings) -> str:
    return f"{settings.prefix}-alerts"


def _alarm(
    scope: Construct, construct_id: str, metric: cloudwatch.IMetric, what: str
) -> cloudwatch.Alarm:
    return cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=what,
        metric=metric,
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )


def _lambda_metric(metric_name: str, function_name: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace="AWS/Lambda",
        metric_name=metric_name,
        dimensions_map={"FunctionName": function_name},
        statistic="Sum",
        period=PERIOD,
    )


def _service_metric(metric_name: str) -> cloudwatch.Metric:
    """One of the app's own metrics, its total (the ``service`` dimension alone)."""
    return cloudwatch.Metric(
        namespace=NAMESPACE,
        metric_name=metric_name,
        statistic="Sum",
        period=PERIOD,
        dimensions_map={SERVICE_DIMENSION: SERVICE},
    )


def _alerts_topic(scope: Construct, settings: StageSettings, key: kms.Key) -> sns.Topic:
    """The topic alarms notify, under ``key``, which CloudWatch may use for it alone.

    The key's policy names the topic by its ARN, built from its fixed name: a reference
    would make the key depend on the topic, which already depends on the key."""
    name = alerts_topic_name(settings)
    arn = Stack.of(scope).format_arn(
        service="sns", resource=name, arn_format=ArnFormat.NO_RESOURCE_NAME
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchAlarmsPublishToTheAlertsTopic",
            principals=[iam.ServicePrincipal(CLOUDWATCH)],
            actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=["*"],  # in a key policy, "*" is the key itself
            conditions={"StringEquals": {"kms:EncryptionContext:aws:sns:topicArn": arn}},
        )
    )
    return sns.Topic(
        scope,
        "Alerts",
        topic_name=name,
        display_name=f"O2-DMS ({settings.stage}) alerts",
        master_key=key,
    )


class ServiceAlarms(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: dict[str, str],  # logical id -> function name
        state_machine: sfn.StateMachine,
        settings: StageSettings,
        key: kms.Key,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = _alerts_topic(self, settings, key)
        notify = cloudwatch_actions.SnsAction(self.topic)
        for logical_id, name in functions.items():
            _alarm(self, f"{logical_id}Errors", _lambda_metric("Errors", name), f"{name} errors")
            _alarm(
                self,
                f"{logical_id}Throttles",
                _lambda_metric("Throttles", name),
                f"{name} throttled",
            )
        _alarm(
            self,
            "RolloutsFailed",
            state_machine.metric_failed(period=PERIOD, statistic="Sum"),
            "rollout executions failed (the follower kept failing)",
        )
        _alarm(
            self,
            "RolloutsTimedOut",
            state_machine.metric_timed_out(period=PERIOD, statistic="Sum"),
            "rollout executions timed out",
        )
        for metric_name, what in (
            (DEPLOYMENTS_FAILED, "a deployment failed"),
            (ROLLBACKS, "a deployment was rolled back"),
        ):
            alarm = _alarm(self, metric_name, _service_metric(metric_name), what)
            alarm.add_alarm_action(notify)
