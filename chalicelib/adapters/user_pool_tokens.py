"""Checks a Cognito user pool ID token where API Gateway does not: on a WebSocket API.

The REST API's Cognito authorizer checks tokens before the app runs. A WebSocket API offers
only IAM or a Lambda authorizer, so the connect handler checks the same ID tokens itself:
RS256 signature against the pool's published keys (``<issuer>/.well-known/jwks.json``,
fetched once per process and again when a token names a key not seen yet, at most once a
minute), issuer, audience (the app client), ``token_use`` = ``id`` and expiry.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from chalicelib.domain.errors import Unauthenticated

REFETCH_SECONDS = 60.0
FETCH_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class PoolClaims:
    username: str
    groups: tuple[str, ...]


class UserPoolTokens:
    def __init__(self, issuer: str, client_id: str, *, jwks_url: str | None = None) -> None:
        self._issuer = issuer.rstrip("/")
        self._client_id = client_id
        self._jwks_url = jwks_url or f"{self._issuer}/.well-known/jwks.json"
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def _key_set(self, kid: str | None) -> KeySet:
        with self._lock:
            known = self._keys is not None and (
                kid is None or any(k.kid == kid for k in self._keys.keys)
            )
            stale = time.monotonic() - self._fetched_at > REFETCH_SECONDS
            if self._keys is None or (not known and stale):
                try:
                    with urllib.request.urlopen(
                        self._jwks_url, timeout=FETCH_TIMEOUT_SECONDS
                    ) as answer:
                        self._keys = KeySet.import_key_set(json.loads(answer.read()))
                except (OSError, ValueError) as exc:
                    raise Unauthenticated(
                        "The user pool's signing keys cannot be read right now; try again"
                    ) from exc
                self._fetched_at = time.monotonic()
            return self._keys

    def check(self, token: str, *, now: float | None = None) -> PoolClaims:
        try:
            header = extract_compact(token.encode()).headers()
            keys = self._key_set(header.get("kid"))
            decoded = jwt.decode(token, keys, algorithms=["RS256"])
            registry = jwt.JWTClaimsRegistry(
                now=None if now is None else int(now),
                iss={"essential": True, "value": self._issuer},
                aud={"essential": True, "value": self._client_id},
                token_use={"essential": True, "value": "id"},
                exp={"essential": True},
            )
            registry.validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise Unauthenticated(
                f"The token is not a valid ID token of this service: {exc}"
            ) from exc
        claims = decoded.claims
        username = claims.get("cognito:username") or claims.get("sub")
        if not username:
            raise Unauthenticated("The token names no user")
        groups = claims.get("cognito:groups") or []
        return PoolClaims(str(username), tuple(str(g) for g in groups))
