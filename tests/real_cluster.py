"""Wiring for tests that drive the HTTP API with the real adapters (real helm binary, real
Kubernetes client) against a cluster named by a kubeconfig: the unreachable-cluster test,
and the real-cluster suites on the session's real API server (``tests/kit.py``)."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
from tests import auth_helpers
from tests.conftest import TABLE, create_table
from tests.fakes import ManualDriver, RecordingEvents, automation_fields, kms_sealer

ROOT = Path(__file__).resolve().parent.parent
HELM_FIXTURES = ROOT.parent / "shared" / "fixtures" / "helm4"
BIN = ROOT / ".local" / "bin"
EXAMPLE_CHARTS = ROOT / ".local" / "charts"  # examples/charts, packaged by make setup


class CommandFailed(AssertionError):
    """kubectl or helm exited non-zero; the message has its stderr."""


@dataclass(frozen=True)
class Kube:
    """kubectl and helm (the pinned binaries) on one cluster, answers decoded from JSON."""

    kubeconfig: str

    def run(self, tool: str, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [str(BIN / tool), "--kubeconfig", self.kubeconfig, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise CommandFailed(f"{tool} {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def json(self, tool: str, *args: str) -> Any:
        out = self.run(tool, *args)
        return json.loads(out) if out.strip() else None

    def kubectl(self, *args: str, check: bool = True) -> str:
        try:
            return self.run("kubectl", *args)
        except CommandFailed:
            if check:
                raise
            return ""

    def get(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        """One object as the API server stores it, or None."""
        found: dict[str, Any] | None = self.json(
            "kubectl", "get", kind, name, "-n", namespace, "-o", "json", "--ignore-not-found"
        )
        return found

    def new_namespace(self) -> str:
        name = f"o2dms-test-{secrets.token_hex(3)}"
        self.kubectl("create", "namespace", name)
        return name

    def drop_namespace(self, name: str) -> None:
        self.kubectl("delete", "namespace", name, "--ignore-not-found", "--wait=false", check=False)


def manager_for(kubeconfig: str, namespace: str, **extra: Any) -> dict[str, Any]:
    """The default deployment manager body for a cluster reached with ``kubeconfig``."""
    return {
        "deploymentManagerId": "test-cluster",
        "kind": "kubeconfig",
        "kubeconfigSource": f"file:{kubeconfig}",
        "defaultNamespace": namespace,
        "default": True,
        **extra,
    }


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
        config = auth_helpers.local_auth(
            Settings(
                table_name=TABLE,
                allow_local_charts=True,
                local_cluster=False,
                **{"verify_stable_seconds": 0, **settings},
            )
        )
        driver = ManualDriver()
        deps = Deps(
            store=DynamoDBStore(dynamodb, TABLE),
            backends=Backends(config, LocalCluster()),
            driver=driver,
            events=RecordingEvents(),
            settings=config,
            **automation_fields(config, dynamodb),
            sealer=kms_sealer(TABLE)[0],
        )
        driver.deps = deps
        composition.use(deps)
        from chalice.test import Client

        from app import app

        try:
            with Client(app) as client:
                yield auth_helpers.sign_in(client, "admin"), driver
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
