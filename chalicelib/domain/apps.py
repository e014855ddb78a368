"""Seed 002's words for our records: an operation read as one rollout of an application.

A seed-002 deployment is one operation of one NF deployment (``AppRollout`` on the
operation). Its status is a lowercase word derived from the operation's state and stage;
its progress counts the stages of a rollout (preparing, deploying, verifying, and
rolling back after a failure); its timeline is the operation's stage entries.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.models import ChartRef, JsonObject, Operation, StageEntry
from chalicelib.domain.states import Adapter, OperationState, OperationType, Stage


class AppStatus(StrEnum):
    PENDING = "pending"
    PREPARING = "preparing"
    DEPLOYING = "deploying"
    VERIFYING = "verifying"
    COMPLETED = "completed"
    FAILED = "failed"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"


# The platforms seed 002 names that this service deploys to, and the adapter of each.
PLATFORMS: dict[str, Adapter] = {
    "kubernetes": Adapter.KUBERNETES,
    "helm": Adapter.HELM,
    "argocd": Adapter.ARGOCD,
    "flux": Adapter.FLUX,
    "ecs": Adapter.ECS,
}
# Platforms whose version is an image tag (``image.tag``), not a chart's version.
IMAGE_PLATFORMS = frozenset({Adapter.KUBERNETES, Adapter.ECS})

_RUNNING: dict[Stage, AppStatus] = {
    Stage.PREPARING: AppStatus.PREPARING,
    Stage.DEPLOYING: AppStatus.DEPLOYING,
    Stage.VERIFYING: AppStatus.VERIFYING,
    Stage.ROLLING_BACK: AppStatus.ROLLING_BACK,
}
_ROLLOUT_STAGES = (Stage.PREPARING, Stage.DEPLOYING, Stage.VERIFYING)
_ENDS = frozenset({Stage.COMPLETED, Stage.FAILED, Stage.SKIPPED})


_last = [0, 0]  # the milliseconds and counter of the id made last in this process


def new_rollout_id(now_ms: int | None = None) -> str:
    """A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, a 12-bit counter, then
    randomness, so that ids sort by the time they were made (the deployments list, newest
    first); within one millisecond the counter keeps this process's ids in order."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    if ms <= _last[0]:
        ms, counter = _last[0], _last[1] + 1
        if counter >= 1 << 12:
            ms, counter = ms + 1, 0
    else:
        counter = 0
    _last[0], _last[1] = ms, counter
    random = int.from_bytes(os.urandom(8), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= counter << 64
    value |= 0b10 << 62  # variant
    value |= random & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def is_rollout_id(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text.lower() and len(text) == 36
    except ValueError:
        return False


def status_of(operation: Operation) -> AppStatus:
    """The seed-002 status word of ``operation``."""
    state = operation.state
    if state is OperationState.RUNNING:
        if operation.type is OperationType.ROLLBACK:
            return AppStatus.ROLLING_BACK
        return _RUNNING.get(operation.stage, AppStatus.PENDING)
    if state is OperationState.ROLLED_BACK:
        return AppStatus.ROLLED_BACK
    if state is OperationState.COMPLETED:
        rollback = operation.type is OperationType.ROLLBACK
        return AppStatus.ROLLED_BACK if rollback else AppStatus.COMPLETED
    return AppStatus.FAILED  # FAILED, and CANCELLED or SKIPPED (never ran)


@dataclass(frozen=True, slots=True)
class Progress:
    percentage: float
    current_step: int
    total_steps: int
    current_stage: str


def steps_of(operation: Operation) -> tuple[Stage, ...]:
    """The stages this rollout goes through: three, and a fourth once it rolls back
    automatically (an explicit rollback goes through the same three as any rollout)."""
    rolling_back = any(e.stage is Stage.ROLLING_BACK for e in operation.stages)
    return (*_ROLLOUT_STAGES, Stage.ROLLING_BACK) if rolling_back else _ROLLOUT_STAGES


def progress_of(operation: Operation) -> Progress:
    steps = steps_of(operation)
    reached = [e.stage for e in operation.stages if e.stage in steps]
    last = reached[-1] if reached else steps[0]
    step = steps.index(last) + 1
    if operation.state.finished and operation.state is not OperationState.FAILED:
        step = len(steps)
    return Progress(
        percentage=round(float(operation.progress), 1),
        current_step=step,
        total_steps=len(steps),
        current_stage=operation.message,
    )


@dataclass(frozen=True, slots=True)
class StageSpan:
    name: str
    status: str  # running, completed, failed
    started_at: datetime
    finished_at: datetime | None


def timeline_of(operation: Operation) -> tuple[StageSpan, ...]:
    """The stages as spans: each ends when the next begins; the end entry closes the last.

    A stage left for a rollback failed; the last one carries the operation's outcome."""
    entries: list[StageEntry] = list(operation.stages)
    spans: list[StageSpan] = []
    for index, entry in enumerate(entries):
        if entry.stage in _ENDS:
            continue
        after = entries[index + 1] if index + 1 < len(entries) else None
        if after is None:
            status = "running"
        elif _failed_at(entry.stage, after.stage):
            status = "failed"
        else:
            status = "completed"
        spans.append(
            StageSpan(
                name=entry.stage.value.replace("-", "_"),
                status=status,
                started_at=entry.at,
                finished_at=after.at if after is not None else None,
            )
        )
    return tuple(spans)


def _failed_at(stage: Stage, after: Stage) -> bool:
    """A stage left for an automatic rollback, or for a failed end, failed."""
    if after is Stage.ROLLING_BACK:
        return stage is not Stage.ROLLING_BACK
    return after in _ENDS and after is not Stage.COMPLETED


def version_of(adapter: Adapter, chart: ChartRef | None, values: JsonObject | None) -> str | None:
    """The application version a revision rolls out: the image tag for plain Deployments and
    ECS services (the descriptor's version when no tag is set), the chart version otherwise."""
    if chart is None:
        return None
    if adapter in IMAGE_PLATFORMS:
        version = (values or {}).get("version")  # of several components together
        if isinstance(version, str) and version:
            return version
        image: Any = (values or {}).get("image")
        tag = image.get("tag") if isinstance(image, dict) else None
        if isinstance(tag, str) and tag:
            return tag
    return chart.version


_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def nf_deployment_id(name: str, environment: str) -> str:
    """The NF deployment a seed-002 ``name`` in ``environment`` lives in."""
    return f"{name}-{environment}"


def valid_name(text: str, *, limit: int) -> bool:
    return len(text) <= limit and bool(_NAME.match(text))


def dependency_waves(depends_on: dict[str, tuple[str, ...]]) -> list[list[str]]:
    """The components in rollout order, as waves: each wave's components depend only on
    those of earlier waves (a rollback takes the waves in reverse). An unknown dependency, a
    component that depends on itself, or a cycle is refused, naming them."""
    for name, needs in depends_on.items():
        unknown = [n for n in needs if n not in depends_on]
        if unknown:
            raise InvalidRequest(
                f"component {name} depends on {', '.join(unknown)}, which is not a component"
            )
        if name in needs:
            raise InvalidRequest(f"component {name} depends on itself")
    waves: list[list[str]] = []
    placed: set[str] = set()
    left = dict(depends_on)
    while left:
        wave = sorted(n for n, needs in left.items() if set(needs) <= placed)
        if not wave:
            raise InvalidRequest(
                f"components {', '.join(sorted(left))} depend on each other in a cycle"
            )
        waves.append(wave)
        placed.update(wave)
        for name in wave:
            del left[name]
    return waves
