"""The ECS client a deployment's calls go through: whose credentials, in which region.

- A deployment manager of kind ``eks`` names an AWS account and region: its ECS services are
  reached in the manager's ``region``, as its ``roleArn`` when it has one (assumed with
  ``clusters.eks.assume_role``, the session named after the operation, so that CloudTrail ties
  each change to one O2 operation, as for the EKS cluster itself).
- Any other manager (the built-in local one, kubeconfig, GKE, AKS): the functions' own
  credentials and region (in ``make run``, the local AWS emulator).

A client is kept and reused: the functions' own for the life of the process, an assumed
role's until shortly before its credentials end, and only for reads or for the operation it
was assumed for (a new operation assumes the role again).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.clusters.eks import (
    SessionFactory,
    assume_role,
    default_session,
    session_name,
)
from chalicelib.adapters.ecs.errors import translated
from chalicelib.domain.models import DeploymentManager
from chalicelib.domain.states import ClusterKind

if TYPE_CHECKING:
    from chalicelib.domain.ports import Clock

REFRESH_MARGIN = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Account:
    """Where a deployment's ECS calls go: a region (None: the functions' own) and a role to
    assume (None: the functions' own credentials)."""

    region: str | None = None
    role_arn: str | None = None


def account_of(manager: DeploymentManager) -> Account:
    if manager.kind is ClusterKind.EKS:
        return Account(region=manager.region, role_arn=manager.role_arn)
    return Account()


@dataclass(frozen=True, slots=True)
class _Kept:
    client: Any
    until: datetime | None
    session: str | None


class EcsClients:
    """ECS clients for one account, as ``clients(operation_id=...)``."""

    def __init__(
        self,
        account: Account,
        *,
        endpoint_url: str | None = None,
        config: Any = None,
        session_factory: SessionFactory = default_session,
        clock: Clock | None = None,
    ) -> None:
        self.account = account
        self._endpoint_url = endpoint_url
        self._config = config
        self._session_factory = session_factory
        self._clock = clock or (lambda: datetime.now(UTC))
        self._kept: _Kept | None = None
        self._own: Any = None  # the functions' own session, made once
        self._lock = threading.Lock()

    def __call__(self, *, operation_id: str | None = None) -> Any:
        with self._lock:
            kept = self._kept
            if kept is None or not self._usable(kept, operation_id):
                kept = self._kept = self._make(operation_id)
            return kept.client

    def _usable(self, kept: _Kept, operation_id: str | None) -> bool:
        if kept.until is not None and self._clock() >= kept.until - REFRESH_MARGIN:
            return False
        if operation_id is None or self.account.role_arn is None:
            return True
        return session_name(operation_id) == kept.session

    def _make(self, operation_id: str | None) -> _Kept:
        if self._own is None:
            self._own = self._session_factory(region_name=self.account.region)
        own = self._own
        if self.account.role_arn is None:
            return _Kept(self._client(own), None, None)
        name = session_name(operation_id)
        region = self.account.region or own.region_name
        with translated(f"sts:AssumeRole of {self.account.role_arn}", None):
            session, until = assume_role(
                own,
                role_arn=self.account.role_arn,
                region=region,
                name=name,
                session_factory=self._session_factory,
            )
        return _Kept(self._client(session), until, name)

    def _client(self, session: Any) -> Any:
        return session.client(
            "ecs",
            region_name=self.account.region or session.region_name,
            endpoint_url=self._endpoint_url,
            config=self._config,
        )
