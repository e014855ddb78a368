"""Health checks evaluated now, on request: the rollout records them as it goes, and once it
has ended they keep being evaluated when asked (``GET .../healthChecks``), one status read
of the backend each time."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime

from chalicelib.domain.access import Action as Permission
from chalicelib.domain.errors import DescriptorNotFound
from chalicelib.domain.health import CustomCheck, HealthCheck, aggregate, custom_checks
from chalicelib.domain.models import Deployment
from chalicelib.domain.ports import BackendStatus, RolloutPhase
from chalicelib.service.access import require_then_read
from chalicelib.service.context import Caller, Deps
from chalicelib.service.managers import backend_for
from chalicelib.service.records import release_ref


@dataclass(frozen=True, slots=True)
class Evaluation:
    deployment_id: str
    at: datetime
    checks: tuple[HealthCheck, ...]

    @property
    def healthy(self) -> bool:
        return all(c.healthy for c in self.checks if c.required)


def observe(deps: Deps, deployment: Deployment) -> BackendStatus:
    """The backend's status of ``deployment``, with its own checks added: those its
    parameters declare (``healthChecks``), else its descriptor's defaults. A check run less
    than its ``intervalSeconds`` ago keeps its last result."""
    backend = backend_for(deps, deployment)
    ref = release_ref(deployment)
    status = backend.status(ref)
    declared = custom_checks(deployment.parameters) or _descriptor_checks(deps, deployment)
    if not declared or status.phase is RolloutPhase.ABSENT:
        return status
    to_run, kept = due(declared, deployment.health_checks, deps.clock())
    ran = backend.probe(ref, to_run)
    return replace(status, health_checks=(*status.health_checks, *ran, *kept))


def due(
    declared: tuple[CustomCheck, ...], last: tuple[HealthCheck, ...], now: datetime
) -> tuple[tuple[CustomCheck, ...], tuple[HealthCheck, ...]]:
    """The checks to run now, and the last results of those run less than their interval
    ago (which stand)."""
    seen = {c.name: c for c in last if c.pod is None}
    to_run: list[CustomCheck] = []
    kept: list[HealthCheck] = []
    for check in declared:
        before = seen.get(check.name)
        since = before.since if before is not None else None
        if (
            before is not None
            and since is not None
            and ((now - since).total_seconds() < check.interval_seconds)
        ):
            kept.append(before)
        else:
            to_run.append(check)
    return tuple(to_run), tuple(kept)


_DESCRIPTOR_CHECKS: dict[str, tuple[float, tuple[CustomCheck, ...]]] = {}
DESCRIPTOR_CACHE_SECONDS = 300.0


def _descriptor_checks(deps: Deps, deployment: Deployment) -> tuple[CustomCheck, ...]:
    """The checks a descriptor's default parameters declare. A descriptor does not change
    once created (only a delete and a new create can reuse its id), so what was read is
    kept for a few minutes rather than read on every poll."""
    key = deployment.descriptor_id
    cached = _DESCRIPTOR_CHECKS.get(key)
    if cached is not None and time.monotonic() - cached[0] < DESCRIPTOR_CACHE_SECONDS:
        return cached[1]
    try:
        defaults = deps.store.get_descriptor(key).default_parameters
    except DescriptorNotFound:
        defaults = {}
    checks = custom_checks(defaults)
    _DESCRIPTOR_CHECKS[key] = (time.monotonic(), checks)
    return checks


def evaluate(deps: Deps, deployment_id: str, caller: Caller, *, per_pod: bool) -> Evaluation:
    """The deployment's checks as the cluster shows them now: per component and type, or
    ``per_pod``."""
    current = require_then_read(
        deps,
        caller,
        Permission.READ,
        what="read",
        target=f"nfDeployments/{deployment_id}",
        deployment_id=deployment_id,
        read=lambda: deps.store.get_deployment(deployment_id),
        namespace_of=lambda found: found.namespace,
    )
    at = deps.clock()
    if current.terminated or not current.revision:
        return Evaluation(current.id, at, ())
    seen = observe(deps, current).health_checks
    return Evaluation(current.id, at, seen if per_pod else aggregate(seen))
