"""Scaling schedules: the API over moto's EventBridge Scheduler, and firings delivered to the
scaling Lambda through Chalice's test client, as Scheduler would deliver them."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib import composition
from chalicelib.adapters.scheduler import EventBridgeScheduler
from chalicelib.domain.errors import StoreUnavailable
from tests.api_helpers import call
from tests.conftest import SCALE_FUNCTION_ARN, SCHEDULE_GROUP, SCHEDULER_ROLE_ARN, World

SCHEDULES = "nfDeployments/nginx-prod/scalingSchedules"


def _create(client: Any, **body: Any) -> dict[str, Any]:
    answer = call(client, "POST", SCHEDULES, {"replicas": 5, **body})
    assert answer.status == 201, answer.body
    return dict(answer.body)


def _fire(client: Any, schedule_id: str, scheduled: str = "2026-01-14T10:01:00Z") -> Any:
    payload = {
        "deploymentId": "nginx-prod",
        "scheduleId": schedule_id,
        "replicas": 5,
        "scheduledTime": scheduled,
    }
    answer = client.lambda_.invoke("scheduled_scale", payload)
    return answer.payload


def _operations(client: Any) -> list[dict[str, Any]]:
    return list(call(client, "GET", "nfDeployments/nginx-prod/operations").body["operations"])


def test_cron_schedule_in_paris_becomes_a_scheduler_schedule(running: Any, world: World) -> None:
    answer = call(
        running,
        "POST",
        SCHEDULES,
        {"expression": "cron(0 8 * * ? *)", "timezone": "Europe/Paris", "replicas": 10},
    )

    assert answer.status == 201, answer.body
    created = answer.body
    assert created["expression"] == "cron(0 8 * * ? *)"
    assert created["timezone"] == "Europe/Paris"
    assert created["replicas"] == 10
    assert created["deploymentId"] == "nginx-prod"
    # 2026-01-14 10:00 UTC is 11:00 in Paris: next 08:00 Paris is 07:00 UTC the next day.
    assert created["nextFiring"] == "2026-01-15T07:00:00Z"
    assert answer.headers["Location"].endswith(f"/scalingSchedules/{created['scheduleId']}")
    stored = boto3.client("scheduler").get_schedule(
        Name=created["scheduleId"], GroupName=SCHEDULE_GROUP
    )
    assert stored["ScheduleExpression"] == "cron(0 8 * * ? *)"
    assert stored["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert stored["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert stored["Target"]["Arn"] == SCALE_FUNCTION_ARN
    assert stored["Target"]["RoleArn"] == SCHEDULER_ROLE_ARN
    assert json.loads(stored["Target"]["Input"]) == {
        "deploymentId": "nginx-prod",
        "scheduleId": created["scheduleId"],
        "replicas": 10,
        "scheduledTime": "<aws.scheduler.scheduled-time>",
    }


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"expression": "cron(bad)"}, "cron"),
        ({"expression": "rate(0 minutes)"}, "positive integer"),
        ({"expression": "rate(5 minute)"}, "minutes"),
        ({"expression": "cron(0 8 * * * *)"}, "?"),
        ({"expression": "at(2020-01-01T00:00:00)"}, "never fire"),
        ({"expression": "rate(1 hour)", "timezone": "Mars/Olympus"}, "time zone"),
        ({"expression": "rate(1 hour)", "replicas": -1}, "non-negative"),
        ({"expression": "rate(1 hour)", "endDate": "2020-01-01T00:00:00Z"}, "future"),
        ({"expression": "rate(1 hour)", "startDate": "2026-03-01T00:00:00"}, "time zone"),
        ({"expression": "rate(1 hour)", "every": "day"}, "every"),
    ],
)
def test_bad_schedules_are_refused_with_400_and_nothing_is_created(
    running: Any, body: dict[str, Any], fragment: str
) -> None:
    answer = call(running, "POST", SCHEDULES, {"replicas": 3, **body})

    assert answer.status == 400, answer.body
    assert answer.body["error"] == "BadRequest"
    assert answer.body["code"] == 400
    assert fragment in answer.body["message"]
    assert call(running, "GET", SCHEDULES).body["scalingSchedules"] == []
    assert boto3.client("scheduler").list_schedules(GroupName=SCHEDULE_GROUP)["Schedules"] == []


def test_schedules_of_unknown_deployment_are_404(client: Any, world: World) -> None:
    answer = call(
        client,
        "POST",
        "nfDeployments/ghost/scalingSchedules",
        {"expression": "rate(1 hour)", "replicas": 2},
    )
    assert answer.status == 404
    assert call(client, "GET", "nfDeployments/ghost/scalingSchedules").status == 404


def test_list_get_and_delete(running: Any, world: World) -> None:
    first = _create(running, expression="rate(1 hour)")
    second = _create(running, expression="cron(0 20 ? * MON-FRI *)", timezone="UTC", replicas=1)

    listed = call(running, "GET", SCHEDULES).body
    assert {s["scheduleId"] for s in listed["scalingSchedules"]} == {
        first["scheduleId"],
        second["scheduleId"],
    }
    one = call(running, "GET", f"{SCHEDULES}/{second['scheduleId']}")
    assert one.status == 200
    assert one.body["nextFiring"] == "2026-01-14T20:00:00Z"

    assert call(running, "DELETE", f"{SCHEDULES}/{first['scheduleId']}").status == 204
    assert call(running, "GET", f"{SCHEDULES}/{first['scheduleId']}").status == 404
    assert call(running, "DELETE", f"{SCHEDULES}/{first['scheduleId']}").status == 404
    names = [
        s["Name"]
        for s in boto3.client("scheduler").list_schedules(GroupName=SCHEDULE_GROUP)["Schedules"]
    ]
    assert names == [second["scheduleId"]]
    assert call(running, "GET", f"{SCHEDULES}/not-a-schedule").status == 400


def test_firing_scales_through_the_service_path_with_trigger_schedule(
    running: Any, world: World
) -> None:
    schedule = _create(running, expression="rate(1 minute)")

    result = _fire(running, schedule["scheduleId"])
    world.settle()

    assert result["outcome"] == "started"
    status = call(running, "GET", "nfDeployments/nginx-prod").body
    assert status["replicas"] == 5
    assert status["status"] == "INSTANTIATED"
    newest = _operations(running)[0]
    assert newest["operationId"] == result["operationId"]
    assert newest["type"] == "scale"
    assert newest["state"] == "COMPLETED"
    assert newest["trigger"] == "schedule"
    assert newest["actor"] == f"schedule/{schedule['scheduleId']}"
    assert "rate(1 minute)" in newest["reason"]
    history = call(running, "GET", "nfDeployments/nginx-prod/history").body["revisions"]
    assert history[0]["description"] == "Scaled to 5 replicas"
    assert history[0]["status"] == "deployed"
    last = call(running, "GET", f"{SCHEDULES}/{schedule['scheduleId']}").body["lastFiring"]
    assert last["outcome"] == "started"
    assert last["operationId"] == result["operationId"]
    assert last["scheduledTime"] == "2026-01-14T10:01:00Z"


def test_the_same_firing_delivered_twice_scales_once(running: Any, world: World) -> None:
    schedule = _create(running, expression="rate(1 minute)")
    assert _fire(running, schedule["scheduleId"])["outcome"] == "started"
    world.settle()
    before = len(_operations(running))

    again = _fire(running, schedule["scheduleId"])

    assert again["outcome"] == "duplicate"
    assert len(_operations(running)) == before


def test_firing_at_the_replica_count_already_running_changes_nothing(
    running: Any, world: World
) -> None:
    schedule = _create(running, expression="rate(1 minute)", replicas=2)

    result = _fire(running, schedule["scheduleId"])

    assert result["outcome"] == "unchanged"
    assert [o["type"] for o in _operations(running)] == ["install"]
    last = call(running, "GET", f"{SCHEDULES}/{schedule['scheduleId']}").body["lastFiring"]
    assert last["outcome"] == "unchanged"


def test_firing_that_meets_a_running_operation_is_retried_then_recorded_skipped(
    running: Any, world: World
) -> None:
    schedule = _create(running, expression="rate(1 minute)")
    upgrade = call(running, "PUT", "nfDeployments/nginx-prod", {"parameters": {"a": 1}})
    assert upgrade.status == 200
    upgrade_op = upgrade.headers["X-O2DMS-Operation-Id"]

    result = _fire(running, schedule["scheduleId"])

    assert result["outcome"] == "skipped"
    skipped = _operations(running)[0]
    assert skipped["operationId"] == result["operationId"]
    assert skipped["state"] == "SKIPPED"
    assert skipped["stage"] == "skipped"
    assert skipped["trigger"] == "schedule"
    assert skipped["error"]["error"] == "OperationInProgress"
    assert "after 3 attempts" in skipped["message"]
    assert (result["operationId"], "scale", "SKIPPED") in world.events.ended
    # The running upgrade is untouched and finishes normally.
    world.settle()
    upgraded = call(running, "GET", f"nfDeployments/nginx-prod/operations/{upgrade_op}").body
    assert upgraded["state"] == "COMPLETED"
    assert call(running, "GET", "nfDeployments/nginx-prod").body["replicas"] == 2


def test_terminate_deletes_the_deployments_schedules(running: Any, world: World) -> None:
    schedule = _create(running, expression="rate(1 hour)")

    assert call(running, "DELETE", "nfDeployments/nginx-prod").status == 202
    world.settle()

    assert boto3.client("scheduler").list_schedules(GroupName=SCHEDULE_GROUP)["Schedules"] == []
    assert call(running, "GET", f"{SCHEDULES}/{schedule['scheduleId']}").status == 404
    assert _fire(running, schedule["scheduleId"])["outcome"] is None


def test_a_one_time_schedule_is_removed_by_scheduler_after_it_ran(
    running: Any, world: World
) -> None:
    _create(running, expression="at(2026-01-14T12:00:00)", timezone="Europe/Paris")

    [summary] = boto3.client("scheduler").list_schedules(GroupName=SCHEDULE_GROUP)["Schedules"]
    stored = boto3.client("scheduler").get_schedule(Name=summary["Name"], GroupName=SCHEDULE_GROUP)
    assert stored["ActionAfterCompletion"] == "DELETE"


def test_schedule_window_dates_are_passed_to_scheduler(running: Any, world: World) -> None:
    start = datetime(2026, 2, 1, 6, 0, tzinfo=UTC)
    created = _create(
        running,
        expression="rate(1 day)",
        startDate="2026-02-01T06:00:00Z",
        endDate="2026-03-01T06:00:00Z",
    )

    assert created["nextFiring"] == "2026-02-01T06:00:00Z"
    stored = boto3.client("scheduler").get_schedule(
        Name=created["scheduleId"], GroupName=SCHEDULE_GROUP
    )
    assert stored["StartDate"] == start
    assert created["endDate"] == "2026-03-01T06:00:00Z"


def test_a_firing_that_meets_a_store_outage_is_given_back_for_the_retried_delivery(
    running: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    schedule = _create(running, expression="rate(1 minute)")
    real = world.store.get_deployment

    def unavailable(deployment_id: str) -> Any:
        raise StoreUnavailable("The deployment store is unavailable (ThrottlingException)")

    monkeypatch.setattr(world.store, "get_deployment", unavailable)
    with pytest.raises(StoreUnavailable):
        _fire(running, schedule["scheduleId"])
    monkeypatch.setattr(world.store, "get_deployment", real)

    retried = _fire(running, schedule["scheduleId"])

    assert retried["outcome"] == "started"


class _MissingGroupClient:
    """Scheduler's answer when the schedule group does not exist (moto raises a KeyError)."""

    def create_schedule(self, **params: Any) -> None:
        error = {"Error": {"Code": "ResourceNotFoundException", "Message": "no such group"}}
        raise ClientError(error, "CreateSchedule")  # type: ignore[arg-type]


