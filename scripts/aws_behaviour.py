"""What AWS does on its own, played inside the local AWS emulator (moto).

moto stores EventBridge Scheduler schedules and CloudWatch alarms but never acts on them.
In AWS, Scheduler invokes a schedule's target when it is due, and CloudWatch sends a
"CloudWatch Alarm State Change" event to EventBridge, whose rules invoke their targets.
`AwsBehaviour` plays both parts, reading moto's own backends (it runs in the emulator's
process):

- `ScheduleFirer`: every due firing of an enabled schedule (minute resolution, from the
  expression, time zone, start and end dates, as `chalicelib.domain.schedules` computes them)
  invokes the target Lambda with the schedule's input, Scheduler's context attributes filled
  in; a one-time schedule with `ActionAfterCompletion=DELETE` is then deleted.
- `AlarmWatcher`: every change of an alarm's state (made with `SetAlarmState`, or by anything
  else) becomes the event AWS would publish, delivered to the Lambda targets of the enabled
  EventBridge rules whose pattern matches it.

Lambda targets are invoked through Lambda's Invoke API at `lambda_endpoint` (the API process
serves it: `scripts/local_lambda.py`), asynchronously, as Scheduler and EventBridge do.

When the emulator starts from a saved state (`scripts/aws_state.py`), `AwsBehaviour.resume`
counts what the saved schedules and alarms show as already handled: alarm state changes of
the previous run are not delivered twice, and firings missed while stopped are not replayed.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain import schedules as expressions
from chalicelib.domain.errors import InvalidRequest

logger = logging.getLogger("aws_behaviour")

Invoke = Callable[[str, dict[str, Any]], None]
ALARM_DETAIL_TYPE = "CloudWatch Alarm State Change"


def lambda_invoker(endpoint: str, region: str, *, wait: bool = False) -> Invoke:
    """Invoke a Lambda function at `endpoint`: asynchronously, as Scheduler and EventBridge
    do, or (`wait`) synchronously, as an event source mapping does: the next batch of a
    stream goes only once this one is handled."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "lambda",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 2}, connect_timeout=5, read_timeout=30),
    )

    def invoke(function_arn: str, payload: dict[str, Any]) -> None:
        answer = client.invoke(
            FunctionName=function_arn,
            InvocationType="RequestResponse" if wait else "Event",
            Payload=json.dumps(payload).encode(),
        )
        if answer.get("FunctionError"):
            raise RuntimeError(f"{function_arn} failed: {answer['Payload'].read()[:500]!r}")

    return invoke


def _backends(backend_dict: Any) -> Iterator[tuple[str, str, Any]]:
    """(account, region, backend) for every backend moto has created so far."""
    for account_id, regions in list(backend_dict.items()):
        for region, backend in list(regions.items()):
            yield account_id, region, backend


