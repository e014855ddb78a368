"""The one HTTP client under every command: the service's answers, or its error body turned
into a ``CliError`` with the exit code of its class."""

from __future__ import annotations

from typing import Any

from o2dms_cli.config import Target
from o2dms_cli.errors import SERVER, CliError, for_status

TIMEOUT_SECONDS = 30.0


class Api:
    def __init__(self, target: Target) -> None:
        import httpx

        self.target = target
        self._http = httpx.Client(
            base_url=target.api_url, headers=target.headers, timeout=TIMEOUT_SECONDS
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """The decoded answer (None when empty); ``CliError`` for an error answer."""
        return self.call_with_headers(method, path, body=body, params=params, headers=headers)[0]

    def call_with_headers(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[Any, dict[str, str]]:
        """``call``'s answer and the answer's headers (names in lower case): a change tells
        its operation and rollout ids only there, and a 204 has no body to carry them."""
        import httpx

        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            answer = self._http.request(
                method, path, json=body, params=query, headers=headers or {}
            )
        except httpx.HTTPError as exc:
            raise CliError(
                f"cannot reach the service at {self.target.api_url}: {exc}", SERVER
            ) from exc
        try:
            decoded = answer.json() if answer.content else None
        except ValueError:
            decoded = None
        if answer.status_code >= 400:
            raise CliError(
                _message(answer.status_code, decoded, answer.text), for_status(answer.status_code)
            )
        return decoded, {name.lower(): value for name, value in answer.headers.items()}

    def close(self) -> None:
        self._http.close()


def _message(status: int, decoded: Any, text: str) -> str:
    if isinstance(decoded, dict) and decoded.get("message"):
        hint = " (set O2DMS_TOKEN, or --token)" if status == 401 else ""
        return f"{decoded['message']} [{decoded.get('error', status)}]{hint}"
    return f"the service answered {status}: {text.strip()[:300] or 'no body'}"
