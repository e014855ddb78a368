"""Wiring for tests that drive the HTTP API with the real adapters (real helm binary, real
Kubernetes client) against a cluster named by a kubeconfig: the unreachable-cluster test
here, and the real-cluster suite when ``O2DMS_TEST_KUBECONFIG`` is set."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from chalicelib import composition
from chalicelib.adapters.backends import Backends
from chalicelib.adapters.dynamodb_store import DynamoDBStore
from chalicelib.adapters.local_cluster import LocalCluster
from chalicelib.config import Settings
from chalicelib.service.context import Deps
from tests.conftest import TABLE, create_table
from tests.fakes import ManualDriver, RecordingEvents, automation_fields

ROOT = Path(__file__).resolve().parent.parent
HELM_FIXTURES = ROOT.parent / "shared" / "fixtures" / "helm4"


def demo_descriptor(version: str) -> dict[str, Any]:
    """The demo chart recorded in the shared fixtures, as a local chart archive."""
    return {
        "descriptorId": f"demo-{version}",
        "name": "demo",
        "artifactRepoUrl": f"file://{HELM_FIXTURES}",
        "artifactName": "demo",
        "artifactVersion": version,
        "defaultParameters": {"replicaCount": 1},
        "supportedAdapters": ["helm"],
    }


@contextmanager
def real_adapters(**settings: Any) -> Iterator[tuple[Any, ManualDriver]]:
    """Chalice's test client over moto DynamoDB and the real adapters; rollouts are
    followed by the returned driver (``follow_all``) on the test's own thread."""
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_table(dynamodb, TABLE)
        config = Settings(
            table_name=TABLE, allow_local_charts=True, local_cluster=False, **settings
        )
        driver = ManualDriver()
        deps = Deps(
            store=DynamoDBStore(dynamodb, TABLE),
            backends=Backends(config, LocalCluster()),
            driver=driver,
            events=RecordingEvents(),
            settings=config,
            **automation_fields(config, dynamodb),
        )
        driver.deps = deps
        composition.use(deps)
        from chalice.test import Client

        from app import app

        try:
            with Client(app) as client:
                yield client, driver
        finally:
            composition.use(None)


def follow_all(driver: ManualDriver, *, timeout: float = 300, interval: float = 2) -> None:
    """Poll every running rollout until all have ended."""
    deadline = time.monotonic() + timeout
    while driver.pending():
        assert time.monotonic() < deadline, f"rollouts still running: {driver.started}"
        driver.poll()
        if driver.pending():
            time.sleep(interval)
