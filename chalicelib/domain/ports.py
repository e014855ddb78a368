"""Ports: what the use cases need from storage, deployment backends and rollout drivers.

Adapters implement these; the service layer only ever sees these types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from chalicelib.domain.audit import AuditFilter, AuditRecord
from chalicelib.domain.health import CustomCheck, HealthCheck
from chalicelib.domain.metrics import Aggregate, Sample
from chalicelib.domain.models import (
    AlarmBinding,
    ChartRef,
    ComponentStatus,
    Condition,
    Deployment,
    DeploymentManager,
    Descriptor,
    JsonObject,
    Operation,
    Page,
    Revision,
    ScalingSchedule,
)
from chalicelib.domain.secrets import LeafPath
from chalicelib.domain.states import DeploymentStatus, OperationType

if TYPE_CHECKING:  # only the live progress ports name them; reads need not load it
    from chalicelib.domain.live import Connection, Subscription

# --------------------------------------------------------------------------- store


@dataclass(frozen=True, slots=True)
class DeploymentFilter:
    status: DeploymentStatus | None = None
    descriptor_id: str | None = None
    namespace: str | None = None
    adapter: str | None = None
    deployment_manager_id: str | None = None


@dataclass(frozen=True, slots=True)
class RolloutFilter:
    """Seed 002's list filters; each one an exact match."""

    name: str | None = None
    environment: str | None = None
    platform: str | None = None
    status: str | None = None
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class Detach:
    """A deployment's automation, removed by the change that begins its termination: its
    scaling schedules' items and its alarm binding (with the binding's alarm lookups)."""

    deployment_id: str
    schedule_ids: tuple[str, ...] = ()
    alarm_names: tuple[str, ...] = ()
    binding: bool = False

    @property
    def writes(self) -> int:
        return len(self.schedule_ids) + len(self.alarm_names) + int(self.binding)


@dataclass(frozen=True, slots=True)
class Change:
    """Writes that must land together or not at all (one DynamoDB transaction).

    ``deployment`` is written whole, on condition that the stored item still has
    ``expected_version`` (0: the item must not exist yet); the written item carries
    ``expected_version + 1``. ``new_revisions`` must not exist yet; ``revisions`` and
    ``operations`` are overwritten. ``descriptor_refs`` and ``manager_refs`` add to
    descriptors' and deployment managers' use counts; a positive delta requires the item
    to exist.
    """

    deployment: Deployment
    expected_version: int
    new_revisions: tuple[Revision, ...] = ()
    revisions: tuple[Revision, ...] = ()
    operations: tuple[Operation, ...] = ()
    descriptor_refs: Mapping[str, int] = field(default_factory=dict)
    manager_refs: Mapping[str, int] = field(default_factory=dict)
    audit: AuditRecord | None = None  # the change's audit record, written with it
    metrics: tuple[Sample, ...] = ()  # aggregates the change moves (domain/metrics.py)
    detach: Detach | None = None  # automation items deleted with it (a terminate's begin)


@dataclass(frozen=True, slots=True)
class CreateReads:
    """What a create needs to know, read together: the deployment stored under the name
    (a terminated or failed one may be taken over), the descriptor, the manager named (if
    one was), and the registered default manager's id. ``None``: not stored."""

    existing: Deployment | None
    descriptor: Descriptor | None
    manager: DeploymentManager | None
    default_manager_id: str | None


