"""JSON calls to a cloud's control plane (the GKE API, Azure Resource Manager) with a bearer
token, for the GKE and AKS credentials providers.

``requests`` is in the package already (the Kubernetes client and azure-core use it). Each
call has a bounded timeout and is not retried, so a credentials refresh ends well inside
API Gateway's 29 s. The token goes in a header only: no message or log here quotes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

TIMEOUT = (3.05, 10.0)  # seconds to connect, and to wait for each read


class Unanswered(Exception):
    """The call got no answer: DNS, connection, TLS or a timeout (the message says which)."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def detail(self) -> str:
        """The API's own words for a refusal: ``HTTP 404 NOT_FOUND: message``. Google and
        Azure both answer ``{"error": {"code"|"status", "message"}}``."""
        error = self.body.get("error")
        if not isinstance(error, dict):
            return f"HTTP {self.status}"
        code = error.get("status") or error.get("code")
        head = f"HTTP {self.status} {code}" if code else f"HTTP {self.status}"
        message = error.get("message")
        return f"{head}: {message}" if message else head


def call(session: requests.Session, method: str, url: str, *, token: str) -> Answer:
    """``method`` ``url`` with ``token``; the answer's status and JSON object (empty when
    the body is not one)."""
    import requests

    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    try:
        response = session.request(method, url, headers=headers, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise Unanswered(f"{method} {url}: {type(exc).__name__}") from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    return Answer(response.status_code, body if isinstance(body, dict) else {})
