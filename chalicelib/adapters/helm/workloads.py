"""How far the live workloads of a release are rolled out, from the objects helm returns.

``helm status -o json`` carries the release's live objects in ``info.resources`` (full
Deployments, StatefulSets, DaemonSets, Jobs and the related Pods), so the follower learns
readiness from the one helm call it already makes, without importing the Kubernetes client
(about 670 ms of cold start). The rules are those of ``kubectl rollout status``: a rollout is
done once the controller has observed the latest spec and every desired replica is updated
and available with no old replica left; a Deployment whose ``Progressing`` condition says
``ProgressDeadlineExceeded`` has failed. A Deployment's ``readyReplicas`` counts the pods of
every ReplicaSet, so while old pods still serve, the ready and available replicas reported
are those of the new ReplicaSet only: the one its ``Progressing`` condition names, whose pods
are among the related pods helm returns. Pods stuck in ``CrashLoopBackOff`` and the like are
reported so a waiting message says why nothing becomes ready.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.models import Condition, JsonObject

STUCK_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)


@dataclass(frozen=True, slots=True)
class Workload:
    """One workload's rollout: ``waiting`` says what it waits for, ``failed`` why it cannot end
    well; neither when it is done."""

    kind: str
    name: str
    desired: int
    updated: int
    ready: int
    available: int
    progress: int
    waiting: str = ""
    failed: str = ""
    conditions: tuple[Condition, ...] = ()

    @property
    def done(self) -> bool:
        return not self.waiting and not self.failed


@dataclass(frozen=True, slots=True)
class PodProblem:
    pod: str
    container: str
    reason: str
    message: str
    restarts: int

    def describe(self) -> str:
        return f"pod {self.pod}: {self.reason} ({self.restarts} restarts)"


@dataclass(frozen=True, slots=True)
class Readiness:
    workloads: tuple[Workload, ...]
    jobs: tuple[Workload, ...]
    pod_problems: tuple[PodProblem, ...]


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _dict(value: Any) -> JsonObject:
    return value if isinstance(value, dict) else {}


def _sections(obj: JsonObject) -> tuple[JsonObject, JsonObject, JsonObject]:
    """An object's metadata, spec and status, each ``{}`` when missing or malformed."""
    return _dict(obj.get("metadata")), _dict(obj.get("spec")), _dict(obj.get("status"))


def _unobserved(meta: JsonObject, status: JsonObject) -> bool:
    """The controller has not yet observed the object's latest spec."""
    return _int(status.get("observedGeneration")) < _int(meta.get("generation"))


def objects_of(resources: dict[str, list[JsonObject]], kind: str) -> Iterator[JsonObject]:
    """The live objects of one kind; lists (``v1/Pod(related)`` holds PodLists) are opened."""
    for key, objects in resources.items():
        if key.split("/")[-1].split("(")[0] != kind:
            continue
        for obj in objects:
            items = obj.get("items")
            if str(obj.get("kind", "")).endswith("List") and isinstance(items, list):
                yield from (item for item in items if isinstance(item, dict))
            else:
                yield obj


def _conditions(status: JsonObject) -> tuple[Condition, ...]:
    found = status.get("conditions")
    return tuple(
        Condition(
            str(c.get("type", "")),
            str(c.get("status", "")),
            str(c.get("reason", "")),
            str(c.get("message", "")),
        )
        for c in (found if isinstance(found, list) else [])
        if isinstance(c, dict)
    )


def _find(conditions: tuple[Condition, ...], kind: str) -> Condition | None:
    return next((c for c in conditions if c.type == kind), None)


