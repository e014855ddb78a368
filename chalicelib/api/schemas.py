"""Wire shapes: request bodies (validated, unknown fields refused) and response bodies.

Field names are snake_case here and camelCase on the wire (pydantic aliases), as the seed
documents them. The same models produce the OpenAPI document, so the document and the
answers cannot drift apart.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from chalicelib.api import manager_kinds
from chalicelib.api.names import (
    DEPLOYMENT_NAME_MAX,
    DESCRIPTOR_ID,
    DESCRIPTOR_ID_MAX,
    DESCRIPTOR_ID_RULE,
    DNS_LABEL,
    DNS_LABEL_MAX,
    DNS_LABEL_RULE,
)
from chalicelib.domain.health import HealthStatus
from chalicelib.domain.models import CHART_NAME, CHART_VERSION, MAX_REPLICAS
from chalicelib.domain.states import (
    CHART_ADAPTERS,
    Adapter,
    ClusterKind,
    DeploymentStatus,
    FiringOutcome,
    OperationState,
    OperationType,
    RevisionStatus,
    Stage,
    Trigger,
)
from chalicelib.service.managers import LOCAL_ID

# ----------------------------------------------------------------------------- rules
# Each rule of a request is stated once, as a pydantic constraint: pydantic enforces it and
# the OpenAPI document states it (``model_json_schema``). Patterns are anchored and avoid
# what regex dialects disagree on, so pydantic (Rust regex), Python and ECMA-262 read them
# alike. ``PATTERN_MEANINGS`` and ``BOUND_MESSAGES`` only word the answers to break them.
# The names a path or query carries are checked without pydantic (``names``), by the same
# patterns the models state here.

# Visible ASCII only, and no '-' right after the scheme: nothing helm could split into, or
# read as, a flag (``file://--post-renderer=...``, ``https://x --devel``).
CHART_SOURCE = re.compile(r"^(https|http|oci|file)://[!-,.-~][!-~]*$")
# The shape of an EventBridge Scheduler expression; its fields are checked further in
# ``domain.schedules`` (ranges, names, units, dates).
SCHEDULE_EXPRESSION = re.compile(
    r"^(cron\( *[0-9A-Za-z*?,/#-]+( +[0-9A-Za-z*?,/#-]+){5} *\)"
    r"|rate\( *[0-9]+ +(minute|hour|day)s? *\)"
    r"|at\([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\))$"
)
ALARM_NAME = r"^[^\x00-\x1f]*$"
ROLE_ARN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$"
REGION = r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]{1,2}$"
EKS_NAME = r"^[0-9A-Za-z][A-Za-z0-9_-]*$"
KUBECONFIG_SOURCE = r"^(ssm:|secretsmanager:|file:)\S+$"
REASON_MAX = 1024

PATTERN_MEANINGS: dict[str, str] = {
    DNS_LABEL.pattern: DNS_LABEL_RULE,
    DESCRIPTOR_ID.pattern: DESCRIPTOR_ID_RULE,
    CHART_SOURCE.pattern: (
        "a URL starting with https://, http://, oci:// or file://, in visible ASCII (no"
        " spaces), without '-' right after the scheme"
    ),
    SCHEDULE_EXPRESSION.pattern: (
        "cron(minutes hours day-of-month month day-of-week year), rate(value unit)"
        " or at(yyyy-mm-ddThh:mm:ss)"
    ),
    ALARM_NAME: "a CloudWatch alarm name, without control characters",
    ROLE_ARN: "an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
    REGION: "an AWS region such as eu-west-3",
    EKS_NAME: "an EKS cluster name: letters, digits, '_' and '-', starting alphanumeric",
    KUBECONFIG_SOURCE: "ssm:<parameter>, secretsmanager:<secret> or file:<path>",
    **manager_kinds.MEANINGS,
    CHART_NAME.pattern: "a chart name: letters, digits, '.', '_' and '-', starting alphanumeric",
    CHART_VERSION.pattern: "a chart version such as 1.2.0 or v1.2.0-rc.1",
}
# (field, pydantic error type) -> the answer's words; ``{le}``/``{ge}`` are the bound.
BOUND_MESSAGES: dict[tuple[str, str], str] = {
    ("replicas", "greater_than_equal"): "Replica count must be non-negative",
    ("replicas", "less_than_equal"): "Replica count must be at most {le}",
    ("revision", "greater_than_equal"): (
        "Invalid revision number: use 0 for the previous revision or N >= 1"
    ),
}


def _text(pattern: str, max_length: int) -> Any:
    return Field(
        min_length=1,
        max_length=max_length,
        pattern=pattern,
        description=f"{PATTERN_MEANINGS[pattern]}; 1 to {max_length} characters",
    )


DnsLabel = Annotated[str, _text(DNS_LABEL.pattern, DNS_LABEL_MAX)]
DeploymentName = Annotated[str, _text(DNS_LABEL.pattern, DEPLOYMENT_NAME_MAX)]
DescriptorId = Annotated[str, _text(DESCRIPTOR_ID.pattern, DESCRIPTOR_ID_MAX)]


def _whole(value: Any) -> Any:
    """JSON has one kind of number: 5.0 is the integer 5, as JSON Schema's ``integer`` says
    (1.5, "5" and true stay refused)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WHOLE = BeforeValidator(_whole)  # after the bounds, so that the document states them
