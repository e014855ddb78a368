"""Answering a change once it has ended (``Prefer: wait=N``, RFC 7240).

A change is answered at once, while its rollout goes on (API Gateway allows 29 s; a rollout
may take minutes). A caller that would rather have the seed's answer, the deployment as
the change left it, may ask to wait up to ``MAX_WAIT_SECONDS``: the operation record is
read every ``POLL_SECONDS`` until it has ended or the time is up, and the answer is then
the state of that moment. Only reads: the rollout's follower does the work either way.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace

from chalicelib.service.context import Deps
from chalicelib.service.records import Started

MAX_WAIT_SECONDS = 25  # under API Gateway's 29 s, with room for the change itself
POLL_SECONDS = 0.5

pause: Callable[[float], None] = time.sleep  # tests step their rollouts here instead


def until_ended(deps: Deps, started: Started, seconds: float) -> Started:
    """``started`` as it stands once its operation has ended, or after ``seconds``."""
    seconds = min(max(seconds, 0.0), MAX_WAIT_SECONDS)
    deployment_id, operation_id = started.deployment.id, started.operation.id
    operation = started.operation
    for _ in range(math.ceil(seconds / POLL_SECONDS)):
        if operation.state.finished:
            break
        pause(POLL_SECONDS)
        operation = deps.store.get_operation(deployment_id, operation_id)
    if operation is started.operation:
        return started
    return replace(
        started, deployment=deps.store.get_deployment(deployment_id), operation=operation
    )
