"""Credentials for an EKS cluster, the way the EKS API server wants them.

EKS authenticates a caller by a bearer token that is nothing but a presigned STS
``GetCallerIdentity`` URL: the API server calls that URL and learns who signed it. This is
what ``aws eks get-token`` prints, built here with botocore's own request signer so that
helm and the Kubernetes client need neither the AWS CLI nor an exec plugin in Lambda.

Steps: assume the cluster's IAM role (the session name carries the operation id, so
CloudTrail ties every change on the cluster to one O2 operation), read the endpoint and CA
with ``DescribeCluster``, sign the token. The result is cached until shortly before the
token or the assumed role expires. AWS errors become ``BackendUnavailable`` here.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.clusters.aws_errors import aws_detail
from chalicelib.domain.errors import BackendUnavailable
from chalicelib.domain.ports import ClusterCredentials

if TYPE_CHECKING:
    from boto3.session import Session
    from mypy_boto3_eks import EKSClient
    from mypy_boto3_sts import STSClient

    from chalicelib.domain.ports import Clock

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
PRESIGNED_URL_SECONDS = 60
TOKEN_LIFETIME = timedelta(minutes=14)  # EKS accepts a token for 15 minutes after signing
ROLE_SECONDS = 900  # the shortest AssumeRole allows: we re-assume well before it ends
SESSION_PREFIX = "o2dms"
SESSION_NAME_MAX = 64
_NOT_IN_SESSION_NAME = re.compile(r"[^\w+=,.@-]", re.ASCII)
# a botocore Config option its type stubs do not know yet
_IGNORE_ENDPOINT_OVERRIDES: dict[str, Any] = {"ignore_configured_endpoint_urls": True}


class SessionFactory(Protocol):
    """Builds a boto3 session: with no keys, the function's own credentials."""

    def __call__(
        self,
        *,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        region_name: str | None = None,
    ) -> Session: ...


def default_session(
    *,
    aws_access_key_id: str | None = None,
    aws_secret_access_key: str | None = None,
    aws_session_token: str | None = None,
    region_name: str | None = None,
) -> Session:
    import boto3  # only when the first credentials are asked for

    return boto3.Session(
        aws_access_key_id=aws_access_key_id,
        aws_secret_access_key=aws_secret_access_key,
        aws_session_token=aws_session_token,
        region_name=region_name,
    )


def utc_now() -> datetime:
    return datetime.now(UTC)


def session_name(operation_id: str | None) -> str:
    """An AssumeRole session name naming the operation, within STS's rules."""
    if not operation_id:
        return SESSION_PREFIX
    cleaned = _NOT_IN_SESSION_NAME.sub("-", operation_id)
    return f"{SESSION_PREFIX}-{cleaned}"[:SESSION_NAME_MAX]


def refresh_point(
    *, issued_at: datetime, role_expires_at: datetime | None, margin: timedelta
) -> datetime:
    """When cached credentials stop being handed out: before the token or the role ends."""
    ends = issued_at + TOKEN_LIFETIME
    if role_expires_at is not None:
        ends = min(ends, role_expires_at)
    return ends - margin


def encode_token(presigned_url: str) -> str:
    encoded = base64.urlsafe_b64encode(presigned_url.encode("utf-8")).decode("ascii")
    return TOKEN_PREFIX + encoded.rstrip("=")


def presign_token(sts: STSClient, cluster_name: str) -> str:
    """Sign ``GetCallerIdentity`` as a GET URL with the cluster id among the signed headers.

    The header is added by a ``before-sign`` hook: botocore emits it after building the
    request and before SigV4 computes ``X-Amz-SignedHeaders``, so the header is signed.
    """

    def add_cluster_id(request: Any, **_: Any) -> None:
        request.headers[CLUSTER_ID_HEADER] = cluster_name

    sts.meta.events.register(
        "before-sign.sts.GetCallerIdentity", add_cluster_id, unique_id="o2dms-eks-cluster-id"
    )
    url = sts.generate_presigned_url(
        "get_caller_identity", ExpiresIn=PRESIGNED_URL_SECONDS, HttpMethod="GET"
    )
    return encode_token(url)


def assume_role(
    own: Session, *, role_arn: str, region: str, name: str, session_factory: SessionFactory
) -> tuple[Session, datetime]:
    """A session acting as ``role_arn`` (session ``name``, for CloudTrail) in ``region``, and
    when its credentials end. AWS's errors are the caller's to translate."""
    answer = own.client("sts", region_name=region).assume_role(
        RoleArn=role_arn, RoleSessionName=name, DurationSeconds=ROLE_SECONDS
    )
    keys = answer["Credentials"]
    assumed = session_factory(
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys["SessionToken"],
        region_name=region,
    )
    return assumed, keys["Expiration"]