class Store(Protocol):
    def put_descriptor(self, descriptor: Descriptor, *, audit: AuditRecord) -> None:
        """Create; ``AlreadyExists`` if the id is taken."""

    def get_descriptor(self, descriptor_id: str) -> Descriptor: ...

    def list_descriptors(self, *, limit: int, token: str | None) -> Page[Descriptor]: ...

    def delete_descriptor(self, descriptor_id: str, *, audit: AuditRecord) -> None:
        """``DescriptorInUse`` while deployments use it; ``DescriptorNotFound``."""

    def put_manager(self, manager: DeploymentManager, *, audit: AuditRecord) -> None:
        """Register; ``AlreadyExists`` if the id is taken. A manager marked default becomes
        the default (in the same transaction)."""

    def get_manager(self, manager_id: str) -> DeploymentManager: ...

    def default_manager_id(self) -> str | None: ...

    def list_managers(
        self, *, limit: int, token: str | None
    ) -> tuple[str | None, Page[DeploymentManager]]:
        """The registered default's id (read for the page's flags anyway) and a page."""

    def delete_manager(self, manager_id: str, *, audit: AuditRecord) -> None:
        """``DeploymentManagerInUse`` while deployments use it; ``DeploymentManagerNotFound``."""

    def get_deployment(self, deployment_id: str) -> Deployment:
        """The stored item, terminated or not; ``DeploymentNotFound`` if never created."""

    def create_reads(
        self, deployment_id: str, *, descriptor_id: str, manager_id: str | None
    ) -> CreateReads:
        """Everything a create reads, in one round trip."""

    def list_deployments(
        self, *, filters: DeploymentFilter, limit: int, token: str | None
    ) -> Page[Deployment]:
        """Deployments by id, terminated ones (NOT_INSTANTIATED) included."""

    def get_revision(self, deployment_id: str, number: int) -> Revision: ...

    def history(
        self, deployment_id: str, *, limit: int, token: str | None
    ) -> tuple[Deployment, Page[Revision]]:
        """The deployment and a page of its revisions, newest first, in one read."""

    def get_operation(self, deployment_id: str, operation_id: str) -> Operation: ...

    def list_operations(
        self, deployment_id: str, *, limit: int, token: str | None
    ) -> Page[Operation]:
        """Newest first; ``DeploymentNotFound`` when the deployment has none."""

    def get_rollout(self, rollout_id: str) -> Operation:
        """The operation a seed-002 deployment id names; ``RolloutNotFound``."""

    def list_rollouts(
        self, *, filters: RolloutFilter, limit: int, token: str | None
    ) -> Page[Operation]:
        """Operations as seed-002 deployments, newest first, across all deployments."""

    def metric_aggregates(self) -> list[Aggregate]:
        """The metrics' aggregates: one read."""

    def commit(self, change: Change) -> Deployment:
        """Apply ``change`` atomically and return the deployment as stored.

        Raises ``ConcurrentModification`` when the deployment changed since it was read,
        ``DescriptorNotFound`` when a referenced descriptor is gone.
        """

    def record_audit(self, record: AuditRecord) -> None:
        """Append a record that goes with no change (a refusal)."""

    def audit_page(
        self, filters: AuditFilter, *, limit: int, token: str | None
    ) -> Page[AuditRecord]:
        """Audit records, newest first."""


class AutomationStore(Protocol):
    """What scheduled scaling and alarm rollbacks keep beside each deployment."""

    def put_schedule(self, schedule: ScalingSchedule, *, audit: AuditRecord) -> None:
        """Create; ``AlreadyExists`` if the id is taken."""

    def get_schedule(self, deployment_id: str, schedule_id: str) -> ScalingSchedule:
        """``ScheduleNotFound`` if there is none."""

    def deployment_schedules(
        self, deployment_id: str
    ) -> tuple[Deployment, tuple[ScalingSchedule, ...]]:
        """The deployment and all its schedules, in one read; ``DeploymentNotFound``."""

    def delete_schedule(
        self, deployment_id: str, schedule_id: str, *, audit: AuditRecord | None = None
    ) -> None:
        """Idempotent."""

    def claim_firing(self, schedule: ScalingSchedule, scheduled_time: datetime) -> bool:
        """Mark the firing of ``scheduled_time`` as taken; False if it already was (or a
        later one was): a duplicate delivery."""

    def release_firing(self, schedule: ScalingSchedule, scheduled_time: datetime) -> None:
        """Undo ``claim_firing`` (best effort), so a retried delivery runs the firing."""

    def record_firing(self, schedule: ScalingSchedule) -> None:
        """Store ``schedule.last_firing`` (the schedule may be gone: then nothing)."""

    def record_operation(self, operation: Operation) -> None:
        """Keep an operation that never held the lease (a skipped firing)."""

    def get_alarm_binding(self, deployment_id: str) -> AlarmBinding | None: ...

    def deployment_alarm_binding(self, deployment_id: str) -> tuple[Deployment, AlarmBinding]:
        """The deployment and its binding (the default windows and no names when none was
        set), in one read; ``DeploymentNotFound``."""

    def put_alarm_binding(
        self, binding: AlarmBinding, previous: tuple[str, ...], *, audit: AuditRecord
    ) -> None:
        """Replace the binding; ``previous`` are the names bound before (their lookups go)."""

    def delete_alarm_binding(self, deployment_id: str) -> None:
        """Remove the binding and its alarm lookups; idempotent."""

    def deployments_for_alarm(self, alarm_name: str) -> tuple[str, ...]: ...

    def claim_alarm_rollback(
        self, deployment_id: str, *, now: datetime, cooldown_seconds: int, event: str
    ) -> bool:
        """Record an alarm rollback at ``now`` for ``event`` unless one happened within the
        cooldown; a claim made for the same ``event`` (a redelivery) is granted again."""

    def release_alarm_rollback(self, deployment_id: str, *, event: str) -> None:
        """Withdraw the claim ``event`` made, whose rollback did not start."""


