"""Credentials for a GKE cluster, from a Google service-account key kept in Secrets Manager.

GKE's API server accepts a Google OAuth2 access token: what ``gke-gcloud-auth-plugin``
hands kubectl. Lambda has neither gcloud nor exec plugins, so the function makes the token
itself: it reads the key (the JSON key file) from Secrets Manager, signs a JWT-bearer grant
with it and exchanges that at the key's ``token_uri`` (google-auth does both), then reads
the cluster's endpoint and CA from the GKE API with the same token. The credentials are
reused until shortly before the token expires; the next call issues new ones, reading the
secret again so a rotated key is picked up.

This module is imported only when a GKE cluster is used: google-auth stays off every other
path. Google's refusals become ``BackendUnavailable`` (``BackendForbidden`` for a missing
permission) naming the deployment manager and what to fix; no key or token is ever logged,
shown in a message or in ``repr``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, cast

from google.auth import exceptions as google_errors
from google.auth import transport
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from chalicelib.adapters.clusters import cloud_http
from chalicelib.adapters.clusters.cloud_endpoints import GKE_API_URL, CloudEndpoints
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

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
KEY_SHAPE = "a Google service-account key (the JSON key file of a service account)"
KEY_FIELDS = ("client_email", "private_key", "token_uri")


class _Key(Protocol):
    """The part of google-auth's (untyped) service-account credentials used here."""

    token: str | None
    expiry: datetime | None  # naive, in UTC

    def refresh(self, request: transport.Request) -> None: ...


_from_key_file = cast("Callable[..., _Key]", service_account.Credentials.from_service_account_info)


def utc_now() -> datetime:
    return datetime.now(UTC)


class _Bounded(transport.Request):
    """google-auth's requests transport with our timeout: its own default is 120 s, and
    the token exchange passes none."""

    def __init__(self, inner: transport.Request) -> None:
        self._inner = inner

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: Any = None,
        **kwargs: Any,
    ) -> Any:
        return self._inner(
            url, method=method, body=body, headers=headers, timeout=cloud_http.TIMEOUT, **kwargs
        )


