"""Credentials for an AKS cluster, from an Entra ID app's client secret kept in Secrets
Manager.

An AKS cluster with Microsoft Entra ID integration accepts an Entra access token issued for
the AKS server application (``6dae42f8-4368-4678-94ff-3960e28e3630``, the same in every
tenant): what ``kubelogin get-token --login spn`` hands kubectl. Lambda has neither the az
CLI nor kubelogin, so the function gets the token itself with azure-identity: it reads the
app's tenant, client id and secret from Secrets Manager, asks Entra ID for a token for
Azure Resource Manager and lists the cluster's user credentials there (a kubeconfig, whose
cluster entry gives the API server's URL and CA; its user entry, kubelogin's, is ignored),
then asks for the token for the cluster itself. The credentials are reused until shortly
before that token expires; the next call reads the secret again, so a rotated client
secret is picked up.

This module is imported only when an AKS cluster is used: azure-identity and msal stay off
every other path. Their refusals become ``BackendUnavailable`` (``BackendForbidden`` for a
missing permission) naming the deployment manager and what to fix; no secret or token is
ever logged, shown in a message or in ``repr``.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import AzureError
from azure.identity import ClientSecretCredential

from chalicelib.adapters.clusters import cloud_http
from chalicelib.adapters.clusters.cloud_endpoints import (
    AZURE_AUTHORITY_HOST,
    AZURE_MANAGEMENT_URL,
    CloudEndpoints,
)
from chalicelib.adapters.clusters.credentials_secret import CredentialsSecret
from chalicelib.adapters.clusters.expiring import SHORTEST_MARGIN, ExpiringCredentials, margin_for
from chalicelib.domain.errors import BackendForbidden, BackendUnavailable, InvalidRequest
from chalicelib.domain.ports import ClusterCredentials

if TYPE_CHECKING:
    import requests

    from chalicelib.config import Settings
    from chalicelib.domain.models import DeploymentManager
    from chalicelib.domain.ports import Clock

logger = logging.getLogger(__name__)

AKS_SERVER_APP = "6dae42f8-4368-4678-94ff-3960e28e3630"  # "Azure Kubernetes Service AAD Server"
AKS_SCOPE = f"{AKS_SERVER_APP}/.default"
API_VERSION = "2024-09-01"
SECRET_SHAPE = "an Entra ID app's credentials (JSON with tenantId, clientId and clientSecret)"
SECRET_FIELDS = ("tenantId", "clientId", "clientSecret")
# What `az ad sp create-for-rbac` prints, accepted as it is.
CLI_NAMES = {"tenant": "tenantId", "appId": "clientId", "password": "clientSecret"}
# azure-core's defaults wait 300 s per read and retry 10 times: bounded like our own calls.
_TRANSPORT: dict[str, Any] = {
    "connection_timeout": cloud_http.TIMEOUT[0],
    "read_timeout": cloud_http.TIMEOUT[1],
    "retry_total": 1,
}


def utc_now() -> datetime:
    return datetime.now(UTC)


class AksCredentials:
    """A ``CredentialsProvider`` for one AKS cluster."""

    def __init__(
        self,
        *,
        manager_id: str,
        subscription: str,
        resource_group: str,
        cluster: str,
        secret: CredentialsSecret,
        authority_host: str = AZURE_AUTHORITY_HOST,
        management_url: str = AZURE_MANAGEMENT_URL,
        clock: Clock = utc_now,
        refresh_margin: timedelta = SHORTEST_MARGIN,
    ) -> None:
        self.manager_id = manager_id
        self.subscription = subscription
        self.resource_group = resource_group
        self.cluster = cluster
        self.secret = secret
        self.authority_host = authority_host.rstrip("/")
        self.management_url = management_url.rstrip("/")
        self._http: requests.Session | None = None
        self._cache = ExpiringCredentials(self._issue, clock=clock, margin=refresh_margin)

    def __repr__(self) -> str:
        return (
            f"AksCredentials(manager_id={self.manager_id!r}, subscription={self.subscription!r}, "
            f"resource_group={self.resource_group!r}, cluster={self.cluster!r}, "
            f"secret={self.secret.secret_id!r})"
        )

    def __call__(self, *, operation_id: str | None = None) -> ClusterCredentials:
        return self._cache.get()

    @property
    def credentials_url(self) -> str:
        return (
            f"{self.management_url}/subscriptions/{self.subscription}/resourceGroups/"
            f"{self.resource_group}/providers/Microsoft.ContainerService/managedClusters/"
            f"{self.cluster}/listClusterUserCredential?api-version={API_VERSION}"
        )

    def _issue(self) -> tuple[ClusterCredentials, datetime]:
        app = self._app()
        with self._credential(app) as credential:
            management, _ = self._access_token(credential, f"{self.management_url}/.default", app)
            server, certificate = self._describe(management, app)
            token, expires_on = self._access_token(credential, AKS_SCOPE, app)
        expires_at = datetime.fromtimestamp(expires_on, UTC)
        logger.info(
            "aks credentials issued",
            extra={
                "deployment_manager": self.manager_id,
                "subscription": self.subscription,
                "resource_group": self.resource_group,
                "cluster": self.cluster,
                "client_id": app["clientId"],
                "expires_at": expires_at.isoformat(),
            },
        )
        credentials = ClusterCredentials(
            server=server, certificate_authority_data=certificate, token=token
        )
        return credentials, expires_at

    def _app(self) -> dict[str, str]:
        """The app's tenant, client id and secret, by our names or the az CLI's."""
        document = self.secret.read(shape=SECRET_SHAPE, required=())
        named = {CLI_NAMES.get(k, k): v for k, v in document.items()}
        missing = [n for n in SECRET_FIELDS if not isinstance(named.get(n), str) or not named[n]]
        if missing:
            raise self._unavailable(
                f"secret {self.secret.secret_id} does not hold {SECRET_SHAPE}: it lacks "
                f"{', '.join(missing)}"
            )
        return {n: str(named[n]) for n in SECRET_FIELDS}

    def _credential(self, app: Mapping[str, str]) -> ClientSecretCredential:
        """Instance discovery is off: it would ask the public cloud's Entra ID to vouch for
        the authority, which is the stage's own setting (a sovereign cloud's, a test's)."""
        try:
            return ClientSecretCredential(
                app["tenantId"],
                app["clientId"],
                app["clientSecret"],
                authority=self.authority_host,
                disable_instance_discovery=True,
                **_TRANSPORT,
            )
        except ValueError as exc:  # a malformed tenant id or authority; no secret in either
            raise self._unavailable(
                f"secret {self.secret.secret_id} or the Entra ID authority is not usable ({exc})"
            ) from exc

    def _access_token(
        self, credential: ClientSecretCredential, scope: str, app: Mapping[str, str]
    ) -> tuple[str, int]:
        # AzureError: Entra ID refused or did not answer; ValueError and RuntimeError: msal's
        # discovery of the tenant's endpoints failed (an unknown tenant, a wrong authority).
        try:
            answer = credential.get_token(scope)
        except (AzureError, ValueError, RuntimeError) as exc:
            raise self._unavailable(
                f"Entra ID refused a token for {scope} to app {app['clientId']} of tenant "
                f"{app['tenantId']} ({_said(exc)}): the tenant, the app or its client secret "
                f"in secret {self.secret.secret_id} may be wrong, expired or deleted; put "
                "current ones in the secret"
            ) from exc
        return answer.token, int(answer.expires_on)

    def _describe(self, token: str, app: Mapping[str, str]) -> tuple[str, str]:
        try:
            answer = cloud_http.call(self._session(), "POST", self.credentials_url, token=token)
        except cloud_http.Unanswered as exc:
            raise self._unavailable(f"no answer from Azure Resource Manager ({exc})") from exc
        where = (
            f"cluster {self.cluster} in resource group {self.resource_group} of subscription "
            f"{self.subscription}"
        )
        if answer.status == 403:
            raise BackendForbidden(
                self._message(
                    f"app {app['clientId']} may not list the user credentials of {where} "
                    f"({answer.detail()}): grant it the Azure Kubernetes Service Cluster User "
                    "Role on the cluster"
                )
            )
        if answer.status == 404:
            raise self._unavailable(
                f"Azure has no {where} ({answer.detail()}): check the deployment manager's "
                "subscription, resourceGroup and clusterName"
            )
        if not answer.ok:
            raise self._unavailable(
                f"Azure Resource Manager refused to list the credentials of {where} "
                f"({answer.detail()})"
            )
        return self._cluster_entry(answer.body)

    def _cluster_entry(self, body: Mapping[str, Any]) -> tuple[str, str]:
        """The API server's URL and CA from the first kubeconfig AKS answered."""
        kubeconfigs = body.get("kubeconfigs")
        first = kubeconfigs[0] if isinstance(kubeconfigs, list) and kubeconfigs else {}
        value = first.get("value") if isinstance(first, dict) else None
        try:
            text = base64.b64decode(str(value or ""))
            server, certificate = server_and_ca(text.decode("utf-8"))
        except (binascii.Error, UnicodeDecodeError, ValueError):  # may quote it: not chained
            raise self._unavailable(
                f"Azure answered no kubeconfig with a cluster server and CA for {self.cluster}"
            ) from None
        return server, certificate

    def _session(self) -> requests.Session:
        if self._http is None:
            import requests

            self._http = requests.Session()
        return self._http

    def _message(self, what: str) -> str:
        return f"Cannot reach AKS cluster of deployment manager {self.manager_id}: {what}"

    def _unavailable(self, what: str) -> BackendUnavailable:
        return BackendUnavailable(self._message(what))