class ScheduleRunner(Protocol):
    """The service that fires schedules (EventBridge Scheduler)."""

    def create(self, schedule: ScalingSchedule) -> None:
        """Raise ``InvalidRequest`` when the runner refuses the schedule."""

    def delete(self, schedule_id: str) -> None:
        """Idempotent: a schedule already gone is fine."""


class AlarmDirectory(Protocol):
    """Reads alarms' tags (CloudWatch)."""

    def tagged_deployment(self, alarm_arn: str) -> str | None:
        """The value of the alarm's ``o2dms:deployment`` tag, if it has one."""


# ------------------------------------------------------------------------- backends


@dataclass(frozen=True, slots=True)
class ReleaseTarget:
    """Everything a backend needs to put one revision on a cluster."""

    release: str
    namespace: str
    chart: ChartRef
    values: JsonObject
    revision: int
    operation_id: str
    timeout_seconds: int
    # Where ``values`` holds secret values (``secrets.secret_leaf_paths``): a backend that
    # writes values into a cluster object keeps these out of it.
    secret_leaves: tuple[LeafPath, ...] = ()


@dataclass(frozen=True, slots=True)
class ReleaseRef:
    """Which release a read or an uninstall is about.

    The Kubernetes backends find their objects by ``release`` and ``namespace`` (our labels).
    A backend whose workload is not ours to label finds it in the deployment's own records:
    ``applied`` (the extensions it reported when it applied the current revision: the ECS
    cluster and service, and the task definition ECS should be running), and ``terminating``
    (an ECS service is scaled to zero, not deleted, so only our intent tells a termination
    from a scale to zero).
    """

    release: str
    namespace: str
    applied: JsonObject = field(default_factory=dict, compare=False)
    terminating: bool = False


@dataclass(frozen=True, slots=True)
class Applied:
    """What a backend reports right after it accepted a change."""

    backend_ref: str | None
    app_version: str | None
    extensions: JsonObject = field(default_factory=dict)


class RolloutPhase(StrEnum):
    PROGRESSING = "PROGRESSING"
    READY = "READY"
    FAILED = "FAILED"
    ABSENT = "ABSENT"


@dataclass(frozen=True, slots=True)
class Replicas:
    desired: int
    updated: int
    ready: int
    available: int


def ready_message(desired: int) -> str:
    """What a backend says of a rolled-out workload with ``desired`` replicas."""
    if desired == 0:
        return "Scaled to 0 replicas"
    return "The 1 replica is ready" if desired == 1 else f"All {desired} replicas ready"


@dataclass(frozen=True, slots=True)
class BackendStatus:
    phase: RolloutPhase
    progress: int
    message: str
    conditions: tuple[Condition, ...] = ()
    replicas: Replicas | None = None
    backend_ref: str | None = None
    extensions: JsonObject = field(default_factory=dict)
    components: tuple[ComponentStatus, ...] = ()  # a workload of several parts: each one
    health_checks: tuple[HealthCheck, ...] = ()  # per pod and per Service, as read


@dataclass(frozen=True, slots=True)
class BackendRevision:
    backend_ref: str
    status: str
    chart_version: str
    app_version: str | None
    description: str
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Action:
    """One change a backend is asked to make (or to plan)."""

    type: OperationType
    target: ReleaseTarget
    replicas: int | None = None
    rollback_to_ref: str | None = None


@dataclass(frozen=True, slots=True)
class PlanStep:
    """One thing a backend would do: a command line, or an object it would send."""

    description: str
    command: tuple[str, ...] = ()
    body: JsonObject | None = None
    component: str | None = None  # the part of a several-part application it is about


class DeploymentBackend(Protocol):
    """What every deployment backend (local, Helm, Argo CD, Flux) must do."""

    kind: str

    def install(self, target: ReleaseTarget) -> Applied: ...

    def upgrade(self, target: ReleaseTarget) -> Applied: ...

    def scale(self, target: ReleaseTarget, *, replicas: int) -> Applied: ...

    def rollback(self, target: ReleaseTarget, *, to_backend_ref: str | None) -> Applied:
        """Go back to ``target`` (a stored snapshot); ``to_backend_ref`` is the backend's own
        reference to it, when the backend may still have it."""

    def uninstall(self, ref: ReleaseRef) -> None: ...

    def status(self, ref: ReleaseRef) -> BackendStatus: ...

    def history(self, ref: ReleaseRef) -> list[BackendRevision]: ...

    def plan(self, action: Action) -> list[PlanStep]: ...

    def probe(self, ref: ReleaseRef, checks: tuple[CustomCheck, ...]) -> tuple[HealthCheck, ...]:
        """Run the deployment's own health checks against its Services, once each."""


