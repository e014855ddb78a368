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
  the table and its stream (only through DynamoDB, ``kms:ViaService``), and the app's
  envelope encryption of secret parameters (``GenerateDataKey``/``Decrypt`` called directly,
  only with the encryption context ``{"o2dms:table": <table name>}``).

A function that does not act on deployments (``FunctionSpec.acts_on_deployments``) may read
the table but write only what its flags name, each write bounded by the items' partition
keys (``dynamodb:LeadingKeys``): a WebSocket connection's items, an audit row.
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
        # A task definition revision has no ARN before it is registered; the service
        # authorization reference names no resource for either call.
        "ecs:RegisterTaskDefinition",
        "ecs:DescribeTaskDefinition",
    }
)

TABLE_READ_ACTIONS = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query")
TABLE_ACTIONS = (
    *TABLE_READ_ACTIONS,
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
# Live progress's items: a WebSocket connection (``CONN#<id>``) and what it follows
# (``LIVE#<topic>``). A connection is forgotten in one BatchWriteItem of deletes; a
# subscription is marked once its snapshot is sent (UpdateItem).
FOLLOWER_PARTITIONS = ("CONN#*", "LIVE#*")
FORGET_ACTIONS = ("dynamodb:BatchWriteItem", "dynamodb:UpdateItem")
REFUSAL_ACTIONS = ("dynamodb:PutItem",)
# What Lambda's event source mapping reads the stream with, on the function's role.
STREAM_ACTIONS = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")
STREAM_LIST_ACTIONS = ("dynamodb:ListStreams",)
CONNECTION_ACTIONS = ("execute-api:ManageConnections",)
# The ecs adapter (chalicelib/adapters/ecs): reads and updates of the services the context
# names, task definitions registered from theirs, and their roles passed on to ECS's tasks.
ECS_SERVICE_ACTIONS = ("ecs:DescribeServices", "ecs:UpdateService")
ECS_TASK_DEFINITION_ACTIONS = ("ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition")
ECS_TASKS_PRINCIPAL = "ecs-tasks.amazonaws.com"
KUBECONFIG_PARAMETERS = "o2dms/*"
# Kubeconfigs (``secretsmanager:`` sources) and the GKE and AKS deployment managers'
# ``credentialsSecret`` (a service-account key, an Entra ID app's secret): one prefix.
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
    stream_arn: str  # the table's stream
    # ``POST @connections/*`` on the WebSocket API's stage; known once the Chalice app is.
    connections_arn: str | None = None


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


def only_in_partitions(
    actions: tuple[str, ...], table_arn: str, partitions: tuple[str, ...]
) -> iam.PolicyStatement:
    """``actions`` on items whose partition keys all match ``partitions``. ``ForAllValues``
    would let a request without keys through, but these writes always name their items."""
    return iam.PolicyStatement(
        actions=list(actions),
        resources=[table_arn],
        conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(partitions)}},
    )


def secrets_encryption(key_arn: str, table_name: str) -> iam.PolicyStatement:
    """The key as the app uses it for secret parameters: data keys bound to this table."""
    return iam.PolicyStatement(
        actions=list(SECRET_KEY_ACTIONS),
        resources=[key_arn],
        conditions={"StringEquals": {f"kms:EncryptionContext:{SECRETS_CONTEXT_KEY}": table_name}},
    )


def deployment_statements(
    scope: Construct, *, settings: StageSettings, resources: ServiceResources
) -> list[iam.PolicyStatement]:
    """What acting on deployments takes besides the table: sealing and opening secret
    parameters, publishing their events, and reaching their clusters."""
    found = [
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
    return found + ecs_statements(settings)


def ecs_statements(settings: StageSettings) -> list[iam.PolicyStatement]:
    """The ecs adapter's calls, only where the context names services (``ecsServiceArns``,
    e.g. ``arn:aws:ecs:eu-west-3:123456789012:service/apps/*``). Registering a revision copied
    from one that names a task role or an execution role passes those roles to ECS: allowed
    for the roles ``ecsTaskRoleArns`` names, to ECS tasks only. Calls made as a deployment
    manager's ``roleArn`` need these permissions on that role instead."""
    if not settings.ecs_service_arns:
        return []
    found = [
        _statement(ECS_SERVICE_ACTIONS, list(settings.ecs_service_arns)),
        _statement(ECS_TASK_DEFINITION_ACTIONS, ["*"]),
    ]
    if settings.ecs_task_role_arns:
        found.append(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=list(settings.ecs_task_role_arns),
                conditions={"StringEquals": {"iam:PassedToService": ECS_TASKS_PRINCIPAL}},
            )
        )
    return found


def live_statements(spec: FunctionSpec, resources: ServiceResources) -> list[iam.PolicyStatement]:
    """Live progress: forgetting connections, posting to them, reading the table's stream."""
    found: list[iam.PolicyStatement] = []
    if spec.forgets_connections:
        found.append(only_in_partitions(FORGET_ACTIONS, resources.table_arn, FOLLOWER_PARTITIONS))
    if spec.posts_to_connections:
        if resources.connections_arn is None:
            raise ValueError(f"{spec.logical_id} posts to connections: no WebSocket API given")
        found.append(_statement(CONNECTION_ACTIONS, [resources.connections_arn]))
    if spec.reads_stream:
        found.append(_statement(STREAM_ACTIONS, [resources.stream_arn]))
        # As the DynamoDB guide scopes it: the table's streams, since the call names none.
        found.append(_statement(STREAM_LIST_ACTIONS, [f"{resources.table_arn}/stream/*"]))
    return found


def statements(
    scope: Construct,
    spec: FunctionSpec,
    *,
    settings: StageSettings,
    resources: ServiceResources,
) -> list[iam.PolicyStatement]:
    """Everything ``spec``'s function may do, and the audit rule it may not break. A function
    that acts on deployments may write any item and open and seal secret parameters; the
    others read, and write only the items their flags name."""
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
        _statement(TABLE_ACTIONS if spec.acts_on_deployments else TABLE_READ_ACTIONS, table),
        audit_is_append_only(table),
        # The stream's records are encrypted with the table's key too.
        table_encryption(scope, resources.key_arn),
    ]
    if spec.acts_on_deployments:
        found += deployment_statements(scope, settings=settings, resources=resources)
    elif spec.records_refusals:
        found.append(only_in_partitions(REFUSAL_ACTIONS, resources.table_arn, (AUDIT_PARTITION,)))
    found += live_statements(spec, resources)
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
