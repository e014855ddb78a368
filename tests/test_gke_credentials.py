"""GKE credentials: a Google service-account key read from Secrets Manager (moto), an access
token minted at the key's token endpoint and the cluster's endpoint and CA read from the
GKE API, both local stand-ins (``tests/cloud_fakes.py``) that check the requests as Google
would; the credentials are cached until shortly before the token expires."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from moto import mock_aws

from chalicelib.adapters.backends import credentials_for
from chalicelib.adapters.clusters.credentials_secret import CredentialsSecret
from chalicelib.adapters.clusters.gke import GkeCredentials
from chalicelib.config import Settings
from chalicelib.domain.errors import BackendForbidden, BackendUnavailable
from chalicelib.domain.models import DeploymentManager
from chalicelib.domain.states import ClusterKind
from tests.cloud_fakes import CLOUD_PLATFORM, GOOGLE_TOKEN_AUDIENCE, FakeGoogle, serve
from tests.fakes import FakeClock

SECRET = "o2dms/clusters/gke-paris"
CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="
CLUSTER = "ran-project/europe-west1/ran-paris"


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    fake = FakeGoogle(access_token="ya29.gke-access-token", clusters={CLUSTER: ("34.1.2.3", CA)})
    with serve(fake.handle) as url:
        fake.url = url
        yield fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(current=datetime.now(UTC))  # google-auth's expiry is from the real clock


@pytest.fixture
def secrets() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def provider(google: FakeGoogle, clock: FakeClock, **options: Any) -> GkeCredentials:
    return GkeCredentials(
        manager_id="gke-paris",
        project="ran-project",
        location="europe-west1",
        cluster=options.pop("cluster", "ran-paris"),
        secret=CredentialsSecret(options.pop("secret", SECRET), manager_id="gke-paris"),
        api_url=google.url,
        clock=clock.now,
        **options,
    )


def debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Every logger at DEBUG (google-auth's, urllib3's, ours) but botocore's, whose DEBUG
    lines quote every response body, secrets included: the service never turns them on
    (``logs.setup`` sets the level of ``chalicelib`` only)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="botocore")


def put_key(secrets: Any, google: FakeGoogle, **overrides: Any) -> dict[str, str]:
    key = {**google.key_file(), **overrides}
    secrets.create_secret(Name=SECRET, SecretString=json.dumps(key))
    return key


def test_gke_credentials_mint_a_token_and_read_the_cluster(
    google: FakeGoogle, clock: FakeClock, secrets: Any
) -> None:
    put_key(secrets, google)

    found = provider(google, clock)()

    assert found.server == "https://34.1.2.3"
    assert found.certificate_authority_data == CA
    assert found.token == "ya29.gke-access-token"
    assert found.kubeconfig is None
    [grant] = google.grants  # an RS256 JWT the fake verified with the key's public half
    assert grant["header"] == {"alg": "RS256", "typ": "JWT", "kid": "key-1"}
    claims = grant["claims"]
    assert claims["iss"] == google.email
    assert claims["aud"] == GOOGLE_TOKEN_AUDIENCE
    assert claims["scope"] == CLOUD_PLATFORM
    assert claims["exp"] - claims["iat"] == 3600
    [described] = google.described
    assert described.path == "/v1/projects/ran-project/locations/europe-west1/clusters/ran-paris"
    assert described.bearer == "ya29.gke-access-token"


def test_gke_credentials_are_cached_while_fresh_and_refreshed_after(
    google: FakeGoogle, clock: FakeClock, secrets: Any
) -> None:
    put_key(secrets, google)
    gke = provider(google, clock)

    first = gke()
    clock.advance(3600 - 400)  # the token lives an hour; refreshed 5 minutes before
    again = gke(operation_id="op-2")
    clock.advance(200)
    later = gke()

    assert again is first
    assert later.token == "ya29.gke-access-token-2"
    assert len(google.grants) == 2
    assert [d.bearer for d in google.described] == [first.token, later.token]


def test_gke_credentials_read_a_rotated_key_at_the_next_refresh(
    google: FakeGoogle, clock: FakeClock, secrets: Any
) -> None:
    put_key(secrets, google)
    gke = provider(google, clock)
    gke()
    secrets.put_secret_value(SecretId=SECRET, SecretString=json.dumps({"type": "nope"}))

    clock.advance(3600)
    with pytest.raises(BackendUnavailable, match="lacks client_email, private_key, token_uri"):
        gke()


def test_gke_credentials_a_key_google_refuses_is_a_clear_error_without_the_key(
    google: FakeGoogle, clock: FakeClock, secrets: Any, caplog: pytest.LogCaptureFixture
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = put_key(secrets, google, private_key=google.key_file(key=other)["private_key"])
    debug_logs(caplog)

    with pytest.raises(BackendUnavailable) as refused:
        provider(google, clock)()

    message = str(refused.value)
    assert "deployment manager gke-paris" in message.lower()
    assert "invalid_grant: Invalid JWT Signature." in message
    assert SECRET in message
    assert "put a current key" in message
    assert not google.grants
    assert not google.described
    secret_lines = key["private_key"].splitlines()[1:-1]
    for text in (message, repr(refused.value), caplog.text):
        assert not any(line in text for line in secret_lines)


def test_gke_credentials_a_key_that_is_not_pem_is_refused_without_quoting_it(
    google: FakeGoogle, clock: FakeClock, secrets: Any
) -> None:
    put_key(secrets, google, private_key="-----BEGIN PRIVATE KEY-----\nnot-a-key\n")

    with pytest.raises(BackendUnavailable, match="not a readable PEM RSA key") as refused:
        provider(google, clock)()

    assert "not-a-key" not in str(refused.value)
    assert refused.value.__cause__ is None


@pytest.mark.parametrize(
    ("setup", "error", "words"),
    [
        ({"cluster": "gone"}, BackendUnavailable, "has no cluster gone in project ran-project"),
        ({"forbidden": True}, BackendForbidden, "may not read cluster ran-paris"),
        ({"secret": "o2dms/missing"}, BackendUnavailable, "has no secret o2dms/missing"),
    ],
)
def test_gke_credentials_refusals_name_the_manager_and_the_fix(
    google: FakeGoogle, secrets: Any, setup: dict[str, Any], error: type[Exception], words: str
) -> None:
    clock = FakeClock(current=datetime.now(UTC))
    put_key(secrets, google)
    google.forbidden = setup.pop("forbidden", False)

    with pytest.raises(error, match=words) as refused:
        provider(google, clock, **setup)()

    assert "deployment manager gke-paris" in str(refused.value).lower()
    assert google.access_token not in str(refused.value)


def test_gke_credentials_an_unreachable_token_endpoint_is_backend_unavailable(
    google: FakeGoogle, clock: FakeClock, secrets: Any
) -> None:
    put_key(secrets, google, token_uri="http://127.0.0.1:9/token")

    with pytest.raises(BackendUnavailable, match="no answer from Google's token endpoint"):
        provider(google, clock)()


def test_gke_credentials_log_and_repr_show_no_token(
    google: FakeGoogle, clock: FakeClock, secrets: Any, caplog: pytest.LogCaptureFixture
) -> None:
    key = put_key(secrets, google)
    debug_logs(caplog)
    gke = provider(google, clock)

    found = gke()

    assert "gke credentials issued" in caplog.text
    for text in (caplog.text, repr(gke), repr(found)):
        assert str(found.token) not in text
        assert key["private_key"].splitlines()[1] not in text


def test_gke_credentials_for_a_registered_manager_take_the_api_url_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("O2DMS_GKE_API_URL", "http://127.0.0.1:8089/")
    manager = DeploymentManager(
        id="gke-paris",
        kind=ClusterKind.GKE,
        name="gke-paris",
        default_namespace="ran",
        created_at=datetime.now(UTC) - timedelta(days=1),
        project="ran-project",
        location="europe-west1",
        cluster_name="ran-paris",
        credentials_secret=SECRET,
    )

    found = credentials_for(manager, Settings())

    assert isinstance(found, GkeCredentials)
    assert found.cluster_url == (
        "http://127.0.0.1:8089/v1/projects/ran-project/locations/europe-west1/clusters/ran-paris"
    )
    assert found.secret.secret_id == SECRET
