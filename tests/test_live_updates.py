"""Live progress: the WebSocket handlers and the stream handler, driven as Lambda would drive
them (Chalice's test client), on moto's table and its real stream records.

A connection follows a deployment; every stored change of its operations reaches it as
``{"type", "data"}`` messages in order, and nothing about other deployments does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from chalicelib import composition
from chalicelib.adapters.dynamodb_live import DynamoDBSubscriptions, connection_key
from tests.api_helpers import call
from tests.apm_bodies import V1, my_app, two_parts
from tests.auth_helpers import bearer
from tests.conftest import TABLE, World, enable_stream
from tests.live_helpers import RecordingConnections, TableStream, stream_event, ws_event


@dataclass
class Live:
    client: Any
    world: World
    sent: RecordingConnections
    stream: TableStream
    dynamodb: Any

    def connect(
        self,
        connection_id: str,
        *groups: str,
        deployment_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        query = {"deployment_id": deployment_id} if deployment_id else {}
        given = bearer(*(groups or ("viewer",))) if headers is None else headers
        event = ws_event("$connect", connection_id, headers=given, query=query)
        payload: dict[str, Any] = self.client.lambda_.invoke("websocket_connect", event).payload
        return payload

    def say(self, connection_id: str, body: Any) -> None:
        text = body if isinstance(body, str) else json.dumps(body)
        self.client.lambda_.invoke(
            "websocket_message", ws_event("$default", connection_id, body=text)
        )

    def leave(self, connection_id: str) -> None:
        self.client.lambda_.invoke("websocket_disconnect", ws_event("$disconnect", connection_id))

    def pump(self) -> None:
        """Hand the stream's new records to the stream handler, as Lambda would."""
        records = self.stream.read()
        if records:
            self.client.lambda_.invoke("live_updates", stream_event(records))

    def settle(self, times: int = 1) -> None:
        for _ in range(times):
            self.world.settle()
            self.pump()

    def items_of(self, connection_id: str) -> list[dict[str, Any]]:
        found = self.dynamodb.scan(TableName=TABLE)["Items"]
        mine = f"CONN#{connection_id}"
        return [i for i in found if mine in (i["PK"]["S"], i["SK"]["S"])]


@pytest.fixture
def live(client: Any, world: World, dynamodb: Any) -> Iterator[Live]:
    enable_stream(dynamodb, TABLE)
    sent = RecordingConnections()
    composition.use_live_ports((DynamoDBSubscriptions(dynamodb, TABLE), sent))
    yield Live(client, world, sent, TableStream(TABLE), dynamodb)
    composition.use_live_ports(None)


def start(live: Live, version: str, **configuration: Any) -> dict[str, Any]:
    answer = call(live.client, "POST", V1, my_app(version, **configuration))
    assert answer.status == 201, answer.body
    body: dict[str, Any] = answer.body
    return body


def test_an_upgrade_that_crashes_is_followed_to_its_rollback(live: Live) -> None:
    first = start(live, "v1.0.0")
    live.settle(2)
    assert live.connect("c1", deployment_id=first["id"])["statusCode"] == 200
    live.pump()
    snapshot = live.sent.take("c1")
    assert [m["type"] for m in snapshot] == ["snapshot"]
    assert snapshot[0]["data"]["id"] == first["id"]
    assert snapshot[0]["data"]["status"] == "completed"

    crashed = start(live, "v2.0.0-crash")
    live.pump()
    live.settle(6)
    messages = live.sent.take("c1")
    kinds = [m["type"] for m in messages]
    assert kinds[0] == "status"
    assert {"stage", "progress", "health_check"} <= set(kinds)
    ending = [k for k in kinds if k in {"failed", "rollback_started", "rolled_back", "completed"}]
    assert ending == ["failed", "rollback_started", "rolled_back"], kinds
    assert all(m["data"]["id"] == crashed["id"] for m in messages)
    # Progress rises through the rollout, then again through the rollback.
    turn = kinds.index("rollback_started")
    for part in (messages[:turn], messages[turn:]):
        progress = [m["data"]["progress"]["percentage"] for m in part if m["type"] == "progress"]
        assert progress == sorted(progress), kinds
        assert progress[-1] > progress[0], kinds
    stages = [m["data"]["progress"]["current_step"] for m in messages if m["type"] == "stage"]
    assert stages == sorted(stages)
    last = messages[-1]
    assert last["type"] == "rolled_back"
    # The same fields as the REST answer.
    assert last["data"] == call(live.client, "GET", f"{V1}/{crashed['id']}").body


def test_a_follower_of_one_deployment_hears_nothing_of_another(live: Live) -> None:
    mine = start(live, "v1.0.0")
    live.settle()
    live.connect("a", deployment_id=mine["nf_deployment_id"])
    live.pump()
    assert live.sent.types("a") == ["snapshot"]
    other = call(live.client, "POST", V1, two_parts("v1.0.0"))
    assert other.status == 201
    live.settle(3)
    assert live.sent.types("a") == ["snapshot"]
    start(live, "v1.1.0")
    live.settle(3)
    assert live.sent.types("a")[-1] == "completed"


def test_connecting_needs_credentials_and_a_readable_deployment(live: Live) -> None:
    found = start(live, "v1.0.0")
    live.settle()
    refused = live.connect("x", deployment_id=found["id"], headers={})
    assert refused["statusCode"] == 401
    assert json.loads(refused["body"])["error"] == "Unauthorized"
    unknown = live.connect("y", deployment_id="no-such-thing")
    assert (unknown["statusCode"], json.loads(unknown["body"])["code"]) == (404, 404)
    elsewhere = live.connect("z", "o2dms-viewer:staging", deployment_id=found["id"])
    assert elsewhere["statusCode"] == 403
    fine = live.connect("w", deployment_id=found["id"], headers=bearer("viewer"))
    assert fine["statusCode"] == 200
    assert live.items_of("w")
    assert live.items_of("x") == live.items_of("y") == live.items_of("z") == []