def _moment(value: Any) -> datetime | None:
    """A date as moto keeps it: epoch seconds, an ISO string, or a datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    text = str(value)
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        parsed = datetime.fromisoformat(text)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class ScheduleFirer:
    """Fires due Scheduler schedules. A schedule's first check starts at its creation, so a
    `rate(1 minute)` schedule fires about a minute after it was created."""

    def __init__(self, backend_dict: Any, invoke: Invoke) -> None:
        self._backend_dict = backend_dict
        self._invoke = invoke
        self._checked: dict[str, datetime] = {}

    def mark_checked(self, now: datetime) -> None:
        """Count every existing schedule as checked up to `now`: nothing earlier fires."""
        for _, _, backend in _backends(self._backend_dict):
            for group in list(backend.schedule_groups.values()):
                for schedule in list(group.schedules.values()):
                    self._checked[schedule.arn] = now

    def tick(self, now: datetime) -> int:
        fired = 0
        live: set[str] = set()
        for _, _, backend in _backends(self._backend_dict):
            for group in list(backend.schedule_groups.values()):
                for schedule in list(group.schedules.values()):
                    live.add(schedule.arn)
                    fired += self._consider(backend, schedule, now)
        for gone in set(self._checked) - live:
            del self._checked[gone]
        return fired

    def _consider(self, backend: Any, schedule: Any, now: datetime) -> int:
        since = self._checked.get(schedule.arn)
        if since is None:
            since = _moment(schedule.creation_date) or now
        self._checked[schedule.arn] = now
        if schedule.state != "ENABLED":
            return 0
        due = self._last_due(schedule, since, now)
        if due is None:
            return 0
        target = schedule.target
        payload = _with_context(target.get("Input") or "{}", schedule, due)
        logger.info("scheduler: firing %s due %s", schedule.name, due.isoformat())
        try:
            self._invoke(target["Arn"], payload)
        except Exception as exc:
            logger.warning("scheduler: could not invoke %s: %s", target.get("Arn"), exc)
        if schedule.action_after_completion == "DELETE" and schedule.schedule_expression.startswith(
            "at("
        ):
            backend.delete_schedule(schedule.group_name, schedule.name)
        return 1

    @staticmethod
    def _last_due(schedule: Any, since: datetime, now: datetime) -> datetime | None:
        """The latest firing in (since, now], if any (missed older ones are not replayed)."""
        start, end = _moment(schedule.start_date), _moment(schedule.end_date)
        anchor = start or _moment(schedule.creation_date)
        try:
            parsed = expressions.parse(
                schedule.schedule_expression, schedule.schedule_expression_timezone, start=anchor
            )
        except InvalidRequest as exc:
            logger.warning("scheduler: %s cannot fire: %s", schedule.name, exc.message)
            return None
        due: datetime | None = None
        moment = since
        while True:
            upcoming = parsed.next_after(moment)
            if upcoming is None or upcoming > now:
                break
            if (start is None or upcoming >= start) and (end is None or upcoming <= end):
                due = upcoming
            moment = upcoming
        return due


def _with_context(text: str, schedule: Any, due: datetime) -> dict[str, Any]:
    """The target input with Scheduler's context attributes filled in."""
    filled = (
        text.replace("<aws.scheduler.scheduled-time>", due.strftime("%Y-%m-%dT%H:%M:%SZ"))
        .replace("<aws.scheduler.schedule-arn>", schedule.arn)
        .replace("<aws.scheduler.execution-id>", str(uuid.uuid4()))
        .replace("<aws.scheduler.attempt-number>", "1")
    )
    value = json.loads(filled)
    return value if isinstance(value, dict) else {"input": value}


@dataclass(frozen=True)
class _Seen:
    value: str
    reason: str
    timestamp: datetime


class AlarmWatcher:
    """Turns alarm state changes into "CloudWatch Alarm State Change" events.

    moto appends an alarm's state to its history before every update, so the updates made
    since the last look can all be replayed in order, even several within one tick.
    """

    def __init__(self, cloudwatch: Any, events: Any, invoke: Invoke) -> None:
        self._cloudwatch = cloudwatch
        self._events = events
        self._invoke = invoke
        self._replayed: dict[str, int] = {}

    def mark_delivered(self) -> None:
        """Count every state change the alarms have recorded so far as delivered."""
        for _, _, backend in _backends(self._cloudwatch):
            for alarm in list(backend.alarms.values()):
                self._new_changes(alarm)  # counts them as replayed; the events are dropped

    def tick(self) -> int:
        delivered = 0
        for account_id, region, backend in _backends(self._cloudwatch):
            for alarm in list(backend.alarms.values()):
                for before, after in self._new_changes(alarm):
                    event = alarm_event(alarm, account_id, region, before, after)
                    delivered += self._deliver(account_id, region, event)
        return delivered

    def _new_changes(self, alarm: Any) -> list[tuple[_Seen, _Seen]]:
        states = [
            _Seen(entry[3], entry[1], _moment(entry[4]) or datetime.now(UTC))
            for entry in list(alarm.history)
            if entry and entry[0] == "StateUpdate"
        ]
        updates = len(states)
        states.append(
            _Seen(
                alarm.state_value,
                alarm.state_reason,
                _moment(alarm.state_updated_timestamp) or datetime.now(UTC),
            )
        )
        done = min(self._replayed.get(alarm.alarm_arn, 0), updates)
        self._replayed[alarm.alarm_arn] = updates
        return [
            (states[k], states[k + 1])
            for k in range(done, updates)
            if states[k].value != states[k + 1].value
        ]

    def _deliver(self, account_id: str, region: str, event: dict[str, Any]) -> int:
        try:
            backend = self._events[account_id][region]
        except KeyError:
            return 0
        bus = backend.event_buses.get("default")
        delivered = 0
        for rule in list(bus.rules.values()) if bus else []:
            if rule.state != "ENABLED" or not rule.event_pattern.matches_event(event):
                continue
            for target in rule.targets:
                arn = target.get("Arn", "")
                if ":lambda:" not in arn:
                    continue
                logger.info("events: %s -> %s", event["detail"]["alarmName"], arn)
                try:
                    self._invoke(arn, event)
                    delivered += 1
                except Exception as exc:
                    logger.warning("events: could not invoke %s: %s", arn, exc)
        return delivered


