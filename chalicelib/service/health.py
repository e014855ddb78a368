"""Health checks evaluated now, on request: the rollout records them as it goes, and once it
has ended they keep being evaluated when asked (``GET .../healthChecks``), one status read
of the backend each time."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from chalicelib.domain.access import Action as Permission
from chalicelib.domain.health import HealthCheck, aggregate, custom_checks
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
    """The backend's status of ``deployment``, with its own checks (``healthChecks`` in
    its parameters) run once each and added to what the backend read."""
    backend = backend_for(deps, deployment)
    ref = release_ref(deployment)
    status = backend.status(ref)
    declared = custom_checks(deployment.parameters)
    if not declared or status.phase is RolloutPhase.ABSENT:
        return status
    return replace(status, health_checks=(*status.health_checks, *backend.probe(ref, declared)))


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
