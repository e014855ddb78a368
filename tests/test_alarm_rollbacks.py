"""Alarm rollbacks: "CloudWatch Alarm State Change" events, generated with Chalice's test
client and delivered to the alarm handler, roll a deployment back only when the alarm went
off after the current revision's rollout began (and not twice)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest

from chalicelib.domain.errors import StoreUnavailable
from tests.api_helpers import call, put_alarm
from tests.conftest import World

ALARMS = "nfDeployments/nginx-prod/rollbackAlarms"
ACCOUNT_ALARM_ARN = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"


def _cw_time(moment: datetime) -> str:
    """CloudWatch's own timestamp format in these events."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _deliver(
    client: Any,
    name: str,
    at: datetime,
    *,
    state: str = "ALARM",
    previous: str = "OK",
    reason: str = "Threshold Crossed: 3 datapoints were greater than the threshold (5.0).",
) -> dict[str, Any]:
    event = client.events.generate_cw_event(
        source="aws.cloudwatch",
        detail_type="CloudWatch Alarm State Change",
        detail={
            "alarmName": name,
            "state": {"value": state, "reason": reason, "timestamp": _cw_time(at)},
            "previousState": {"value": previous, "reason": "", "timestamp": _cw_time(at)},
            "configuration": {"metrics": []},
        },
        resources=[ACCOUNT_ALARM_ARN.format(name=name)],
        region="us-east-1",
    )
    return dict(client.lambda_.invoke("alarm_rollback", event).payload)


def _upgrade(client: Any, world: World, tag: str) -> datetime:
    """Upgrade the image and let the rollout finish; returns when the rollout began."""
    began = world.clock.now()
    answer = call(
        client, "PUT", "nfDeployments/nginx-prod", {"parameters": {"image": {"tag": tag}}}
    )
    assert answer.status == 200, answer.body
    world.settle()
    return began


def _history(client: Any) -> list[dict[str, Any]]:
    return list(call(client, "GET", "nfDeployments/nginx-prod/history").body["revisions"])


def _bind(client: Any, **body: Any) -> Any:
    return call(client, "PUT", ALARMS, {"alarmNames": ["nginx-5xx"], **body})


def test_binding_is_stored_and_read_back(running: Any, world: World) -> None:
    before = call(running, "GET", ALARMS)
    assert before.status == 200
    assert before.body["alarmNames"] == []
    assert before.body["watchWindowSeconds"] == 1800
    assert before.body["cooldownSeconds"] == 600
    assert before.body["tagKey"] == "o2dms:deployment"

    put = _bind(running, alarmNames=["nginx-5xx", "nginx-latency"], watchWindowSeconds=900)

    assert put.status == 200
    got = call(running, "GET", ALARMS).body
    assert got["alarmNames"] == ["nginx-5xx", "nginx-latency"]
    assert got["watchWindowSeconds"] == 900
    assert got["cooldownSeconds"] == 600
    assert world.deps.automation.deployments_for_alarm("nginx-latency") == ("nginx-prod",)
    _bind(running, alarmNames=["nginx-5xx"])
    assert world.deps.automation.deployments_for_alarm("nginx-latency") == ()


def test_bad_bindings_are_400_and_unknown_deployments_404(running: Any, world: World) -> None:
    for body in (
        {"alarmNames": "nginx-5xx"},
        {"alarmNames": ["a"], "watchWindowSeconds": 5},
        {"alarmNames": ["a"], "cooldownSeconds": -1},
        {"alarmNames": ["a"], "window": 60},
        {"alarmNames": [f"a{i}" for i in range(21)]},
    ):
        answer = call(running, "PUT", ALARMS, body)
        assert answer.status == 400, body
        assert answer.body["error"] == "BadRequest"
    assert (
        call(running, "PUT", "nfDeployments/ghost/rollbackAlarms", {"alarmNames": []}).status == 404
    )
    assert call(running, "GET", "nfDeployments/ghost/rollbackAlarms").status == 404


