"""The Chalice app's Lambda functions as the stack sees them: names, sizes, what they may do.

Logical ids are the ones ``chalice package`` gives (``APIHandler`` for the REST API, CamelCase
of ``name=`` for the others). Every function runs helm or starts an operation that does, and
helm alone needs about 370 MB, hence 1024 MB throughout. The API handler must answer within
API Gateway's 29 s; the others have room for a slow cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.settings import StageSettings


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    logical_id: str
    suffix: str | None  # name after ``o2dms-<stage>-``; None for the API handler
    memory_mb: int
    timeout_seconds: int
    starts_rollouts: bool  # may start a rollout execution (Step Functions)
    creates_schedules: bool = False  # creates them, so passes the Scheduler role
    deletes_schedules: bool = False
    reads_alarm_tags: bool = False

    def function_name(self, settings: StageSettings) -> str:
        """Fixed, as ``chalice deploy`` names them, so ARNs are known without a reference."""
        return settings.prefix if self.suffix is None else f"{settings.prefix}-{self.suffix}"


API_HANDLER = FunctionSpec(
    "APIHandler",
    None,
    1024,
    30,
    starts_rollouts=True,
    creates_schedules=True,
    deletes_schedules=True,  # deleting a schedule, terminating its deployment
)
ROLLOUT_FOLLOW = FunctionSpec("RolloutFollow", "rollout_follow", 1024, 120, starts_rollouts=False)
ROLLOUT_ABORT = FunctionSpec("RolloutAbort", "rollout_abort", 1024, 60, starts_rollouts=False)
# A firing that meets a running operation waits and retries (by default 5 attempts, 15 s
# apart) before it records a skip; and one whose schedule or deployment is gone deletes
# the schedule so it stops firing.
SCHEDULED_SCALE = FunctionSpec(
    "ScheduledScale", "scheduled_scale", 1024, 180, starts_rollouts=True, deletes_schedules=True
)
# The alarm's ``o2dms:deployment`` tag says which deployment to roll back.
ALARM_ROLLBACK = FunctionSpec(
    "AlarmRollback", "alarm_rollback", 1024, 60, starts_rollouts=True, reads_alarm_tags=True
)

ALL = (API_HANDLER, ROLLOUT_FOLLOW, ROLLOUT_ABORT, SCHEDULED_SCALE, ALARM_ROLLBACK)