def _percent(updated: int, new_available: int, desired: int) -> int:
    if desired <= 0:
        return 50
    steps = min(updated, desired) + min(max(new_available, 0), desired)
    return min(99, steps * 100 // (2 * desired))


# The Progressing condition names the Deployment's new ReplicaSet for these reasons
# (kube-controller-manager's deployment controller, ``deployment/util``).
_NAMES_NEW_REPLICA_SET = frozenset(
    {
        "NewReplicaSetCreated",
        "FoundNewReplicaSet",
        "ReplicaSetUpdated",
        "NewReplicaSetAvailable",
        "ProgressDeadlineExceeded",
    }
)
_QUOTED_REPLICA_SET = re.compile(r'(?:ReplicaSet|replica set) "([^"]+)"')


def _new_replica_set(progressing: Condition | None) -> str | None:
    if progressing is None or progressing.reason not in _NAMES_NEW_REPLICA_SET:
        return None
    found = _QUOTED_REPLICA_SET.search(progressing.message)
    return found.group(1) if found else None


def _owned_by(pod: JsonObject, replica_set: str) -> bool:
    owners = _dict(pod.get("metadata")).get("ownerReferences")
    return any(
        isinstance(o, dict) and o.get("kind") == "ReplicaSet" and o.get("name") == replica_set
        for o in (owners if isinstance(owners, list) else [])
    )


def _pod_ready(pod: JsonObject) -> bool:
    """Counted as a ReplicaSet counts ready pods: active (not terminating, not ended) and
    with the ``Ready`` condition true."""
    meta, _, status = _sections(pod)
    if meta.get("deletionTimestamp") or status.get("phase") in {"Succeeded", "Failed"}:
        return False
    return any(c.type == "Ready" and c.status == "True" for c in _conditions(status))


def _new_ready(
    status: JsonObject, progressing: Condition | None, pods: tuple[JsonObject, ...]
) -> int:
    """Ready pods of the new ReplicaSet. With no old replica left every pod is new; otherwise
    the pods of the ReplicaSet the condition names, and never fewer than the ready pods that
    old replicas cannot account for."""
    updated, total = _int(status.get("updatedReplicas")), _int(status.get("replicas"))
    ready = _int(status.get("readyReplicas"))
    old = max(total - updated, 0)
    if not old:
        return ready
    at_least = max(ready - old, 0)
    replica_set = _new_replica_set(progressing)
    if replica_set is None:
        return at_least
    counted = sum(1 for p in pods if _owned_by(p, replica_set) and _pod_ready(p))
    return min(max(counted, at_least), updated, ready)


def _new_available(spec: JsonObject, status: JsonObject, new_ready: int) -> int:
    """Available pods of the new ReplicaSet: its ready ones, unless ``minReadySeconds`` asks
    for more than readiness; then only what old replicas cannot account for."""
    available = _int(status.get("availableReplicas"))
    if not _int(spec.get("minReadySeconds")):
        return min(new_ready, available)
    old = max(_int(status.get("replicas")) - _int(status.get("updatedReplicas")), 0)
    return min(new_ready, max(available - old, 0))


def deployment(obj: JsonObject, pods: tuple[JsonObject, ...] = ()) -> Workload:
    """One Deployment's rollout; ``pods`` are the related pods (of any ReplicaSet)."""
    meta, spec, status = _sections(obj)
    name = str(meta.get("name", ""))
    desired = _int(spec.get("replicas"), 1)
    updated, total = _int(status.get("updatedReplicas")), _int(status.get("replicas"))
    available = _int(status.get("availableReplicas"))
    conditions = _conditions(status)
    progressing = _find(conditions, "Progressing")
    new_ready = _new_ready(status, progressing, pods)
    new_available = _new_available(spec, status, new_ready)
    says = f'Waiting for deployment "{name}" rollout to finish: '
    waiting = failed = ""
    if _unobserved(meta, status):
        waiting = f'Waiting for deployment "{name}" spec update to be observed...'
    elif progressing is not None and progressing.reason == "ProgressDeadlineExceeded":
        failed = f'deployment "{name}" exceeded its progress deadline'
    elif updated < desired:
        waiting = f"{says}{updated} out of {desired} new replicas have been updated..."
    elif total > updated:
        waiting = f"{says}{total - updated} old replicas are pending termination..."
    elif available < updated:
        waiting = f"{says}{available} of {updated} updated replicas are available..."
    progress = 100 if not (waiting or failed) else _percent(updated, new_available, desired)
    return Workload(
        "Deployment",
        name,
        desired,
        updated,
        new_ready,
        new_available,
        progress,
        waiting,
        failed,
        conditions,
    )


def stateful_set(obj: JsonObject) -> Workload:
    meta, spec, status = _sections(obj)
    name = str(meta.get("name", ""))
    desired = _int(spec.get("replicas"), 1)
    updated, ready = _int(status.get("updatedReplicas")), _int(status.get("readyReplicas"))
    available = _int(status.get("availableReplicas"), ready)
    strategy = _dict(spec.get("updateStrategy"))
    partition = _int(_dict(strategy.get("rollingUpdate")).get("partition"))
    rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
    waiting = ""
    if _unobserved(meta, status):
        waiting = f'Waiting for statefulset "{name}" spec update to be observed...'
    elif ready < desired:
        waiting = f'Waiting for {desired - ready} pods of statefulset "{name}" to be ready...'
    elif rolling and partition and updated < desired - partition:
        waiting = (
            f'Waiting for partitioned roll out of statefulset "{name}" to finish: '
            f"{updated} out of {desired - partition} new pods have been updated..."
        )
    elif (
        rolling and not partition and status.get("updateRevision") != status.get("currentRevision")
    ):
        waiting = f'Waiting for statefulset "{name}" rolling update to complete...'
    progress = 100 if not waiting else _percent(updated if rolling else desired, ready, desired)
    return Workload(
        "StatefulSet",
        name,
        desired,
        updated,
        ready,
        available,
        progress,
        waiting,
        conditions=_conditions(status),
    )


def daemon_set(obj: JsonObject) -> Workload:
    meta, _, status = _sections(obj)
    name = str(meta.get("name", ""))
    desired = _int(status.get("desiredNumberScheduled"))
    updated, ready = _int(status.get("updatedNumberScheduled")), _int(status.get("numberReady"))
    available = _int(status.get("numberAvailable"))
    says = f'Waiting for daemon set "{name}" rollout to finish: '
    waiting = ""
    if _unobserved(meta, status):
        waiting = f'Waiting for daemon set "{name}" spec update to be observed...'
    elif updated < desired:
        waiting = f"{says}{updated} out of {desired} new pods have been updated..."
    elif available < desired:
        waiting = f"{says}{available} of {desired} updated pods are available..."
    progress = 100 if not waiting else _percent(updated, available, desired)
    return Workload(
        "DaemonSet",
        name,
        desired,
        updated,
        ready,
        available,
        progress,
        waiting,
        conditions=_conditions(status),
    )


def job(obj: JsonObject) -> Workload:
    meta, spec, status = _sections(obj)
    name = str(meta.get("name", ""))
    completions = _int(spec.get("completions"), 1)
    succeeded = _int(status.get("succeeded"))
    conditions = _conditions(status)
    complete, failure = _find(conditions, "Complete"), _find(conditions, "Failed")
    waiting = failed = ""
    if failure is not None and failure.status == "True":
        failed = f'job "{name}" failed: {failure.reason}: {failure.message}'.rstrip(": ")
    elif complete is None or complete.status != "True":
        waiting = f'Waiting for job "{name}" to complete: {succeeded} of {completions} succeeded...'
    progress = 100 if not (waiting or failed) else min(99, succeeded * 100 // max(completions, 1))
    return Workload(
        "Job",
        name,
        completions,
        succeeded,
        succeeded,
        succeeded,
        progress,
        waiting,
        failed,
        conditions,
    )


def pod_problems(resources: dict[str, list[JsonObject]]) -> tuple[PodProblem, ...]:
    """Containers waiting for a reason that does not clear by itself (crash loop, bad image)."""
    found = []
    for pod in objects_of(resources, "Pod"):
        status = _dict(pod.get("status"))
        if status.get("phase") in {"Succeeded", "Failed"}:
            continue
        name = str(_dict(pod.get("metadata")).get("name", ""))
        containers = [
            *(status.get("initContainerStatuses") or []),
            *(status.get("containerStatuses") or []),
        ]
        for container in containers:
            waiting = _dict(_dict(_dict(container).get("state")).get("waiting"))
            reason = str(waiting.get("reason", ""))
            if reason in STUCK_REASONS:
                found.append(
                    PodProblem(
                        pod=name,
                        container=str(container.get("name", "")),
                        reason=reason,
                        message=str(waiting.get("message", "")),
                        restarts=_int(container.get("restartCount")),
                    )
                )
    return tuple(found)


def read(resources: dict[str, list[JsonObject]]) -> Readiness:
    pods = tuple(objects_of(resources, "Pod"))
    workloads = (
        *(deployment(o, pods) for o in objects_of(resources, "Deployment")),
        *(stateful_set(o) for o in objects_of(resources, "StatefulSet")),
        *(daemon_set(o) for o in objects_of(resources, "DaemonSet")),
    )
    jobs = tuple(job(o) for o in objects_of(resources, "Job"))
    return Readiness(workloads, jobs, pod_problems(resources))
