"""Follows rollouts on background threads, for the service run locally (``make run``).

In AWS a Step Functions execution polls each rollout until it ends; locally one daemon thread
per operation runs the same loop, so a request answers at once while the deployment's status
moves on by itself. Not for Lambda: a thread does not outlive the invocation that started it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


class ThreadRolloutDriver:
    """``RolloutDriver``: calls ``follow(deployment_id, operation_id)`` until it returns True."""

    def __init__(
        self,
        follow: Callable[[str, str], bool],
        *,
        interval_seconds: float,
        sleep: Callable[[float], None] = time.sleep,
        max_consecutive_errors: int = 5,
    ) -> None:
        if max_consecutive_errors < 1:
            raise ValueError("max_consecutive_errors must be at least 1")
        self._follow = follow
        self._interval = interval_seconds
        self._sleep = sleep
        self._max_errors = max_consecutive_errors
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def execution_id(self, operation_id: str) -> str:
        return f"thread:{operation_id}"

    def start(self, *, deployment_id: str, operation_id: str) -> str:
        thread = threading.Thread(
            target=self._run,
            args=(deployment_id, operation_id),
            name=f"rollout-{operation_id}",
            daemon=True,
        )
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        return self.execution_id(operation_id)

    def join_all(self, timeout: float) -> None:
        """Wait, ``timeout`` seconds at most in all, for the threads started so far to end."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self, deployment_id: str, operation_id: str) -> None:
        """The thread's whole life: the outermost handler, so it may catch anything."""
        context = {"deployment_id": deployment_id, "operation_id": operation_id}
        errors = 0
        while True:
            try:
                if self._follow(deployment_id, operation_id):
                    logger.info("rollout followed to its end", extra=context)
                    return
                errors = 0
            except Exception:
                errors += 1
                logger.exception(
                    "following the rollout failed", extra={**context, "consecutive_errors": errors}
                )
                if errors >= self._max_errors:
                    logger.error(
                        "gave up following the rollout",
                        extra={**context, "consecutive_errors": errors},
                    )
                    return
            self._sleep(self._interval)