def test_a_browser_signs_in_with_subprotocols(live: Live) -> None:
    token = bearer("viewer")["Authorization"].removeprefix("Bearer ")
    offered = {"Sec-WebSocket-Protocol": f"o2dms, bearer.{token}"}
    answer = live.connect("b", headers=offered)
    assert answer["statusCode"] == 200
    assert answer["headers"]["Sec-WebSocket-Protocol"] == "o2dms"


def test_a_follower_of_everything_sees_only_its_namespaces(live: Live) -> None:
    live.connect("all", "viewer")
    live.connect("staging-only", "o2dms-viewer:staging")
    live.pump()
    assert live.sent.types("all") == ["snapshot"]
    assert live.sent.sent["all"][0]["data"] == {"deployments": []}
    start(live, "v1.0.0")  # production
    assert call(live.client, "POST", V1, two_parts("v1.0.0")).status == 201  # staging
    live.settle(3)
    seen = {m["data"]["environment"] for m in live.sent.sent["all"][1:]}
    assert seen == {"production", "staging"}
    scoped = {m["data"]["environment"] for m in live.sent.sent["staging-only"][1:]}
    assert scoped == {"staging"}


def test_messages_subscribe_and_unsubscribe(live: Live) -> None:
    found = start(live, "v1.0.0")
    live.settle()
    live.connect("m", deployment_id=found["id"])
    live.pump()
    live.say("m", {"action": "unsubscribe", "deployment_id": found["id"]})
    assert live.sent.sent["m"][-1]["type"] == "unsubscribed"
    start(live, "v1.1.0")
    live.settle(3)
    assert live.sent.types("m") == ["snapshot", "unsubscribed"]

    live.say("m", {"action": "subscribe", "deployment_id": "my-app-production"})
    live.pump()
    assert live.sent.types("m")[-1] == "snapshot"
    assert live.sent.sent["m"][-1]["data"]["version"] == "v1.1.0"

    live.say("m", "not json")
    live.say("m", {"action": "dance"})
    live.say("m", {"action": "subscribe", "deployment_id": "nobody"})
    errors = [m["data"] for m in live.sent.sent["m"][-3:]]
    assert [m["code"] for m in errors] == [400, 400, 404]
    assert all(m["message"] for m in errors)


def test_a_closed_connection_is_forgotten(live: Live) -> None:
    found = start(live, "v1.0.0")
    live.settle()
    live.connect("gone", deployment_id=found["id"])
    live.connect("stays", deployment_id=found["id"])
    live.connect("leaves", deployment_id=found["id"])
    live.pump()
    live.leave("leaves")
    assert live.items_of("leaves") == []
    live.sent.gone.add("gone")
    start(live, "v1.1.0")
    live.settle(3)
    assert live.items_of("gone") == []
    assert live.items_of("stays")
    assert "completed" in live.sent.types("stays")
    assert live.dynamodb.get_item(TableName=TABLE, Key=connection_key("stays")).get("Item")


def test_a_message_from_an_unknown_connection_is_answered_with_an_error(live: Live) -> None:
    live.say("stranger", {"action": "subscribe"})
    assert live.sent.sent["stranger"][0]["data"]["code"] == 401


def test_a_rollback_to_a_version_is_followed_from_the_rollout_it_leaves(live: Live) -> None:
    start(live, "v1.0.0")
    live.settle()
    second = start(live, "v2.0.0")
    live.settle()
    live.connect("r", deployment_id=second["id"])
    live.pump()
    body = {"reason": "Errors after the upgrade", "target_version": "v1.0.0"}
    back = call(live.client, "POST", f"{V1}/{second['id']}/rollback", body)
    assert back.status == 202
    live.pump()
    live.settle(3)
    kinds = live.sent.types("r")
    assert kinds[:2] == ["snapshot", "rollback_started"], kinds
    assert kinds[-1] == "rolled_back", kinds
    assert "failed" not in kinds
    assert live.sent.sent["r"][-1]["data"]["id"] == back.body["id"]


def test_changes_nobody_would_notice_send_nothing(live: Live) -> None:
    from dataclasses import replace

    from chalicelib.domain.live import updates

    found = start(live, "v1.0.0")
    live.settle()
    operation = live.world.store.get_operation(found["nf_deployment_id"], found["operation_id"])
    assert updates(operation, replace(operation, execution_id="arn:execution")) == ()
    assert updates(operation, replace(operation, updated_at=operation.started_at)) == ()
    assert updates(operation, replace(operation, progress=operation.progress - 1)) == ("progress",)


def test_a_new_follower_hears_its_snapshot_before_anything_else(live: Live) -> None:
    start(live, "v1.0.0")
    live.settle()
    begun = start(live, "v1.1.0")
    live.world.settle(1.0, polls=1)  # changes stored, not yet through the stream
    live.connect("late", deployment_id=begun["id"])
    live.world.settle(1.0, polls=1)
    live.pump()  # one batch: changes before the subscription, the subscription, after it
    kinds = live.sent.types("late")
    assert kinds == ["snapshot"], kinds  # the snapshot already shows the whole batch
    live.settle(3)
    assert live.sent.types("late")[0] == "snapshot"
    assert live.sent.types("late")[-1] == "completed"
    assert [
        c.connection_id
        for c in DynamoDBSubscriptions(live.dynamodb, TABLE).followers(
            begun["nf_deployment_id"], now=0
        )
        if c.snapshot_due
    ] == []
