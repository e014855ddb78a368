"""Health checks: what each pod's probes say, whether a Service has its endpoints, and how
they add up per component.

A check is seed 002's ``health_checks[]`` entry (``name``, ``type``, ``status``, ``message``)
with when its status last changed (``since``) and what it is about (``component``, ``pod``).
Per-pod checks are many (three per pod); what a rollout records and a read answers by
default is one check per component and type (``aggregate``), worst status first.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


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
