"""AKS credentials: an Entra ID app's client secret read from Secrets Manager (moto), tokens
from Entra ID for Azure Resource Manager and for the AKS server app, and the cluster's
server and CA from the kubeconfig Resource Manager lists; Entra ID and Resource Manager are
a local TLS stand-in (``tests/cloud_fakes.py``) that checks the requests as Azure would."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.backends import credentials_for
from chalicelib.adapters.clusters.aks import AksCredentials, server_and_ca
from chalicelib.adapters.clusters.credentials_secret import CredentialsSecret
from chalicelib.config import Settings
from chalicelib.domain.errors import BackendForbidden, BackendUnavailable
from chalicelib.domain.models import DeploymentManager
from chalicelib.domain.states import ClusterKind
from tests.cloud_fakes import AKS_SCOPE, FakeAzure, Tls, aks_kubeconfig, make_tls, serve
from tests.fakes import FakeClock

SECRET = "o2dms/clusters/aks-paris"
SUBSCRIPTION = "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
SERVER = "https://aks-paris-dns-1a2b3c4d.hcp.francecentral.azmk8s.io:443"
CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def azure(tls: Tls, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAzure]:
    """The stand-in, trusted the way any requests-based client is told to trust a CA."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.cert))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    fake = FakeAzure(
        aks_token="eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.aks-token",
        clusters={f"{SUBSCRIPTION}/ran-rg/aks-paris": aks_kubeconfig(SERVER, CA)},
    )
    with serve(fake.handle, tls=tls) as url:
        fake.url = url
        yield fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(current=datetime.now(UTC))  # msal's expiry is from the real clock


@pytest.fixture
def secrets() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def provider(azure: FakeAzure, clock: FakeClock, **options: Any) -> AksCredentials:
    return AksCredentials(
        manager_id="aks-paris",
        subscription=SUBSCRIPTION,
        resource_group="ran-rg",
        cluster=options.pop("cluster", "aks-paris"),
        secret=CredentialsSecret(SECRET, manager_id="aks-paris"),
        authority_host=azure.url,
        management_url=azure.url,
        clock=clock.now,
        **options,
    )


def put_secret(secrets: Any, value: dict[str, str]) -> None:
    secrets.create_secret(Name=SECRET, SecretString=json.dumps(value))


def debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Every logger at DEBUG (azure-core's, msal's, urllib3's, ours) but botocore's, whose
    DEBUG lines quote every response body, secrets included: the service never turns them
    on (``logs.setup`` sets the level of ``chalicelib`` only)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="botocore")


def test_aks_credentials_mint_tokens_and_read_the_cluster(
    azure: FakeAzure, clock: FakeClock, secrets: Any
) -> None:
    put_secret(secrets, azure.app_secret())

    found = provider(azure, clock)()

    assert found.server == SERVER
    assert found.certificate_authority_data == CA
    assert found.token == azure.aks_token
    assert found.kubeconfig is None
    assert azure.discovered == 1  # the tenant's endpoints, from the authority itself
    assert azure.grants == [
        {"scope": f"{azure.url}/.default", "client_id": azure.client_id},
        {"scope": AKS_SCOPE, "client_id": azure.client_id},
    ]
    [listed] = azure.listed
    assert listed.method == "POST"
    assert listed.path == (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/ran-rg/providers/"
        "Microsoft.ContainerService/managedClusters/aks-paris/listClusterUserCredential"
    )
    assert listed.query == {"api-version": "2024-09-01"}
    assert listed.bearer == "management-token"


def test_aks_credentials_take_what_az_ad_sp_create_for_rbac_prints(
    azure: FakeAzure, clock: FakeClock, secrets: Any
) -> None:
    printed = {
        "appId": azure.client_id,
        "displayName": "o2dms-deployer",
        "password": azure.client_secret,
        "tenant": azure.tenant,
    }
    put_secret(secrets, printed)

    assert provider(azure, clock)().token == azure.aks_token


def test_aks_credentials_are_cached_while_fresh_and_refreshed_after(
    azure: FakeAzure, clock: FakeClock, secrets: Any
) -> None:
    put_secret(secrets, azure.app_secret())
    aks = provider(azure, clock)

    first = aks()
    clock.advance(3600 - 400)  # the token lives an hour; refreshed 5 minutes before
    again = aks(operation_id="op-2")
    clock.advance(200)
    later = aks()

    assert again is first
    assert later.token == f"{azure.aks_token}-2"
    assert [g["scope"] for g in azure.grants].count(AKS_SCOPE) == 2
    assert len(azure.listed) == 2


