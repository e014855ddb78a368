"""Whose credentials and which region an ECS deployment's calls use: the functions' own on
any manager, an ``eks`` manager's region and role when it names them (the role assumed per
operation, so CloudTrail names the operation), and how ``Backends`` hands out the backend."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.backends import Backends
from chalicelib.adapters.clusters.eks import default_session
from chalicelib.adapters.ecs.backend import EcsBackend
from chalicelib.adapters.ecs.clients import Account, EcsClients, account_of
from chalicelib.adapters.local_cluster import LocalCluster
from chalicelib.config import Settings
from chalicelib.domain.errors import BackendAccessDenied
from chalicelib.domain.models import DeploymentManager
from chalicelib.domain.states import ClusterKind

WHEN = datetime(2026, 1, 14, tzinfo=UTC)
ROLE = "arn:aws:iam::123456789012:role/deployer"


def _manager(kind: ClusterKind, **fields: Any) -> DeploymentManager:
    return DeploymentManager(
        id=f"{kind.value}-1",
        kind=kind,
        name=kind.value,
        default_namespace="apps",
        created_at=WHEN,
        **fields,
    )


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        boto3.client("iam").create_role(RoleName="deployer", AssumeRolePolicyDocument="{}")
        yield


def test_ecs_account_is_the_eks_managers_or_our_own() -> None:
    eks = _manager(ClusterKind.EKS, cluster_name="ran", region="eu-west-3", role_arn=ROLE)
    local = _manager(ClusterKind.LOCAL)
    kubeconfig = _manager(ClusterKind.KUBECONFIG, kubeconfig_source="ssm:/o2dms/edge")

    assert account_of(eks) == Account(region="eu-west-3", role_arn=ROLE)
    assert account_of(local) == Account() == account_of(kubeconfig)


def test_ecs_clients_assume_the_role_per_operation(aws: None) -> None:
    sessions: list[Any] = []

    def recording(**keys: Any) -> Any:
        sessions.append(default_session(**keys))
        return sessions[-1]

    clients = EcsClients(Account("eu-west-3", ROLE), session_factory=recording)

    first = clients(operation_id="op-1")
    read = clients()
    second = clients(operation_id="op-2")

    assert first is read  # a read takes whatever was assumed last
    assert second is not first
    assert first.meta.region_name == "eu-west-3"
    assumed = [s for s in sessions if s.get_credentials().token]
    names = [s.client("sts").get_caller_identity()["Arn"].rsplit("/", 1)[1] for s in assumed]
    assert names == ["o2dms-op-1", "o2dms-op-2"]


def test_ecs_clients_of_our_own_are_made_once(aws: None) -> None:
    clients = EcsClients(Account())

    assert clients(operation_id="op-1") is clients(operation_id="op-2") is clients()
    assert clients().meta.region_name == "us-east-1"  # the functions' own region


def test_ecs_clients_say_when_the_role_may_not_be_assumed() -> None:
    class Own:
        region_name = "eu-west-3"

        def client(self, service: str, **_: Any) -> Any:
            from botocore.exceptions import ClientError

            class Sts:
                def assume_role(self, **_: Any) -> Any:
                    raise ClientError(
                        {"Error": {"Code": "AccessDenied", "Message": "not authorized"}},
                        "AssumeRole",
                    )

            return Sts()

    def own(**_: Any) -> Any:
        return Own()

    clients = EcsClients(Account("eu-west-3", ROLE), session_factory=own)

    with pytest.raises(BackendAccessDenied, match=f"AWS denied sts:AssumeRole of {ROLE}"):
        clients(operation_id="op-1")


def test_backends_serve_ecs_on_any_manager_and_keep_it(aws: None) -> None:
    backends = Backends(Settings(table_name="t"), LocalCluster(rollout_seconds=1))
    local = _manager(ClusterKind.LOCAL)
    eks = _manager(ClusterKind.EKS, cluster_name="ran", region="eu-west-3", role_arn=ROLE)

    on_local = backends(adapter="ecs", manager=local)
    on_eks = backends(adapter="ecs", manager=eks)

    assert isinstance(on_local, EcsBackend)
    assert isinstance(on_eks, EcsBackend)
    assert backends(adapter="ecs", manager=local) is on_local
    assert on_eks is not on_local
    assert not isinstance(backends(adapter="kubernetes", manager=local), EcsBackend)
