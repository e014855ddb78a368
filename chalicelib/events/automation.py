"""Lambda handlers for the automation triggers: EventBridge Scheduler firings and
CloudWatch "Alarm State Change" events. Both run the same service code as the API.

``app`` registers these handlers in every function, so their use cases are imported when
a trigger runs, not with the module.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalice.app import CloudWatchEvent

from chalicelib import tracing
from chalicelib.composition import deps

if TYPE_CHECKING:
    from chalicelib.service import alarms

logger = logging.getLogger(__name__)

ALARM_DETAIL_TYPE = "CloudWatch Alarm State Change"
ALARM_EVENT_PATTERN = {"source": ["aws.cloudwatch"], "detail-type": [ALARM_DETAIL_TYPE]}


def scheduled_scale(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Target of every scaling schedule; ``event`` is the schedule's payload."""
    from chalicelib.service import schedules

    deployment_id, schedule_id = event.get("deploymentId"), event.get("scheduleId")
    if not isinstance(deployment_id, str) or not isinstance(schedule_id, str):
        raise ValueError(f"event needs deploymentId and scheduleId: {json.dumps(event)[:300]}")
    tracing.start(deps().settings)
    with tracing.subsegment("## scheduled_scale", deployment_id=deployment_id):
        result = schedules.fire(
            deps(),
            deployment_id=deployment_id,
            schedule_id=schedule_id,
            scheduled_time=schedules.parse_scheduled_time(event.get("scheduledTime")),
        )
    return {
        "outcome": result.outcome.value if result.outcome else None,
        "message": result.message,
        "operationId": result.operation_id,
    }


def alarm_rollback(event: CloudWatchEvent) -> dict[str, Any]:
    """Handler of "CloudWatch Alarm State Change" events (EventBridge rule)."""
    from chalicelib.service import alarms

    change = alarm_change(event.detail, event.resources)
    if change is None:
        logger.warning("not an alarm state change", extra={"detail": str(event.detail)[:300]})
        return {"verdicts": []}
    tracing.start(deps().settings)
    with tracing.subsegment("## alarm_rollback"):
        verdicts = alarms.on_state_change(deps(), change)
    return {
        "verdicts": [
            {
                "deploymentId": v.deployment_id,
                "rolledBack": v.acted,
                "message": v.message,
                "operationId": v.operation_id,
            }
            for v in verdicts
        ]
    }


def alarm_change(detail: dict[str, Any], resources: list[str]) -> alarms.AlarmChange | None:
    """Read the parts of the event that matter; None when it is not an alarm change."""
    from chalicelib.service import alarms

    name = detail.get("alarmName")
    state = detail.get("state") or {}
    previous = detail.get("previousState") or {}
    if not isinstance(name, str) or not isinstance(state, dict) or "value" not in state:
        return None
    arn = next((r for r in resources if ":alarm:" in r), None)
    return alarms.AlarmChange(
        alarm_name=name,
        alarm_arn=arn,
        state=str(state["value"]),
        previous_state=str(previous["value"])
        if isinstance(previous, dict) and "value" in previous
        else None,
        reason=str(state.get("reason", ""))[:500],
        changed_at=parse_alarm_time(state.get("timestamp")),
    )


def parse_alarm_time(text: object) -> datetime:
    """CloudWatch's ``2026-01-14T10:00:05.123+0000``; now when missing or unreadable."""
    if isinstance(text, str):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return datetime.now(UTC)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime.now(UTC)