def alarm_event(
    alarm: Any, account_id: str, region: str, before: _Seen, now: _Seen
) -> dict[str, Any]:
    def stamp(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"

    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": ALARM_DETAIL_TYPE,
        "source": "aws.cloudwatch",
        "account": account_id,
        "time": now.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [alarm.alarm_arn],
        "detail": {
            "alarmName": alarm.name,
            "state": {"value": now.value, "reason": now.reason, "timestamp": stamp(now.timestamp)},
            "previousState": {
                "value": before.value,
                "reason": before.reason,
                "timestamp": stamp(before.timestamp),
            },
            "configuration": {"description": alarm.description or "", "metrics": []},
        },
    }


class AwsBehaviour:
    """Runs the firer and the watcher on one background thread, every `interval` seconds."""

    def __init__(self, invoke: Invoke, *, interval: float = 1.0) -> None:
        from moto.cloudwatch.models import cloudwatch_backends
        from moto.events.models import events_backends
        from moto.scheduler.models import scheduler_backends

        self.firer = ScheduleFirer(scheduler_backends, invoke)
        self.watcher = AlarmWatcher(cloudwatch_backends, events_backends, invoke)
        self._interval = interval
        self._stop = threading.Event()

    def resume(self, now: datetime) -> None:
        """Carry on from a restored state: what it shows happened was handled back then."""
        self.watcher.mark_delivered()
        self.firer.mark_checked(now)

    def start(self) -> None:
        threading.Thread(target=self._run, name="aws-behaviour", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.watcher.tick()
                self.firer.tick(datetime.now(UTC))
            except Exception:
                logger.exception("aws behaviour tick failed")


class StreamDelivery:
    """Lambda's event source mapping for the table's stream: the new records, in order, in
    batches of up to 100, each batch handed to the target function and waited for before the
    next (a failed batch is tried once more, then logged and dropped: the stream only feeds
    live progress, never history). Polls every `interval` seconds while the stream is idle."""

    def __init__(
        self,
        tail: Any,
        invoke: Invoke,
        target_arn: str,
        *,
        lock: threading.Lock | None = None,
        interval: float = 0.05,
    ) -> None:
        self._tail = tail
        self._invoke = invoke
        self._target = target_arn
        self._lock = lock or threading.Lock()
        self._interval = interval
        self._stop = threading.Event()

    def tick(self) -> int:
        with self._lock:
            records = self._tail.read(BATCH_SIZE)
        if not records:
            return 0
        for attempt in (1, 2):
            try:
                self._invoke(self._target, {"Records": records})
                break
            except Exception:
                if attempt == 2:
                    logger.exception("stream batch of %d records dropped", len(records))
        return len(records)

    def start(self) -> None:
        threading.Thread(target=self._run, name="stream-delivery", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delivered = self.tick()
            except Exception:
                logger.exception("stream delivery failed")
                delivered = 0
            if not delivered:
                self._stop.wait(self._interval)


BATCH_SIZE = 100
