"""The local run's token issuer: HS256 JSON Web Tokens signed with a key made at start.

In AWS, API Gateway's authorizer (Cognito or IAM) checks credentials before the app runs.
``make run`` has no API Gateway, so the app checks bearer tokens itself, against the key
this module writes next to the run's state; ``make token ROLE=operator`` mints one with the
same key. Claims: ``iss`` (``o2dms-local``), ``sub`` (the actor), ``groups`` (the
``o2dms-*`` groups, as Cognito's ``cognito:groups``), ``iat`` and ``exp``.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import OctKey

ISSUER = "o2dms-local"
ALGORITHM = "HS256"
DEFAULT_TTL_SECONDS = 12 * 3600
KEY_BYTES = 32


class InvalidToken(ValueError):
    """A token this issuer did not sign, or no longer honours; the message says which."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    subject: str
    groups: tuple[str, ...]
    expires_at: int


def write_key(path: Path) -> bytes:
    """A new signing key, written to ``path`` readable by its owner only."""
    key = secrets.token_bytes(KEY_BYTES)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex())
    return key


def read_key(path: Path) -> bytes:
    return bytes.fromhex(path.read_text().strip())


def ensure_key(path: Path) -> bytes:
    """The key kept in ``path``, made there first if there is none."""
    try:
        return read_key(path)
    except FileNotFoundError:
        return write_key(path)


def mint(
    key: bytes,
    *,
    subject: str,
    groups: Sequence[str],
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    now: float | None = None,
) -> str:
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": ISSUER,
        "sub": subject,
        "groups": list(groups),
        "iat": issued,
        "exp": issued + ttl_seconds,
    }
    return jwt.encode({"alg": ALGORITHM}, claims, OctKey.import_key(key))


def _registry(now: float | None) -> jwt.JWTClaimsRegistry:
    return jwt.JWTClaimsRegistry(
        now=None if now is None else int(now),
        iss={"essential": True, "value": ISSUER},
        sub={"essential": True},
        exp={"essential": True},
    )


def verify(key: bytes, token: str, *, now: float | None = None) -> TokenClaims:
    """The claims of a token this issuer signed and that has not expired."""
    try:
        decoded = jwt.decode(token, OctKey.import_key(key), algorithms=[ALGORITHM])
        _registry(now).validate(decoded.claims)
    except ExpiredTokenError as exc:
        raise InvalidToken("The token has expired; get a new one (make token)") from exc
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidToken("The token is not one this API issued") from exc
    claims = decoded.claims
    subject, groups = claims.get("sub"), claims.get("groups", [])
    if not isinstance(subject, str) or not subject or not isinstance(groups, list):
        raise InvalidToken("The token is not one this API issued")
    return TokenClaims(subject, tuple(str(g) for g in groups), int(claims["exp"]))
