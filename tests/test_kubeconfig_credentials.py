"""Kubeconfig credentials: read from SSM Parameter Store, Secrets Manager or (where allowed)
a local file, checked to be a kubeconfig with the wanted context, and cached briefly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.clusters.kubeconfig import KubeconfigCredentials
from chalicelib.domain.errors import BackendUnavailable, InvalidRequest
from tests.fakes import FakeClock

REGION = "us-east-1"
SECRET_TOKEN = "eyJhbGciOiJSUzI1NiJ9.do-not-leak"

KUBECONFIG = f"""\
apiVersion: v1
kind: Config
current-context: edge-admin
clusters:
- name: edge
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: LS0tLS1CRUdJTg==
contexts:
- name: edge-admin
  context: {{cluster: edge, user: admin}}
- name: edge-viewer
  context: {{cluster: edge, user: viewer}}
users:
- name: admin
  user: {{token: {SECRET_TOKEN}}}
- name: viewer
  user: {{token: viewer-token}}
"""


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(current=datetime(2026, 1, 14, 10, 0, tzinfo=UTC))


def put_parameter(name: str, value: str) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)


def provider(source: str, clock: FakeClock, **options: Any) -> KubeconfigCredentials:
    return KubeconfigCredentials(source, clock=clock.now, **options)


def test_kubeconfig_credentials_reads_an_ssm_securestring(aws: None, clock: FakeClock) -> None:
    put_parameter("/o2dms/clusters/edge", KUBECONFIG)

    credentials = provider("ssm:/o2dms/clusters/edge", clock)(operation_id="op-1")

    assert credentials.kubeconfig == KUBECONFIG
    assert credentials.context == "edge-admin"
    assert credentials.server is None
    assert credentials.token is None


def test_kubeconfig_credentials_reads_a_secrets_manager_secret_by_arn(
    aws: None, clock: FakeClock
) -> None:
    secrets = boto3.client("secretsmanager", region_name=REGION)
    arn = secrets.create_secret(Name="o2dms/edge", SecretString=KUBECONFIG)["ARN"]

    credentials = provider(f"secretsmanager:{arn}", clock, context="edge-viewer")()

    assert credentials.kubeconfig == KUBECONFIG
    assert credentials.context == "edge-viewer"


def test_kubeconfig_credentials_reads_a_binary_secret_by_name(aws: None, clock: FakeClock) -> None:
    secrets = boto3.client("secretsmanager", region_name=REGION)
    secrets.create_secret(Name="o2dms/edge", SecretBinary=KUBECONFIG.encode())

    assert provider("secretsmanager:o2dms/edge", clock)().kubeconfig == KUBECONFIG


def test_kubeconfig_credentials_reads_a_local_file_when_allowed(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(
        json.dumps(
            {
                "current-context": "c",
                "clusters": [{"name": "k", "cluster": {}}],
                "contexts": [{"name": "c", "context": {"cluster": "k"}}],
            }
        )
    )

    credentials = provider(f"file:{path}", clock, allow_local_files=True)()

    assert credentials.kubeconfig == path.read_text()
    assert credentials.context == "c"


def test_kubeconfig_credentials_refuses_a_local_file_by_default(
    tmp_path: Path, clock: FakeClock
) -> None:
    with pytest.raises(InvalidRequest, match="not allowed on this stage"):
        provider(f"file:{tmp_path / 'kubeconfig'}", clock)


@pytest.mark.parametrize("source", ["vault:edge", "ssm:", "/tmp/kubeconfig", ""])
def test_kubeconfig_credentials_rejects_an_unknown_source(source: str, clock: FakeClock) -> None:
    with pytest.raises(InvalidRequest, match="must be ssm:NAME, secretsmanager:NAME or file:PATH"):
        provider(source, clock)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"users: [{{token: {SECRET_TOKEN}}}\n  : :", "neither YAML nor JSON"),
        ("just a sentence", "has no clusters"),
        ("- a\n- list\n", "has no clusters"),
        ('{"clusters": [{"name": "k"}], "contexts": "oops", "current-context": "c"}', "malformed"),
        ("clusters: []\ncontexts: []\n", "no current-context"),
    ],
)
def test_kubeconfig_credentials_rejects_text_that_is_not_a_kubeconfig(
    text: str, reason: str, aws: None, clock: FakeClock
) -> None:
    put_parameter("/o2dms/clusters/bad", text)

    with pytest.raises(InvalidRequest, match=reason) as raised:
        provider("ssm:/o2dms/clusters/bad", clock)()

    assert "ssm:/o2dms/clusters/bad" in raised.value.message
    assert SECRET_TOKEN not in raised.value.message


def test_kubeconfig_credentials_rejects_an_unknown_context(aws: None, clock: FakeClock) -> None:
    put_parameter("/o2dms/clusters/edge", KUBECONFIG)

    with pytest.raises(InvalidRequest) as raised:
        provider("ssm:/o2dms/clusters/edge", clock, context="prod")()

    assert raised.value.message == (
        "Context 'prod' is not in the kubeconfig from ssm:/o2dms/clusters/edge "
        "(it has: edge-admin, edge-viewer)"
    )


def test_kubeconfig_credentials_rejects_a_context_without_its_cluster(
    aws: None, clock: FakeClock
) -> None:
    put_parameter("/o2dms/clusters/edge", KUBECONFIG.replace("- name: edge\n", "- name: other\n"))

    with pytest.raises(InvalidRequest, match="names cluster 'edge'"):
        provider("ssm:/o2dms/clusters/edge", clock)()


def test_kubeconfig_credentials_missing_parameter_is_backend_unavailable(
    aws: None, clock: FakeClock
) -> None:
    with pytest.raises(BackendUnavailable) as raised:
        provider("ssm:/o2dms/clusters/missing", clock)()

    assert raised.value.message.startswith(
        "Cannot read the kubeconfig from ssm:/o2dms/clusters/missing (ParameterNotFound"
    )


def test_kubeconfig_credentials_missing_secret_is_backend_unavailable(
    aws: None, clock: FakeClock
) -> None:
    with pytest.raises(BackendUnavailable, match="ResourceNotFoundException"):
        provider("secretsmanager:o2dms/missing", clock)()


def test_kubeconfig_credentials_missing_file_is_backend_unavailable(
    tmp_path: Path, clock: FakeClock
) -> None:
    credentials = provider(f"file:{tmp_path / 'absent'}", clock, allow_local_files=True)

    with pytest.raises(BackendUnavailable, match="No such file or directory"):
        credentials()


def test_kubeconfig_credentials_caches_the_text_for_a_while(aws: None, clock: FakeClock) -> None:
    put_parameter("/o2dms/clusters/edge", KUBECONFIG)
    credentials = provider("ssm:/o2dms/clusters/edge", clock)
    first = credentials()
    rotated = KUBECONFIG.replace("viewer-token", "rotated-token")
    put_parameter("/o2dms/clusters/edge", rotated)

    clock.advance(299)
    assert credentials() is first

    clock.advance(1)
    assert credentials().kubeconfig == rotated


def test_kubeconfig_credentials_never_shows_the_kubeconfig(aws: None, clock: FakeClock) -> None:
    put_parameter("/o2dms/clusters/edge", KUBECONFIG)
    credentials = provider("ssm:/o2dms/clusters/edge", clock)

    issued = credentials()

    assert SECRET_TOKEN not in repr(issued)
    assert SECRET_TOKEN not in repr(credentials)
