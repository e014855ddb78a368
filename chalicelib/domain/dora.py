"""DORA figures of a window of rollouts: how often versions ship, how often they fail, and
how long a failed one leaves its deployment unhealthy.

Pure arithmetic over operations (each with its seed-002 view), so that a history written by
hand can be checked figure by figure. Only installs and upgrades are deployments: a scale
changes no version, and a schedule scaling every hour would otherwise swamp the frequency
and dilute the failure rate. Rollbacks are counted apart, by what started them. Every count
is of operations *started* in the window; a failure is restored by whatever ends it later.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.models import Operation
from chalicelib.domain.states import OperationState, OperationType, Stage, Trigger

DEFAULT_WINDOW = "30d"
MAX_WINDOW = timedelta(days=365)
# A Go-style duration with days: ``30d``, ``12h``, ``1d12h``, ``90m``. Nine digits a part at
# most, so that no value is too large to compare; the empty text stands for the default.
WINDOW = re.compile(r"^(?:([0-9]{1,9})d)?(?:([0-9]{1,9})h)?(?:([0-9]{1,9})m)?(?:([0-9]{1,9})s)?$")
_UNIT_SECONDS = (86_400, 3_600, 60, 1)

DEPLOYMENT_TYPES = frozenset({OperationType.INSTALL, OperationType.UPGRADE})
# What leaves a deployment healthy when it ends well (a terminate leaves nothing running).
RESTORING_TYPES = DEPLOYMENT_TYPES | {OperationType.SCALE, OperationType.ROLLBACK}
# A rollout ended badly: it failed, its automatic rollback ran (whether or not that worked),
# or a rollback superseded it (CANCELLED, which seed 002 also calls failed).
FAILED_STATES = frozenset(
    {OperationState.FAILED, OperationState.ROLLED_BACK, OperationState.CANCELLED}
)
# A good end: the rollout itself, or an automatic rollback back to a good revision.
HEALTHY_STATES = frozenset({OperationState.COMPLETED, OperationState.ROLLED_BACK})
RATIO_DIGITS = 4
SECONDS_DIGITS = 1


def parse_window(text: str) -> timedelta:
    """The window a ``?window=`` asks for; 400 unless it is from one second to a year."""
    match = WINDOW.match(text)
    if text and match:
        seconds = sum(
            int(n or 0) * unit for n, unit in zip(match.groups(), _UNIT_SECONDS, strict=True)
        )
        if 0 < seconds <= MAX_WINDOW.total_seconds():
            return timedelta(seconds=seconds)
    raise InvalidRequest(
        f"window {text[:40]!r} is not a duration from 1s to {MAX_WINDOW.days}d: write it as"
        " days, hours, minutes and seconds, such as 7d, 30d, 12h or 1d12h"
    )


@dataclass(frozen=True, slots=True)
class Rollbacks:
    automatic: int  # rollouts whose own operation rolled back after they failed
    alarm: int  # rollback operations an alarm started
    manual: int  # rollback operations someone asked for


@dataclass(frozen=True, slots=True)
class Figures:
    deployments: int
    deployment_frequency_per_day: float
    completed: int
    failed: int
    change_failure_rate: float | None  # None: no deployment ended
    mean_time_to_restore_seconds: float | None  # None: no failure was restored
    rollbacks: Rollbacks
    restores_pending: int


@dataclass(frozen=True, slots=True)
class Group:
    platform: str
    environment: str
    figures: Figures


@dataclass(frozen=True, slots=True)
class Report:
    start: datetime
    end: datetime
    overall: Figures
    groups: tuple[Group, ...]  # by platform, then environment; only those with a count


def report(operations: Sequence[Operation], *, start: datetime, end: datetime) -> Report:
    """The figures of the operations started from ``start`` to ``end``, overall and per
    platform and environment. ``operations`` may hold older ones (they restore nothing
    newer, and count for nothing); operations without a seed-002 view are left out."""
    seen = [o for o in operations if o.app is not None]
    groups: dict[tuple[str, str], list[Operation]] = {}
    for o in seen:
        assert o.app is not None
        groups.setdefault((o.app.platform, o.app.environment), []).append(o)
    found = []
    for (platform, environment), members in sorted(groups.items()):
        figures_of = figures(members, start=start, end=end)
        if figures_of.deployments or _rollback_count(figures_of.rollbacks):
            found.append(Group(platform, environment, figures_of))
    return Report(start, end, figures(seen, start=start, end=end), tuple(found))


def figures(operations: Sequence[Operation], *, start: datetime, end: datetime) -> Figures:
    """The figures of the operations started from ``start`` to ``end``."""
    within = [o for o in operations if start <= o.started_at <= end]
    deployments = [o for o in within if is_deployment(o)]
    completed = sum(1 for o in deployments if o.state is OperationState.COMPLETED)
    failures = [o for o in deployments if is_failure(o)]
    ended = completed + len(failures)
    restored = [t for t in (time_to_restore(f, operations) for f in failures) if t is not None]
    days = (end - start).total_seconds() / 86_400
    return Figures(
        deployments=len(deployments),
        deployment_frequency_per_day=round(len(deployments) / days, RATIO_DIGITS) if days else 0.0,
        completed=completed,
        failed=len(failures),
        change_failure_rate=round(len(failures) / ended, RATIO_DIGITS) if ended else None,
        mean_time_to_restore_seconds=(
            round(sum(restored) / len(restored), SECONDS_DIGITS) if restored else None
        ),
        rollbacks=rollbacks(within),
        restores_pending=len(failures) - len(restored),
    )


def is_deployment(operation: Operation) -> bool:
    """An install or upgrade that ran (a SKIPPED one never did)."""
    return operation.type in DEPLOYMENT_TYPES and operation.state is not OperationState.SKIPPED


def is_failure(operation: Operation) -> bool:
    return operation.state in FAILED_STATES or (
        operation.state.finished and operation.rollback_revision is not None
    )


def rollbacks(operations: Iterable[Operation]) -> Rollbacks:
    automatic = alarm = manual = 0
    for o in operations:
        if is_deployment(o) and o.rollback_revision is not None:
            automatic += 1
        elif o.type is OperationType.ROLLBACK and o.trigger is Trigger.ALARM:
            alarm += 1
        elif o.type is OperationType.ROLLBACK and o.trigger is Trigger.API:
            manual += 1
    return Rollbacks(automatic=automatic, alarm=alarm, manual=manual)


def failed_at(operation: Operation) -> datetime | None:
    """When the rollout failed: its automatic rollback began then; else when it ended."""
    for entry in operation.stages:
        if entry.stage is Stage.ROLLING_BACK:
            return entry.at
    return operation.finished_at


def restored_at(failure: Operation, operations: Iterable[Operation]) -> datetime | None:
    """When the deployment ``failure`` left unhealthy was healthy again: at the end of its
    own automatic rollback when that worked; else at the first good end of a later
    rollout or rollback of the same NF deployment; None while none has come."""
    if failure.state is OperationState.ROLLED_BACK:
        return failure.finished_at
    since = failed_at(failure)
    if since is None:
        return None
    ends = [
        o.finished_at
        for o in operations
        if o.deployment_id == failure.deployment_id
        and o.id != failure.id
        and o.type in RESTORING_TYPES
        and o.state in HEALTHY_STATES
        and o.started_at >= failure.started_at
        and o.finished_at is not None
        and o.finished_at >= since
    ]
    return min(ends, default=None)


def time_to_restore(failure: Operation, operations: Iterable[Operation]) -> float | None:
    """Seconds from the failure to its restoration; None while it is not restored."""
    since = failed_at(failure)
    until = restored_at(failure, operations)
    if since is None or until is None:
        return None
    return (until - since).total_seconds()


def _rollback_count(counts: Rollbacks) -> int:
    return counts.automatic + counts.alarm + counts.manual
