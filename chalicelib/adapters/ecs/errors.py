"""ECS's errors as ours, at the adapter's boundary: never a 500 for what ECS says.

``ClientError`` codes (botocore's ECS model lists them per operation; ``tests/fixtures/ecs``
keeps the answers as they come back):

- ``ClusterNotFoundException``, ``ServiceNotFoundException``, ``ServiceNotActiveException``
  (a deleted or draining service) -> ``BackendTargetNotFound`` (404);
- ``InvalidParameterException``, ``ClientException`` and the other refusals of a request as
  given (``Platform*Exception``, ``UnsupportedFeatureException``, ``LimitExceededException``)
  -> ``BackendInvalidRequest`` (400);
- ``AccessDeniedException`` (and STS's ``AccessDenied`` when assuming a manager's role)
  -> ``BackendAccessDenied`` (403), naming the call and the identity;
- throttling, ``ServerException`` and calls that got no answer -> ``BackendUnavailable`` (503).

Any other code is judged by its HTTP status: a 4xx is the request's fault (400), a 5xx
ECS's (503).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.clusters.aws_errors import aws_detail
from chalicelib.adapters.ecs.target import Where
from chalicelib.domain.errors import (
    BackendAccessDenied,
    BackendError,
    BackendInvalidRequest,
    BackendTargetNotFound,
    BackendUnavailable,
)

NOT_FOUND = frozenset({"ClusterNotFoundException", "ServiceNotFoundException"})
NOT_ACTIVE = "ServiceNotActiveException"
DENIED = frozenset({"AccessDeniedException", "AccessDenied"})
UNAVAILABLE = frozenset(
    {
        "ServerException",
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "RequestTimeout",
        "RequestTimeoutException",
        # credentials that ECS no longer takes (expired, revoked): ours to renew, not a 4xx
        "ExpiredTokenException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
    }
)


def translate(exc: ClientError | BotoCoreError, *, call: str, where: Where | None) -> BackendError:
    """The error of ours that ``exc`` (raised by ``call``) becomes."""
    detail = aws_detail(exc)
    place = f" for ECS service {where.short}" if where else ""
    if not isinstance(exc, ClientError):
        return BackendUnavailable(f"ECS {call}{place} got no answer: {detail}")
    code = exc.response.get("Error", {}).get("Code", "")
    message = exc.response.get("Error", {}).get("Message", "")
    if code in NOT_FOUND and where is not None:
        what = "cluster" if code.startswith("Cluster") else "service"
        name = where.cluster if what == "cluster" else where.service
        return BackendTargetNotFound(
            f"ECS {what} {name} not found"
            + (f" in cluster {where.cluster}" if what == "service" else "")
            + f" ({call}: {message})"
        )
    if code == NOT_ACTIVE:
        return BackendTargetNotFound(
            f"ECS service {where.short if where else ''} is not active: it was deleted or is"
            f" draining ({call}: {message})"
        )
    if code in DENIED:
        return BackendAccessDenied(
            f"AWS denied {call}{place}: grant it to the functions' role (or the deployment"
            f" manager's roleArn) ({detail})"
        )
    if code in UNAVAILABLE or code in NOT_FOUND:
        return BackendUnavailable(f"ECS {call}{place} failed; retry shortly ({detail})")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
    if isinstance(status, int) and status >= 500:
        return BackendUnavailable(f"ECS {call}{place} failed; retry shortly ({detail})")
    return BackendInvalidRequest(f"ECS refused {call}{place}: {detail}")


@contextmanager
def translated(call: str, where: Where | None) -> Iterator[None]:
    """Raise ours for any error of ``call``."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, call=call, where=where) from exc