def server_and_ca(kubeconfig: str) -> tuple[str, str]:
    """The current context's cluster (else the first one): its server and CA data."""
    import yaml

    try:
        document = yaml.safe_load(kubeconfig)
    except yaml.YAMLError:
        raise ValueError("not YAML") from None
    if not isinstance(document, dict):
        raise ValueError("not a kubeconfig")
    clusters = {
        entry.get("name"): entry.get("cluster") or {}
        for entry in document.get("clusters") or []
        if isinstance(entry, dict)
    }
    contexts = {
        entry.get("name"): entry.get("context") or {}
        for entry in document.get("contexts") or []
        if isinstance(entry, dict)
    }
    current = contexts.get(document.get("current-context"), {}).get("cluster")
    cluster = clusters.get(current) or next(iter(clusters.values()), {})
    server, certificate = cluster.get("server"), cluster.get("certificate-authority-data")
    if not isinstance(server, str) or not isinstance(certificate, str) or not server:
        raise ValueError("no cluster with a server and CA")
    return server, certificate


def _said(exc: Exception) -> str:
    """azure-core's message (``message`` on its errors), else the exception's text."""
    message = getattr(exc, "message", None) or str(exc)
    return str(message).strip() or type(exc).__name__


def for_manager(
    manager: DeploymentManager, settings: Settings, env: Mapping[str, str]
) -> AksCredentials:
    """The provider for a registered ``aks`` deployment manager."""
    subscription, group = manager.subscription, manager.resource_group
    cluster, secret = manager.cluster_name, manager.credentials_secret
    if not (subscription and group and cluster and secret):
        raise InvalidRequest(
            f"Deployment manager {manager.id} lacks subscription, resourceGroup, clusterName "
            "or credentialsSecret"
        )
    endpoints = CloudEndpoints.from_env(env)
    return AksCredentials(
        manager_id=manager.id,
        subscription=subscription,
        resource_group=group,
        cluster=cluster,
        secret=CredentialsSecret(secret, manager_id=manager.id),
        authority_host=endpoints.azure_authority_host,
        management_url=endpoints.azure_management_url,
        refresh_margin=margin_for(settings.operation_timeout_seconds),
    )
