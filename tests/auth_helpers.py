"""Credentials for tests: tokens from the local issuer with a fixed key, and a Chalice test
client that sends one unless a test sets its own ``Authorization`` header."""

from __future__ import annotations

import dataclasses
from typing import Any

from chalicelib.adapters import local_tokens
from chalicelib.config import Settings

KEY_HEX = "5e" * 32
KEY = bytes.fromhex(KEY_HEX)
GROUP = {"viewer": "o2dms-viewer", "operator": "o2dms-operator", "admin": "o2dms-admin"}


def local_auth(settings: Settings) -> Settings:
    """``settings`` with the app checking tokens of this module's issuer."""
    return dataclasses.replace(settings, auth_mode="local", auth_signing_key=KEY_HEX)


def token(*groups: str, subject: str = "tester", ttl_seconds: int = 3600) -> str:
    """A token for ``groups`` (role names like ``operator`` stand for their group)."""
    named = [GROUP.get(g, g) for g in groups]
    return local_tokens.mint(KEY, subject=subject, groups=named, ttl_seconds=ttl_seconds)


def bearer(*groups: str, subject: str = "tester") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(*groups, subject=subject)}"}


def sign_in(client: Any, *groups: str, subject: str = "tester") -> Any:
    """``client`` sending a token for ``groups`` with every request that names no
    ``Authorization`` of its own (``None`` there sends none)."""
    http = client.http
    original = type(http).request
    default = bearer(*groups, subject=subject)

    def request(
        method: str, path: str, headers: dict[str, Any] | None = None, body: bytes = b""
    ) -> Any:
        given = dict(headers or {})
        if not any(k.lower() == "authorization" for k in given):
            given.update(default)
        given = {k: v for k, v in given.items() if v is not None}
        return original(http, method, path, headers=given, body=body)

    http.request = request
    return client
