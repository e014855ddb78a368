"""Health checks read from Kubernetes objects (plain data, no I/O): each pod's readiness,
startup and liveness as its probes leave them, an ``istio-proxy`` sidecar's readiness, and a
Service's ready endpoints (EndpointSlices) against the ready pods it selects.

- readiness: the pod's ``Ready`` condition; not ready while a container has not started
  yet is ``pending``, not ready once all have started is ``unhealthy`` (the readiness probe
  fails).
- startup: every container ``started`` (its startup probe passed); one stuck waiting for a
  reason that does not pass by itself (``CrashLoopBackOff``, ``ImagePullBackOff``...) is
  ``unhealthy``, one still starting ``pending``.
- liveness: a container in ``CrashLoopBackOff``, or terminated within ``window`` (its
  liveness probe killed it, or it exited), is ``unhealthy``, with the last termination's
  reason and exit code.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from chalicelib.adapters.gitops import tracking
from chalicelib.adapters.helm.workloads import STUCK_REASONS
from chalicelib.domain.health import HealthCheck, HealthStatus
from chalicelib.domain.models import JsonObject

ISTIO_PROXY = "istio-proxy"
LIVENESS_WINDOW = timedelta(minutes=10)
_H, _U, _P = HealthStatus.HEALTHY, HealthStatus.UNHEALTHY, HealthStatus.PENDING


def _condition(pod: JsonObject, kind: str) -> JsonObject | None:
    for found in tracking.dig(pod, "status", "conditions") or []:
        if isinstance(found, dict) and found.get("type") == kind:
            return found
    return None


def _containers(pod: JsonObject) -> list[JsonObject]:
    found = tracking.dig(pod, "status", "containerStatuses") or []
    return [c for c in found if isinstance(c, dict)]


def _waiting(container: JsonObject) -> tuple[str, str]:
    waiting = tracking.dig(container, "state", "waiting") or {}
    return str(waiting.get("reason") or ""), str(waiting.get("message") or "")


def _last_exit(container: JsonObject) -> str:
    ended = tracking.dig(container, "lastState", "terminated") or {}
    if not ended:
        return ""
    return f"last exit: {ended.get('reason') or 'terminated'} (code {ended.get('exitCode')})"


def readiness(pod: JsonObject, name: str, component: str | None) -> HealthCheck:
    ready = _condition(pod, "Ready") or {}
    since = tracking.when(ready.get("lastTransitionTime"))
    containers = _containers(pod)
    if ready.get("status") == "True":
        status, message = _H, "Pod is ready"
    elif not containers or not all(c.get("started") for c in containers):
        status = _P
        message = f"Pod is not ready: {ready.get('message') or 'its containers are starting'}"
    else:
        status = _U
        message = f"Readiness probe failing: {ready.get('message') or 'not ready'}"
    return HealthCheck(f"{name}-readiness", "readiness", status, message, since, component, name)


def startup(pod: JsonObject, name: str, component: str | None) -> HealthCheck:
    containers = _containers(pod)
    waiting = [c for c in containers if not c.get("started")]
    started = [tracking.dig(c, "state", "running", "startedAt") for c in containers]
    since = max(filter(None, map(tracking.when, started)), default=None)
    if containers and not waiting:
        count = len(containers)
        message = f"{'The container has' if count == 1 else f'All {count} containers have'} started"
        return HealthCheck(f"{name}-startup", "startup", _H, message, since, component, name)
    stuck = [(c, *_waiting(c)) for c in waiting if _waiting(c)[0] in STUCK_REASONS]
    if stuck:
        container, reason, _ = stuck[0]
        message = f"container {container.get('name')} cannot start: {reason}"
        return HealthCheck(f"{name}-startup", "startup", _U, message, since, component, name)
    names = ", ".join(str(c.get("name")) for c in waiting) or "its containers"
    message = f"waiting for {names} to start"
    return HealthCheck(f"{name}-startup", "startup", _P, message, since, component, name)


def liveness(
    pod: JsonObject, name: str, component: str | None, now: datetime, window: timedelta
) -> HealthCheck:
    containers = _containers(pod)
    for container in containers:
        reason, _ = _waiting(container)
        restarts = container.get("restartCount") or 0
        if reason == "CrashLoopBackOff":
            ended = tracking.when(tracking.dig(container, "lastState", "terminated", "finishedAt"))
            message = (
                f"container {container.get('name')}: CrashLoopBackOff ({restarts} restarts)"
                + (f", {_last_exit(container)}" if _last_exit(container) else "")
            )
            return HealthCheck(f"{name}-liveness", "liveness", _U, message, ended, component, name)
    for container in containers:
        ended = tracking.when(tracking.dig(container, "lastState", "terminated", "finishedAt"))
        if ended is not None and now - ended <= window:
            restarts = container.get("restartCount") or 0
            message = (
                f"container {container.get('name')} restarted ({restarts} restarts),"
                f" {_last_exit(container)}"
            )
            return HealthCheck(f"{name}-liveness", "liveness", _U, message, ended, component, name)
    if not containers or not all(c.get("started") for c in containers):
        message = "containers are starting"
        return HealthCheck(f"{name}-liveness", "liveness", _P, message, None, component, name)
    minutes = int(window.total_seconds() // 60)
    message = f"No restarts in the last {minutes} minutes"
    return HealthCheck(f"{name}-liveness", "liveness", _H, message, None, component, name)


def istio(pod: JsonObject, name: str, component: str | None) -> HealthCheck | None:
    sidecar = next((c for c in _containers(pod) if c.get("name") == ISTIO_PROXY), None)
    if sidecar is None:
        return None
    since = tracking.when(tracking.dig(sidecar, "state", "running", "startedAt"))
    if sidecar.get("ready"):
        status, message = _H, "istio-proxy sidecar is ready"
    elif sidecar.get("started"):
        status, message = _U, "istio-proxy sidecar is not ready"
    else:
        status, message = _P, f"istio-proxy sidecar is starting {_waiting(sidecar)[0]}".strip()
    return HealthCheck(f"{name}-istio", "istio", status, message, since, component, name)


def injects_sidecars(namespace: JsonObject | None) -> bool:
    """Whether Istio injects its sidecar into the namespace's pods (``istio-injection=
    enabled``, or a revision label ``istio.io/rev``)."""
    labels = tracking.dig(namespace, "metadata", "labels") or {}
    return labels.get("istio-injection") == "enabled" or bool(labels.get("istio.io/rev"))


def missing_sidecars(
    pods: list[JsonObject], component_of: Callable[[JsonObject], str | None]
) -> tuple[HealthCheck, ...]:
    """An ``istio`` check for each pod without the sidecar its namespace should inject."""
    found = []
    for pod in pods:
        if tracking.dig(pod, "metadata", "deletionTimestamp"):
            continue
        names = {c.get("name") for c in _containers(pod)}
        declared = {c.get("name") for c in tracking.dig(pod, "spec", "containers") or []}
        if ISTIO_PROXY in names | declared:
            continue
        name = tracking.text(pod, "metadata", "name") or "pod"
        says = "istio-proxy sidecar missing: the namespace has sidecar injection enabled"
        found.append(HealthCheck(f"{name}-istio", "istio", _U, says, None, component_of(pod), name))
    return tuple(found)


def pod_checks(
    pods: list[JsonObject],
    *,
    component_of: Callable[[JsonObject], str | None],
    now: datetime,
    window: timedelta = LIVENESS_WINDOW,
) -> tuple[HealthCheck, ...]:
    """Every pod's readiness, startup and liveness (and sidecar) checks."""
    found: list[HealthCheck] = []
    for pod in sorted(pods, key=lambda p: tracking.text(p, "metadata", "name") or ""):
        if tracking.dig(pod, "metadata", "deletionTimestamp"):
            continue  # on its way out: not this rollout's health
        name = tracking.text(pod, "metadata", "name") or "pod"
        component = component_of(pod)
        found += [
            readiness(pod, name, component),
            startup(pod, name, component),
            liveness(pod, name, component, now, window),
        ]
        sidecar = istio(pod, name, component)
        if sidecar is not None:
            found.append(sidecar)
    return tuple(found)


