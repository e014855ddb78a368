"""The emulator's stand-in for what AWS does by itself: firing due Scheduler schedules and
publishing alarm state changes to matching EventBridge rules. Schedules, alarms and rules
are made with boto3 against moto (in-process); invocations are recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from moto import mock_aws
from moto.cloudwatch.models import cloudwatch_backends
from moto.events.models import events_backends
from moto.scheduler.models import scheduler_backends

from scripts.aws_behaviour import AlarmWatcher, ScheduleFirer
from tests.api_helpers import put_alarm

TARGET = "arn:aws:lambda:us-east-1:123456789012:function:o2dms-dev-scheduled_scale"
ALARM_TARGET = "arn:aws:lambda:us-east-1:123456789012:function:o2dms-dev-alarm_rollback"
ROLE = "arn:aws:iam::123456789012:role/scheduler"
PAYLOAD = {"deploymentId": "nginx-prod", "scheduleId": "s1", "replicas": 3}


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, arn: str, payload: dict[str, Any]) -> None:
        self.calls.append((arn, payload))


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def _schedule(name: str, expression: str, **extra: Any) -> None:
    scheduler = boto3.client("scheduler")
    payload = {**PAYLOAD, "scheduledTime": "<aws.scheduler.scheduled-time>"}
    scheduler.create_schedule(
        Name=name,
        ScheduleExpression=expression,
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": TARGET, "RoleArn": ROLE, "Input": json.dumps(payload)},
        **extra,
    )


def _created(name: str) -> datetime:
    schedule = scheduler_backends["123456789012"]["us-east-1"].get_schedule(None, name)
    return datetime.fromtimestamp(schedule.creation_date, UTC)


def test_rate_schedule_fires_once_per_interval_from_its_creation(aws: None) -> None:
    _schedule("every-minute", "rate(1 minute)")
    created = _created("every-minute")
    invoke = Recorder()
    firer = ScheduleFirer(scheduler_backends, invoke)

    assert firer.tick(created + timedelta(seconds=30)) == 0
    assert firer.tick(created + timedelta(seconds=61)) == 1
    assert firer.tick(created + timedelta(seconds=90)) == 0
    assert firer.tick(created + timedelta(seconds=125)) == 1

    assert [arn for arn, _ in invoke.calls] == [TARGET, TARGET]
    first = invoke.calls[0][1]
    assert {k: first[k] for k in PAYLOAD} == PAYLOAD
    due = (created + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert first["scheduledTime"] == due


def test_cron_schedule_fires_at_its_local_time_only(aws: None) -> None:
    _schedule("paris-8am", "cron(0 8 * * ? *)", ScheduleExpressionTimezone="Europe/Paris")
    invoke = Recorder()
    firer = ScheduleFirer(scheduler_backends, invoke)
    paris = ZoneInfo("Europe/Paris")
    day = (datetime.now(paris) + timedelta(days=2)).date()
    eight = datetime(day.year, day.month, day.day, 8, 0, tzinfo=paris).astimezone(UTC)
    firer.tick(eight - timedelta(minutes=2))  # catches up with the days before
    before = len(invoke.calls)

    assert firer.tick(eight - timedelta(seconds=1)) == 0
    assert firer.tick(eight + timedelta(seconds=30)) == 1
    assert len(invoke.calls) == before + 1
    assert invoke.calls[-1][1]["scheduledTime"] == eight.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_disabled_and_ended_schedules_do_not_fire(aws: None) -> None:
    _schedule("off", "rate(1 minute)", State="DISABLED")
    _schedule("over", "rate(1 minute)", EndDate=datetime.now(UTC) + timedelta(seconds=30))
    invoke = Recorder()
    firer = ScheduleFirer(scheduler_backends, invoke)

    firer.tick(datetime.now(UTC) + timedelta(minutes=5))

    assert invoke.calls == []


def test_one_time_schedule_fires_once_and_is_deleted(aws: None) -> None:
    when = (datetime.now(UTC) + timedelta(minutes=2)).replace(second=0, microsecond=0)
    _schedule(
        "once",
        f"at({when.strftime('%Y-%m-%dT%H:%M:%S')})",
        ActionAfterCompletion="DELETE",
    )
    invoke = Recorder()
    firer = ScheduleFirer(scheduler_backends, invoke)

    assert firer.tick(when + timedelta(seconds=5)) == 1
    assert firer.tick(when + timedelta(minutes=5)) == 0
    assert boto3.client("scheduler").list_schedules()["Schedules"] == []


def _alarm(name: str) -> None:
    put_alarm(boto3.client("cloudwatch"), name)


def _rule(pattern: dict[str, Any]) -> None:
    events = boto3.client("events")
    events.put_rule(Name="alarms", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="alarms", Targets=[{"Id": "fn", "Arn": ALARM_TARGET}])


ALARM_PATTERN = {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]}


def test_alarm_state_changes_become_events_for_matching_rules(aws: None) -> None:
    _alarm("nginx-5xx")
    _rule(ALARM_PATTERN)
    invoke = Recorder()
    watcher = AlarmWatcher(cloudwatch_backends, events_backends, invoke)
    cloudwatch = boto3.client("cloudwatch")

    cloudwatch.set_alarm_state(AlarmName="nginx-5xx", StateValue="ALARM", StateReason="boom")
    cloudwatch.set_alarm_state(AlarmName="nginx-5xx", StateValue="ALARM", StateReason="again")
    cloudwatch.set_alarm_state(AlarmName="nginx-5xx", StateValue="OK", StateReason="fine")
    delivered = watcher.tick()

    assert delivered == 2
    assert [arn for arn, _ in invoke.calls] == [ALARM_TARGET, ALARM_TARGET]
    first, second = (event for _, event in invoke.calls)
    assert first["source"] == "aws.cloudwatch"
    assert first["detail-type"] == "CloudWatch Alarm State Change"
    assert first["resources"] == ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:nginx-5xx"]
    assert first["detail"]["alarmName"] == "nginx-5xx"
    assert first["detail"]["previousState"]["value"] == "OK"
    assert first["detail"]["state"]["value"] == "ALARM"
    assert first["detail"]["state"]["reason"] == "boom"
    assert first["detail"]["state"]["timestamp"].endswith("+0000")
    assert (second["detail"]["previousState"]["value"], second["detail"]["state"]["value"]) == (
        "ALARM",
        "OK",
    )
    assert watcher.tick() == 0


def test_alarm_changes_reach_only_rules_whose_pattern_matches(aws: None) -> None:
    _alarm("nginx-5xx")
    _rule({"source": ["aws.ec2"]})
    invoke = Recorder()
    watcher = AlarmWatcher(cloudwatch_backends, events_backends, invoke)

    boto3.client("cloudwatch").set_alarm_state(
        AlarmName="nginx-5xx", StateValue="ALARM", StateReason="boom"
    )

    assert watcher.tick() == 0
    assert invoke.calls == []
