"""The WebSocket connect handler's check of Cognito ID tokens (API Gateway checks none on a
WebSocket API): signatures against the pool's published keys, issuer, audience, use, expiry;
and the caller it makes of a good token."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from chalicelib.adapters import user_pool_tokens
from chalicelib.adapters.user_pool_tokens import UserPoolTokens
from chalicelib.api import live
from chalicelib.config import Settings
from chalicelib.domain.access import Grant, Role
from chalicelib.domain.errors import Unauthenticated

ISSUER = "https://cognito-idp.eu-west-3.amazonaws.com/eu-west-3_Example"
CLIENT = "client-123"


class Pool:
    """A user pool of our own: its keys published at a file URL, tokens signed with them."""

    def __init__(self, folder: Path) -> None:
        self.jwks = folder / "jwks.json"
        self.keys: list[RSAKey] = []
        self.rotate()

    def rotate(self) -> RSAKey:
        key = RSAKey.generate_key(2048, parameters={"kid": f"k{len(self.keys)}"}, private=True)
        self.keys.append(key)
        published = KeySet(list(self.keys)).as_dict(private=False)
        self.jwks.write_text(json.dumps(published))
        return key

    def token(self, key: RSAKey | None = None, **claims: Any) -> str:
        signer = key or self.keys[-1]
        now = int(time.time())
        body = {
            "iss": ISSUER,
            "aud": CLIENT,
            "token_use": "id",
            "sub": "0000-1111",
            "cognito:username": "alice",
            "cognito:groups": ["o2dms-operator", "o2dms-viewer:staging"],
            "iat": now,
            "exp": now + 600,
            **claims,
        }
        return jwt.encode({"alg": "RS256", "kid": signer.kid}, body, signer)

    def tokens(self) -> UserPoolTokens:
        return UserPoolTokens(ISSUER, CLIENT, jwks_url=self.jwks.as_uri())


@pytest.fixture
def pool(tmp_path: Path) -> Pool:
    return Pool(tmp_path)


def test_a_good_id_token_names_its_user_and_groups(pool: Pool) -> None:
    claims = pool.tokens().check(pool.token())
    assert claims.username == "alice"
    assert claims.groups == ("o2dms-operator", "o2dms-viewer:staging")


@pytest.mark.parametrize(
    ("claims", "words"),
    [
        ({"exp": int(time.time()) - 10}, "exp"),
        ({"aud": "another-client"}, "aud"),
        ({"iss": "https://cognito-idp.eu-west-3.amazonaws.com/other"}, "iss"),
        ({"token_use": "access"}, "token_use"),
    ],
)
def test_a_token_for_something_else_is_refused(
    pool: Pool, claims: dict[str, Any], words: str
) -> None:
    with pytest.raises(Unauthenticated, match=words):
        pool.tokens().check(pool.token(**claims))


def test_a_token_signed_by_another_key_is_refused(pool: Pool, tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    stranger = Pool(tmp_path / "other")
    forged = stranger.token()
    with pytest.raises(Unauthenticated, match="not a valid ID token"):
        pool.tokens().check(forged)
    with pytest.raises(Unauthenticated):
        pool.tokens().check("not-a-token")


def test_rotated_keys_are_fetched_again(pool: Pool, monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = pool.tokens()
    assert tokens.check(pool.token()).username == "alice"
    newer = pool.rotate()
    # Within a minute of the last fetch, an unknown key is not worth a fetch.
    with pytest.raises(Unauthenticated):
        tokens.check(pool.token(newer))
    monkeypatch.setattr(user_pool_tokens, "REFETCH_SECONDS", 0.0)
    assert tokens.check(pool.token(newer)).username == "alice"


def test_unreadable_keys_are_a_clear_refusal(tmp_path: Path) -> None:
    missing = UserPoolTokens(ISSUER, CLIENT, jwks_url=(tmp_path / "none.json").as_uri())
    with pytest.raises(Unauthenticated, match="signing keys cannot be read"):
        missing.check(Pool(tmp_path).token())


def test_the_connect_handler_takes_the_pool_token_from_a_header_or_a_subprotocol(
    pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = dataclasses.replace(
        Settings(), auth_mode="gateway", user_pool_issuer=ISSUER, user_pool_client_id=CLIENT
    )
    monkeypatch.setattr(live, "_pool", pool.tokens())
    token = pool.token()
    caller, protocol = live.ws_caller({"Authorization": f"Bearer {token}"}, settings)
    assert caller.actor == "alice"
    assert caller.grants == (Grant(Role.OPERATOR), Grant(Role.VIEWER, "staging"))
    assert protocol is None
    caller, protocol = live.ws_caller(
        {"Sec-WebSocket-Protocol": f"o2dms, bearer.{token}"}, settings
    )
    assert (caller.actor, protocol) == ("alice", "o2dms")
    with pytest.raises(Unauthenticated, match="No credentials"):
        live.ws_caller({}, settings)
    unset = dataclasses.replace(settings, user_pool_issuer=None)
    with pytest.raises(Unauthenticated, match="not configured"):
        live.ws_caller({"Authorization": f"Bearer {token}"}, unset)
