"""Health checks: what each pod's probes say, whether a Service has its endpoints, and how
they add up per component.

A check is seed 002's ``health_checks[]`` entry (``name``, ``type``, ``status``, ``message``)
with when its status last changed (``since``) and what it is about (``component``, ``pod``).
Per-pod checks are many (three per pod); what a rollout records and a read answers by
default is one check per component and type (``aggregate``), worst status first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from chalicelib.domain.errors import InvalidRequest


class HealthStatus(StrEnum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    PENDING = "pending"
    UNKNOWN = "unknown"


# Worst first: an aggregate takes the worst status of its parts.
_SEVERITY = {
    HealthStatus.UNHEALTHY: 0,
    HealthStatus.PENDING: 1,
    HealthStatus.UNKNOWN: 2,
    HealthStatus.HEALTHY: 3,
}


@dataclass(frozen=True, slots=True)
class HealthCheck:
    name: str
    type: str  # readiness, startup, liveness, endpoints, istio, http, tcp, dependency
    status: HealthStatus
    message: str
    since: datetime | None = None
    component: str | None = None
    pod: str | None = None
    required: bool = True
    failure_threshold: int | None = None  # unhealthy polls in a row that fail a rollout

    @property
    def healthy(self) -> bool:
        return self.status is HealthStatus.HEALTHY


def worst(statuses: list[HealthStatus]) -> HealthStatus:
    return min(statuses, key=_SEVERITY.__getitem__, default=HealthStatus.UNKNOWN)


def aggregate(checks: tuple[HealthCheck, ...]) -> tuple[HealthCheck, ...]:
    """One check per component and type for the per-pod ones (``<component>-<type>``:
    "3 of 3 pods healthy", and the first unhealthy pod's message); the others as they are."""
    groups: dict[tuple[str, str], list[HealthCheck]] = defaultdict(list)
    found: list[HealthCheck] = []
    for check in checks:
        if check.pod is None:
            found.append(check)
        else:
            groups[(check.component or "", check.type)].append(check)
    for (component, kind), parts in groups.items():
        status = worst([c.status for c in parts])
        good = sum(1 for c in parts if c.healthy)
        message = f"{good} of {len(parts)} pods healthy"
        bad = next((c for c in parts if c.status is status and not c.healthy), None)
        if bad is not None:
            message += f"; {bad.pod}: {bad.message}"
        since = max((c.since for c in parts if c.since), default=None)
        found.append(
            HealthCheck(
                name=f"{component}-{kind}" if component else kind,
                type=kind,
                status=status,
                message=message,
                since=since,
                component=component or None,
                required=any(c.required for c in parts),
            )
        )
    return tuple(sorted(found, key=lambda c: (_SEVERITY[c.status], c.name)))


@dataclass(frozen=True, slots=True)
class CustomCheck:
    """A check a deployment declares: an HTTP request (or a TCP connection) to one of its
    Services, made through the Kubernetes API server's service proxy. A ``dependency`` (a
    database, an external service) is one of the same kind, reported as such."""

    name: str
    type: str  # http or tcp
    service: str
    port: int
    path: str = "/"
    expect_status: int = 200
    timeout_seconds: float = 5.0
    failure_threshold: int | None = None
    required: bool = True
    dependency: bool = False
    interval_seconds: float = 0.0  # run again only this long after the last run


_CHECK_TYPES = ("http", "tcp")


def custom_checks(values: Mapping[str, Any]) -> tuple[CustomCheck, ...]:
    """The ``healthChecks`` a deployment's values declare (camelCase keys, as values are)."""
    found = values.get("healthChecks")
    if found is None:
        return ()
    if not isinstance(found, list):
        raise InvalidRequest("healthChecks must be a list of checks")
    checks = []
    for entry in found:
        if not isinstance(entry, Mapping):
            raise InvalidRequest("each of healthChecks must be an object")
        name, kind = entry.get("name"), entry.get("type", "http")
        service, port = entry.get("service"), entry.get("port")
        if not isinstance(name, str) or not name or kind not in _CHECK_TYPES:
            raise InvalidRequest("a health check needs a name and a type, http or tcp")
        if not isinstance(service, str) or not service:
            raise InvalidRequest(f"health check {name} needs the service it checks")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise InvalidRequest(f"health check {name} needs a port number")
        checks.append(
            CustomCheck(
                name=name,
                type=str(kind),
                service=service,
                port=port,
                path=str(entry.get("path") or "/"),
                expect_status=int(entry.get("expectStatus") or 200),
                timeout_seconds=float(entry.get("timeoutSeconds") or 5),
                failure_threshold=entry.get("failureThreshold"),
                required=bool(entry.get("required", True)),
                dependency=bool(entry.get("dependency", False)),
                interval_seconds=float(entry.get("intervalSeconds") or 0),
            )
        )
    return tuple(checks)
