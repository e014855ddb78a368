"""The one error hierarchy of the service; the API maps each branch to an HTTP status.

O2DmsError
├── InvalidRequest                     400
│   └── PayloadTooLarge                413
├── Unauthenticated                    401 (no credentials, or a bad or expired token)
├── Forbidden                          403 (the caller's roles do not allow the action)
├── NotFound                           404
│   ├── DeploymentNotFound, DescriptorNotFound, RevisionNotFound,
│   ├── OperationNotFound, DeploymentManagerNotFound, ScheduleNotFound
│   └── RolloutNotFound, VersionNotFound (seed 002: a deployment id, a version)
├── Conflict                           409
│   ├── AlreadyExists, DescriptorInUse, DeploymentManagerInUse, IllegalTransition
│   ├── DeploymentTerminated (a change to a NOT_INSTANTIATED deployment)
│   ├── OperationInProgress, RollbackInProgress, RollbackToCurrentRevision
│   ├── NoPreviousRevision
│   └── VersionFailed (seed 002: a rollback to a version whose rollout failed)
├── ParameterValidationFailed          422
│   └── SecretValuesUnsupported        422 (the adapter would expose secret values)
├── ConcurrentModification             (internal: a conditional write lost a race; retried)
├── StoreUnavailable                   503
│   └── SecretsUnavailable             503 (KMS refused, or no key to seal secrets with)
├── SealedSecretUnreadable             500 (a stored secret fails to decrypt: altered)
└── BackendError
    ├── BackendUnavailable             503
    │   └── BackendForbidden           503 (the cluster refused our credentials a permission)
    ├── BackendTargetNotFound          404 (the platform has no such target: an ECS cluster or
    │                                       service, or one no longer active)
    ├── BackendInvalidRequest          400 (the platform refused a parameter: ECS's
    │                                       InvalidParameterException, ClientException)
    ├── BackendAccessDenied            403 (the platform refused our AWS identity an action: ECS's
    │                                       AccessDeniedException; the message names the action)
    ├── ReleaseNotFound                409 (the deployment exists; its release is gone)
    ├── ReleaseConflict                409
    ├── BackendTimeout                 500
    └── BackendFailure                 500
        └── BackendRejected            422 (the API server refused the rendered objects)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class O2DmsError(Exception):
    """Base of every error this service raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(O2DmsError):
    pass


class PayloadTooLarge(InvalidRequest):
    pass


class Unauthenticated(O2DmsError):
    pass


class Forbidden(O2DmsError):
    pass


class NotFound(O2DmsError):
    pass


class DeploymentNotFound(NotFound):
    pass


class DescriptorNotFound(NotFound):
    pass


class RevisionNotFound(NotFound):
    pass


class OperationNotFound(NotFound):
    pass


class RolloutNotFound(NotFound):
    pass


class VersionNotFound(NotFound):
    pass


class DeploymentManagerNotFound(NotFound):
    pass


class ScheduleNotFound(NotFound):
    pass


class Conflict(O2DmsError):
    pass


class AlreadyExists(Conflict):
    pass


class DeploymentTerminated(Conflict):
    """The deployment was terminated: it reads as NOT_INSTANTIATED and takes no change but
    a new create."""


class DescriptorInUse(Conflict):
    pass


class DeploymentManagerInUse(Conflict):
    pass


class IllegalTransition(Conflict):
    pass


class OperationInProgress(Conflict):
    pass


class RollbackInProgress(Conflict):
    pass


class RollbackToCurrentRevision(Conflict):
    pass


class NoPreviousRevision(Conflict):
    pass


class VersionFailed(Conflict):
    pass


class ParameterValidationFailed(O2DmsError):
    pass


class SecretValuesUnsupported(ParameterValidationFailed):
    """The deployment's adapter cannot keep secret parameter values out of the objects it
    writes to the cluster (Argo CD reads Helm values only from the Application itself)."""

    @classmethod
    def for_adapter(
        cls, adapter: str, leaves: Iterable[Sequence[str | int]]
    ) -> SecretValuesUnsupported:
        """The refusal, naming where the secret values are (dotted) but no value."""
        where = list(dict.fromkeys(".".join(str(step) for step in leaf) for leaf in leaves))
        if adapter == "ecs":
            return cls(
                f"Adapter ecs cannot deploy secret parameter values ({', '.join(where)}): a "
                "task definition's environment is readable by anyone who can describe it. Keep "
                "the value in Secrets Manager or SSM Parameter Store and reference it from the "
                "task definition's secrets instead"
            )
        return cls(
            f"Adapter {adapter} cannot deploy secret parameter values ({', '.join(where)}): "
            "Argo CD reads Helm values only from the Application object, where anyone who can "
            "read it would see them. Deploy with the helm or flux adapter (flux keeps them in a "
            "Kubernetes Secret), or have the chart read the value from an existing Kubernetes "
            "Secret and pass the Secret's name instead of the value"
        )


class ConcurrentModification(O2DmsError):
    """A conditional write found the item changed since it was read."""


class StoreUnavailable(O2DmsError):
    """The database did not answer (missing table, throttling, network)."""


class SecretsUnavailable(StoreUnavailable):
    """Secret parameter values cannot be sealed or unsealed now: KMS did not answer or
    refused, or no key is configured to seal them with (they are never stored in clear)."""


class SealedSecretUnreadable(O2DmsError):
    """A stored secret value does not decrypt: it was altered, or sealed for another table."""


class BackendError(O2DmsError):
    """Raised by adapters, translated from the vendor's own error at their boundary."""


class BackendUnavailable(BackendError):
    pass


class BackendForbidden(BackendUnavailable):
    """The cluster answered 403: the deployment manager's identity lacks a permission."""


class BackendTargetNotFound(BackendError):
    """What the deployment names on its platform does not exist (an ECS cluster or service
    we do not create): a 404 that says which, not a 500."""


class BackendInvalidRequest(BackendError):
    """The platform refused the request as invalid (ECS: an image, cpu or memory it does not
    accept); the parameters need fixing, so a 400."""


class BackendAccessDenied(BackendError):
    """The platform refused our AWS identity an action (ECS's AccessDeniedException): a 403
    naming the action, so that whoever runs the service knows which permission to grant."""


class ReleaseNotFound(BackendError):
    pass


class ReleaseConflict(BackendError):
    pass


class BackendTimeout(BackendError):
    pass


class BackendFailure(BackendError):
    pass


class BackendRejected(BackendFailure):
    """The cluster's API server refused an object as invalid (its 422): the parameters
    rendered something Kubernetes does not accept."""
