"""Domain records: descriptors, deployments, revisions and operations.

Plain frozen dataclasses in snake_case; the O2 camelCase wire names live only in
``chalicelib.api.schemas``. Changes are made with ``dataclasses.replace``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from chalicelib.domain.health import HealthCheck
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

JsonObject = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ChartRef:
    """Where a chart comes from: an HTTPS repository, an ``oci://`` reference or ``file://``."""

    repo_url: str
    name: str
    version: str


@dataclass(frozen=True, slots=True)
class Descriptor:
    id: str
    name: str
    chart: ChartRef
    default_parameters: JsonObject
    parameter_schema: JsonObject | None
    adapters: tuple[Adapter, ...]
    created_at: datetime
    deployment_count: int = 0


@dataclass(frozen=True, slots=True)
class DeploymentManager:
    """A target cluster (O2 calls a cluster's DMS a deployment manager).

    ``eks``: reached with STS AssumeRole of ``role_arn`` (or the service's own role), EKS
    DescribeCluster and a presigned STS token. ``kubeconfig``: any conformant cluster, its
    kubeconfig kept in ``kubeconfig_source`` (``ssm:NAME``, ``secretsmanager:ID``, or
    ``file:PATH`` where the stage allows local files). ``gke``: Google Kubernetes Engine
    cluster ``cluster_name`` in ``project`` and ``location``; ``aks``: Azure Kubernetes
    Service cluster ``cluster_name`` in ``subscription`` and ``resource_group``. Both reach
    their cloud with the identity kept in the Secrets Manager secret ``credentials_secret``
    (a service-account key, an Entra ID app's client secret). ``local``: the built-in
    simulated cluster of the local run.
    """

    id: str
    kind: ClusterKind
    name: str
    default_namespace: str
    created_at: datetime
    cluster_name: str | None = None
    region: str | None = None
    role_arn: str | None = None
    kubeconfig_source: str | None = None
    context: str | None = None
    project: str | None = None
    location: str | None = None
    subscription: str | None = None
    resource_group: str | None = None
    credentials_secret: str | None = None
    is_default: bool = False
    deployment_count: int = 0


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: str
    reason: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True)
class Lease:
    """The one running operation of a deployment; expired leases may be taken over."""

    operation_id: str
    operation_type: OperationType
    expires_at: datetime
    execution_id: str | None = None


@dataclass(frozen=True, slots=True)
class Deployment:
    """Current state of one NF deployment.

    ``revision`` is the revision last applied to the backend (the one the cluster runs or
    is moving to); ``last_revision`` is the highest number handed out, so the next
    revision is always ``last_revision + 1`` and numbers stay contiguous.
    ``record_version`` guards every write (optimistic locking). ``descriptor_ref`` names
    the descriptor whose use count this deployment holds (a descriptor in use cannot be
    deleted); it is ``None`` after a rollback to a revision whose descriptor was deleted.
    """

    id: str
    namespace: str
    adapter: Adapter
    deployment_manager_id: str
    descriptor_id: str
    chart: ChartRef
    parameters: JsonObject
    status: DeploymentStatus
    revision: int
    last_revision: int
    deployed_revision: int
    created_at: datetime
    updated_at: datetime
    app_version: str | None = None
    replicas: int | None = None
    message: str = ""
    progress: int = 0
    eta_seconds: int | None = None
    conditions: tuple[Condition, ...] = ()
    extensions: JsonObject = field(default_factory=dict)
    lease: Lease | None = None
    terminated_at: datetime | None = None
    descriptor_ref: str | None = None
    # Copies kept with the deployment so that a status read stays one request: the stage of
    # its current (or last) operation, and the description of its current revision.
    stage: Stage | None = None
    description: str | None = None
    secret_paths: tuple[str, ...] = ()  # those of its current revision (domain/secrets.py)
    health_checks: tuple[HealthCheck, ...] = ()  # per component and type, as last seen
    record_version: int = 0

    @property
    def name(self) -> str:
        return self.id

    @property
    def terminated(self) -> bool:
        return self.terminated_at is not None


@dataclass(frozen=True, slots=True)
class Revision:
    """One entry of a deployment's history, with the full snapshot needed to redeploy it."""

    deployment_id: str
    number: int
    status: RevisionStatus
    operation_id: str
    operation_type: OperationType
    description: str
    descriptor_id: str
    chart: ChartRef
    parameters: JsonObject
    values: JsonObject
    created_at: datetime
    updated_at: datetime
    app_version: str | None = None
    backend_ref: str | None = None
    rollback_from: int | None = None
    rollback_to: int | None = None
    secret_paths: tuple[str, ...] = ()  # parameters the descriptor's schema marks secret


@dataclass(frozen=True, slots=True)
class StageEntry:
    stage: Stage
    at: datetime