def test_aks_credentials_a_wrong_secret_is_a_clear_error_without_the_secret(
    azure: FakeAzure,
    clock: FakeClock,
    secrets: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "wr0ng~client~secret~value"
    put_secret(secrets, {**azure.app_secret(), "clientSecret": wrong})
    debug_logs(caplog)
    aks = provider(azure, clock)

    with pytest.raises(BackendUnavailable) as refused:
        aks()

    message = str(refused.value)
    assert "deployment manager aks-paris" in message
    assert "AADSTS7000215: Invalid client secret provided." in message
    assert f"app {azure.client_id} of tenant {azure.tenant}" in message
    assert "put current ones in the secret" in message
    assert not azure.listed
    for text in (message, repr(refused.value), repr(aks), caplog.text):
        assert wrong not in text
        assert azure.client_secret not in text


def test_aks_credentials_an_unknown_tenant_is_backend_unavailable(
    azure: FakeAzure, clock: FakeClock, secrets: Any
) -> None:
    put_secret(secrets, {**azure.app_secret(), "tenantId": "00000000-0000-0000-0000-000000000000"})

    with pytest.raises(BackendUnavailable, match="Unable to get authority configuration"):
        provider(azure, clock)()


@pytest.mark.parametrize(
    ("setup", "error", "words"),
    [
        ({"cluster": "gone"}, BackendUnavailable, "Azure has no cluster gone in resource group"),
        ({"forbidden": True}, BackendForbidden, "Cluster User Role"),
    ],
)
def test_aks_credentials_refusals_name_the_manager_and_the_fix(
    azure: FakeAzure,
    secrets: Any,
    setup: dict[str, Any],
    error: type[Exception],
    words: str,
) -> None:
    put_secret(secrets, azure.app_secret())
    azure.forbidden = setup.pop("forbidden", False)

    with pytest.raises(error, match=words) as refused:
        provider(azure, FakeClock(current=datetime.now(UTC)), **setup)()

    assert "deployment manager aks-paris" in str(refused.value)
    assert "management-token" not in str(refused.value)


def test_aks_credentials_a_secret_missing_fields_names_them_only(
    azure: FakeAzure, clock: FakeClock, secrets: Any
) -> None:
    put_secret(secrets, {"clientSecret": azure.client_secret})

    with pytest.raises(BackendUnavailable, match="it lacks tenantId, clientId") as refused:
        provider(azure, clock)()

    assert azure.client_secret not in str(refused.value)


def test_aks_credentials_log_and_repr_show_no_token(
    azure: FakeAzure,
    clock: FakeClock,
    secrets: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    put_secret(secrets, azure.app_secret())
    debug_logs(caplog)
    aks = provider(azure, clock)

    found = aks()

    assert "aks credentials issued" in caplog.text
    for text in (caplog.text, repr(aks), repr(found)):
        assert azure.aks_token not in text
        assert "management-token" not in text
        assert azure.client_secret not in text


def test_aks_server_and_ca_follow_the_current_context() -> None:
    kubeconfig = json.loads(aks_kubeconfig(SERVER, CA))
    kubeconfig["clusters"].insert(
        0,
        {
            "name": "other",
            "cluster": {"server": "https://other", "certificate-authority-data": "x"},
        },
    )

    assert server_and_ca(json.dumps(kubeconfig)) == (SERVER, CA)
    with pytest.raises(ValueError, match="no cluster"):
        server_and_ca(json.dumps({"clusters": []}))


def test_aks_credentials_for_a_registered_manager_take_the_endpoints_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("O2DMS_AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us/")
    monkeypatch.setenv("O2DMS_AZURE_MANAGEMENT_URL", "https://management.usgovcloudapi.net")
    manager = DeploymentManager(
        id="aks-paris",
        kind=ClusterKind.AKS,
        name="aks-paris",
        default_namespace="ran",
        created_at=datetime.now(UTC),
        subscription=SUBSCRIPTION,
        resource_group="ran-rg",
        cluster_name="aks-paris",
        credentials_secret=SECRET,
    )

    found = credentials_for(manager, Settings())

    assert isinstance(found, AksCredentials)
    assert found.authority_host == "https://login.microsoftonline.us"
    assert found.credentials_url.startswith(
        f"https://management.usgovcloudapi.net/subscriptions/{SUBSCRIPTION}/resourceGroups/ran-rg/"
    )
