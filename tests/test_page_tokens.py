"""Page tokens (issue "Security", item 5): every ``nextToken`` is signed (HMAC-SHA256), so a
forged, altered or borrowed token is a 400 ``BadRequest`` on every listing, never a store
error; the token a page hands out reads the next page, across store instances that share
the key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from chalicelib import composition
from chalicelib.adapters.dynamodb_store import DynamoDBStore, decode_token, encode_token
from chalicelib.config import Settings
from chalicelib.domain.errors import InvalidRequest
from tests.api_helpers import call, create_deployment, create_descriptor
from tests.conftest import TABLE, World

NOT_OURS = "nextToken is not a token this API returned"
MANAGERS = (
    {
        "deploymentManagerId": "edge-1",
        "kind": "kubeconfig",
        "kubeconfigSource": "ssm:/o2dms/clusters/edge-1",
    },
    {
        "deploymentManagerId": "edge-2",
        "kind": "kubeconfig",
        "kubeconfigSource": "ssm:/o2dms/clusters/edge-2",
    },
)
# Each listing that takes nextToken, with the field its items come in and their id.
LISTINGS = {
    "nfDeploymentDescriptors": ("nfDeploymentDescriptors", "descriptorId"),
    "nfDeployments": ("nfDeployments", "name"),
    "deploymentManagers": ("deploymentManagers", "deploymentManagerId"),
    "nfDeployments/nginx-prod/history": ("revisions", "revision"),
    "nfDeployments/nginx-prod/operations": ("operations", "operationId"),
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture
def listed(running: Any, world: World) -> Any:
    """Two or more items in every listing: descriptors, deployments, managers, and the
    revisions and operations of nginx-prod."""
    create_descriptor(running, descriptorId="nginx-chart-1.3.0")
    create_deployment(running, name="nginx-dev")
    world.settle()
    call(running, "POST", "nfDeployments/nginx-dev/scale", {"replicas": 1})
    for manager in MANAGERS:
        assert call(running, "POST", "deploymentManagers", manager).status == 201
    for replicas in (3, 4):
        call(running, "POST", "nfDeployments/nginx-prod/scale", {"replicas": replicas})
        world.settle()
    return running


def first_token(client: Any, listing: str) -> str:
    answer = call(client, "GET", f"{listing}?limit=1")
    assert answer.status == 200, answer.body
    token: str = answer.body["nextToken"]
    assert token
    return token


def every_id(client: Any, listing: str) -> list[Any]:
    field, key = LISTINGS[listing]
    seen: list[Any] = []
    token = ""
    while True:
        answer = call(client, "GET", f"{listing}?limit=1{token}")
        assert answer.status == 200, answer.body
        seen += [item[key] for item in answer.body[field]]
        if answer.body["nextToken"] is None:
            return seen
        token = f"&nextToken={answer.body['nextToken']}"


@pytest.mark.parametrize("listing", LISTINGS)
def test_page_tokens_a_pages_token_reads_the_next_page(listed: Any, listing: str) -> None:
    field, key = LISTINGS[listing]
    token = first_token(listed, listing)

    first = call(listed, "GET", f"{listing}?limit=1").body[field]
    second = call(listed, "GET", f"{listing}?limit=1&nextToken={token}")
    everything = call(listed, "GET", f"{listing}?limit=100").body[field]

    assert second.status == 200, second.body
    assert second.body[field]
    assert second.body[field][0][key] != first[0][key]
    assert every_id(listed, listing) == [item[key] for item in everything]


@pytest.mark.parametrize("listing", LISTINGS)
def test_page_tokens_a_token_with_another_signature_is_400(listed: Any, listing: str) -> None:
    payload, _, signature = first_token(listed, listing).partition(".")
    other = b64(hmac.new(b"not the key", payload.encode(), hashlib.sha256).digest()[:16])
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]

    for forged in (f"{payload}.{other}", f"{payload}.{flipped}", f"{payload}.", payload):
        answer = call(listed, "GET", f"{listing}?limit=1&nextToken={forged}")
        assert answer.status == 400, (forged, answer.body)
        assert answer.body == {"error": "BadRequest", "message": NOT_OURS, "code": 400}


@pytest.mark.parametrize("listing", LISTINGS)
def test_page_tokens_an_altered_start_key_is_400(listed: Any, listing: str) -> None:
    payload, _, signature = first_token(listed, listing).partition(".")
    key = json.loads(unb64(payload))
    key["SK"] = {"S": key["SK"]["S"] + "x"}

    tampered = f"{b64(json.dumps(key).encode())}.{signature}"
    answer = call(listed, "GET", f"{listing}?limit=1&nextToken={tampered}")

    assert answer.status == 400, answer.body
    assert answer.body["message"] == NOT_OURS


@pytest.mark.parametrize("listing", LISTINGS)
def test_page_tokens_a_token_from_another_listing_is_400(listed: Any, listing: str) -> None:
    borrowed = {name: first_token(listed, name) for name in LISTINGS if name != listing}
    borrowed["nfDeployments/nginx-dev/operations"] = first_token(
        listed, "nfDeployments/nginx-dev/operations"
    )

    for source, token in borrowed.items():
        answer = call(listed, "GET", f"{listing}?limit=1&nextToken={token}")
        assert answer.status == 400, (source, answer.body)
        assert answer.body["error"] == "BadRequest"
        assert "nextToken" in answer.body["message"]


@pytest.mark.parametrize(
    "key",
    [
        {"PK": {"S": "DESCRIPTOR#x"}, "SK": {"S": "DESC"}},
        {"PK": {"S": "x"}, "SK": {"S": "y"}, "GSI1PK": {"S": "DEPLOYMENTS"}, "GSI1SK": {"S": "z"}},
    ],
)
def test_page_tokens_an_unsigned_start_key_is_400(listed: Any, key: dict[str, Any]) -> None:
    unsigned = b64(json.dumps(key).encode())

    for listing in LISTINGS:
        answer = call(listed, "GET", f"{listing}?limit=1&nextToken={unsigned}")
        assert answer.status == 400, (listing, answer.body)


# ------------------------------------------------------------------------- the key


KEY = {"PK": {"S": "DEP#a"}, "SK": {"S": "REV#0001"}}


def test_page_tokens_decode_what_encode_signed_with_the_same_key() -> None:
    token = encode_token(KEY, secret=b"k", listing="history")

    assert decode_token(token, secret=b"k", listing="history", partition="DEP#a") == KEY
    for secret, listing in ((b"other", "history"), (b"k", "operations")):
        with pytest.raises(InvalidRequest, match=NOT_OURS):
            decode_token(token, secret=secret, listing=listing, partition="DEP#a")


@pytest.mark.parametrize("token", ["", ".", "é.é", "a.b.c", "!!!.???", "e30.AAAA"])
def test_page_tokens_decode_refuses_any_other_text(token: str) -> None:
    with pytest.raises(InvalidRequest, match=NOT_OURS):
        decode_token(token, secret=b"k", listing="history", partition="DEP#a")


def test_page_tokens_stores_sharing_a_key_read_each_others_tokens(dynamodb: Any) -> None:
    settings = Settings(table_name=TABLE, page_token_key="shared secret")
    built = composition.build(settings).store
    other_instance = DynamoDBStore(dynamodb, TABLE, token_key="shared secret")
    stranger = DynamoDBStore(dynamodb, TABLE, token_key="another secret")
    token = encode_token(
        {"PK": {"S": "DM~x"}, "SK": {"S": "DM"}, "GSI1PK": {"S": "MANAGERS"}, "GSI1SK": {"S": "x"}},
        secret=b"shared secret",
        listing="MANAGERS",
    )

    assert built.list_managers(limit=1, token=token)[1].items == ()
    assert other_instance.list_managers(limit=1, token=token)[1].items == ()
    with pytest.raises(InvalidRequest, match=NOT_OURS):
        stranger.list_managers(limit=1, token=token)


def test_page_tokens_key_is_read_from_the_environment() -> None:
    settings = Settings.from_env({"O2DMS_PAGE_TOKEN_KEY": "from the stack"})

    assert settings.page_token_key == "from the stack"
    assert settings.page_token_secret == "from the stack"


def test_page_tokens_without_a_key_one_is_derived_per_table_and_stage() -> None:
    unset = Settings.from_env({})
    dev = Settings(table_name="o2dms", stage="dev")

    assert unset.page_token_key is None
    assert unset.page_token_secret == dev.page_token_secret
    assert dev.page_token_secret == Settings(table_name="o2dms", stage="dev").page_token_secret
    assert dev.page_token_secret != Settings(table_name="o2dms", stage="prod").page_token_secret
    assert dev.page_token_secret != Settings(table_name="other", stage="dev").page_token_secret
