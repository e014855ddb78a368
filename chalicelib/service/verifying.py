"""The ``verifying`` stage: a rollout whose workloads are rolled out passes only once every
required health check has stayed healthy for a stable window, and fails once a required
check has been unhealthy ``threshold`` polls in a row (the automatic rollback then takes it
back, the check named in the reason). A pending check (endpoints catching up, a pod
starting) neither passes nor counts as a failure: it waits, within the operation's deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.health import HealthCheck, HealthStatus


@dataclass(frozen=True, slots=True)
class Verdict:
    passed: bool
    failure: str | None
    healthy_since: datetime | None
    failures: dict[str, int]
    message: str


def verify(
    checks: tuple[HealthCheck, ...],
    *,
    healthy_since: datetime | None,
    failures: dict[str, int],
    now: datetime,
    window_seconds: float,
    threshold: int,
) -> Verdict:
    required = [c for c in checks if c.required]
    bad = [c for c in required if c.status is HealthStatus.UNHEALTHY]
    counts = {c.name: failures.get(c.name, 0) + 1 for c in bad}
    over = next((c for c in bad if counts[c.name] >= (c.failure_threshold or threshold)), None)
    if over is not None:
        failure = (
            f"health check {over.name} was unhealthy {counts[over.name]} times in a row:"
            f" {over.message}"
        )
        return Verdict(False, failure, None, counts, failure)
    waiting = [c for c in required if not c.healthy]
    if waiting:
        first = waiting[0]
        message = (
            f"Verifying: {len(required) - len(waiting)} of {len(required)} health checks"
            f" healthy; {first.name} is {first.status.value}: {first.message}"
        )
        return Verdict(False, None, None, counts, message)
    since = healthy_since or now
    held = (now - since).total_seconds()
    if held >= window_seconds:
        return Verdict(True, None, since, {}, "All health checks healthy")
    message = (
        f"Verifying: all {len(required)} health checks healthy for {int(held)} of"
        f" {int(window_seconds)}s"
    )
    return Verdict(False, None, since, {}, message)