def test_alarm_shortly_after_an_upgrade_rolls_it_back_once(running: Any, world: World) -> None:
    _bind(running)
    began = _upgrade(running, world, "1.21.0")
    world.clock.advance(30)

    first = _deliver(running, "nginx-5xx", began + timedelta(seconds=20))
    world.settle()

    [verdict] = first["verdicts"]
    assert verdict["rolledBack"] is True
    history = _history(running)
    assert history[0]["revision"] == 3
    assert history[0]["description"].startswith("Rolled back from revision 2 to revision 1")
    assert "alarm nginx-5xx in ALARM: Threshold Crossed" in history[0]["description"]
    assert history[0]["status"] == "deployed"
    # The revision the alarm condemned is failed, so "the previous good revision" skips it.
    assert history[1]["status"] == "failed"
    assert history[1]["description"] == (
        "Upgraded parameters: image.tag (failed: alarm nginx-5xx in ALARM: "
        "Threshold Crossed: 3 datapoints were greater than the threshold (5.0).)"
    )
    operation = call(
        running, "GET", f"nfDeployments/nginx-prod/operations/{verdict['operationId']}"
    ).body
    assert operation["trigger"] == "alarm"
    assert operation["actor"] == "alarm/nginx-5xx"
    assert operation["type"] == "rollback"
    assert operation["state"] == "COMPLETED"
    image = call(running, "GET", "nfDeployments/nginx-prod").body["parameters"]
    assert image.get("image", {}).get("tag") != "1.21.0"

    again = _deliver(running, "nginx-5xx", began + timedelta(seconds=20))
    world.settle()

    assert [v["rolledBack"] for v in again["verdicts"]] == [False]
    assert "before revision 3 started" in again["verdicts"][0]["message"]
    assert len(_history(running)) == 3


def test_alarm_already_in_alarm_before_the_upgrade_does_nothing(running: Any, world: World) -> None:
    _bind(running)
    went_off = world.clock.now() - timedelta(minutes=5)
    world.clock.advance(60)
    _upgrade(running, world, "1.21.0")

    answer = _deliver(running, "nginx-5xx", went_off)

    assert [v["rolledBack"] for v in answer["verdicts"]] == [False]
    assert [r["revision"] for r in _history(running)] == [2, 1]


def test_changes_that_are_not_entries_into_alarm_do_nothing(running: Any, world: World) -> None:
    _bind(running)
    began = _upgrade(running, world, "1.21.0")
    at = began + timedelta(seconds=10)

    assert _deliver(running, "nginx-5xx", at, state="OK", previous="ALARM")["verdicts"] == []
    assert _deliver(running, "nginx-5xx", at, state="ALARM", previous="ALARM")["verdicts"] == []
    assert _deliver(running, "unbound-alarm", at)["verdicts"] == []
    assert [r["revision"] for r in _history(running)] == [2, 1]


def test_alarm_outside_the_watch_window_does_nothing(running: Any, world: World) -> None:
    _bind(running, watchWindowSeconds=600)
    began = _upgrade(running, world, "1.21.0")
    world.clock.advance(3600)

    answer = _deliver(running, "nginx-5xx", began + timedelta(seconds=601))

    assert [v["rolledBack"] for v in answer["verdicts"]] == [False]
    assert "600 s" in answer["verdicts"][0]["message"]


def test_cooldown_stops_a_rollback_storm(running: Any, world: World) -> None:
    _bind(running, cooldownSeconds=600)
    began = _upgrade(running, world, "1.21.0")
    assert _deliver(running, "nginx-5xx", began + timedelta(seconds=5))["verdicts"][0]["rolledBack"]
    world.settle()
    world.clock.advance(60)
    began_again = _upgrade(running, world, "1.22.0")

    inside = _deliver(running, "nginx-5xx", began_again + timedelta(seconds=5))

    assert [v["rolledBack"] for v in inside["verdicts"]] == [False]
    assert "cooldown" in inside["verdicts"][0]["message"]
    world.clock.advance(600)
    began_late = _upgrade(running, world, "1.23.0")
    late = _deliver(running, "nginx-5xx", began_late + timedelta(seconds=5))
    assert [v["rolledBack"] for v in late["verdicts"]] == [True]