def test_a_missing_schedule_group_is_503_and_leaves_no_schedule_behind(
    running: Any, world: World
) -> None:
    scheduler = EventBridgeScheduler(
        _MissingGroupClient,  # type: ignore[arg-type]
        group=SCHEDULE_GROUP,
        target_arn=SCALE_FUNCTION_ARN,
        role_arn=SCHEDULER_ROLE_ARN,
    )
    composition.use(replace(world.deps, scheduler=scheduler))

    answer = call(running, "POST", SCHEDULES, {"expression": "rate(1 hour)", "replicas": 3})

    assert answer.status == 503
    assert answer.body["error"] == "ServiceUnavailable"
    assert f"schedule group {SCHEDULE_GROUP} does not exist" in answer.body["message"]
    assert call(running, "GET", SCHEDULES).body["scalingSchedules"] == []


def test_an_unexpected_scheduler_failure_leaves_no_schedule_behind(
    running: Any, world: World
) -> None:
    # moto answers a missing group with an internal error (AWS: ResourceNotFoundException)
    boto3.client("scheduler").delete_schedule_group(Name=SCHEDULE_GROUP)

    answer = call(running, "POST", SCHEDULES, {"expression": "rate(1 hour)", "replicas": 3})

    assert answer.status == 500
    assert answer.body == {
        "error": "InternalError",
        "message": "Internal error; see the service logs",
        "code": 500,
    }
    assert call(running, "GET", SCHEDULES).body["scalingSchedules"] == []
