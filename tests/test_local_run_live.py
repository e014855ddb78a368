"""Live progress through ``make run``: a real WebSocket client on the seed's URL
(``ws://127.0.0.1:<port>/ws/deployments?deployment_id=...``), the local stand-ins for API
Gateway's WebSocket API and for the table's stream, and the app's own handlers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.apm_bodies import V1, my_app, two_parts
from tests.test_local_run_acceptance import Api, fast_local_run

LATENCY_LIMIT_SECONDS = 1.0
TABLE = "o2dms-dev"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with fast_local_run(tmp_path_factory, "live") as running:
        yield running


def ws_url(api: Api, deployment_id: str | None = None) -> str:
    root = api.root.replace("http://", "ws://")
    query = f"?deployment_id={deployment_id}" if deployment_id else ""
    return f"{root}/ws/deployments{query}"


def follow(api: Api, deployment_id: str | None = None, *groups: str) -> ClientConnection:
    token = api.mint(*(groups or ("viewer",)), subject="watcher") if groups else api.token
    headers = {"Authorization": f"Bearer {token}"}
    return connect(ws_url(api, deployment_id), additional_headers=headers, open_timeout=10)


def receive(ws: ClientConnection, timeout: float = 10) -> tuple[float, dict[str, Any]]:
    message: dict[str, Any] = json.loads(ws.recv(timeout=timeout))
    return time.monotonic(), message


def start(api: Api, version: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = api("POST", V1, body or my_app(version))
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()
    return found


def wait_until_ended(api: Api, rollout_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found: dict[str, Any] = api("GET", f"{V1}/{rollout_id}").json()
        if found["status"] in {"completed", "failed", "rolled_back"}:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{rollout_id} did not end")


@dataclass
class Watcher:
    """Reads a rollout through the REST API as fast as it can, noting for each answer when
    the read began: a change first seen in a read began after the read before it."""

    api: Api
    rollout_id: str
    seen: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            began = time.monotonic()
            answer = self.api("GET", f"{V1}/{self.rollout_id}")
            if answer.status_code == 200:
                self.seen.append((began, answer.json()))
            time.sleep(0.02)

    def stored_after(self, data: dict[str, Any]) -> float | None:
        """The start of the last read that did not show ``data`` yet, before one did."""
        for index, (_, found) in enumerate(self.seen):
            if found == data:
                return self.seen[index - 1][0] if index > 0 else None
        return None


def test_an_upgrade_that_crashes_streams_every_stage_within_a_second(api: Api) -> None:
    first = start(api, "v1.0.0")
    wait_until_ended(api, first["id"])
    with follow(api, first["id"]) as ws:
        _, snapshot = receive(ws)
        assert snapshot["type"] == "snapshot"
        assert (snapshot["data"]["id"], snapshot["data"]["status"]) == (first["id"], "completed")

        crashed = start(api, "v2.0.0-crash")
        watcher = Watcher(api, crashed["id"])
        reader = threading.Thread(target=watcher.run, daemon=True)
        reader.start()
        arrivals: list[tuple[float, dict[str, Any]]] = []
        while not arrivals or arrivals[-1][1]["type"] not in {"rolled_back", "completed"}:
            arrivals.append(receive(ws, timeout=30))
        watcher.stop.set()
        reader.join()

    kinds = [m["type"] for _, m in arrivals]
    ending = [k for k in kinds if k in {"failed", "rollback_started", "rolled_back"}]
    assert ending == ["failed", "rollback_started", "rolled_back"], kinds
    assert {"status", "stage", "progress", "health_check"} <= set(kinds), kinds
    turn = kinds.index("rollback_started")
    for part in (arrivals[:turn], arrivals[turn:]):
        progress = [m["data"]["progress"]["percentage"] for _, m in part if m["type"] == "progress"]
        assert progress == sorted(progress), kinds
        assert progress[-1] > progress[0], kinds
    final = api("GET", f"{V1}/{crashed['id']}").json()
    assert arrivals[-1][1]["data"] == final

    # Each message arrived within a second of its change being stored.
    checked = []
    for arrived, m in arrivals:
        stored_after = watcher.stored_after(m["data"])
        if stored_after is not None:
            checked.append((m["type"], round(arrived - stored_after, 3)))
    assert len(checked) >= len(arrivals) // 2, (checked, kinds)
    late = [c for c in checked if c[1] > LATENCY_LIMIT_SECONDS]
    assert not late, checked


def test_a_follower_hears_nothing_of_another_deployment(api: Api) -> None:
    mine = start(api, "v1.0.0", my_app("v1.0.0") | {"environment": "qa"})
    wait_until_ended(api, mine["id"])
    with follow(api, mine["nf_deployment_id"]) as ws:
        assert receive(ws)[1]["type"] == "snapshot"
        other = start(api, "v1.0.0", two_parts("v1.0.0"))
        wait_until_ended(api, other["id"])
        with pytest.raises(TimeoutError):
            ws.recv(timeout=1.5)
        again = start(api, "v1.1.0", my_app("v1.1.0") | {"environment": "qa"})
        _, heard = receive(ws)
        assert heard["data"]["id"] == again["id"]


def test_refusals_are_http_errors_in_the_documented_shape(api: Api) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(api, "anything"), open_timeout=10)
    assert refused.value.response.status_code == 401
    body = json.loads(refused.value.response.body)
    assert (body["error"], body["code"]) == ("Unauthorized", 401)
    with pytest.raises(InvalidStatus) as unknown:
        follow(api, "no-such-deployment")
    assert unknown.value.response.status_code == 404


def connection_items(api: Api) -> list[dict[str, Any]]:
    items = api.aws("dynamodb").scan(TableName=TABLE)["Items"]
    return [i for i in items if i["PK"]["S"].startswith(("CONN#", "LIVE#"))]


def test_closed_and_vanished_connections_are_cleaned_up(api: Api) -> None:
    found = start(api, "v1.0.0", my_app("v1.0.0") | {"environment": "cleanup"})
    wait_until_ended(api, found["id"])
    before = len(connection_items(api))
    with follow(api, found["id"]) as ws:
        assert receive(ws)[1]["type"] == "snapshot"
        assert len(connection_items(api)) == before + 2  # the connection and its subscription
    deadline = time.monotonic() + 5
    while len(connection_items(api)) != before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(connection_items(api)) == before

    # A connection whose disconnect never arrived (API Gateway lost it): the next send meets
    # 410 Gone, and its records go.
    dynamodb = api.aws("dynamodb")
    expires = {"N": str(int(time.time()) + 3600)}
    dynamodb.put_item(
        TableName=TABLE,
        Item={
            "PK": {"S": "CONN#ghost"},
            "SK": {"S": "CONN"},
            "actor": {"S": "someone"},
            "groups": {"S": '["o2dms-viewer"]'},
            "ttl": expires,
            "topics": {"SS": [found["nf_deployment_id"]]},
        },
    )
    dynamodb.put_item(
        TableName=TABLE,
        Item={
            "PK": {"S": f"LIVE#{found['nf_deployment_id']}"},
            "SK": {"S": "CONN#ghost"},
            "connectionId": {"S": "ghost"},
            "topic": {"S": found["nf_deployment_id"]},
            "actor": {"S": "someone"},
            "groups": {"S": '["o2dms-viewer"]'},
            "ttl": expires,
        },
    )
    assert any("ghost" in i["SK"]["S"] + i["PK"]["S"] for i in connection_items(api))
    upgraded = start(api, "v1.1.0", my_app("v1.1.0") | {"environment": "cleanup"})
    wait_until_ended(api, upgraded["id"])
    deadline = time.monotonic() + 5
    while any("ghost" in i["SK"]["S"] + i["PK"]["S"] for i in connection_items(api)):
        assert time.monotonic() < deadline, connection_items(api)
        time.sleep(0.1)
