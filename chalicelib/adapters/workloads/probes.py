"""Custom health checks, run through the Kubernetes API server's service proxy, so that they
reach a Service from Lambda with no route into the cluster's network.

- http: healthy when the Service answers ``path`` with ``expect_status``; another status,
  the API server's refusal (no endpoints, connection refused: its ``Status`` message is
  quoted) or no answer within the timeout is unhealthy.
- tcp: healthy when the API server could connect to the port: any answer from behind it
  counts, even one that is not HTTP; a refusal to connect (no endpoints, connection refused,
  a dial timeout) is unhealthy.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from chalicelib.adapters.gitops.kube import KubeApi, KubeSession
from chalicelib.domain.errors import BackendError
from chalicelib.domain.health import CustomCheck, HealthCheck, HealthStatus
from chalicelib.domain.ports import ReleaseRef

_UNREACHABLE = ("no endpoints available", "connection refused", "i/o timeout", "dial tcp")


def _server_says(body: str) -> str | None:
    """The message of a ``Status`` the API server answered with, if the body is one."""
    try:
        found = json.loads(body)
    except ValueError:
        return None
    if isinstance(found, dict) and found.get("kind") == "Status":
        return str(found.get("message") or found.get("reason") or "")
    return None


def judge(check: CustomCheck, status: int, body: str) -> tuple[HealthStatus, str]:
    where = f"{check.service}:{check.port}{'/' + check.path.lstrip('/')}"
    refused = _server_says(body)
    if check.type == "tcp":
        if refused is not None and any(word in refused for word in _UNREACHABLE):
            return (
                HealthStatus.UNHEALTHY,
                f"cannot connect to {check.service}:{check.port}: {refused}",
            )
        return HealthStatus.HEALTHY, f"{check.service}:{check.port} accepts connections"
    if status == check.expect_status:
        return HealthStatus.HEALTHY, f"GET {where} answered {status}"
    if refused is not None:
        return HealthStatus.UNHEALTHY, f"GET {where}: the API server answered {status}: {refused}"
    return (
        HealthStatus.UNHEALTHY,
        f"GET {where} answered {status}, expected {check.expect_status}",
    )


def run(
    kube: KubeSession, namespace: str, checks: tuple[CustomCheck, ...], now: datetime
) -> tuple[HealthCheck, ...]:
    """Each check once, in order; one request each."""
    found = []
    for check in checks:
        try:
            status, body = kube.proxy_get(
                namespace, check.service, check.port, check.path, timeout=check.timeout_seconds
            )
            health, message = judge(check, status, body)
        except BackendError as exc:
            health, message = HealthStatus.UNHEALTHY, f"{check.service}:{check.port}: {exc.message}"
        found.append(
            HealthCheck(
                name=check.name,
                type="dependency" if check.dependency else check.type,
                status=health,
                message=message,
                since=now,
                required=check.required,
                failure_threshold=check.failure_threshold,
            )
        )
    return tuple(found)


def probe(
    api: KubeApi, ref: ReleaseRef, checks: tuple[CustomCheck, ...]
) -> tuple[HealthCheck, ...]:
    """``run`` in a session of its own on the release's cluster, in its namespace."""
    if not checks:
        return ()
    with api.session() as kube:
        return run(kube, ref.namespace, checks, datetime.now(UTC))
