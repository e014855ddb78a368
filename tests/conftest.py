"""Fixtures: moto-backed DynamoDB with the real table definition, the local cluster
backend on a fake clock, a manually stepped rollout driver, and Chalice's test client."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from chalicelib import composition
from chalicelib.adapters.dynamodb_store import DynamoDBStore
from chalicelib.adapters.local_cluster import LocalCluster
from chalicelib.config import Settings
from chalicelib.domain.errors import BackendUnavailable
from chalicelib.domain.models import DeploymentManager
from chalicelib.domain.ports import DeploymentBackend
from chalicelib.domain.states import ClusterKind
from chalicelib.service.context import Deps
from tests import auth_helpers
from tests.fakes import (
    FakeClock,
    IdSequence,
    ManualDriver,
    RecordingEvents,
    RecordingKms,
    automation_fields,
    kms_sealer,
)

if TYPE_CHECKING:
    from tests.kube_emulator import EmulatedCluster
    from tests.real_cluster import Kube

ROOT = Path(__file__).resolve().parent.parent
TABLE = "o2dms-test"
ROLLOUT_SECONDS = 4.0
SCHEDULE_GROUP = "o2dms-test"
SCALE_FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:o2dms-test-scheduled_scale"
SCHEDULER_ROLE_ARN = "arn:aws:iam::123456789012:role/o2dms-test-scheduler"


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def create_table(client: Any, name: str, *, stream: bool = False) -> None:
    """The table of ``infra/table.json``. Its stream only feeds live progress, and moto
    makes every write half as slow again recording one, so only the tests of live progress
    ask for it."""
    definition = json.loads((ROOT / "infra" / "table.json").read_text())
    if not stream:
        definition.pop("StreamSpecification", None)
    client.create_table(TableName=name, **definition)


def enable_stream(client: Any, name: str) -> None:
    """Record the table's stream from now on, as ``infra/table.json`` declares it."""
    definition = json.loads((ROOT / "infra" / "table.json").read_text())
    client.update_table(TableName=name, StreamSpecification=definition["StreamSpecification"])


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name=os.environ["AWS_DEFAULT_REGION"])
        create_table(client, TABLE)
        yield client


@dataclass
class World:
    """Everything a test drives: the wiring, the clock, the cluster, the driver."""

    deps: Deps
    clock: FakeClock
    cluster: LocalCluster
    driver: ManualDriver
    store: DynamoDBStore
    events: RecordingEvents
    kms: RecordingKms  # the KMS client that seals secret parameters, noting every call

    def settle(self, seconds: float = ROLLOUT_SECONDS, polls: int = 3) -> None:
        """Let time pass and follow every running rollout."""
        for _ in range(polls):
            self.clock.advance(seconds / polls)
            self.driver.poll()
        self.clock.advance(0.5)
        self.driver.poll()


@pytest.fixture
def world(dynamodb: Any) -> Iterator[World]:
    clock = FakeClock()
    cluster = LocalCluster(rollout_seconds=ROLLOUT_SECONDS, clock=clock.seconds)
    store = DynamoDBStore(dynamodb, TABLE)
    driver = ManualDriver()
    events = RecordingEvents()

    def backends(*, adapter: str, manager: DeploymentManager) -> DeploymentBackend:
        if manager.kind is not ClusterKind.LOCAL:
            raise BackendUnavailable(f"no test backend for {manager.kind.value} clusters")
        return cluster.backend(adapter)

    settings = Settings(
        table_name=TABLE,
        operation_timeout_seconds=60,
        lease_grace_seconds=30,
        verify_stable_seconds=0,  # tests of the stable window set their own
        schedule_group=SCHEDULE_GROUP,
        schedule_target_arn=SCALE_FUNCTION_ARN,
        scheduler_role_arn=SCHEDULER_ROLE_ARN,
        schedule_retry_attempts=3,
        schedule_retry_seconds=0,
        auth_mode="local",
        auth_signing_key=auth_helpers.KEY_HEX,
    )
    boto3.client("scheduler").create_schedule_group(Name=SCHEDULE_GROUP)
    sealer, kms = kms_sealer(TABLE)
    deps = Deps(
        store=store,
        backends=backends,
        driver=driver,
        events=events,
        settings=settings,
        **automation_fields(settings, dynamodb),
        sealer=sealer,
        clock=clock.now,
        new_id=IdSequence(),
    )
    driver.deps = deps
    composition.use(deps)
    yield World(deps, clock, cluster, driver, store, events, kms)
    composition.use(None)


@pytest.fixture
def client(world: World) -> Iterator[Any]:
    from chalice.test import Client

    from app import app

    with Client(app) as test_client:
        yield auth_helpers.sign_in(test_client, "admin")


@pytest.fixture
def running(client: Any, world: World) -> Any:
    """The client, with a descriptor and an INSTANTIATED nginx-prod, as the seed assumes."""
    from tests.api_helpers import create_deployment, create_descriptor

    create_descriptor(client)
    create_deployment(client)
    world.settle()
    return client


@pytest.fixture
def cluster() -> Iterator[EmulatedCluster]:
    """A Kubernetes API emulator serving HTTP for the length of one test."""
    from tests.kube_emulator import EmulatedCluster

    with EmulatedCluster() as emulated:
        yield emulated


@pytest.fixture(scope="session")
def real_kubeconfig(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> str:
    """A kubeconfig for a real API server: ``O2DMS_TEST_KUBECONFIG``, or the session's
    cluster from the test kit, started on first use and shared by the xdist workers."""
    from tests import kit

    reason = kit.unavailable()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.getbasetemp()
    return kit.up(kit.state_dir(base, worker=worker_id != "master"))


@pytest.fixture
def kube(real_kubeconfig: str) -> Kube:
    """kubectl and helm on the real API server."""
    from tests.real_cluster import Kube

    return Kube(real_kubeconfig)


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    """A namespace of the test's own on the real API server, deleted afterwards."""
    name = kube.new_namespace()
    yield name
    kube.drop_namespace(name)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop the kit's cluster once, from the controller, keeping its logs after a failure."""
    if hasattr(session.config, "workerinput"):
        return
    from tests import kit

    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    state = kit.state_dir(factory.getbasetemp(), worker=False)
    kept = kit.down(state, failed=exitstatus not in (0, 5))
    if kept:
        session.config.get_terminal_writer().line(f"test cluster logs kept in {kept}")


@pytest.fixture(scope="session")
def stack_template(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> dict[str, Any]:
    """The deployable stack's CloudFormation template, synthesized once per test session."""
    from tests.cdk_template import shared_template

    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent  # xdist workers share the parent
    return shared_template(shared / "cdk-synth")
