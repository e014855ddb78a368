"""The Chalice app's Lambda functions as the stack sees them: names, sizes, what they may do.

Logical ids are the ones ``chalice package`` gives (``APIHandler`` for the REST API, CamelCase
of ``name=`` for the others). A function that acts on deployments runs helm or starts an
operation that does, and helm alone needs about 370 MB, hence 1024 MB; the WebSocket
connect and message handlers are among them, since reading a deployment settles an operation
whose follower died (a helm status). The disconnect handler and the stream's function only
read and delete table items and post messages: 512 MB, no helm. Handlers API Gateway waits
for (the API handler, the WebSocket routes) must answer within its 29 s; the others have
room for a slow cluster.
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
    # Reads and changes deployments and reaches their clusters: any table item, helm and the
    # kubeconfigs, events, secret parameters. Without it: table reads, and what flags below add.
    acts_on_deployments: bool = True
    records_refusals: bool = False  # appends refusals to the audit trail (without the above)
    forgets_connections: bool = False  # deletes a WebSocket connection's items in one batch
    posts_to_connections: bool = False  # sends messages on the WebSocket API's connections
    reads_stream: bool = False  # the table's stream, through its event source mapping

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

# Live progress. Connecting checks the caller and reads what it follows; a message
# subscribes, unsubscribes or answers an error on its connection, and forgets a connection
# found gone; disconnecting deletes the connection's items; the stream's function sends each
# stored change to the followers (a refused snapshot is recorded).
WEBSOCKET_CONNECT = FunctionSpec(
    "WebsocketConnect", "websocket_connect", 1024, 29, starts_rollouts=False
)
WEBSOCKET_MESSAGE = FunctionSpec(
    "WebsocketMessage",
    "websocket_message",
    1024,
    29,
    starts_rollouts=False,
    forgets_connections=True,
    posts_to_connections=True,
)
WEBSOCKET_DISCONNECT = FunctionSpec(
    "WebsocketDisconnect",
    "websocket_disconnect",
    512,
    29,
    starts_rollouts=False,
    acts_on_deployments=False,
    forgets_connections=True,
)
LIVE_UPDATES = FunctionSpec(
    "LiveUpdates",
    "live_updates",
    512,
    60,
    starts_rollouts=False,
    acts_on_deployments=False,
    records_refusals=True,
    forgets_connections=True,
    posts_to_connections=True,
    reads_stream=True,
)

LIVE = (WEBSOCKET_CONNECT, WEBSOCKET_MESSAGE, WEBSOCKET_DISCONNECT, LIVE_UPDATES)
ALL = (API_HANDLER, ROLLOUT_FOLLOW, ROLLOUT_ABORT, SCHEDULED_SCALE, ALARM_ROLLBACK, *LIVE)
