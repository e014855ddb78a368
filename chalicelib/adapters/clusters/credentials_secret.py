"""A cloud identity's credentials kept as JSON in AWS Secrets Manager: a Google
service-account key for a GKE cluster, an Entra ID app's client secret for an AKS one.

The secret is read each time a provider issues a new token (about hourly), so a rotated
key or secret is picked up without a restart. Its value leaves this module only as the
parsed fields a provider asked for: errors name the deployment manager, the secret and the
missing fields, never a value (a JSON parser's error keeps the text, so it is not chained).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.clusters.aws_errors import aws_detail
from chalicelib.domain.errors import BackendForbidden, BackendUnavailable

if TYPE_CHECKING:
    from boto3.session import Session

# Where the stack lets the functions read secrets (infra/permissions.py).
READABLE_PREFIX = "o2dms/"


def default_session() -> Session:
    import boto3  # only when a GKE or AKS cluster is first reached

    return boto3.Session()


class CredentialsSecret:
    """One Secrets Manager secret (name or ARN) that holds a JSON object."""

    def __init__(
        self,
        secret_id: str,
        *,
        manager_id: str,
        session_factory: Callable[[], Session] = default_session,
    ) -> None:
        self.secret_id = secret_id
        self.manager_id = manager_id
        self._session_factory = session_factory
        self._session: Session | None = None

    def __repr__(self) -> str:
        return f"CredentialsSecret(secret_id={self.secret_id!r}, manager_id={self.manager_id!r})"

    def read(self, *, shape: str, required: tuple[str, ...]) -> dict[str, Any]:
        """The secret's JSON object, once it has every ``required`` field (a non-empty
        string). ``shape`` says what the secret should hold, for the error."""
        document = self._document(shape)
        missing = [
            name
            for name in required
            if not isinstance(document.get(name), str) or not document[name].strip()
        ]
        if missing:
            raise BackendUnavailable(
                f"{self._where()} does not hold {shape}: it lacks {', '.join(missing)}"
            )
        return document

    def _document(self, shape: str) -> dict[str, Any]:
        text = self._text()
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise BackendUnavailable(
                f"{self._where()} does not hold {shape}: it is not a JSON object"
            )
        return document

    def _text(self) -> str:
        if self._session is None:
            self._session = self._session_factory()
        try:
            answer = self._session.client("secretsmanager").get_secret_value(
                SecretId=self.secret_id
            )
        except ClientError as exc:
            raise self._refused(exc) from exc
        except BotoCoreError as exc:
            raise BackendUnavailable(
                f"Deployment manager {self.manager_id}: cannot read secret {self.secret_id} "
                f"from Secrets Manager ({aws_detail(exc)})"
            ) from exc
        if "SecretString" in answer:
            return str(answer["SecretString"])
        try:
            return bytes(answer["SecretBinary"]).decode("utf-8")
        except UnicodeDecodeError:
            raise BackendUnavailable(f"{self._where()} is binary, not JSON text") from None

    def _refused(self, exc: ClientError) -> BackendUnavailable:
        code = exc.response.get("Error", {}).get("Code", "")
        detail = aws_detail(exc)
        prefix = f"Deployment manager {self.manager_id}: "
        if code == "ResourceNotFoundException":
            return BackendUnavailable(
                f"{prefix}Secrets Manager has no secret {self.secret_id} ({detail}): create it, "
                "or register the deployment manager again with the right credentialsSecret"
            )
        if code == "AccessDeniedException":
            return BackendForbidden(
                f"{prefix}the function may not read secret {self.secret_id} ({detail}): keep "
                f"it under {READABLE_PREFIX}, where the stack grants secretsmanager:GetSecretValue"
            )
        return BackendUnavailable(f"{prefix}cannot read secret {self.secret_id} ({detail})")

    def _where(self) -> str:
        return f"Deployment manager {self.manager_id}: secret {self.secret_id}"