@dataclass(frozen=True, slots=True)
class OperationError:
    error: str
    message: str


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    """One workload of a rollout as last seen: its replica counts and how it is doing
    (``pending``: waiting for its dependencies, ``deploying``, ``ready``, ``failed``), and
    when its own rollout began and ended (components roll out in dependency order)."""

    name: str
    version: str | None
    desired: int
    updated: int
    ready: int
    available: int
    status: str
    depends_on: tuple[str, ...] = ()
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AppRollout:
    """How seed 002 sees an operation: one rollout of an application ``version`` to a
    ``platform`` in an ``environment``, known by its own UUID (``id``).

    Every operation has one, whichever API started it (``chalicelib/domain/apps.py`` says
    how an NF deployment's operation reads in these terms). ``target_version`` and
    ``rolled_back_from`` (the UUID of the rollout rolled back from) are a rollback's.
    """

    id: str
    name: str
    environment: str
    platform: str
    namespace: str = ""  # the NF deployment's (who may see it)
    version: str | None = None
    previous_version: str | None = None
    target_version: str | None = None
    rolled_back_from: str | None = None
    # Seconds a stage (``deploying``, ``verifying``) may last before the rollout fails.
    stage_timeouts: dict[str, int] | None = None


@dataclass(frozen=True, slots=True)
class Operation:
    """The record of one mutating request (or schedule, or alarm), from start to outcome.

    When its rollout fails and rollback on failure is on, the same operation rolls the
    deployment back: ``rollback_revision`` is the revision it created for that, and
    ``failure`` says why the rollout failed; it then ends ``ROLLED_BACK`` (or ``FAILED``).
    """

    id: str
    deployment_id: str
    type: OperationType
    state: OperationState
    stage: Stage
    stages: tuple[StageEntry, ...]
    trigger: Trigger
    actor: str
    started_at: datetime
    updated_at: datetime
    deadline: datetime
    revision: int | None = None
    from_revision: int | None = None
    reason: str | None = None
    progress: int = 0
    eta_seconds: int | None = None
    message: str = ""
    finished_at: datetime | None = None
    error: OperationError | None = None
    execution_id: str | None = None
    descriptor_ref: str | None = None
    rollback_revision: int | None = None
    failure: str | None = None
    app: AppRollout | None = None
    components: tuple[ComponentStatus, ...] = ()  # as the last status poll saw them
    health_checks: tuple[HealthCheck, ...] = ()  # per component and type, as last seen
    # The verifying stage: since when every required check has been healthy, and how many
    # polls in a row each unhealthy one has failed.
    healthy_since: datetime | None = None
    check_failures: dict[str, int] = field(default_factory=dict)
    scale_direction: str | None = None  # a scale's: "up" or "down" (its metrics' label)

    @property
    def watched_revision(self) -> int | None:
        """The revision being rolled out now: the automatic rollback's, once one started."""
        return self.rollback_revision or self.revision


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    next_token: str | None = None


@dataclass(frozen=True, slots=True)
class Firing:
    """What happened the last time a scaling schedule fired."""

    scheduled_time: datetime
    fired_at: datetime
    outcome: FiringOutcome
    message: str
    operation_id: str | None = None


@dataclass(frozen=True, slots=True)
class ScalingSchedule:
    """A recurring or one-time scale of one deployment, run by EventBridge Scheduler.

    ``expression`` is Scheduler's own (``cron(...)``, ``rate(...)``, ``at(...)``), read in
    ``timezone``; the Scheduler schedule is named after ``id``.
    """

    id: str
    deployment_id: str
    expression: str
    timezone: str
    replicas: int
    created_at: datetime
    created_by: str
    start_date: datetime | None = None
    end_date: datetime | None = None
    reason: str | None = None
    last_firing: Firing | None = None


# What helm takes as a chart name and version, and never as a flag (``--post-renderer=...``).
CHART_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
CHART_VERSION = re.compile(r"^[vV]?[0-9A-Za-z][0-9A-Za-z.+_-]*$")
MAX_REPLICAS = 10_000  # the most replicas a scale or a replicaCount parameter may ask for
DEPLOYMENT_TAG = "o2dms:deployment"  # an alarm with this tag watches the deployment it names


@dataclass(frozen=True, slots=True)
class AlarmBinding:
    """CloudWatch alarms that roll a deployment back when they go off after a rollout.

    Alarms tagged ``o2dms:deployment`` with the deployment's name count too, with these
    windows. ``last_rollback_at`` is when an alarm last rolled the deployment back (the
    cooldown counts from it).
    """

    deployment_id: str
    alarm_names: tuple[str, ...]
    watch_window_seconds: int
    cooldown_seconds: int
    updated_at: datetime | None = None
    last_rollback_at: datetime | None = None
