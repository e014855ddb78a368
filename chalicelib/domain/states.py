"""Status vocabularies and the one table of legal deployment status transitions.

The deployment statuses are the seed document's; revision statuses are Helm's, so
history reads the same whatever backend produced it.
"""

from __future__ import annotations

from enum import StrEnum

from chalicelib.domain.errors import IllegalTransition


class DeploymentStatus(StrEnum):
    NOT_INSTANTIATED = "NOT_INSTANTIATED"
    INSTANTIATED = "INSTANTIATED"
    FAILED = "FAILED"
    DEPLOYING = "DEPLOYING"
    ROLLING_BACK = "ROLLING_BACK"
    DELETING = "DELETING"


class RevisionStatus(StrEnum):
    PENDING_INSTALL = "pending-install"
    PENDING_UPGRADE = "pending-upgrade"
    PENDING_ROLLBACK = "pending-rollback"
    DEPLOYED = "deployed"
    SUPERSEDED = "superseded"
    FAILED = "failed"
    UNINSTALLED = "uninstalled"


class OperationType(StrEnum):
    INSTALL = "install"
    UPGRADE = "upgrade"
    SCALE = "scale"
    ROLLBACK = "rollback"
    TERMINATE = "terminate"


class OperationState(StrEnum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    ROLLED_BACK = "ROLLED_BACK"
    CANCELLED = "CANCELLED"
    SKIPPED = "SKIPPED"  # a scheduled change that could not run (recorded, never lost)

    @property
    def finished(self) -> bool:
        return self is not OperationState.RUNNING


class Stage(StrEnum):
    PREPARING = "preparing"
    DEPLOYING = "deploying"
    VERIFYING = "verifying"
    ROLLING_BACK = "rolling-back"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


class Trigger(StrEnum):
    API = "api"
    SCHEDULE = "schedule"
    ALARM = "alarm"


class FiringOutcome(StrEnum):
    """What a scaling schedule's firing did."""

    STARTED = "started"  # a scale operation began
    UNCHANGED = "unchanged"  # the deployment already had that many replicas
    SKIPPED = "skipped"  # another operation kept running; recorded as a SKIPPED operation
    DUPLICATE = "duplicate"  # the same firing was delivered twice; handled once


class ClusterKind(StrEnum):
    LOCAL = "local"
    EKS = "eks"
    KUBECONFIG = "kubeconfig"
    GKE = "gke"
    AKS = "aks"


class Adapter(StrEnum):
    HELM = "helm"
    ARGOCD = "argocd"
    FLUX = "flux"
    KUBERNETES = "kubernetes"
    ECS = "ecs"  # an Amazon ECS service: its task definition, not a cluster object


# What a descriptor suits when it says nothing: its chart, on a Kubernetes cluster. An ECS
# service is only ever named on purpose (``supportedAdapters: ["ecs"]``).
CHART_ADAPTERS = (Adapter.HELM, Adapter.ARGOCD, Adapter.FLUX, Adapter.KUBERNETES)


_S = DeploymentStatus
TRANSITIONS: dict[DeploymentStatus, frozenset[DeploymentStatus]] = {
    _S.NOT_INSTANTIATED: frozenset({_S.DEPLOYING}),
    _S.DEPLOYING: frozenset({_S.INSTANTIATED, _S.FAILED, _S.ROLLING_BACK}),
    _S.INSTANTIATED: frozenset({_S.DEPLOYING, _S.ROLLING_BACK, _S.DELETING}),
    _S.FAILED: frozenset({_S.DEPLOYING, _S.ROLLING_BACK, _S.DELETING, _S.FAILED}),
    _S.ROLLING_BACK: frozenset({_S.INSTANTIATED, _S.FAILED}),
    _S.DELETING: frozenset({_S.NOT_INSTANTIATED, _S.FAILED, _S.INSTANTIATED}),
}

# What a deployment shows while an operation of each type runs.
RUNNING_STATUS: dict[OperationType, DeploymentStatus] = {
    OperationType.INSTALL: _S.DEPLOYING,
    OperationType.UPGRADE: _S.DEPLOYING,
    OperationType.SCALE: _S.DEPLOYING,
    OperationType.ROLLBACK: _S.ROLLING_BACK,
    OperationType.TERMINATE: _S.DELETING,
}

PENDING_REVISION_STATUS: dict[OperationType, RevisionStatus] = {
    OperationType.INSTALL: RevisionStatus.PENDING_INSTALL,
    OperationType.UPGRADE: RevisionStatus.PENDING_UPGRADE,
    OperationType.SCALE: RevisionStatus.PENDING_UPGRADE,
    OperationType.ROLLBACK: RevisionStatus.PENDING_ROLLBACK,
}

# Revisions a rollback may target: they ran successfully at some point.
GOOD_REVISION_STATUSES = frozenset({RevisionStatus.DEPLOYED, RevisionStatus.SUPERSEDED})


def check_transition(current: DeploymentStatus, target: DeploymentStatus) -> None:
    """Raise ``IllegalTransition`` (a 409 at the API) unless the table allows the move."""
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(
            f"Deployment is {current.value}; it cannot move to {target.value} from there"
        )