def test_alarm_tagged_with_the_deployment_acts_without_a_binding(
    running: Any, world: World
) -> None:
    put_alarm(
        boto3.client("cloudwatch"),
        "tagged-5xx",
        Tags=[{"Key": "o2dms:deployment", "Value": "nginx-prod"}],
    )
    began = _upgrade(running, world, "1.21.0")

    answer = _deliver(running, "tagged-5xx", began + timedelta(seconds=10))
    world.settle()

    assert [(v["deploymentId"], v["rolledBack"]) for v in answer["verdicts"]] == [
        ("nginx-prod", True)
    ]
    assert "tagged-5xx" in _history(running)[0]["description"]


def test_alarm_during_a_rollout_preempts_it(running: Any, world: World) -> None:
    _bind(running)
    began = world.clock.now()
    upgrade = call(
        running, "PUT", "nfDeployments/nginx-prod", {"parameters": {"image": {"tag": "x"}}}
    )
    world.clock.advance(1)

    answer = _deliver(running, "nginx-5xx", began + timedelta(seconds=1))
    world.settle()

    assert [v["rolledBack"] for v in answer["verdicts"]] == [True]
    ops = {
        o["operationId"]: o
        for o in call(running, "GET", "nfDeployments/nginx-prod/operations").body["operations"]
    }
    assert ops[upgrade.headers["X-O2DMS-Operation-Id"]]["state"] == "CANCELLED"
    assert call(running, "GET", "nfDeployments/nginx-prod").body["status"] == "INSTANTIATED"


def test_terminate_removes_the_binding(running: Any, world: World) -> None:
    _bind(running)
    assert call(running, "DELETE", "nfDeployments/nginx-prod").status == 202
    world.settle()

    assert world.deps.automation.deployments_for_alarm("nginx-5xx") == ()
    assert world.deps.automation.get_alarm_binding("nginx-prod") is None


def test_a_store_outage_fails_the_handler_so_the_event_is_delivered_again(
    running: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _bind(running)
    began = _upgrade(running, world, "1.21.0")

    def unavailable(deployment_id: str, number: int) -> Any:
        raise StoreUnavailable("The deployment store is unavailable (ThrottlingException)")

    monkeypatch.setattr(world.store, "get_revision", unavailable)
    with pytest.raises(StoreUnavailable):
        _deliver(running, "nginx-5xx", began + timedelta(seconds=5))


def test_a_rollback_lost_to_a_store_outage_happens_on_redelivery_despite_the_cooldown(
    running: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _bind(running)
    began = _upgrade(running, world, "1.21.0")
    at = began + timedelta(seconds=5)
    read_history = world.store.history

    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("The deployment store is unavailable (ThrottlingException)")

    monkeypatch.setattr(world.store, "history", unavailable)  # after the cooldown's claim
    with pytest.raises(StoreUnavailable):
        _deliver(running, "nginx-5xx", at)
    monkeypatch.setattr(world.store, "history", read_history)  # the store is back
    assert [r["revision"] for r in _history(running)] == [2, 1]

    _deliver(running, "nginx-5xx", at)  # EventBridge delivers the event again

    revisions = _history(running)
    assert [r["revision"] for r in revisions] == [3, 2, 1]
    assert revisions[0]["description"].startswith("Rolled back from revision 2 to revision 1")
    world.settle()
    _deliver(running, "nginx-5xx", at)  # and once more: nothing more happens
    assert [r["revision"] for r in _history(running)] == [3, 2, 1]


def test_a_later_rollback_to_the_previous_good_revision_skips_the_one_an_alarm_condemned(
    running: Any, world: World
) -> None:
    _bind(running)
    call(running, "PUT", "nfDeployments/nginx-prod", {"parameters": {"a": 1}})
    world.settle()
    began = _upgrade(running, world, "1.21.0")
    assert _deliver(running, "nginx-5xx", began + timedelta(seconds=5))["verdicts"][0]["rolledBack"]
    world.settle()

    answer = call(running, "POST", "nfDeployments/nginx-prod/rollback", {"revision": 0})
    world.settle()

    assert answer.status == 200
    # Revision 3 was condemned by the alarm: the previous good revision is 2 (which 4 copies).
    assert _history(running)[0]["description"] == "Rolled back from revision 4 to revision 2"
