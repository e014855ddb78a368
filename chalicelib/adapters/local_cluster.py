"""An in-memory Kubernetes cluster that stands in for a real deployment backend.

``make run`` and the API tests need a backend that behaves like Helm on a cluster (numbered
revisions, pruned history, rollouts that take time and may crash-loop) without a cluster.
``LocalCluster`` keeps that state in memory; ``LocalCluster.backend(adapter)`` is the
``DeploymentBackend`` view for one adapter name. Time comes from an injected clock: a revision
is ready ``rollout_seconds`` after it was applied, unless its image tag contains ``crash``, in
which case its pods crash-loop and the rollout fails; with ``flaky``, its pods become ready
but keep being killed (out of memory), which only their liveness health check shows.
Conditions, messages and status words copy what a real Deployment, ``kubectl rollout
status`` and Helm report.

Given a ``state_file`` (the local run's ``O2DMS_LOCAL_CLUSTER_STATE``), the releases survive a
restart: every change is written to that JSON file, with times as wall-clock instants so that
a rollout started before a restart has moved on by the time it is read again.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chalicelib.adapters import local_pods
from chalicelib.adapters.local_components import components_in
from chalicelib.adapters.local_components import progress as component_progress
from chalicelib.adapters.workloads.components import manual_steps
from chalicelib.adapters.workloads.deployment import undo_command
from chalicelib.domain.errors import (
    BackendFailure,
    BackendUnavailable,
    InvalidRequest,
    ReleaseConflict,
    ReleaseNotFound,
)
from chalicelib.domain.health import CustomCheck, HealthCheck, HealthStatus
from chalicelib.domain.models import ChartRef, ComponentStatus, Condition, JsonObject
from chalicelib.domain.ports import (
    Action,
    Applied,
    BackendRevision,
    BackendStatus,
    PlanStep,
    ReleaseRef,
    ReleaseTarget,
    Replicas,
    RolloutPhase,
    ready_message,
)
from chalicelib.domain.states import PENDING_REVISION_STATUS, Adapter, OperationType

_READY, _FAILED, _PROGRESSING = RolloutPhase.READY, RolloutPhase.FAILED, RolloutPhase.PROGRESSING
_INSTALL, _UPGRADE, _ROLLBACK = OperationType.INSTALL, OperationType.UPGRADE, OperationType.ROLLBACK
_ABSENT, _UNINSTALLING = RolloutPhase.ABSENT, "uninstalling"
_KUBERNETES = Adapter.KUBERNETES
_PENDING_DESCRIPTION = {
    "pending-install": "Preparing install",
    "pending-upgrade": "Preparing upgrade",
    _UNINSTALLING: "Uninstall in progress",
}
_AVAILABLE = Condition(
    "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."
)
_UNAVAILABLE = Condition(
    "Available",
    "False",
    "MinimumReplicasUnavailable",
    "Deployment does not have minimum availability.",
)
_PROGRESSING_CONDITION = {  # phase -> status, reason, end of the message
    _READY: ("True", "NewReplicaSetAvailable", "has successfully progressed."),
    _FAILED: ("False", "ProgressDeadlineExceeded", "has timed out progressing."),
    _PROGRESSING: ("True", "ReplicaSetUpdated", "is progressing."),
}


def _replica_count(values: JsonObject) -> int:
    count = values.get("replicaCount", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise BackendFailure(f"replicaCount must be a whole number of 0 or more, not {count!r}")
    return count


def _image_tag(values: JsonObject) -> str | None:
    image = values.get("image")
    tag = image.get("tag") if isinstance(image, dict) else None
    return tag if isinstance(tag, str) else None


@dataclass(slots=True)
class _Revision:
    """One backend revision; ``backed``: pods of an earlier one keep serving while it rolls out."""

    number: int
    chart: ChartRef
    values: JsonObject
    applied_at: float
    op: OperationType  # INSTALL, UPGRADE or ROLLBACK: the Helm command that made it
    description: str
    backed: bool
    final_status: str | None = None  # once superseded: "superseded", or "failed" if it failed
    reverse: bool = False  # a rollback: several components roll back in reverse order

    @property
    def replicas(self) -> int:
        return _replica_count(self.values)

    @property
    def app_version(self) -> str:
        return _image_tag(self.values) or self.chart.version

    @property
    def pod_hash(self) -> str:
        """Stands for the pod-template hash: the same chart and values give the same one.

        The replica count is not part of a pod template, so scaling keeps the hash."""
        template = {k: v for k, v in self.values.items() if k != "replicaCount"}
        spec = json.dumps(
            [self.chart.name, self.chart.version, template], sort_keys=True, default=str
        )
        return hashlib.sha256(spec.encode()).hexdigest()[:15]


@dataclass(slots=True)
class _Release:
    name: str
    namespace: str
    revisions: list[_Revision] = field(default_factory=list)
    uninstalled_at: float | None = None

    @property
    def current(self) -> _Revision:
        return self.revisions[-1]

    def held(self, backend_ref: str | None) -> _Revision | None:
        return next((r for r in self.revisions if str(r.number) == backend_ref), None)


@dataclass(frozen=True, slots=True)
class _Rollout:
    """Where the rollout of one revision stands at one instant."""

    phase: RolloutPhase
    progress: int
    updated: int
    ready: int
    restarts: int = 0


def _rollout(rev: _Revision, elapsed: float, rollout_seconds: float) -> _Rollout:
    desired = rev.replicas
    if desired == 0:
        return _Rollout(_READY, 100, 0, 0)
    done = elapsed >= rollout_seconds
    percent = 100 if done else int(100 * elapsed / rollout_seconds)
    updated = min(desired, desired * 2 * percent // 100)  # new pods exist before they are ready
    if "crash" in (_image_tag(rev.values) or ""):
        restarts = int(4 * elapsed / rollout_seconds) if rollout_seconds > 0 else 1
        return _Rollout(_FAILED if done else _PROGRESSING, min(percent, 50), updated, 0, restarts)
    return _Rollout(_READY if done else _PROGRESSING, percent, updated, desired * percent // 100)


def _conditions(release: str, rev: _Revision, now: _Rollout) -> tuple[Condition, ...]:
    minimum = rev.replicas - rev.replicas // 4  # the default maxUnavailable of 25%
    available = _AVAILABLE if rev.backed or now.ready >= minimum else _UNAVAILABLE
    status, reason, says = _PROGRESSING_CONDITION[now.phase]
    replica_set = f'ReplicaSet "{release}-{rev.pod_hash[:10]}"'
    progressing = Condition("Progressing", status, reason, f"{replica_set} {says}")
    if not now.restarts:
        return available, progressing
    pod = f"{release}-{rev.pod_hash[:10]}-{rev.pod_hash[10:]}"
    back_off = (
        f"back-off {min(300, 10 * 2 ** (now.restarts - 1))}s restarting failed "
        f"container={rev.chart.name} pod={pod}; restartCount={now.restarts}"
    )
    return (
        available,
        progressing,
        Condition("ContainersReady", "False", "CrashLoopBackOff", back_off),
    )


def _message(release: str, rev: _Revision, now: _Rollout) -> str:
    desired = rev.replicas
    if now.phase is _READY:
        return ready_message(desired)
    if now.phase is _FAILED:
        return (
            f"Rollout failed: pods of {release} are in CrashLoopBackOff ({now.restarts} restarts); "
            f"0 of {desired} updated replicas are available"
        )
    if now.updated < desired:
        done = f"{now.updated} out of {desired} new replicas have been updated..."
    else:
        done = f"{now.ready} of {desired} updated replicas are available..."
    return f"Waiting for rollout to finish: {done}"


def _helm_status(rev: _Revision, phase: RolloutPhase) -> str:
    if phase is _PROGRESSING:
        return PENDING_REVISION_STATUS[rev.op].value
    return "deployed" if phase is _READY else "failed"


def _describe(release: _Release, rev: _Revision, word: str) -> str:
    if word == "failed":
        return (
            f'{rev.op.value.capitalize()} "{release.name}" failed: resource Deployment/'
            f"{release.namespace}/{release.name} not ready: pods in CrashLoopBackOff"
        )
    return _PENDING_DESCRIPTION.get(word, rev.description)


class LocalCluster:
    """The state of one simulated cluster, shared by the backend views of every adapter."""

    def __init__(
        self,
        *,
        rollout_seconds: float = 4.0,
        max_history: int = 10,
        clock: Callable[[], float] = time.monotonic,
        state_file: Path | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if rollout_seconds < 0 or max_history < 1:
            raise ValueError("rollout_seconds must be >= 0 and max_history >= 1")
        self.rollout_seconds = rollout_seconds
        self.max_history = max_history
        self.clock = clock
        self._wall_clock = wall_clock
        self._state_file = state_file
        self._lock = threading.Lock()
        self._releases: dict[tuple[str, str], _Release] = {}
        self._reachable = True
        if state_file is not None and state_file.exists():
            self._releases = _load(state_file, self.wall_offset())

    def backend(self, adapter: str) -> LocalBackend:
        return LocalBackend(self, Adapter(adapter))

    def set_reachable(self, flag: bool) -> None:
        with self._lock:
            self._reachable = flag

    @contextmanager
    def releases(self) -> Iterator[dict[tuple[str, str], _Release]]:
        """The releases, under the lock, once the uninstalls that have finished are gone."""
        with self._lock:
            if not self._reachable:
                raise BackendUnavailable("local cluster is unreachable")
            now = self.clock()
            for key, release in list(self._releases.items()):
                gone_at = release.uninstalled_at
                if gone_at is not None and now - gone_at >= self.rollout_seconds / 2:
                    del self._releases[key]
            yield self._releases

    @contextmanager
    def changing(self) -> Iterator[dict[tuple[str, str], _Release]]:
        """``releases()`` for a change: saved to the state file, if any, once it is made."""
        with self.releases() as releases:
            yield releases
            if self._state_file is not None:
                _save(self._state_file, releases, self.wall_offset())

    def wall_offset(self) -> float:
        """What to add to a ``clock`` reading to get the wall-clock instant."""
        return self._wall_clock() - self.clock()

    def rollout(self, rev: _Revision) -> _Rollout:
        elapsed = self.clock() - rev.applied_at
        if components_in(rev.values):
            now = component_progress(
                rev.values,
                None,
                elapsed=elapsed,
                rollout_seconds=self.rollout_seconds,
                reverse=rev.reverse,
                wall_start=0.0,
            )
            return _Rollout(now.phase, now.progress, now.updated, now.ready)
        return _rollout(rev, elapsed, self.rollout_seconds)

    def helm_status(self, release: _Release) -> str:
        """Helm's word for the release's current revision."""
        if release.uninstalled_at is not None:
            return _UNINSTALLING
        return _helm_status(release.current, self.rollout(release.current).phase)


class LocalBackend:
    """``DeploymentBackend`` for the deployments of one adapter, on the shared ``LocalCluster``."""

    kind = "local"

    def __init__(self, cluster: LocalCluster, adapter: Adapter) -> None:
        self._cluster = cluster
        self.adapter = adapter

    def install(self, target: ReleaseTarget) -> Applied:
        with self._cluster.changing() as releases:
            key = (target.namespace, target.release)
            if key in releases:
                raise ReleaseConflict(
                    f'cannot reuse release name "{target.release}" in namespace '
                    f"{target.namespace}: it is still in use"
                )
            release = _Release(target.release, target.namespace)
            applied = self._push(
                release, target.chart, target.values, op=_INSTALL, says="Install complete"
            )
            releases[key] = release
            return applied

    def upgrade(self, target: ReleaseTarget) -> Applied:
        with self._cluster.changing() as releases:
            release = _find(releases, target.namespace, target.release, live=True)
            return self._push(
                release, target.chart, target.values, op=_UPGRADE, says="Upgrade complete"
            )

    def scale(self, target: ReleaseTarget, *, replicas: int) -> Applied:
        values = {**target.values, "replicaCount": replicas}
        with self._cluster.changing() as releases:
            release = _find(releases, target.namespace, target.release, live=True)
            return self._push(release, target.chart, values, op=_UPGRADE, says="Upgrade complete")

    def rollback(self, target: ReleaseTarget, *, to_backend_ref: str | None) -> Applied:
        method = f"{self.adapter}.rollbackMethod"
        with self._cluster.changing() as releases:
            release = _find(releases, target.namespace, target.release, live=True)
            kept = release.held(to_backend_ref)
            if kept is not None:
                says = f"Rollback to {kept.number}"
                return self._push(
                    release,
                    kept.chart,
                    kept.values,
                    op=_ROLLBACK,
                    says=says,
                    rollback_method=method,
                    reverse=True,
                )
            says = f"Redeploy of stored revision {target.revision}"
            return self._push(
                release,
                target.chart,
                target.values,
                op=_UPGRADE,
                says=says,
                rollback_method=method,
                reverse=True,
            )

    def uninstall(self, ref: ReleaseRef) -> None:
        with self._cluster.changing() as releases:
            release = _find(releases, ref.namespace, ref.release, live=False)
            if release.uninstalled_at is None:
                release.uninstalled_at = self._cluster.clock()

    def status(self, ref: ReleaseRef) -> BackendStatus:
        with self._cluster.releases() as releases:
            release = releases.get((ref.namespace, ref.release))
            if release is None:
                return BackendStatus(_ABSENT, 100, f'release "{ref.release}" is not installed')
            rev = release.current
            if release.uninstalled_at is not None:
                return self._uninstall_status(release, self._extensions(rev, _UNINSTALLING))
            if components_in(rev.values):
                return self._components_status(release, rev)
            now = self._cluster.rollout(rev)
            word = _helm_status(rev, now.phase)
            return BackendStatus(
                phase=now.phase,
                progress=now.progress,
                message=_message(release.name, rev, now),
                conditions=_conditions(release.name, rev, now),
                replicas=Replicas(rev.replicas, now.updated, now.ready, now.ready),
                backend_ref=str(rev.number),
                extensions=self._extensions(rev, word),
                health_checks=self._health(release, rev, now),
            )

    def _health(self, release: _Release, rev: _Revision, now: _Rollout) -> tuple[HealthCheck, ...]:
        """The probes of the revision's pods (and its Service's endpoints) at this instant."""
        workload = str(rev.values.get("deploymentName") or release.name)
        offset = self._cluster.wall_offset()
        found = local_pods.pods(
            workload,
            rev.pod_hash,
            desired=rev.replicas,
            ready=now.ready,
            restarts=now.restarts,
            crashing=now.restarts > 0,
            since=datetime.fromtimestamp(rev.applied_at + offset, UTC),
            flaky="flaky" in (_image_tag(rev.values) or ""),
        )
        service = rev.values.get("serviceName")
        services = {service: workload} if isinstance(service, str) and service else {}
        wall = datetime.fromtimestamp(self._cluster.clock() + offset, UTC)
        return local_pods.checks(found, services=services, now=wall)

    def history(self, ref: ReleaseRef) -> list[BackendRevision]:
        """Oldest first, as ``helm history`` lists them."""
        with self._cluster.releases() as releases:
            release = _find(releases, ref.namespace, ref.release, live=False)
            current = self._cluster.helm_status(release)
            return [
                BackendRevision(
                    backend_ref=str(rev.number),
                    status=rev.final_status or current,
                    chart_version=rev.chart.version,
                    app_version=rev.app_version,
                    description=_describe(release, rev, rev.final_status or current),
                )
                for rev in release.revisions
            ]

    def probe(self, ref: ReleaseRef, checks: tuple[CustomCheck, ...]) -> tuple[HealthCheck, ...]:
        """A check passes when its Service has a ready pod behind it in the namespace (any
        release's); else it fails as the API server's proxy would: no endpoints."""
        with self._cluster.releases() as releases:
            ready: set[str] = set()
            for (namespace, _), release in releases.items():
                if namespace != ref.namespace or release.uninstalled_at is not None:
                    continue
                rev = release.current
                if self._cluster.rollout(rev).ready > 0 or rev.backed:
                    ready.update(_services_of(rev.values))
        found = []
        for check in checks:
            if check.service in ready:
                status, says = HealthStatus.HEALTHY, f"{check.service}:{check.port} answered"
            else:
                status = HealthStatus.UNHEALTHY
                says = f'no endpoints available for service "{check.service}"'
            found.append(
                HealthCheck(
                    check.name,
                    "dependency" if check.dependency else check.type,
                    status,
                    says,
                    required=check.required,
                    failure_threshold=check.failure_threshold,
                )
            )
        return tuple(found)

    def plan(self, action: Action) -> list[PlanStep]:
        target, kind = action.target, action.type
        with self._cluster.releases() as releases:  # unreachable: no plan, as with a real one
            release = releases.get((target.namespace, target.release))
            kept = release.held(action.rollback_to_ref) if release else None
        if kind is OperationType.TERMINATE:
            says = f'Uninstall release "{target.release}" from namespace {target.namespace}'
            return [PlanStep(says, ("helm", "uninstall", target.release, *_ns(target)))]
        several = self.adapter is _KUBERNETES and components_in(target.values)
        if several and kind in {_INSTALL, _UPGRADE, _ROLLBACK}:
            return manual_steps(target.values, target.namespace, kind)
        if kind is OperationType.ROLLBACK and kept is not None and self.adapter is _KUBERNETES:
            name = str(target.values.get("deploymentName") or target.release)
            says = f"Put back revision {kept.number} of Deployment {target.namespace}/{name}"
            return [PlanStep(says, undo_command(name, target.namespace, str(kept.number)))]
        if kind is OperationType.ROLLBACK and kept is not None:
            says = f'Roll release "{target.release}" back to its revision {kept.number}'
            return [
                PlanStep(says, ("helm", "rollback", target.release, str(kept.number), *_ns(target)))
            ]
        if kind is OperationType.ROLLBACK:
            return [_values_step("upgrade", target, target.values, "redeploy the stored snapshot")]
        if kind is OperationType.SCALE:
            if action.replicas is None:
                raise InvalidRequest("a scale plan needs a replica count")
            values = {**target.values, "replicaCount": action.replicas}
            return [_values_step("upgrade", target, values, f"scale to {action.replicas} replicas")]
        return [_values_step(kind.value, target, target.values)]

    def _push(
        self,
        release: _Release,
        chart: ChartRef,
        values: JsonObject,
        *,
        op: OperationType,
        says: str,
        rollback_method: str | None = None,
        reverse: bool = False,
    ) -> Applied:
        """Add a revision that starts rolling out now; keep at most ``max_history``."""
        _replica_count(values)
        backed = False
        if release.revisions:
            previous = release.current
            before = self._cluster.rollout(previous)
            previous.final_status = "failed" if before.phase is _FAILED else "superseded"
            backed = previous.replicas > 0 and (before.phase is _READY or previous.backed)
        number = release.current.number + 1 if release.revisions else 1
        values = copy.deepcopy(values)
        rev = _Revision(number, chart, values, self._cluster.clock(), op, says, backed)
        rev.reverse = reverse
        release.revisions.append(rev)
        del release.revisions[: -self._cluster.max_history]
        a = self.adapter
        extensions: JsonObject = {
            f"{a}.chartName": chart.name,
            f"{a}.chartVersion": chart.version,
            f"{a}.appVersion": rev.app_version,
            f"{a}.revision": number,
            "local.simulated": True,
        }
        if rollback_method:
            extensions[rollback_method] = "rollback" if op is _ROLLBACK else "redeploy"
        return Applied(str(number), rev.app_version, extensions)

    def _extensions(self, rev: _Revision, word: str) -> JsonObject:
        found: JsonObject = {
            f"{self.adapter}.revision": rev.number,
            f"{self.adapter}.status": word,
            "local.simulated": True,
            "local.cluster": "in-memory",
        }
        if self.adapter is _KUBERNETES and rev.values.get("deploymentName"):
            found["kubernetes.deployment"] = rev.values["deploymentName"]
        return found

    def _components_status(self, release: _Release, rev: _Revision) -> BackendStatus:
        before = release.revisions[-2].values if len(release.revisions) > 1 else None
        clock = self._cluster.clock()
        now = component_progress(
            rev.values,
            before,
            elapsed=clock - rev.applied_at,
            rollout_seconds=self._cluster.rollout_seconds,
            reverse=rev.reverse,
            wall_start=rev.applied_at + self._cluster.wall_offset(),
        )
        conditions: tuple[Condition, ...] = ()
        if now.phase is _READY:
            message = f"All {len(now.components)} components ready"
        elif now.crashing is not None:
            message = (
                f"Rollout failed: pods of component {now.crashing} are in CrashLoopBackOff;"
                " the components after it were not rolled out"
            )
            conditions = (Condition("ContainersReady", "False", "CrashLoopBackOff", message),)
        else:
            waiting = next(c for c in now.components if c.status != "ready")
            message = (
                f"Waiting for component {waiting.name}: {waiting.ready} of {waiting.desired}"
                " replicas ready"
            )
        return BackendStatus(
            phase=now.phase,
            progress=now.progress,
            message=message,
            conditions=conditions,
            replicas=Replicas(now.desired, now.updated, now.ready, now.ready),
            backend_ref=str(rev.number),
            extensions=self._extensions(rev, _helm_status(rev, now.phase)),
            components=now.components,
            health_checks=self._parts_health(rev, now.components),
        )

    def _parts_health(
        self, rev: _Revision, parts: tuple[ComponentStatus, ...]
    ) -> tuple[HealthCheck, ...]:
        offset = self._cluster.wall_offset()
        found: list[JsonObject] = []
        services: dict[str, str] = {}
        named = components_in(rev.values)
        for part in parts:
            if part.status == "pending":
                continue
            since = part.started_at or datetime.fromtimestamp(rev.applied_at + offset, UTC)
            crashing = part.status == "failed"
            found += local_pods.pods(
                part.name,
                rev.pod_hash,
                desired=part.desired,
                ready=part.ready,
                restarts=4 if crashing else 0,
                crashing=crashing,
                since=since,
                component=part.name,
            )
            service = named.get(part.name, {}).get("serviceName")
            if isinstance(service, str) and service:
                services[service] = part.name
        wall = datetime.fromtimestamp(self._cluster.clock() + offset, UTC)
        return local_pods.checks(found, services=services, now=wall)

    def _uninstall_status(self, release: _Release, extensions: JsonObject) -> BackendStatus:
        elapsed = self._cluster.clock() - (release.uninstalled_at or 0.0)
        half = self._cluster.rollout_seconds / 2
        percent = min(100, int(100 * elapsed / half)) if half > 0 else 100
        left = release.current.replicas * (100 - percent) // 100
        return BackendStatus(
            phase=_PROGRESSING,
            progress=percent,
            message=f'Uninstalling release "{release.name}": {left} pods left to delete',
            replicas=Replicas(0, 0, left, left),
            backend_ref=str(release.current.number),
            extensions=extensions,
        )


def _find(
    releases: dict[tuple[str, str], _Release], namespace: str, name: str, *, live: bool
) -> _Release:
    """The release; ``live``: one that may still change (not being uninstalled)."""
    release = releases.get((namespace, name))
    if release is None:
        raise ReleaseNotFound(f'release "{name}" not found in namespace {namespace}')
    if live and release.uninstalled_at is not None:
        raise ReleaseConflict(f'release "{name}" is being uninstalled')
    return release


def _services_of(values: JsonObject) -> set[str]:
    """The Services a revision's values name (its own, or its components')."""
    named = [values.get("serviceName")]
    named += [c.get("serviceName") for c in components_in(values).values()]
    return {n for n in named if isinstance(n, str) and n}


def _ns(target: ReleaseTarget) -> tuple[str, str]:
    return ("--namespace", target.namespace)


def _values_step(
    subcommand: str, target: ReleaseTarget, values: JsonObject, why: str = ""
) -> PlanStep:
    """A ``helm install``/``helm upgrade`` whose values would be read from stdin."""
    chart = target.chart
    if chart.repo_url.startswith("oci://"):
        source: tuple[str, ...] = (f"{chart.repo_url.rstrip('/')}/{chart.name}",)
    elif chart.repo_url.startswith("file://"):
        source = (f"{chart.repo_url.removeprefix('file://').rstrip('/')}/{chart.name}",)
    else:
        source = (chart.name, "--repo", chart.repo_url)
    create = ("--create-namespace",) if subcommand == "install" else ()
    argv = ("helm", subcommand, target.release, *source, *_ns(target), *create)
    says = (
        f'{subcommand.capitalize()} release "{target.release}" with chart {chart.name} '
        f"{chart.version}{' to ' + why if why else ''}; its values ({len(values)} top-level keys) "
        "go on stdin, never on the command line"
    )
    return PlanStep(says, (*argv, "--version", chart.version, "--values", "-"))


# --------------------------------------------------------------- state file (local run)

_STATE_FORMAT = 1


def _save(path: Path, releases: dict[tuple[str, str], _Release], wall_offset: float) -> None:
    """Write the releases to ``path`` whole, through a temporary file: never half a file."""
    document = {
        "format": _STATE_FORMAT,
        "releases": [_release_json(release, wall_offset) for release in releases.values()],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.partial")
    partial.write_text(json.dumps(document, indent=1, default=str))
    os.replace(partial, path)


def _load(path: Path, wall_offset: float) -> dict[tuple[str, str], _Release]:
    try:
        document = json.loads(path.read_text())
        if document.get("format") != _STATE_FORMAT:
            raise ValueError(f"format {document.get('format')!r}, expected {_STATE_FORMAT}")
        releases = [_release_from(item, wall_offset) for item in document["releases"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(
            f"cannot read the simulated cluster's state from {path}: {exc} "
            "(`make run RESET=1` starts from a clean state)"
        ) from exc
    return {(release.namespace, release.name): release for release in releases}


def _release_json(release: _Release, wall_offset: float) -> dict[str, Any]:
    gone = release.uninstalled_at
    return {
        "name": release.name,
        "namespace": release.namespace,
        "uninstalledAt": None if gone is None else gone + wall_offset,
        "revisions": [_revision_json(rev, wall_offset) for rev in release.revisions],
    }


def _revision_json(rev: _Revision, wall_offset: float) -> dict[str, Any]:
    return {
        "number": rev.number,
        "chart": {
            "repoUrl": rev.chart.repo_url,
            "name": rev.chart.name,
            "version": rev.chart.version,
        },
        "values": rev.values,
        "appliedAt": rev.applied_at + wall_offset,
        "op": rev.op.value,
        "description": rev.description,
        "backed": rev.backed,
        "finalStatus": rev.final_status,
        "reverse": rev.reverse,
    }


def _release_from(item: dict[str, Any], wall_offset: float) -> _Release:
    gone = item["uninstalledAt"]
    return _Release(
        name=str(item["name"]),
        namespace=str(item["namespace"]),
        revisions=[_revision_from(rev, wall_offset) for rev in item["revisions"]],
        uninstalled_at=None if gone is None else float(gone) - wall_offset,
    )


def _revision_from(item: dict[str, Any], wall_offset: float) -> _Revision:
    chart = item["chart"]
    values = item["values"]
    if not isinstance(values, dict):
        raise TypeError(f"revision {item['number']}: values must be an object")
    return _Revision(
        number=int(item["number"]),
        chart=ChartRef(repo_url=chart["repoUrl"], name=chart["name"], version=chart["version"]),
        values=values,
        applied_at=float(item["appliedAt"]) - wall_offset,
        op=OperationType(item["op"]),
        description=str(item["description"]),
        backed=bool(item["backed"]),
        final_status=item["finalStatus"],
        reverse=bool(item.get("reverse", False)),
    )