@dataclass(frozen=True, slots=True)
class ClusterCredentials:
    """How to reach one cluster's API server, for helm (as a kubeconfig) and for the
    Kubernetes client. Either ``kubeconfig`` (a whole kubeconfig document, for clusters
    registered by kubeconfig) or ``server`` with a bearer ``token`` (EKS: the presigned STS
    token) and the cluster's CA (base64 PEM, as in a kubeconfig)."""

    server: str | None = None
    certificate_authority_data: str | None = None
    token: str | None = None
    kubeconfig: str | None = None
    context: str | None = None

    def __repr__(self) -> str:  # never print a token or a kubeconfig
        return f"ClusterCredentials(server={self.server!r}, context={self.context!r})"


class CredentialsProvider(Protocol):
    """Fresh credentials for one cluster (EKS tokens expire: ask again for every call)."""

    def __call__(self, *, operation_id: str | None = None) -> ClusterCredentials: ...


class BackendResolver(Protocol):
    """The backend that deploys with ``adapter`` onto the cluster ``manager`` names."""

    def __call__(self, *, adapter: str, manager: DeploymentManager) -> DeploymentBackend: ...


# ------------------------------------------------------------------------- rollouts


class EventPublisher(Protocol):
    """Tells the world an operation ended (EventBridge in AWS and in the local run)."""

    def operation_ended(self, operation: Operation, deployment: Deployment) -> None:
        """Best effort: a failure to publish is logged, never raised."""


class RolloutDriver(Protocol):
    """Follows an applied change to its end (Step Functions in AWS, a thread locally)."""

    def execution_id(self, operation_id: str) -> str | None:
        """The id the follower of ``operation_id`` will have, known before it starts (so the
        operation is stored with it once, when it begins)."""

    def start(self, *, deployment_id: str, operation_id: str) -> str | None:
        """Begin following; the execution id (``execution_id``'s) when it started, None
        when it could not."""


class Clock(Protocol):
    def __call__(self) -> datetime: ...


# -------------------------------------------------------------------------- secrets


class SecretSealer(Protocol):
    """Seals secret parameter values before they are stored, and unseals them for a backend
    (KMS envelope encryption in AWS and in the local run)."""

    def seal(self, values: JsonObject, paths: tuple[str, ...] = ()) -> JsonObject:
        """A copy of ``values`` with each secret leaf (``secrets.secret_leaf_paths``: the
        schema's ``paths``, the name rule) replaced by a sealed string; sealed strings stay
        as they are. No secret: no call to KMS. ``SecretsUnavailable`` when it cannot seal."""

    def unseal(self, values: JsonObject) -> JsonObject:
        """A copy of ``values`` with every sealed string replaced by its plaintext JSON value;
        ``SealedSecretUnreadable`` for one that does not decrypt."""


# ---------------------------------------------------------------------- live progress


class Subscriptions(Protocol):
    """Who follows what over WebSocket connections (items in the table, with a TTL)."""

    def open(self, connection: Connection) -> None:
        """Record a connection that has just been accepted."""

    def add(self, subscription: Subscription) -> None:
        """Record ``subscription`` and note its topic on its connection."""

    def remove(self, connection_id: str, topic: str) -> None: ...

    def shown(self, subscription: Subscription) -> None:
        """Its snapshot has been sent: updates may follow."""

    def followers(self, topic: str, *, now: int) -> tuple[Subscription, ...]:
        """Every live subscription to ``topic``: one Query (expired ones left out)."""

    def connection(self, connection_id: str, *, now: int) -> Connection | None:
        """The connection's record, None when unknown or expired."""

    def forget(self, connection_id: str) -> None:
        """The connection and every subscription of it, gone."""


class ConnectionPoster(Protocol):
    """Sends to connected WebSocket clients (API Gateway's ``@connections`` API)."""

    def post_many(self, messages: Mapping[str, Sequence[bytes]]) -> frozenset[str]:
        """Send each connection its messages, in order (connections in parallel); the ids
        of the connections that are gone."""
