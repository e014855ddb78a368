"""Scaling schedules as EventBridge Scheduler schedules.

Each schedule is one Scheduler schedule in the stage's group, named after the schedule id,
whose target is the scaling Lambda with a JSON payload. Scheduler fills in
``<aws.scheduler.scheduled-time>`` on every firing: the handler uses it to tell a
duplicate delivery from a new firing. The client is built on first use.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.lazy import Lazy
from chalicelib.domain.errors import BackendUnavailable, InvalidRequest
from chalicelib.domain.models import ScalingSchedule

if TYPE_CHECKING:
    from mypy_boto3_scheduler import EventBridgeSchedulerClient

logger = logging.getLogger(__name__)

SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
# Scheduler retries a failed delivery (throttled or unavailable Lambda) for up to 5 minutes:
# a firing is worth nothing much later than that.
RETRY_POLICY = {"MaximumRetryAttempts": 5, "MaximumEventAgeInSeconds": 300}


def payload(schedule: ScalingSchedule) -> dict[str, Any]:
    """What the scaling Lambda receives on every firing."""
    return {
        "deploymentId": schedule.deployment_id,
        "scheduleId": schedule.id,
        "replicas": schedule.replicas,
        "scheduledTime": SCHEDULED_TIME,
    }


class EventBridgeScheduler:
    def __init__(
        self,
        client: Callable[[], EventBridgeSchedulerClient],
        *,
        group: str,
        target_arn: str | None,
        role_arn: str | None,
    ) -> None:
        self._client = Lazy(client)
        self.group = group
        self.target_arn = target_arn
        self.role_arn = role_arn

    def request(self, schedule: ScalingSchedule) -> dict[str, Any]:
        """The CreateSchedule parameters for ``schedule``."""
        if not self.target_arn or not self.role_arn:
            raise BackendUnavailable(
                "Scaling schedules are not configured here: set O2DMS_SCHEDULE_TARGET_ARN "
                "and O2DMS_SCHEDULER_ROLE_ARN"
            )
        params: dict[str, Any] = {
            "Name": schedule.id,
            "GroupName": self.group,
            "ScheduleExpression": schedule.expression,
            "ScheduleExpressionTimezone": schedule.timezone,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED",
            "Description": (
                f"O2-DMS: scale {schedule.deployment_id} to {schedule.replicas} replicas"
            )[:512],
            "Target": {
                "Arn": self.target_arn,
                "RoleArn": self.role_arn,
                "Input": json.dumps(payload(schedule), separators=(",", ":")),
                "RetryPolicy": dict(RETRY_POLICY),
            },
        }
        if schedule.expression.startswith("at("):  # one-time: Scheduler removes it after
            params["ActionAfterCompletion"] = "DELETE"
        if schedule.start_date is not None:
            params["StartDate"] = schedule.start_date
        if schedule.end_date is not None:
            params["EndDate"] = schedule.end_date
        return params

    def create(self, schedule: ScalingSchedule) -> None:
        params = self.request(schedule)
        try:
            self._client().create_schedule(**params)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            message = exc.response.get("Error", {}).get("Message", str(exc))
            if code == "ValidationException":
                raise InvalidRequest(
                    f"EventBridge Scheduler refused the schedule: {message}"
                ) from exc
            if code == "ResourceNotFoundException":
                raise BackendUnavailable(
                    f"The schedule group {self.group} does not exist (O2DMS_SCHEDULE_GROUP)"
                ) from exc
            raise _unavailable(code, exc) from exc
        except BotoCoreError as exc:
            raise _unavailable("unreachable", exc) from exc

    def delete(self, schedule_id: str) -> None:
        try:
            self._client().delete_schedule(Name=schedule_id, GroupName=self.group)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return
            raise _unavailable(exc.response.get("Error", {}).get("Code", ""), exc) from exc
        except BotoCoreError as exc:
            raise _unavailable("unreachable", exc) from exc


def _unavailable(code: str, exc: Exception) -> BackendUnavailable:
    logger.warning("scheduler call failed", extra={"code": code, "error": str(exc)})
    return BackendUnavailable(f"EventBridge Scheduler is unavailable ({code or 'error'})")
