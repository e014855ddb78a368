"""The ``kubernetes`` adapter's calls for a several-part application (``components.py``
builds the objects): apply every component at once, later waves paused; read the status of
all of them, resuming each paused one whose predecessors are rolled out.

Resuming happens on a status read: the rollout follower polls the status until the rollout
ends, so the order is kept by the poll loop that already runs, with no state of our own
beyond the Deployments' annotations. A component's ``started_at`` is when it was resumed (or
written unpaused); its ``finished_at`` is when the deployment controller reported its new
ReplicaSet available (``Progressing``/``NewReplicaSetAvailable``), or its start if its
template did not change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from chalicelib.adapters.gitops import tracking
from chalicelib.adapters.gitops.kube import DEPLOYMENT, POD, KubeSession, delete
from chalicelib.adapters.workloads import components as parts
from chalicelib.adapters.workloads import deployment as objects
from chalicelib.adapters.workloads.health_reads import health_of
from chalicelib.adapters.workloads.status import deployment_status
from chalicelib.domain.errors import ReleaseConflict
from chalicelib.domain.models import ComponentStatus, JsonObject
from chalicelib.domain.ports import (
    Applied,
    BackendStatus,
    ReleaseRef,
    ReleaseTarget,
    Replicas,
    RolloutPhase,
)
from chalicelib.domain.states import OperationType


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def apply(
    kube: KubeSession,
    target: ReleaseTarget,
    kind: OperationType,
    ours: list[JsonObject],
    put_service: Callable[[KubeSession, ReleaseTarget, JsonObject], None],
) -> Applied:
    """Write every component: the first wave unpaused, the others paused until the wave
    before them is rolled out; components no longer named are deleted."""
    now = now_text()
    existing = {_name(d): d for d in ours}
    waves = parts.waves(target.values, reverse=kind is OperationType.ROLLBACK)
    named: list[str] = []
    for index, wave in enumerate(waves):
        waits_for = [str(p["name"]) for p in waves[index - 1]] if index else []
        for part in wave:
            name = str(part["name"])
            named.append(name)
            if name in existing:
                kube.send(parts.change(target, part, kind, waits_for, now))
            else:
                if kube.get(DEPLOYMENT, target.namespace, name) is not None:
                    raise ReleaseConflict(
                        f"Deployment {target.namespace}/{name} exists and is not ours"
                    )
                kube.send(parts.creates(target, part, kind, waits_for, now))
            svc = parts.service(target, part)
            if svc is not None:
                put_service(kube, parts.part_target(target, part), svc)
    for name, found in existing.items():
        if name and name not in named and parts.is_part(found):
            kube.send(delete(DEPLOYMENT, target.namespace, name))
    version = target.values.get("version")
    return Applied(
        backend_ref=None,
        app_version=str(version) if version else None,
        extensions={
            "kubernetes.components": named,
            "kubernetes.namespace": target.namespace,
            "kubernetes.order": [[str(p["name"]) for p in wave] for wave in waves],
        },
    )


def status(
    kube: KubeSession, ref: ReleaseRef, ours: list[JsonObject], *, crash_loop_restarts: int
) -> BackendStatus:
    pods = kube.select(POD, ref.namespace, objects.selector(ref.release))
    found = sorted((d for d in ours if parts.is_part(d)), key=_name)
    seen = {
        _name(d): deployment_status(
            d,
            [p for p in pods if _component(p) == _name(d)],
            name=_name(d),
            namespace=ref.namespace,
            crash_loop_restarts=crash_loop_restarts,
        )
        for d in found
    }
    resumed = _resume(kube, ref, found, seen)
    states = [_state(d, seen[_name(d)], _name(d) in resumed) for d in found]
    checks = health_of(kube, ref, pods, _component)
    return replace(_overall(found, seen, states), health_checks=checks)


def _resume(
    kube: KubeSession, ref: ReleaseRef, found: list[JsonObject], seen: dict[str, BackendStatus]
) -> set[str]:
    """Resume each paused component whose predecessors are all rolled out and unpaused."""
    resumed: set[str] = set()
    now = now_text()
    for d in found:
        if not _paused(d):
            continue
        waits = parts.listed(d, parts.WAITS_FOR)
        ready = all(
            w in seen and seen[w].phase is RolloutPhase.READY and not _paused_named(found, w)
            for w in waits
        )
        if ready:
            kube.send(parts.resume(ref.namespace, _name(d), now))
            d.setdefault("metadata", {}).setdefault("annotations", {})[parts.STARTED_AT] = now
            resumed.add(_name(d))
    return resumed


def _state(d: JsonObject, seen: BackendStatus, resumed: bool) -> ComponentStatus:
    replicas = seen.replicas or Replicas(0, 0, 0, 0)
    if _paused(d) and not resumed:
        word = "pending"
    elif seen.phase is RolloutPhase.READY and not resumed:
        word = "ready"
    elif seen.phase is RolloutPhase.FAILED:
        word = "failed"
    else:
        word = "deploying"
    started = tracking.when(tracking.text(d, "metadata", "annotations", parts.STARTED_AT))
    finished = None
    if word == "ready":
        finished = max(filter(None, (_available_at(d), started)), default=None)
    return ComponentStatus(
        name=_name(d),
        version=tracking.text(d, "spec", "template", "metadata", "labels", objects.VERSION),
        desired=replicas.desired,
        updated=replicas.updated,
        ready=replicas.ready,
        available=replicas.available,
        status=word,
        depends_on=parts.listed(d, parts.DEPENDS_ON),
        started_at=started if word != "pending" else None,
        finished_at=finished,
    )


def _overall(
    found: list[JsonObject], seen: dict[str, BackendStatus], states: list[ComponentStatus]
) -> BackendStatus:
    failed = next((s for s in states if s.status == "failed"), None)
    waiting = next((s for s in states if s.status != "ready"), None)
    total = sum(s.desired for s in states)
    replicas = Replicas(
        total,
        sum(s.updated for s in states),
        sum(s.ready for s in states),
        sum(s.available for s in states),
    )
    conditions = tuple(c for d in found for c in seen[_name(d)].conditions)
    if failed is not None:
        phase = RolloutPhase.FAILED
        message = f"component {failed.name}: {seen[failed.name].message}"
    elif waiting is not None:
        phase = RolloutPhase.PROGRESSING
        message = f"component {waiting.name} is {waiting.status}: {seen[waiting.name].message}"
    else:
        phase = RolloutPhase.READY
        message = f"All {len(states)} components rolled out"
    done = sum(1 for s in states if s.status == "ready")
    progress = 100 if phase is RolloutPhase.READY else min(99, 100 * done // max(1, len(states)))
    return BackendStatus(
        phase=phase,
        progress=progress,
        message=message,
        conditions=conditions,
        replicas=replicas,
        extensions={"kubernetes.components": [s.name for s in states]},
        components=tuple(states),
    )


def _available_at(d: JsonObject) -> datetime | None:
    for condition in tracking.dig(d, "status", "conditions") or []:
        if condition.get("type") == "Progressing" and (
            condition.get("reason") == "NewReplicaSetAvailable"
        ):
            return tracking.when(condition.get("lastUpdateTime"))
    return None


def _paused(d: JsonObject) -> bool:
    return tracking.dig(d, "spec", "paused") is True


def _paused_named(found: list[JsonObject], name: str) -> bool:
    return any(_paused(d) for d in found if _name(d) == name)


def _name(d: JsonObject) -> str:
    return tracking.text(d, "metadata", "name") or ""


def _component(pod: JsonObject) -> str | None:
    return tracking.text(pod, "metadata", "labels", parts.COMPONENT)