Replicas = Annotated[StrictInt, Field(ge=0, le=MAX_REPLICAS), WHOLE]
Reason = Annotated[
    str | None,
    Field(default=None, max_length=REASON_MAX, description="Why: recorded on the operation"),
]
JsonMap = dict[str, Any]


@functools.cache
def time_zones() -> frozenset[str]:
    """The IANA time zone names this runtime knows (read on first use, not at import)."""
    return frozenset(zoneinfo.available_timezones())


def _known_zone(value: str) -> str:
    if value not in time_zones():
        raise ValueError(
            f"time zone {value!r} is not a known IANA name such as 'Europe/Paris' or 'UTC'"
        )
    return value


def _zone_enum(schema: dict[str, Any]) -> None:
    schema["enum"] = sorted(time_zones())


TimeZone = Annotated[
    str,
    AfterValidator(_known_zone),
    Field(description="An IANA time zone name", json_schema_extra=_zone_enum),
]


class _Wire(BaseModel):
    """Every wire shape. ``defer_build``: a model's validator and serializer are built when
    it is first used (once, under pydantic's lock), so a view pays only for its own."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        defer_build=True,
    )


# -------------------------------------------------------------------------- requests


class DescriptorCreate(_Wire):
    descriptor_id: DescriptorId
    name: Annotated[str, Field(min_length=1, max_length=253)]
    artifact_repo_url: Annotated[
        str,
        Field(
            min_length=1,
            max_length=2048,
            pattern=CHART_SOURCE.pattern,
            description=f"{PATTERN_MEANINGS[CHART_SOURCE.pattern]} (file:// only where the"
            " stage allows local charts, O2DMS_ALLOW_LOCAL_CHARTS; else 400)",
        ),
    ]
    artifact_name: Annotated[str, Field(min_length=1, max_length=253, pattern=CHART_NAME.pattern)]
    artifact_version: Annotated[
        str, Field(min_length=1, max_length=128, pattern=CHART_VERSION.pattern)
    ]
    default_parameters: JsonMap = Field(default_factory=dict)
    parameter_schema: JsonMap | None = None
    supported_adapters: list[Adapter] = Field(
        default_factory=lambda: list(CHART_ADAPTERS), min_length=1
    )


class DeploymentCreate(_Wire):
    name: DeploymentName
    descriptor_id: DescriptorId
    namespace: DnsLabel | None = None
    parameters: JsonMap | None = None
    adapter: Adapter = Adapter.HELM
    deployment_manager_id: DnsLabel | None = None
    reason: Reason


class DeploymentUpgrade(_Wire):
    descriptor_id: DescriptorId | None = None
    parameters: JsonMap | None = None
    reason: Reason


class ScaleRequest(_Wire):
    replicas: Replicas
    reason: Reason


class RollbackRequest(_Wire):
    revision: Annotated[
        StrictInt, Field(ge=0, description="0: the previous good revision; else N >= 1"), WHOLE
    ]
    reason: Reason


class TerminateRequest(_Wire):
    reason: Reason


class ScheduleCreate(_Wire):
    expression: Annotated[
        str,
        Field(
            max_length=256,
            pattern=SCHEDULE_EXPRESSION.pattern,
            description=PATTERN_MEANINGS[SCHEDULE_EXPRESSION.pattern],
        ),
    ]
    timezone: TimeZone = "UTC"
    replicas: Replicas
    start_date: datetime | None = None
    end_date: datetime | None = None
    reason: Reason

    @field_validator("start_date", "end_date")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("dates need a time zone offset, e.g. 2026-12-01T08:00:00Z")
        return value


class AlarmBindingIn(_Wire):
    alarm_names: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=255, pattern=ALARM_NAME)]],
        Field(max_length=20),
    ]
    watch_window_seconds: Annotated[StrictInt | None, Field(default=None, ge=60, le=604_800), WHOLE]
    cooldown_seconds: Annotated[StrictInt | None, Field(default=None, ge=0, le=604_800), WHOLE]


class ManagerCreate(_Wire):
    """Which fields each kind takes: ``manager_kinds``, which also states it in the document."""

    model_config = ConfigDict(json_schema_extra=manager_kinds.json_schema_rules)

    deployment_manager_id: Annotated[
        DnsLabel,
        Field(
            description=f"{DNS_LABEL_RULE}; not {LOCAL_ID!r}, the built-in cluster's id",
            json_schema_extra={"not": {"const": LOCAL_ID}},
        ),
    ]
    kind: Literal["eks", "kubeconfig", "gke", "aks"]
    name: Annotated[str | None, Field(default=None, max_length=253)]
    default_namespace: DnsLabel | None = None
    cluster_name: Annotated[
        str | None, Field(default=None, min_length=1, max_length=100, pattern=EKS_NAME)
    ]
    region: Annotated[str | None, Field(default=None, pattern=REGION)]
    role_arn: Annotated[str | None, Field(default=None, max_length=2048, pattern=ROLE_ARN)]
    kubeconfig_source: Annotated[
        str | None,
        Field(
            default=None,
            max_length=2048,
            pattern=KUBECONFIG_SOURCE,
            description=f"{PATTERN_MEANINGS[KUBECONFIG_SOURCE]} (file: only where the stage"
            " allows local charts, O2DMS_ALLOW_LOCAL_CHARTS; else 400)",
        ),
    ]
    context: Annotated[str | None, Field(default=None, max_length=253)]
    project: Annotated[str | None, Field(default=None, pattern=manager_kinds.GCP_PROJECT)]
    location: Annotated[str | None, Field(default=None, pattern=manager_kinds.GCP_LOCATION)]
    subscription: Annotated[
        str | None, Field(default=None, pattern=manager_kinds.AZURE_SUBSCRIPTION)
    ]
    resource_group: Annotated[
        str | None, Field(default=None, pattern=manager_kinds.AZURE_RESOURCE_GROUP)
    ]
    credentials_secret: Annotated[
        str | None,
        Field(
            default=None,
            max_length=2048,
            pattern=manager_kinds.SECRET_ID,
            description="gke and aks: the Secrets Manager secret holding the cloud identity's"
            " credentials as JSON (never their value)",
        ),
    ]
    default: bool = False

    @model_validator(mode="after")
    def _kind_fields(self) -> ManagerCreate:
        manager_kinds.check(self.kind, {n: getattr(self, n) for n in type(self).model_fields})
        return self


# ------------------------------------------------------------------------- responses


class HealthOut(_Wire):
    status: Literal["ok"]


class ErrorBody(_Wire):
    error: str
    message: str
    code: int


class DescriptorOut(_Wire):
    descriptor_id: str
    name: str
    artifact_repo_url: str
    artifact_name: str
    artifact_version: str
    default_parameters: JsonMap
    parameter_schema: JsonMap | None
    supported_adapters: list[Adapter]
    deployment_count: int
    created_at: datetime


class ManagerOut(_Wire):
    deployment_manager_id: str
    name: str
    kind: ClusterKind
    default_namespace: str
    cluster_name: str | None
    region: str | None
    role_arn: str | None
    kubeconfig_source: str | None
    context: str | None
    project: str | None
    location: str | None
    subscription: str | None
    resource_group: str | None
    credentials_secret: str | None
    default: bool
    deployment_count: int
    created_at: datetime


class ManagerList(_Wire):
    deployment_managers: list[ManagerOut]
    next_token: str | None


class DescriptorList(_Wire):
    nf_deployment_descriptors: list[DescriptorOut]
    next_token: str | None


class ConditionOut(_Wire):
    type: str
    status: str
    reason: str
    message: str


class DeploymentOut(_Wire):
    deployment_id: str
    name: str
    namespace: str
    descriptor_id: str
    adapter: Adapter
    deployment_manager_id: str
    status: DeploymentStatus
    version: int
    description: str | None = None
    message: str
    progress: int
    parameters: JsonMap
    chart_name: str
    chart_version: str
    app_version: str | None
    replicas: int | None
    operation_id: str | None
    created_at: datetime
    updated_at: datetime
    extensions: JsonMap


class FiringOut(_Wire):
    scheduled_time: datetime
    fired_at: datetime
    outcome: FiringOutcome
    message: str
    operation_id: str | None


class ScheduleOut(_Wire):
    schedule_id: str
    deployment_id: str
    expression: str
    timezone: str
    replicas: int
    start_date: datetime | None
    end_date: datetime | None
    next_firing: datetime | None
    reason: str | None
    created_at: datetime
    created_by: str
    last_firing: FiringOut | None


class ScheduleList(_Wire):
    deployment_id: str
    scaling_schedules: list[ScheduleOut]


class AlarmBindingOut(_Wire):
    deployment_id: str
    alarm_names: list[str]
    watch_window_seconds: int
    cooldown_seconds: int
    tag_key: str
    updated_at: datetime | None
    last_rollback_at: datetime | None


class DeploymentList(_Wire):
    nf_deployments: list[DeploymentOut]
    next_token: str | None


class HealthCheckOut(_Wire):
    """Seed 002's health check: ``name``, ``type``, ``status``, ``message``; and when its
    status last changed, what it is about, and whether the rollout waits for it."""

    name: str
    type: str = Field(
        description="readiness, startup, liveness, endpoints, istio, http, tcp or dependency"
    )
    status: HealthStatus
    message: str
    since: datetime | None = None
    component: str | None = None
    pod: str | None = None
    required: bool = True


class StatusOut(_Wire):
    deployment_id: str
    status: DeploymentStatus
    message: str
    progress: int
    estimated_seconds_remaining: int | None
    execution_id: str | None
    conditions: list[ConditionOut]
    revision: int
    operation_id: str | None
    stage: Stage | None = Field(
        description="The stage of the running operation, or of the last one once it ended"
    )
    updated_at: datetime
    extensions: JsonMap
    health_checks: list[HealthCheckOut] = Field(
        description="Per component and type, as the rollout last saw them"
    )


class HealthChecksOut(_Wire):
    deployment_id: str
    evaluated_at: datetime
    healthy: bool = Field(description="Every required check is healthy")
    health_checks: list[HealthCheckOut]


class RevisionOut(_Wire):
    revision: int
    status: RevisionStatus
    chart_name: str
    chart_version: str
    app_version: str | None
    description: str
    descriptor_id: str
    operation_id: str
    operation_type: OperationType
    deployed_at: datetime
    updated_at: datetime
    rollback_from: int | None = None
    rollback_to: int | None = None
    backend_ref: str | None = None


class RevisionDetail(RevisionOut):
    deployment_id: str
    artifact_repo_url: str
    parameters: JsonMap
    values: JsonMap


class HistoryOut(_Wire):
    deployment_id: str
    current_revision: int
    revisions: list[RevisionOut]
    next_token: str | None


class StageOut(_Wire):
    stage: Stage
    at: datetime


class OperationErrorOut(_Wire):
    error: str
    message: str


class OperationOut(_Wire):
    operation_id: str
    deployment_id: str
    type: OperationType
    state: OperationState
    stage: Stage
    stages: list[StageOut]
    progress: int
    estimated_seconds_remaining: int | None
    message: str
    actor: str
    reason: str | None
    trigger: Trigger
    revision: int | None
    from_revision: int | None
    rollback_revision: int | None
    failure: str | None
    started_at: datetime
    updated_at: datetime
    deadline: datetime
    finished_at: datetime | None
    error: OperationErrorOut | None
    execution_id: str | None


class OperationList(_Wire):
    deployment_id: str
    operations: list[OperationOut]
    next_token: str | None


class AuditRecordOut(_Wire):
    audit_id: str
    at: datetime
    actor: str
    action: str
    target: str
    outcome: Literal["accepted", "denied"]
    trigger: str
    deployment_id: str | None
    namespace: str | None
    reason: str | None
    request_id: str | None
    source_ip: str | None
    operation_id: str | None
    detail: str | None


class AuditList(_Wire):
    records: list[AuditRecordOut]
    next_token: str | None


class PlanStepOut(_Wire):
    description: str
    command: list[str]
    body: JsonMap | None


class PlanOut(_Wire):
    dry_run: bool
    deployment_id: str
    type: OperationType
    revision: int | None
    description: str
    plan: list[PlanStepOut]