def _ready_endpoints(slices: list[JsonObject], service: str) -> int:
    count = 0
    for piece in slices:
        if tracking.text(piece, "metadata", "labels", "kubernetes.io/service-name") != service:
            continue
        for endpoint in piece.get("endpoints") or []:
            ready: Any = tracking.dig(endpoint, "conditions", "ready")
            count += 1 if ready is None or ready is True else 0  # unset means ready
    return count


def _selects(service: JsonObject, pod: JsonObject) -> bool:
    wanted = tracking.dig(service, "spec", "selector") or {}
    labels = tracking.dig(pod, "metadata", "labels") or {}
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def endpoint_checks(
    services: list[JsonObject],
    slices: list[JsonObject],
    pods: list[JsonObject],
) -> tuple[HealthCheck, ...]:
    """Per Service: as many ready endpoints as ready pods it selects; none is unhealthy."""
    found: list[HealthCheck] = []
    for service in services:
        name = tracking.text(service, "metadata", "name") or "service"
        selected = [p for p in pods if _selects(service, p)]
        ready_pods = sum(
            1 for p in selected if (_condition(p, "Ready") or {}).get("status") == "True"
        )
        ready = _ready_endpoints(slices, name)
        component = tracking.text(service, "metadata", "labels", "app.kubernetes.io/component")
        if ready == 0:
            status = _U
            message = f"Service {name} has no ready endpoints ({len(selected)} pods selected)"
        elif ready < ready_pods:
            status, message = (
                _P,
                f"Service {name}: {ready} of {ready_pods} ready pods are endpoints",
            )
        else:
            status, message = _H, f"Service {name} has {ready} ready endpoints"
        found.append(
            HealthCheck(f"{name}-endpoints", "endpoints", status, message, None, component)
        )
    return tuple(found)
