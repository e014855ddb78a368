"""Publishes "operation ended" events to EventBridge, so other systems (the SMO, alerting,
audit) learn every outcome without polling.

Event: source ``o2dms``, detail-type ``O2DMS Operation Ended``, detail naming the deployment,
the operation, its outcome and the revisions involved. Publishing is best effort: the
operation's outcome is already stored when this runs, so a failure is logged, not raised.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.lazy import Lazy
from chalicelib.domain.models import Deployment, Operation

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

logger = logging.getLogger(__name__)

SOURCE = "o2dms"
DETAIL_TYPE = "O2DMS Operation Ended"


def event_detail(operation: Operation, deployment: Deployment) -> dict[str, Any]:
    return {
        "deploymentId": operation.deployment_id,
        "operationId": operation.id,
        "type": operation.type.value,
        "outcome": operation.state.value,
        "trigger": operation.trigger.value,
        "actor": operation.actor,
        "revision": operation.revision,
        "fromRevision": operation.from_revision,
        "rollbackRevision": operation.rollback_revision,
        "currentRevision": deployment.revision,
        "deploymentStatus": deployment.status.value,
        "failure": operation.failure,
        "error": {"error": operation.error.error, "message": operation.error.message}
        if operation.error
        else None,
        "startedAt": operation.started_at.isoformat(),
        "finishedAt": operation.finished_at.isoformat() if operation.finished_at else None,
    }


class EventBridgePublisher:
    """Builds its client on the first event: reads never pay for it on a cold start."""

    def __init__(self, client: Callable[[], EventBridgeClient], bus_name: str) -> None:
        self._client = Lazy(client)
        self._bus = bus_name

    def operation_ended(self, operation: Operation, deployment: Deployment) -> None:
        entry = {
            "Source": SOURCE,
            "DetailType": DETAIL_TYPE,
            "Detail": json.dumps(event_detail(operation, deployment)),
            "EventBusName": self._bus,
            "Resources": [],
        }
        try:
            answer = self._client().put_events(Entries=[entry])  # type: ignore[list-item]
        except (ClientError, BotoCoreError):
            logger.exception("operation event not published", extra={"operation": operation.id})
            return
        if answer.get("FailedEntryCount"):
            logger.error(
                "operation event rejected",
                extra={"operation": operation.id, "entries": answer.get("Entries")},
            )
