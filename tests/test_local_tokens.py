"""The local run's token issuer: what it signs it accepts, until the token expires; nothing
else passes (another key, another issuer, no signature, a changed claim)."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from chalicelib.adapters import local_tokens
from chalicelib.adapters.local_tokens import InvalidToken

KEY = bytes(range(32))
NOW = 1_800_000_000.0


def _claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _with_claims(token: str, **changes: object) -> str:
    header, _, signature = token.split(".")
    body = {**_claims(token), **changes}
    encoded = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    return f"{header}.{encoded}.{signature}"


def test_a_minted_token_verifies_with_its_subject_groups_and_expiry() -> None:
    token = local_tokens.mint(
        KEY, subject="alice", groups=["o2dms-operator:production"], ttl_seconds=60, now=NOW
    )

    claims = local_tokens.verify(KEY, token, now=NOW + 59)

    assert (claims.subject, claims.groups, claims.expires_at) == (
        "alice",
        ("o2dms-operator:production",),
        int(NOW) + 60,
    )
    assert _claims(token)["iss"] == local_tokens.ISSUER


def test_an_expired_token_is_refused_saying_so() -> None:
    token = local_tokens.mint(KEY, subject="alice", groups=[], ttl_seconds=60, now=NOW)

    with pytest.raises(InvalidToken, match="expired"):
        local_tokens.verify(KEY, token, now=NOW + 61)


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(
            lambda t: local_tokens.mint(b"x" * 32, subject="a", groups=[]), id="other-key"
        ),
        pytest.param(lambda t: _with_claims(t, groups=["o2dms-admin"]), id="changed-groups"),
        pytest.param(lambda t: _with_claims(t, sub="root"), id="changed-subject"),
        pytest.param(lambda t: t.rsplit(".", 1)[0] + ".", id="no-signature"),
        pytest.param(
            lambda t: (
                base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
                + "."
                + t.split(".")[1]
                + "."
            ),
            id="alg-none",
        ),
        pytest.param(lambda t: "not-a-token", id="garbage"),
    ],
)
def test_a_token_this_issuer_did_not_sign_as_it_is_is_refused(forge: object) -> None:
    token = local_tokens.mint(KEY, subject="alice", groups=["o2dms-viewer"], now=NOW)
    forged = forge(token)  # type: ignore[operator]

    with pytest.raises(InvalidToken, match="not one this API issued"):
        local_tokens.verify(KEY, forged, now=NOW + 1)


def test_another_issuer_is_refused() -> None:
    token = local_tokens.mint(KEY, subject="alice", groups=[], now=NOW)
    header, body, _ = _with_claims(token, iss="someone-else").split(".")
    from joserfc import jwt
    from joserfc.jwk import OctKey

    resigned = jwt.encode({"alg": "HS256"}, _claims(f"{header}.{body}.x"), OctKey.import_key(KEY))

    with pytest.raises(InvalidToken):
        local_tokens.verify(KEY, resigned, now=NOW + 1)


def test_the_key_file_is_made_once_and_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "state" / "auth-signing.key"

    made = local_tokens.ensure_key(path)

    assert local_tokens.ensure_key(path) == made == local_tokens.read_key(path)
    assert len(made) == local_tokens.KEY_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
