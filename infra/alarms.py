"""Alarms on the service itself: its functions failing or being throttled, and rollouts whose
follower failed or timed out. They tell the operator the service is unwell; they carry no
deployment tags, so the alarm handler (which acts on tagged alarms) leaves them alone.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

PERIOD = Duration.minutes(5)


def _alarm(scope: Construct, construct_id: str, metric: cloudwatch.IMetric, what: str) -> None:
    cloudwatch.Alarm(
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


class ServiceAlarms(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: dict[str, str],  # logical id -> function name
        state_machine: sfn.StateMachine,
    ) -> None:
        super().__init__(scope, construct_id)
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