class GkeCredentials:
    """A ``CredentialsProvider`` for one GKE cluster."""

    def __init__(
        self,
        *,
        manager_id: str,
        project: str,
        location: str,
        cluster: str,
        secret: CredentialsSecret,
        api_url: str = GKE_API_URL,
        clock: Clock = utc_now,
        refresh_margin: timedelta = SHORTEST_MARGIN,
    ) -> None:
        self.manager_id = manager_id
        self.project = project
        self.location = location
        self.cluster = cluster
        self.secret = secret
        self.api_url = api_url.rstrip("/")
        self._http: requests.Session | None = None
        self._cache = ExpiringCredentials(self._issue, clock=clock, margin=refresh_margin)

    def __repr__(self) -> str:
        return (
            f"GkeCredentials(manager_id={self.manager_id!r}, project={self.project!r}, "
            f"location={self.location!r}, cluster={self.cluster!r}, "
            f"secret={self.secret.secret_id!r})"
        )

    def __call__(self, *, operation_id: str | None = None) -> ClusterCredentials:
        return self._cache.get()

    @property
    def cluster_url(self) -> str:
        return (
            f"{self.api_url}/v1/projects/{self.project}/locations/{self.location}"
            f"/clusters/{self.cluster}"
        )

    def _issue(self) -> tuple[ClusterCredentials, datetime]:
        info = self.secret.read(shape=KEY_SHAPE, required=KEY_FIELDS)
        key = self._key(info)
        email, token_uri = str(info["client_email"]), str(info["token_uri"])
        token, expires_at = self._token(key, email, token_uri)
        server, certificate = self._describe(token, email)
        logger.info(
            "gke credentials issued",
            extra={
                "deployment_manager": self.manager_id,
                "cluster": self.cluster_url.removeprefix(self.api_url),
                "service_account": email,
                "expires_at": expires_at.isoformat(),
            },
        )
        credentials = ClusterCredentials(
            server=server, certificate_authority_data=certificate, token=token
        )
        return credentials, expires_at

    def _key(self, info: dict[str, Any]) -> _Key:
        if info.get("type", "service_account") != "service_account":
            raise self._unavailable(
                f"secret {self.secret.secret_id} holds a {info['type']!r} credential, not "
                f"{KEY_SHAPE}"
            )
        try:
            return _from_key_file(info, scopes=list(SCOPES))
        except ValueError:  # its message may quote the key: not repeated, not chained
            raise self._unavailable(
                f"the private key in secret {self.secret.secret_id} is not a readable PEM "
                f"RSA key: put the service account's JSON key file in the secret"
            ) from None

    def _token(self, key: _Key, email: str, token_uri: str) -> tuple[str, datetime]:
        try:
            key.refresh(_Bounded(Request(session=self._session())))
        except google_errors.RefreshError as exc:
            raise self._unavailable(
                f"Google refused service account {email}'s key from secret "
                f"{self.secret.secret_id} ({_said(exc)}): the key may be deleted, disabled or "
                "expired; put a current key of the service account in the secret"
            ) from exc
        except google_errors.TransportError as exc:
            raise self._unavailable(
                f"no answer from Google's token endpoint {token_uri} ({_said(exc)})"
            ) from exc
        if not key.token or not isinstance(key.expiry, datetime):
            raise self._unavailable(f"Google's token endpoint {token_uri} gave no token")
        return str(key.token), key.expiry.replace(tzinfo=UTC)  # google-auth: naive UTC

    def _describe(self, token: str, email: str) -> tuple[str, str]:
        try:
            answer = cloud_http.call(self._session(), "GET", self.cluster_url, token=token)
        except cloud_http.Unanswered as exc:
            raise self._unavailable(f"no answer from the GKE API ({exc})") from exc
        if answer.status == 403:
            raise BackendForbidden(
                self._message(
                    f"service account {email} may not read cluster {self.cluster} in project "
                    f"{self.project} ({answer.detail()}): grant it container.clusters.get, e.g. "
                    "the Kubernetes Engine Cluster Viewer role"
                )
            )
        if answer.status == 404:
            raise self._unavailable(
                f"the GKE API has no cluster {self.cluster} in project {self.project}, location "
                f"{self.location} ({answer.detail()}): check the deployment manager's project, "
                "location and clusterName"
            )
        if not answer.ok:
            raise self._unavailable(
                f"the GKE API refused to describe the cluster ({answer.detail()})"
            )
        endpoint = answer.body.get("endpoint")
        certificate = (answer.body.get("masterAuth") or {}).get("clusterCaCertificate")
        if not endpoint or not certificate:
            raise self._unavailable(
                f"GKE cluster {self.cluster} has no API endpoint yet (status "
                f"{answer.body.get('status', 'unknown')})"
            )
        return f"https://{endpoint}", str(certificate)

    def _session(self) -> requests.Session:
        if self._http is None:
            import requests

            self._http = requests.Session()
        return self._http

    def _message(self, what: str) -> str:
        return f"Cannot reach GKE cluster of deployment manager {self.manager_id}: {what}"

    def _unavailable(self, what: str) -> BackendUnavailable:
        return BackendUnavailable(self._message(what))


def _said(exc: google_errors.GoogleAuthError) -> str:
    """What the token endpoint answered (its ``error: description``), or the transport's
    error: google-auth's message, without the response it attaches."""
    first = exc.args[0] if exc.args else None
    return str(first) if first else type(exc).__name__


def for_manager(
    manager: DeploymentManager, settings: Settings, env: Mapping[str, str]
) -> GkeCredentials:
    """The provider for a registered ``gke`` deployment manager."""
    project, location = manager.project, manager.location
    cluster, secret = manager.cluster_name, manager.credentials_secret
    if not (project and location and cluster and secret):
        raise InvalidRequest(
            f"Deployment manager {manager.id} lacks project, location, clusterName or "
            "credentialsSecret"
        )
    return GkeCredentials(
        manager_id=manager.id,
        project=project,
        location=location,
        cluster=cluster,
        secret=CredentialsSecret(secret, manager_id=manager.id),
        api_url=CloudEndpoints.from_env(env).gke_api_url,
        refresh_margin=margin_for(settings.operation_timeout_seconds),
    )
