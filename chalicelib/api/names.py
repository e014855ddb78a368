"""The names and ids a request's path or query carries (deployment names, descriptor ids,
manager ids, page tokens), checked with plain regular expressions.

They live apart from ``schemas`` so that a read which takes no body (``GET .../status``)
checks its path without importing pydantic; ``schemas`` states the same patterns in the
models, so the OpenAPI document and these checks say one thing.
"""

from __future__ import annotations

import re

from chalicelib.domain.errors import InvalidRequest

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_LABEL_MAX = 63
DEPLOYMENT_NAME_MAX = 53  # Helm release names
DESCRIPTOR_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
DESCRIPTOR_ID_MAX = 128
# Page tokens are the store's start key and its signature, each unpadded base64url, joined
# by '.' (the store checks the signature); empty is the first page.
NEXT_TOKEN = re.compile(r"^([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)?$")
NEXT_TOKEN_MAX = 2048

DNS_LABEL_RULE = (
    "a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter"
    " or digit"
)
DESCRIPTOR_ID_RULE = "letters, digits, '.', '_' and '-', starting with a letter or digit"


def is_dns_label(value: str, max_length: int = DNS_LABEL_MAX) -> bool:
    """A Kubernetes DNS-1123 label: the rule for names, namespaces and manager ids."""
    return len(value) <= max_length and DNS_LABEL.fullmatch(value) is not None


def check_deployment_name(value: str) -> str:
    if not is_dns_label(value, DEPLOYMENT_NAME_MAX):
        raise ValueError(
            f"name {value!r} must be {DNS_LABEL_RULE}, at most {DEPLOYMENT_NAME_MAX} characters"
        )
    return value


def check_descriptor_id(value: str) -> str:
    if not DESCRIPTOR_ID.fullmatch(value):
        raise ValueError(
            f"descriptor id {value!r} must be 1-{DESCRIPTOR_ID_MAX} characters: "
            + DESCRIPTOR_ID_RULE
        )
    return value


def page_token(token: str | None) -> str | None:
    """A listing's ``nextToken`` as the document states it (the store checks its signature
    and decodes it further)."""
    if token is not None and (len(token) > NEXT_TOKEN_MAX or not NEXT_TOKEN.fullmatch(token)):
        raise InvalidRequest("nextToken is not a token this API returned")
    return token
