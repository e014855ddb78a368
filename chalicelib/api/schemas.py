"""Wire shapes: request bodies (validated, unknown fields refused) and response bodies.

Field names are snake_case here and camelCase on the wire (pydantic aliases), as the seed
documents them. The same models produce the OpenAPI document, so the document and the
answers cannot drift apart.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator
from pydantic.alias_generators import to_camel

from chalicelib.domain.models import MAX_REPLICAS
from chalicelib.domain.states import (
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

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DESCRIPTOR_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
CHART_SOURCES = ("https://", "http://", "oci://", "file://")


def is_dns_label(value: str, max_length: int = 63) -> bool:
    """A Kubernetes DNS-1123 label: the rule for names, namespaces and manager ids."""
    return len(value) <= max_length and DNS_LABEL.fullmatch(value) is not None


def check_deployment_name(value: str) -> str:
    if not is_dns_label(value, 53):
        raise ValueError(
            f"name {value!r} must be a DNS-1123 label of at most 53 characters "
            "(lower-case letters, digits and '-', starting and ending alphanumeric)"
        )
    return value


def check_descriptor_id(value: str) -> str:
    if not DESCRIPTOR_ID.fullmatch(value):
        raise ValueError(
            f"descriptor id {value!r} must be 1-128 characters: letters, digits, '.', '_', '-'"
        )
    return value


class _Wire(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


Reason = Annotated[str | None, Field(default=None, max_length=1024)]
JsonMap = dict[str, Any]

# -------------------------------------------------------------------------- requests


class DescriptorCreate(_Wire):
    descriptor_id: str
    name: Annotated[str, Field(min_length=1, max_length=253)]
    artifact_repo_url: Annotated[str, Field(min_length=1, max_length=2048)]
    artifact_name: Annotated[str, Field(min_length=1, max_length=253)]
    artifact_version: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^\S+$")]
    default_parameters: JsonMap = Field(default_factory=dict)
    parameter_schema: JsonMap | None = None
    supported_adapters: list[Adapter] = Field(default_factory=lambda: list(Adapter), min_length=1)

    _id = field_validator("descriptor_id")(check_descriptor_id)

    @field_validator("artifact_repo_url")
    @classmethod
    def _source(cls, value: str) -> str:
        if not value.startswith(CHART_SOURCES):
            raise ValueError("artifactRepoUrl must start with https://, http://, oci:// or file://")
        return value


class DeploymentCreate(_Wire):
    name: str
    descriptor_id: str
    namespace: str | None = None
    parameters: JsonMap | None = None
    adapter: Adapter = Adapter.HELM
    deployment_manager_id: Annotated[str | None, Field(default=None, max_length=128)]
    reason: Reason

    _name = field_validator("name")(check_deployment_name)
    _descriptor = field_validator("descriptor_id")(check_descriptor_id)

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        if value is not None and not is_dns_label(value):
            raise ValueError(
                f"namespace {value!r} must be a DNS-1123 label of at most 63 characters"
            )
        return value


class DeploymentUpgrade(_Wire):
    descriptor_id: str | None = None
    parameters: JsonMap | None = None
    reason: Reason

    @field_validator("descriptor_id")
    @classmethod
    def _descriptor(cls, value: str | None) -> str | None:
        return None if value is None else check_descriptor_id(value)


def check_replicas(value: int) -> int:
    if value < 0:
        raise ValueError("Replica count must be non-negative")
    if value > MAX_REPLICAS:
        raise ValueError(f"Replica count must be at most {MAX_REPLICAS}")
    return value


class ScaleRequest(_Wire):
    replicas: StrictInt
    reason: Reason

    _replicas = field_validator("replicas")(check_replicas)


class RollbackRequest(_Wire):
    revision: StrictInt
    reason: Reason

    @field_validator("revision")
    @classmethod
    def _non_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("Invalid revision number: use 0 for the previous revision or N >= 1")
        return value


class TerminateRequest(_Wire):
    reason: Reason


class ScheduleCreate(_Wire):
    expression: Annotated[str, Field(min_length=6, max_length=256)]
    timezone: Annotated[str, Field(min_length=1, max_length=50)] = "UTC"
    replicas: StrictInt
    start_date: datetime | None = None
    end_date: datetime | None = None
    reason: Reason

    _replicas = field_validator("replicas")(check_replicas)

    @field_validator("start_date", "end_date")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("dates need a time zone offset, e.g. 2026-12-01T08:00:00Z")
        return value


ALARM_NAME = r"^[^\x00-\x1f]{1,255}$"


class AlarmBindingIn(_Wire):
    alarm_names: Annotated[list[Annotated[str, Field(pattern=ALARM_NAME)]], Field(max_length=20)]
    watch_window_seconds: Annotated[StrictInt | None, Field(default=None, ge=60, le=604_800)]
    cooldown_seconds: Annotated[StrictInt | None, Field(default=None, ge=0, le=604_800)]


ROLE_ARN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$"
REGION = r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]{1,2}$"
EKS_NAME = r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$"
KUBECONFIG_SOURCE = r"^(ssm:|secretsmanager:|file:)\S+$"


class ManagerCreate(_Wire):
    deployment_manager_id: str
    kind: Annotated[str, Field(pattern=r"^(eks|kubeconfig)$")]
    name: Annotated[str | None, Field(default=None, max_length=253)]
    default_namespace: str | None = None
    cluster_name: Annotated[str | None, Field(default=None, pattern=EKS_NAME)]
    region: Annotated[str | None, Field(default=None, pattern=REGION)]
    role_arn: Annotated[str | None, Field(default=None, max_length=2048, pattern=ROLE_ARN)]
    kubeconfig_source: Annotated[
        str | None, Field(default=None, max_length=2048, pattern=KUBECONFIG_SOURCE)
    ]
    context: Annotated[str | None, Field(default=None, max_length=253)]
    default: bool = False

    @field_validator("deployment_manager_id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not is_dns_label(value):
            raise ValueError(
                f"deploymentManagerId {value!r} must be a DNS-1123 label of at most 63 characters"
            )
        return value

    @field_validator("default_namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        if value is not None and not is_dns_label(value):
            raise ValueError(f"defaultNamespace {value!r} must be a DNS-1123 label")
        return value

    @model_validator(mode="after")
    def _kind_fields(self) -> ManagerCreate:
        if self.kind == "eks":
            if not self.cluster_name or not self.region:
                raise ValueError("an eks deployment manager needs clusterName and region")
            if self.kubeconfig_source or self.context:
                raise ValueError("kubeconfigSource and context are for kubeconfig managers")
        else:
            if not self.kubeconfig_source:
                raise ValueError("a kubeconfig deployment manager needs kubeconfigSource")
            if self.cluster_name or self.region or self.role_arn:
                raise ValueError("clusterName, region and roleArn are for eks managers")
        return self


# ------------------------------------------------------------------------- responses


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
    updated_at: datetime
    extensions: JsonMap


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
