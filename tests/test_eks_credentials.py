"""EKS credentials under moto: the endpoint and CA from DescribeCluster, a token shaped as
``aws eks get-token`` makes it, the operation id in the AssumeRole session, the cache rule
and the translation of AWS failures."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from boto3.session import Session
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count

from chalicelib.adapters.clusters.eks import (
    TOKEN_PREFIX,
    EksCredentials,
    refresh_point,
    session_name,
)
from chalicelib.domain.errors import BackendUnavailable
from tests.fakes import FakeClock

REGION = "eu-west-1"
CLUSTER = "ran-edge-1"
TRUST = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}'  # noqa: E501


@dataclass(frozen=True)
class Keys:
    access_key: str | None
    secret_key: str | None
    session_token: str | None
    region: str | None

    def session(self) -> Session:
        return boto3.Session(
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            aws_session_token=self.session_token,
            region_name=self.region,
        )


@dataclass
class RecordingSessions:
    """A session factory that builds real boto3 sessions and remembers the keys it got."""

    calls: list[Keys] = field(default_factory=list)

    def __call__(
        self,
        *,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        region_name: str | None = None,
    ) -> Session:
        keys = Keys(aws_access_key_id, aws_secret_access_key, aws_session_token, region_name)
        self.calls.append(keys)
        return keys.session()

    def assumed(self) -> list[Keys]:
        return [keys for keys in self.calls if keys.session_token]


@dataclass
class Aws:
    role_arn: str
    endpoint: str
    certificate: str


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws():
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(RoleName="o2dms-deployer", AssumeRolePolicyDocument=TRUST)["Role"]
        eks = boto3.client("eks", region_name=REGION)
        cluster = eks.create_cluster(
            name=CLUSTER, roleArn=role["Arn"], resourcesVpcConfig={"subnetIds": []}
        )["cluster"]
        yield Aws(role["Arn"], cluster["endpoint"], cluster["certificateAuthority"]["data"])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(current=datetime.now(UTC))


def provider(
    aws: Aws, clock: FakeClock, sessions: RecordingSessions | None = None, **overrides: Any
) -> EksCredentials:
    arguments: dict[str, Any] = {
        "cluster_name": CLUSTER,
        "region": REGION,
        "role_arn": aws.role_arn,
        "session_factory": sessions or RecordingSessions(),
        "clock": clock.now,
    }
    arguments.update(overrides)
    return EksCredentials(**arguments)


def presigned_url(token: str) -> str:
    body = token.removeprefix(TOKEN_PREFIX)
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("utf-8")


def test_eks_credentials_returns_endpoint_and_ca_of_the_cluster(aws: Aws, clock: FakeClock) -> None:
    credentials = provider(aws, clock)(operation_id="op-1")

    assert credentials.server == aws.endpoint
    assert credentials.certificate_authority_data == aws.certificate
    assert credentials.kubeconfig is None


def test_eks_credentials_token_is_a_presigned_get_caller_identity_url(
    aws: Aws, clock: FakeClock
) -> None:
    token = provider(aws, clock)(operation_id="op-1").token
    assert token is not None

    assert token.startswith("k8s-aws-v1.")
    assert "=" not in token
    url = presigned_url(token)
    assert url.startswith(
        f"https://sts.{REGION}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&"
    )
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["60"]
    assert query["X-Amz-SignedHeaders"] == ["host;x-k8s-aws-id"]
    assert query["X-Amz-Credential"][0].endswith(f"/{REGION}/sts/aws4_request")
    assert "X-Amz-Security-Token" in query  # signed with the assumed role's keys


def test_eks_credentials_token_names_real_sts_even_with_an_endpoint_override(
    aws: Aws, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a local emulator configured for STS (only presigning uses STS without a role)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:5000")

    token = provider(aws, clock, role_arn=None)(operation_id="op-1").token
    assert token is not None

    assert urlsplit(presigned_url(token)).netloc == f"sts.{REGION}.amazonaws.com"


def test_eks_credentials_session_name_carries_the_operation_id(aws: Aws, clock: FakeClock) -> None:
    sessions = RecordingSessions()

    provider(aws, clock, sessions)(operation_id="01JH8Z0Q5M7 op/42")

    (keys,) = sessions.assumed()
    identity = keys.session().client("sts").get_caller_identity()
    assert identity["Arn"].endswith("/o2dms-deployer/o2dms-01JH8Z0Q5M7-op-42")


def test_eks_credentials_session_name_keeps_to_sts_rules() -> None:
    assert session_name(None) == "o2dms"
    assert session_name("a+b=c,d.e@f-g_h") == "o2dms-a+b=c,d.e@f-g_h"
    assert session_name("déploiement #1") == "o2dms-d-ploiement--1"
    assert len(session_name("x" * 200)) == 64


def test_eks_credentials_without_role_signs_with_its_own_credentials(
    aws: Aws, clock: FakeClock
) -> None:
    sessions = RecordingSessions()

    token = provider(aws, clock, sessions, role_arn=None)(operation_id="op-1").token
    assert token is not None

    assert sessions.assumed() == []
    own = boto3.Session().get_credentials()
    assert own is not None
    query = parse_qs(urlsplit(presigned_url(token)).query)
    assert query["X-Amz-Credential"][0].startswith(f"{own.access_key}/")
    assert "X-Amz-Security-Token" not in query


def test_eks_credentials_cache_serves_the_same_token_until_the_refresh_point(
    aws: Aws, clock: FakeClock
) -> None:
    sessions = RecordingSessions()
    credentials = provider(aws, clock, sessions)
    first = credentials(operation_id="op-1")

    clock.advance(12 * 60 + 59)  # refresh at 14 min - 60 s margin
    assert credentials(operation_id="op-1") is first
    assert credentials() is first  # a read without an operation reuses it too
    assert len(sessions.assumed()) == 1

    clock.advance(1)
    renewed = credentials(operation_id="op-1")
    assert renewed.token != first.token
    assert len(sessions.assumed()) == 2


def test_eks_credentials_cache_honours_the_refresh_margin(aws: Aws, clock: FakeClock) -> None:
    credentials = provider(aws, clock, refresh_margin_seconds=300)
    first = credentials()

    clock.advance(9 * 60)

    assert credentials().token != first.token


def test_eks_credentials_another_operation_assumes_the_role_again(
    aws: Aws, clock: FakeClock
) -> None:
    sessions = RecordingSessions()
    credentials = provider(aws, clock, sessions)
    credentials(operation_id="op-1")

    credentials(operation_id="op-2")

    assert len(sessions.assumed()) == 2


def test_eks_credentials_refresh_point_is_before_token_or_role_expiry() -> None:
    issued = datetime(2026, 1, 14, 10, 0, tzinfo=UTC)
    margin = timedelta(seconds=60)

    assert refresh_point(issued_at=issued, role_expires_at=None, margin=margin) == issued + (
        timedelta(minutes=13)
    )
    role_ends = issued + timedelta(minutes=5)
    assert refresh_point(issued_at=issued, role_expires_at=role_ends, margin=margin) == (
        issued + timedelta(minutes=4)
    )


def test_eks_credentials_missing_cluster_is_backend_unavailable(aws: Aws, clock: FakeClock) -> None:
    credentials = provider(aws, clock, cluster_name="no-such-cluster")

    with pytest.raises(BackendUnavailable) as raised:
        credentials(operation_id="op-1")

    assert "no-such-cluster" in raised.value.message
    assert aws.role_arn in raised.value.message
    assert "ResourceNotFoundException" in raised.value.message


def test_eks_credentials_unrecognised_caller_is_backend_unavailable(
    aws: Aws, clock: FakeClock
) -> None:
    # moto checks IAM from the first request on: the test keys are no IAM user's
    credentials = provider(aws, clock)

    @set_initial_no_auth_action_count(0)
    def ask() -> None:
        credentials(operation_id="op-1")

    with pytest.raises(BackendUnavailable) as raised:
        ask()

    assert "could not assume the cluster role" in raised.value.message
    assert "InvalidClientTokenId" in raised.value.message


def test_eks_credentials_network_error_is_backend_unavailable(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given no moto, and EKS at a closed local port
    monkeypatch.setenv("AWS_ENDPOINT_URL_EKS", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    credentials = EksCredentials(
        cluster_name=CLUSTER, region=REGION, role_arn=None, clock=clock.now
    )

    with pytest.raises(BackendUnavailable) as raised:
        credentials()

    assert "could not describe the cluster as the function's own credentials" in (
        raised.value.message
    )


def test_eks_credentials_token_is_never_logged_nor_shown(
    aws: Aws, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="chalicelib")
    credentials = provider(aws, clock)

    issued = credentials(operation_id="op-1")
    assert issued.token is not None

    assert caplog.records, "issuing is logged"
    logged = " ".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert issued.token not in logged
    assert presigned_url(issued.token) not in logged
    assert issued.token not in repr(issued)
    assert issued.token not in repr(credentials)
