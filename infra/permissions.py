"""Least-privilege IAM for each function: the statements its code paths need, on the
resources the stack owns or the context names, and nothing else.

No statement has a wildcard action. ``Resource: "*"`` appears only where the AWS API has no
resource to name (``ALLOWED_ON_ANY_RESOURCE``); the tests hold the whole template to that.

Two rules bind every function on top of what it is allowed:

- The audit trail is append-only: no function may update or delete an item whose partition
  key is ``AUDIT`` (an explicit deny, which no allow overrides, and which covers the parts of
  a ``TransactWriteItems`` too, since DynamoDB authorizes each part as its own action).
  ``PutItem`` stays allowed: the app writes each audit row with a condition that it does
  not exist yet, which IAM cannot require.
- The table's key serves two uses, each under its own condition: DynamoDB's encryption of
  the table (only through DynamoDB, ``kms:ViaService``), and the app's envelope encryption
  of secret parameters (``GenerateDataKey``/``Decrypt`` called directly, only with the
  encryption context ``{"o2dms:table": <table name>}``).
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
# The app's envelope encryption of secret parameters: a data key per write, decrypted on read.
SECRET_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")
SECRETS_CONTEXT_KEY = "o2dms:table"  # the encryption context the app passes, table name as value
AUDIT_PARTITION = "AUDIT"
# What would change or remove an audit row. BatchWriteItem cannot tell a put from a delete,
# and its puts overwrite without a condition, so it is denied on audit rows as a whole.
AUDIT_DENIED_ACTIONS = ("dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")
ALARM_ACTIONS = ("cloudwatch:ListTagsForResource",)
KUBECONFIG_PARAMETERS = "o2dms/*"
KUBECONFIG_SECRETS = "o2dms/*"


@dataclass(frozen=True, slots=True)
class ServiceResources:
    """What the functions act on, as ARNs (tokens) of the stack's own resources."""

    table_arn: str
    table_name: str
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


def audit_is_append_only(table: list[str]) -> iam.PolicyStatement:
    """No update or delete of an item in the ``AUDIT`` partition. ``ForAnyValue``: a request
    without leading keys (none of these) matches nothing instead of everything."""
    return iam.PolicyStatement(
        effect=iam.Effect.DENY,
        actions=list(AUDIT_DENIED_ACTIONS),
        resources=table,
        conditions={"ForAnyValue:StringEquals": {"dynamodb:LeadingKeys": [AUDIT_PARTITION]}},
    )


def table_encryption(scope: Construct, key_arn: str) -> iam.PolicyStatement:
    """The key as DynamoDB uses it for the table, on the function's behalf, and only so."""
    stack = Stack.of(scope)
    return iam.PolicyStatement(
        actions=list(KEY_ACTIONS),
        resources=[key_arn],
        conditions={
            "StringEquals": {"kms:ViaService": f"dynamodb.{stack.region}.{stack.url_suffix}"}
        },
    )


def secrets_encryption(key_arn: str, table_name: str) -> iam.PolicyStatement:
    """The key as the app uses it for secret parameters: data keys bound to this table."""
    return iam.PolicyStatement(
        actions=list(SECRET_KEY_ACTIONS),
        resources=[key_arn],
        conditions={"StringEquals": {f"kms:EncryptionContext:{SECRETS_CONTEXT_KEY}": table_name}},
    )


def statements(
    scope: Construct,
    spec: FunctionSpec,
    *,
    settings: StageSettings,
    resources: ServiceResources,
) -> list[iam.PolicyStatement]:
    """Everything ``spec``'s function may do, and the audit rule it may not break. Every
    function reads or writes deployments, so every one may open and seal secret parameters."""
    log_group = _arn(
        scope,
        "logs",
        "log-group",
        f"/aws/lambda/{spec.function_name(settings)}:*",
        ArnFormat.COLON_RESOURCE_NAME,
    )
    table = [resources.table_arn, f"{resources.table_arn}/index/*"]
    found = [
        _statement(("logs:CreateLogStream", "logs:PutLogEvents"), [log_group]),
        _statement(("xray:PutTraceSegments", "xray:PutTelemetryRecords"), ["*"]),
        _statement(TABLE_ACTIONS, table),
        audit_is_append_only(table),
        table_encryption(scope, resources.key_arn),
        secrets_encryption(resources.key_arn, resources.table_name),
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
