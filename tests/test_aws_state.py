"""The AWS emulator's state survives a restart: moto's backends saved to a file and loaded
back, saves only after requests that may change something, and no alarm change or
schedule firing of the previous run is played again."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from scripts.aws_behaviour import AwsBehaviour
from scripts.aws_state import ChangeTracker, StateKeeper, may_change_state
from tests.api_helpers import put_alarm
from tests.conftest import create_table

TABLE = "o2dms-dev"
LAMBDA_ARN = "arn:aws:lambda:us-east-1:123456789012:function:o2dms-dev-alarm_rollback"


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def _request(method: str = "POST", target: str | None = None, path: str = "/") -> dict[str, Any]:
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path}
    if target:
        environ["HTTP_X_AMZ_TARGET"] = target
    return environ


@pytest.mark.parametrize(
    ("environ", "changes"),
    [
        (_request(target="DynamoDB_20120810.PutItem"), True),
        (_request(target="DynamoDB_20120810.TransactWriteItems"), True),
        (_request(target="DynamoDB_20120810.GetItem"), False),
        (_request(target="DynamoDB_20120810.Query"), False),
        (_request(target="DynamoDB_20120810.DescribeTable"), False),
        (_request(path="/service/GraniteServiceVersion20100801/operation/DescribeAlarms"), False),
        (_request(path="/service/GraniteServiceVersion20100801/operation/SetAlarmState"), True),
        (_request("GET", path="/schedules/nightly"), False),
        (_request("POST", path="/schedules/nightly"), True),
        (_request("DELETE", path="/schedule-groups/g"), True),
    ],
)
def test_may_change_state_skips_only_reads_it_recognises(
    environ: dict[str, Any], changes: bool
) -> None:
    assert may_change_state(environ) is changes


def test_change_tracker_notes_a_change_once_the_request_is_handled(tmp_path: Path) -> None:
    keeper = StateKeeper(tmp_path / "aws.pickle")

    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b"{}"]

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        return None

    tracked = ChangeTracker(app, keeper)
    tracked(_request(target="DynamoDB_20120810.GetItem"), start_response)
    assert not keeper._dirty.is_set()
    tracked(_request(target="DynamoDB_20120810.PutItem"), start_response)
    assert keeper._dirty.is_set()


def test_state_keeper_round_trip_restores_tables_schedules_and_alarms(tmp_path: Path) -> None:
    # Given an emulator with a table, an item, a schedule group and an alarm, saved
    path = tmp_path / "aws.pickle"
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        create_table(dynamodb, TABLE)
        dynamodb.put_item(TableName=TABLE, Item={"PK": {"S": "D#a"}, "SK": {"S": "META"}})
        boto3.client("scheduler").create_schedule_group(Name="o2dms-dev")
        put_alarm(boto3.client("cloudwatch"), "nginx-5xx")
        StateKeeper(path).save()

    # When a fresh emulator loads it
    with mock_aws():
        restored = StateKeeper(path).load()

        # Then everything is back
        assert restored > 0
        items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
        assert items == [{"PK": {"S": "D#a"}, "SK": {"S": "META"}}]
        groups = boto3.client("scheduler").list_schedule_groups()["ScheduleGroups"]
        assert "o2dms-dev" in [g["Name"] for g in groups]
        alarms = boto3.client("cloudwatch").describe_alarms()["MetricAlarms"]
        assert [a["AlarmName"] for a in alarms] == ["nginx-5xx"]


def test_state_keeper_starts_clean_from_another_moto_version(tmp_path: Path, aws: None) -> None:
    path = tmp_path / "aws.pickle"
    path.write_bytes(pickle.dumps({"format": 1, "moto": "0.0.1", "backends": {}}))

    assert StateKeeper(path).load() == 0


def test_state_keeper_without_a_file_starts_clean(tmp_path: Path, aws: None) -> None:
    assert StateKeeper(tmp_path / "missing.pickle").load() == 0


def test_state_keeper_stop_saves_what_changed_since_the_last_save(
    tmp_path: Path, aws: None
) -> None:
    path = tmp_path / "aws.pickle"
    keeper = StateKeeper(path, interval=60)
    keeper.start()
    boto3.client("scheduler").create_schedule_group(Name="late")
    keeper.changed()

    keeper.stop()

    assert path.exists()


def test_behaviour_resumed_from_saved_state_plays_nothing_of_the_previous_run(
    aws: None,
) -> None:
    # Given a restored state: an alarm that went to ALARM, a rule to a Lambda function, and
    # a schedule due every minute, created ten minutes ago
    put_alarm(boto3.client("cloudwatch"), "nginx-5xx")
    events = boto3.client("events")
    events.put_rule(Name="alarms", EventPattern='{"source": ["aws.cloudwatch"]}', State="ENABLED")
    events.put_targets(Rule="alarms", Targets=[{"Id": "1", "Arn": LAMBDA_ARN}])
    boto3.client("cloudwatch").set_alarm_state(
        AlarmName="nginx-5xx", StateValue="ALARM", StateReason="before the restart"
    )
    boto3.client("scheduler").create_schedule(
        Name="every-minute",
        ScheduleExpression="rate(1 minute)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": LAMBDA_ARN, "RoleArn": "arn:aws:iam::123456789012:role/s", "Input": "{}"},
    )
    now = datetime.now(UTC) + timedelta(minutes=10, seconds=30)
    calls: list[str] = []
    behaviour = AwsBehaviour(lambda arn, payload: calls.append(arn))

    # When the behaviour resumes, then nothing of before is delivered or fired again
    behaviour.resume(now)
    assert behaviour.watcher.tick() == 0
    assert behaviour.firer.tick(now + timedelta(seconds=20)) == 0
    assert calls == []

    # But what happens afterwards still is
    boto3.client("cloudwatch").set_alarm_state(
        AlarmName="nginx-5xx", StateValue="OK", StateReason="after the restart"
    )
    assert behaviour.watcher.tick() == 1
    assert behaviour.firer.tick(now + timedelta(seconds=40)) == 1


def test_behaviour_without_resume_would_replay_the_previous_run(aws: None) -> None:
    put_alarm(boto3.client("cloudwatch"), "nginx-5xx")
    events = boto3.client("events")
    events.put_rule(Name="alarms", EventPattern='{"source": ["aws.cloudwatch"]}', State="ENABLED")
    events.put_targets(Rule="alarms", Targets=[{"Id": "1", "Arn": LAMBDA_ARN}])
    boto3.client("cloudwatch").set_alarm_state(
        AlarmName="nginx-5xx", StateValue="ALARM", StateReason="before the restart"
    )

    behaviour = AwsBehaviour(lambda arn, payload: None)

    assert behaviour.watcher.tick() == 1
