"""The service's metrics, as both seeds name them, kept as aggregates beside the records.

Lambda instances come and go, so no counter lives in memory: every change that begins or
ends an operation carries the samples it makes (``samples_of``), written in the same
transaction as the change, so that the aggregates are exact however many operations end at
once. ``/metrics`` reads them back and renders Prometheus's text format.

An aggregate is one item per metric and label set: a counter or a histogram adds, a gauge
is set. Seed 000 counts operations by adapter (``o2dms_*``); seed 002 counts rollouts by
platform, environment and version (``deployment_*``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from chalicelib.domain.apps import status_of
from chalicelib.domain.health import HealthStatus
from chalicelib.domain.models import Deployment, Operation
from chalicelib.domain.states import OperationState, OperationType, Trigger

# Seconds: a scale takes seconds, an install of a big chart minutes, a slow rollout half an
# hour (the operation timeout's order).
DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class Kind(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...]


SCALE = Metric(
    "o2dms_scale_operations_total",
    Kind.COUNTER,
    "Scale operations ended, by adapter, direction and outcome",
    ("adapter", "direction", "status"),
)
ROLLBACK = Metric(
    "o2dms_rollback_operations_total",
    Kind.COUNTER,
    "Rollbacks ended (requested, alarm-triggered and automatic), by adapter and outcome",
    ("adapter", "status"),
)
UPGRADE = Metric(
    "o2dms_upgrade_operations_total",
    Kind.COUNTER,
    "Upgrade operations ended, by adapter and outcome",
    ("adapter", "status"),
)
DURATION = Metric(
    "o2dms_operation_duration_seconds",
    Kind.HISTOGRAM,
    "How long operations took, from request to end",
    ("operation", "adapter"),
)
DEPLOYMENTS = Metric(
    "deployment_total",
    Kind.COUNTER,
    "Deployments (rollouts of a version) ended",
    ("platform", "environment", "version"),
)
DEPLOYMENT_DURATION = Metric(
    "deployment_duration_seconds",
    Kind.GAUGE,
    "How long the latest deployment of a version took",
    ("platform", "environment", "version"),
)
DEPLOYMENT_STATUS = Metric(
    "deployment_status",
    Kind.GAUGE,
    "Deployments of each version by status; a running one counts under the status it began"
    " with (preparing, or rolling_back for a rollback)",
    ("platform", "environment", "version", "status"),
)
HEALTH = Metric(
    "deployment_health_check_status",
    Kind.GAUGE,
    "Health checks of the deployments, as their latest rollouts left them",
    ("platform", "check_type", "status"),
)
ROLLBACKS = Metric(
    "deployment_rollback_total",
    Kind.COUNTER,
    "Deployments rolled back (automatically, by an alarm, or on request)",
    ("platform", "environment", "version"),
)
ALL = (
    SCALE,
    ROLLBACK,
    UPGRADE,
    DURATION,
    DEPLOYMENTS,
    DEPLOYMENT_DURATION,
    DEPLOYMENT_STATUS,
    HEALTH,
    ROLLBACKS,
)
BY_NAME = {m.name: m for m in ALL}


@dataclass(frozen=True, slots=True)
class Sample:
    """One aggregate's change. ``key`` names the aggregate: the metric and its labels, or
    for ``deployment_status`` and ``deployment_health_check_status`` the thing whose current
    state it holds (a version, a deployment), whose labels are then in ``state``."""

    metric: str
    labels: tuple[tuple[str, str], ...]
    value: float = 1.0
    key: str = ""
    state: tuple[tuple[str, str], ...] = ()  # gauges that hold a state: what it is now
    counts: tuple[tuple[str, int], ...] = ()  # health: checks per "check_type|status"
    add: bool = False  # a gauge moved by ``value`` rather than set to it

    @property
    def item_key(self) -> str:
        if self.key:
            return f"{self.metric}#{self.key}"
        return f"{self.metric}#" + ",".join(f"{k}={v}" for k, v in self.labels)


@dataclass(frozen=True, slots=True)
class Aggregate:
    """One stored aggregate, as a scrape reads it."""

    metric: str
    labels: dict[str, str]
    value: float = 0.0
    sum: float = 0.0
    count: int = 0
    buckets: tuple[int, ...] = ()  # observations at or under each DURATION_BUCKETS bound
    counts: dict[str, int] = field(default_factory=dict)


def _labels(**found: str) -> tuple[tuple[str, str], ...]:
    return tuple(found.items())


def _duration(op: Operation) -> float:
    ended = op.finished_at or op.updated_at
    return max(0.0, (ended - op.started_at).total_seconds())


def samples_of(operations: Iterable[Operation], deployment: Deployment) -> tuple[Sample, ...]:
    """What writing ``operations`` (as a change writes them) does to the aggregates: an
    operation that begins sets its version's status; one that ends counts, in both seeds'
    terms. An operation written while it runs changes nothing."""
    found: list[Sample] = []
    for op in operations:
        if op.state.finished and op.state is not OperationState.SKIPPED:
            found += _ended(op, deployment)
        elif not op.state.finished and len(op.stages) == 1 and op.app is not None:
            found.append(_status(op, status_of(op).value, 1))
    return tuple(found)


def _ended(op: Operation, deployment: Deployment) -> list[Sample]:
    adapter, status = deployment.adapter.value, op.state.value
    found: list[Sample] = []
    if op.type is OperationType.SCALE:
        direction = op.scale_direction or "up"
        found.append(
            Sample(SCALE.name, _labels(adapter=adapter, direction=direction, status=status))
        )
    if op.type is OperationType.UPGRADE:
        found.append(Sample(UPGRADE.name, _labels(adapter=adapter, status=status)))
    if op.type is OperationType.ROLLBACK:
        found.append(Sample(ROLLBACK.name, _labels(adapter=adapter, status=status)))
    if op.rollback_revision is not None:  # the rollout failed and rolled itself back
        automatic = "COMPLETED" if op.state is OperationState.ROLLED_BACK else status
        found.append(Sample(ROLLBACK.name, _labels(adapter=adapter, status=automatic)))
    found.append(
        Sample(DURATION.name, _labels(operation=op.type.value, adapter=adapter), _duration(op))
    )
    if op.app is not None:
        found += _rollout_ended(op)
    return found


def _version(op: Operation) -> tuple[tuple[str, str], ...]:
    app = op.app
    assert app is not None
    version = app.version or "unknown"
    return _labels(platform=app.platform, environment=app.environment, version=version)


def _status(op: Operation, status: str, delta: int) -> Sample:
    return Sample(DEPLOYMENT_STATUS.name, (*_version(op), ("status", status)), delta, add=True)


def _began_as(op: Operation) -> str:
    """The status a rollout was counted under when it began (its first stage)."""
    return "rolling_back" if op.type is OperationType.ROLLBACK else "preparing"


def _rollout_ended(op: Operation) -> list[Sample]:
    assert op.app is not None
    where = _version(op)
    found = [
        Sample(DEPLOYMENTS.name, where),
        Sample(DEPLOYMENT_DURATION.name, where, _duration(op)),
        _status(op, _began_as(op), -1),
        _status(op, status_of(op).value, 1),
    ]
    rolled_back = op.rollback_revision is not None or op.type is OperationType.ROLLBACK
    if rolled_back and op.state in {OperationState.COMPLETED, OperationState.ROLLED_BACK}:
        found.append(Sample(ROLLBACKS.name, where))
    counts: dict[str, int] = {}
    for check in op.health_checks:
        word = check.status.value if isinstance(check.status, HealthStatus) else str(check.status)
        name = f"{check.type}|{word}"
        counts[name] = counts.get(name, 0) + 1
    if op.type is OperationType.TERMINATE:
        counts = {}  # nothing left to be healthy
    found.append(
        Sample(
            HEALTH.name,
            (),
            key=op.deployment_id,
            state=(("platform", op.app.platform),),
            counts=tuple(sorted(counts.items())),
        )
    )
    return found


def rollback_cause(op: Operation) -> str | None:
    """Why a rollback happened: automatic (the rollout failed), alarm, or manual."""
    if op.rollback_revision is not None:
        return "automatic"
    if op.type is not OperationType.ROLLBACK:
        return None
    return "alarm" if op.trigger is Trigger.ALARM else "manual"
