"""Credentials for a cluster registered by kubeconfig (any conformant Kubernetes cluster).

In production the kubeconfig is a secret kept encrypted in SSM Parameter Store or Secrets
Manager; a local file is accepted only where the stage allows it (the local run, tests).
The text is checked to be a kubeconfig with the wanted context before anyone uses it, and
kept for a few minutes so a burst of calls does not read the secret every time. The text
never appears in a message or a log: parser errors can quote it, so they are not repeated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.clusters.aws_errors import aws_detail
from chalicelib.domain.errors import BackendUnavailable, InvalidRequest
from chalicelib.domain.ports import ClusterCredentials

if TYPE_CHECKING:
    from collections.abc import Callable

    from boto3.session import Session

    from chalicelib.domain.ports import Clock

logger = logging.getLogger(__name__)

DEFAULT_CACHE_SECONDS = 300.0


class SourceKind(StrEnum):
    SSM = "ssm"
    SECRETS_MANAGER = "secretsmanager"
    FILE = "file"


@dataclass(frozen=True, slots=True)
class KubeconfigSource:
    kind: SourceKind
    name: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.name}"


def parse_source(source: str, *, allow_local_files: bool) -> KubeconfigSource:
    """``ssm:NAME``, ``secretsmanager:ARN-or-name`` or ``file:PATH`` (only when allowed)."""
    scheme, _, name = source.partition(":")
    kinds = {kind.value: kind for kind in SourceKind}
    if scheme not in kinds or not name:
        raise InvalidRequest(
            f"Kubeconfig source {source!r} must be ssm:NAME, secretsmanager:NAME or file:PATH"
        )
    kind = kinds[scheme]
    if kind is SourceKind.FILE and not allow_local_files:
        raise InvalidRequest(
            "Local kubeconfig files are not allowed on this stage: keep the kubeconfig "
            "encrypted in SSM Parameter Store (ssm:NAME) or Secrets Manager (secretsmanager:NAME)"
        )
    return KubeconfigSource(kind, name)


def check_kubeconfig(text: str, *, context: str | None, source: KubeconfigSource) -> str:
    """The context to use, once ``text`` is known to be a kubeconfig that has it."""
    document = _parse(text, source)
    chosen = context or document.get("current-context")
    if not isinstance(chosen, str) or not chosen:
        raise InvalidRequest(
            f"The kubeconfig from {source} has no current-context: name the context to use"
        )
    contexts = _named(document, "contexts", source)
    if chosen not in contexts:
        known = ", ".join(sorted(contexts)) or "none"
        raise InvalidRequest(
            f"Context {chosen!r} is not in the kubeconfig from {source} (it has: {known})"
        )
    cluster = contexts[chosen].get("cluster")
    if cluster not in _named(document, "clusters", source):
        raise InvalidRequest(
            f"Context {chosen!r} in the kubeconfig from {source} names cluster {cluster!r}, "
            "which the kubeconfig does not define"
        )
    return chosen


def _parse(text: str, source: KubeconfigSource) -> dict[str, Any]:
    import yaml  # JSON is YAML too

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:  # its message quotes the text: keep that out
        raise InvalidRequest(
            f"The text from {source} is not a kubeconfig: it is neither YAML nor JSON"
        ) from exc
    if not isinstance(document, dict) or not isinstance(document.get("clusters"), list):
        raise InvalidRequest(f"The text from {source} is not a kubeconfig: it has no clusters")
    return document


def _named(document: dict[str, Any], section: str, source: KubeconfigSource) -> dict[str, Any]:
    """``contexts`` or ``clusters`` by name, each entry's body (``context``/``cluster``)."""
    entries = document.get(section) or []
    body_key = section[:-1]
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise InvalidRequest(f"The kubeconfig from {source} has a malformed {section} list")
    return {
        str(entry.get("name")): entry.get(body_key) or {}
        for entry in entries
        if entry.get("name") is not None
    }


def utc_now() -> datetime:
    return datetime.now(UTC)


def default_session() -> Session:
    import boto3  # only when a kubeconfig is first read from AWS

    return boto3.Session()


@dataclass(frozen=True, slots=True)
class _Cached:
    credentials: ClusterCredentials
    until: datetime


class KubeconfigCredentials:
    """A ``CredentialsProvider`` for a cluster whose kubeconfig is kept as a secret."""

    def __init__(
        self,
        source: str,
        *,
        context: str | None = None,
        allow_local_files: bool = False,
        session_factory: Callable[[], Session] = default_session,
        clock: Clock = utc_now,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
    ) -> None:
        self.source = parse_source(source, allow_local_files=allow_local_files)
        self.context = context
        self._session_factory = session_factory
        self._session: Session | None = None
        self._clock = clock
        self._ttl = timedelta(seconds=cache_seconds)
        self._cached: _Cached | None = None

    def __repr__(self) -> str:
        return f"KubeconfigCredentials(source={str(self.source)!r}, context={self.context!r})"

    def __call__(self, *, operation_id: str | None = None) -> ClusterCredentials:
        now = self._clock()
        if self._cached is None or now >= self._cached.until:
            text = self._read()
            chosen = check_kubeconfig(text, context=self.context, source=self.source)
            credentials = ClusterCredentials(kubeconfig=text, context=chosen)
            self._cached = _Cached(credentials, now + self._ttl)
            logger.info(
                "kubeconfig read",
                extra={"source": str(self.source), "context": chosen, "operation": operation_id},
            )
        return self._cached.credentials

    def _read(self) -> str:
        readers = {
            SourceKind.SSM: self._read_parameter,
            SourceKind.SECRETS_MANAGER: self._read_secret,
            SourceKind.FILE: self._read_file,
        }
        try:
            return readers[self.source.kind]()
        except (ClientError, BotoCoreError) as exc:
            raise self._unreadable(aws_detail(exc)) from exc

    def _read_parameter(self) -> str:
        ssm = self._aws().client("ssm")
        answer = ssm.get_parameter(Name=self.source.name, WithDecryption=True)
        return str(answer["Parameter"]["Value"])

    def _read_secret(self) -> str:
        secrets = self._aws().client("secretsmanager")
        answer = secrets.get_secret_value(SecretId=self.source.name)
        if "SecretString" in answer:
            return str(answer["SecretString"])
        return self._decoded(answer["SecretBinary"])

    def _read_file(self) -> str:
        try:
            return self._decoded(Path(self.source.name).expanduser().read_bytes())
        except OSError as exc:
            raise self._unreadable(exc.strerror or type(exc).__name__) from exc

    def _decoded(self, raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRequest(f"The kubeconfig from {self.source} is not UTF-8 text") from exc

    def _aws(self) -> Session:
        if self._session is None:
            self._session = self._session_factory()
        return self._session

    def _unreadable(self, detail: str) -> BackendUnavailable:
        return BackendUnavailable(f"Cannot read the kubeconfig from {self.source} ({detail})")
