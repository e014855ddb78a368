"""Least-privilege IAM for each function: the statements its code paths need, on the
resources the stack owns or the context names, and nothing else.

No statement has a wildcard action. ``Resource: "*"`` appears only where the AWS API has no
resource to name (``ALLOWED_ON_ANY_RESOURCE``); the tests hold the whole template to that.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.functions import FunctionSpec
from infra.settings import StageSettings

# Actions that accept no resource but "*" (per the AWS service authorization reference).
ALLOWED_ON_ANY_RESOURCE = frozenset(
    {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        # Step Functions' log delivery, as the service requires it for logging to CloudWatch.
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    }
)

TABLE_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
)
KEY_ACTIONS = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey")
ALARM_ACTIONS = ("cloudwatch:ListTagsForResource",)
KUBECONFIG_PARAMETERS = "o2dms/*"
KUBECONFIG_SECRETS = "o2dms/*"


@dataclass(frozen=True, slots=True)
class ServiceResources:
    """What the functions act on, as ARNs (tokens) of the stack's own resources."""

    table_arn: str
    key_arn: str
    state_machine_arn: str
    schedules_arn: str  # every schedule in the stage's group
    scheduler_role_arn: str
    event_bus_arn: str


def _statement(actions: tuple[str, ...] | list[str], resources: list[str]) -> iam.PolicyStatement:
    return iam.PolicyStatement(actions=list(actions), resources=resources)


def _arn(scope: Construct, service: str, resource: str, name: str, sep: ArnFormat) -> str:
    return Stack.of(scope).format_arn(
        service=service, resource=resource, resource_name=name, arn_format=sep
    )


def statements(
    scope: Construct,
    spec: FunctionSpec,
    *,
    settings: StageSettings,
    resources: ServiceResources,
) -> list[iam.PolicyStatement]:
    """Everything ``spec``'s function may do."""
    log_group = _arn(
        scope,
        "logs",
        "log-group",
        f"/aws/lambda/{spec.function_name(settings)}:*",
        ArnFormat.COLON_RESOURCE_NAME,
    )
    found = [
        _statement(("logs:CreateLogStream", "logs:PutLogEvents"), [log_group]),
        _statement(("xray:PutTraceSegments", "xray:PutTelemetryRecords"), ["*"]),
        _statement(TABLE_ACTIONS, [resources.table_arn, f"{resources.table_arn}/index/*"]),
        _statement(KEY_ACTIONS, [resources.key_arn]),
        _statement(("events:PutEvents",), [resources.event_bus_arn]),
        _statement(
            ("ssm:GetParameter",),
            [
                _arn(
                    scope,
                    "ssm",
                    "parameter",
                    KUBECONFIG_PARAMETERS,
                    ArnFormat.SLASH_RESOURCE_NAME,
                )
            ],
        ),
        _statement(
            ("secretsmanager:GetSecretValue",),
            [
                _arn(
                    scope,
                    "secretsmanager",
                    "secret",
                    KUBECONFIG_SECRETS,
                    ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
        ),
    ]
    if settings.cluster_role_arns:
        found.append(_statement(("sts:AssumeRole",), list(settings.cluster_role_arns)))
    if settings.cluster_arns:
        found.append(_statement(("eks:DescribeCluster",), list(settings.cluster_arns)))
    if spec.starts_rollouts:
        found.append(_statement(("states:StartExecution",), [resources.state_machine_arn]))
    schedule_actions = [
        action
        for action, wanted in (
            ("scheduler:CreateSchedule", spec.creates_schedules),
            ("scheduler:DeleteSchedule", spec.deletes_schedules),
        )
        if wanted
    ]
    if schedule_actions:
        found.append(_statement(schedule_actions, [resources.schedules_arn]))
    if spec.creates_schedules:
        found.append(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[resources.scheduler_role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
            )
        )
    if spec.reads_alarm_tags:
        alarms = _arn(scope, "cloudwatch", "alarm", "*", ArnFormat.COLON_RESOURCE_NAME)
        found.append(_statement(ALARM_ACTIONS, [alarms]))
    return found


def function_role(
    scope: Construct,
    spec: FunctionSpec,
    *,
    settings: StageSettings,
    resources: ServiceResources,
) -> iam.Role:
    """The role of one function, its policy inline so the function depends on it as a whole."""
    return iam.Role(
        scope,
        f"{spec.logical_id}Role",
        description=f"Runs {spec.function_name(settings)}",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        inline_policies={
            "Service": iam.PolicyDocument(
                statements=statements(scope, spec, settings=settings, resources=resources)
            )
        },
    )