@dataclass(frozen=True, slots=True)
class _Cached:
    credentials: ClusterCredentials
    refresh_at: datetime
    session_name: str | None


class EksCredentials:
    """A ``CredentialsProvider`` for one EKS cluster."""

    def __init__(
        self,
        *,
        cluster_name: str,
        region: str,
        role_arn: str | None,
        session_factory: SessionFactory = default_session,
        clock: Clock = utc_now,
        refresh_margin_seconds: float = 60,
    ) -> None:
        self.cluster_name = cluster_name
        self.region = region
        self.role_arn = role_arn
        self._session_factory = session_factory
        self._clock = clock
        self._margin = timedelta(seconds=refresh_margin_seconds)
        self._own_session: Session | None = None
        self._cached: _Cached | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"EksCredentials(cluster_name={self.cluster_name!r}, region={self.region!r}, "
            f"role_arn={self.role_arn!r})"
        )

    def __call__(self, *, operation_id: str | None = None) -> ClusterCredentials:
        with self._lock:
            now = self._clock()
            cached = self._cached
            if cached is None or not self._usable(cached, now, operation_id):
                cached = self._cached = self._issue(now, session_name(operation_id))
            return cached.credentials

    def _usable(self, cached: _Cached, now: datetime, operation_id: str | None) -> bool:
        """A cached token serves reads and the operation it was assumed for; a different
        operation assumes the role again, so CloudTrail names the operation that acted."""
        if now >= cached.refresh_at:
            return False
        if operation_id is None or self.role_arn is None:
            return True
        return session_name(operation_id) == cached.session_name

    def _issue(self, now: datetime, name: str) -> _Cached:
        session, role_expires_at = self._session(name)
        server, certificate = self._describe(session)
        with self._translated("sign the STS token"):
            token = presign_token(self._sts(session, presign=True), self.cluster_name)
        refresh_at = refresh_point(
            issued_at=now, role_expires_at=role_expires_at, margin=self._margin
        )
        logger.info(
            "eks credentials issued",
            extra={
                "cluster": self.cluster_name,
                "region": self.region,
                "role_arn": self.role_arn,
                "session_name": name if self.role_arn else None,
                "refresh_at": refresh_at.isoformat(),
            },
        )
        credentials = ClusterCredentials(
            server=server, certificate_authority_data=certificate, token=token
        )
        return _Cached(credentials, refresh_at, name if self.role_arn else None)

    def _session(self, name: str) -> tuple[Session, datetime | None]:
        """The session to act with, and when its credentials end (None: not ours to know)."""
        if self._own_session is None:
            self._own_session = self._session_factory(region_name=self.region)
        if self.role_arn is None:
            return self._own_session, None
        with self._translated("assume the cluster role"):
            return assume_role(
                self._own_session,
                role_arn=self.role_arn,
                region=self.region,
                name=name,
                session_factory=self._session_factory,
            )

    def _describe(self, session: Session) -> tuple[str, str]:
        with self._translated("describe the cluster"):
            cluster = self._eks(session).describe_cluster(name=self.cluster_name)["cluster"]
        server = cluster.get("endpoint")
        certificate = cluster.get("certificateAuthority", {}).get("data")
        if not server or not certificate:
            raise BackendUnavailable(
                f"EKS cluster {self.cluster_name} in {self.region} has no API endpoint yet "
                f"(status {cluster.get('status', 'unknown')})"
            )
        return server, certificate

    def _eks(self, session: Session) -> EKSClient:
        return session.client("eks", region_name=self.region)

    def _sts(self, session: Session, *, presign: bool = False) -> STSClient:
        """An STS client in the cluster's region. The presigning one ignores endpoint
        overrides (a local emulator): the token must name the real regional STS, which the
        EKS API server calls to check it."""
        from botocore.config import Config

        config = Config(**_IGNORE_ENDPOINT_OVERRIDES) if presign else None
        return session.client("sts", region_name=self.region, config=config)

    @contextmanager
    def _translated(self, step: str) -> Iterator[None]:
        try:
            yield
        except (ClientError, BotoCoreError) as exc:
            raise BackendUnavailable(self._failure(step, aws_detail(exc))) from exc

    def _failure(self, step: str, detail: str) -> str:
        acting_as = f"role {self.role_arn}" if self.role_arn else "the function's own credentials"
        return (
            f"Cannot reach EKS cluster {self.cluster_name} in {self.region}: "
            f"could not {step} as {acting_as} ({detail})"
        )


def is_eks_region(region: str) -> bool:
    """Whether botocore knows ``region`` as one where EKS runs, in any partition (a region
    it does not know has no endpoint to call: better refused when the cluster is
    registered than unreachable at every deployment)."""
    import botocore.session

    session = botocore.session.get_session()
    return any(
        region in session.get_available_regions("eks", partition_name=partition)
        for partition in session.get_available_partitions()
    )
