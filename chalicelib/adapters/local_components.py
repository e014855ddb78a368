"""The simulated cluster's rollout of a several-part application (``components`` values):
the components roll out wave by wave in dependency order (in reverse for a rollback), each
wave once the previous one is ready, as the ``kubernetes`` adapter does on a real cluster.

A wave whose components are unchanged since the previous revision is ready at once (the
Deployments' templates did not change); a changed wave takes ``rollout_seconds``. A
component whose image tag contains ``crash`` crash-loops: its wave fails and the later
waves never start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain.apps import dependency_waves
from chalicelib.domain.models import ComponentStatus, JsonObject
from chalicelib.domain.ports import RolloutPhase


@dataclass(frozen=True, slots=True)
class Progress:
    phase: RolloutPhase
    progress: int
    desired: int
    updated: int
    ready: int
    components: tuple[ComponentStatus, ...]
    crashing: str | None = None  # the component crash-looping, if any


def components_in(values: JsonObject) -> dict[str, JsonObject]:
    found = values.get("components")
    if not isinstance(found, list):
        return {}
    return {str(c["name"]): c for c in found if isinstance(c, dict) and c.get("name")}


def _tag(component: JsonObject) -> str:
    image: Any = component.get("image")
    return str(image.get("tag") or "") if isinstance(image, dict) else ""


def _replicas(component: JsonObject) -> int:
    count = component.get("replicaCount", 1)
    return count if isinstance(count, int) and not isinstance(count, bool) else 1


def progress(
    values: JsonObject,
    before: JsonObject | None,
    *,
    elapsed: float,
    rollout_seconds: float,
    reverse: bool,
    wall_start: float,
) -> Progress:
    """Where the rollout stands ``elapsed`` seconds after it was applied (at ``wall_start``)."""
    parts = components_in(values)
    previous = components_in(before or {})
    waves = dependency_waves({n: tuple(c.get("dependsOn") or ()) for n, c in parts.items()})
    if reverse:
        waves.reverse()
    statuses: list[ComponentStatus] = []
    begins = 0.0
    blocked = False
    crashing = None
    phase = RolloutPhase.READY
    for wave in waves:
        changed = any(parts[n] != previous.get(n) for n in wave)
        length = rollout_seconds if changed else 0.0
        crashed = [n for n in wave if "crash" in _tag(parts[n])]
        for name in wave:
            part = parts[name]
            desired = _replicas(part)
            state, done, ready = "pending", None, 0
            if not blocked and elapsed >= begins:
                into = elapsed - begins
                share = 1.0 if length == 0 else min(1.0, into / length)
                if name in crashed:
                    state = "failed" if share >= 1.0 else "deploying"
                elif share >= 1.0:
                    state, done, ready = "ready", begins + length, desired
                else:
                    state, ready = "deploying", int(desired * share)
            statuses.append(
                ComponentStatus(
                    name=name,
                    version=_tag(part) or None,
                    desired=desired,
                    updated=desired if state in {"ready", "failed"} else ready,
                    ready=ready,
                    available=ready,
                    status=state,
                    depends_on=tuple(part.get("dependsOn") or ()),
                    started_at=_at(wall_start + begins) if state != "pending" else None,
                    finished_at=_at(wall_start + done) if done is not None else None,
                )
            )
        if blocked:
            continue
        if crashed and elapsed >= begins + length:
            phase, crashing, blocked = RolloutPhase.FAILED, crashed[0], True
        elif elapsed < begins + length:
            phase, blocked = RolloutPhase.PROGRESSING, True
        begins += length
    ready_ones = sum(1 for s in statuses if s.status == "ready")
    percent = 100 if phase is RolloutPhase.READY else 100 * ready_ones // max(1, len(statuses))
    return Progress(
        phase=phase,
        progress=min(percent, 99) if phase is not RolloutPhase.READY else 100,
        desired=sum(s.desired for s in statuses),
        updated=sum(s.updated for s in statuses),
        ready=sum(s.ready for s in statuses),
        components=tuple(statuses),
        crashing=crashing,
    )


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(round(seconds, 3), UTC)
