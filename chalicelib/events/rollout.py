"""The Lambda tasks of the rollout state machine (``infra/rollout.asl.json``).

``follow`` polls once and says whether the operation has ended; ``abort`` ends an
operation whose follower kept failing, so its lease is released. Both run the same
service code as the local run's thread driver.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from chalicelib import logs, tracing
from chalicelib.composition import deps

logger = logging.getLogger(__name__)


def _ids(event: dict[str, Any]) -> tuple[str, str]:
    deployment_id, operation_id = event.get("deploymentId"), event.get("operationId")
    if not isinstance(deployment_id, str) or not isinstance(operation_id, str):
        raise ValueError(f"event needs deploymentId and operationId: {json.dumps(event)[:300]}")
    return deployment_id, operation_id


def _bound(event: dict[str, Any]) -> tuple[str, str]:
    deployment_id, operation_id = _ids(event)
    logs.forget()
    logs.bind(deployment_id=deployment_id, operation_id=operation_id)
    return deployment_id, operation_id


def follow(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from chalicelib.service import rollouts  # when the task runs: ``app`` imports this module

    wiring = deps()
    tracing.start(wiring.settings)
    deployment_id, operation_id = _bound(event)
    logger.info("following the rollout")
    ids = {"deployment_id": deployment_id, "operation_id": operation_id}
    with tracing.subsegment("## rollout_follow", **ids):
        done = rollouts.follow(wiring, deployment_id, operation_id)
        deployment = wiring.store.get_deployment(deployment_id)
    return {"done": done, "status": deployment.status.value, "progress": deployment.progress}


def abort(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from chalicelib.service import rollouts

    tracing.start(deps().settings)
    deployment_id, operation_id = _bound(event)
    failure = event.get("failure") or {}
    reason = f"{failure.get('Error', 'Error')}: {failure.get('Cause', 'unknown')}"[:1000]
    ids = {"deployment_id": deployment_id, "operation_id": operation_id}
    with tracing.subsegment("## rollout_abort", **ids):
        rollouts.abort(deps(), deployment_id, operation_id, reason=reason)
    return {"aborted": operation_id}
