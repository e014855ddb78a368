"""Amazon ECS's service scheduler, played over moto's ECS backend, for tests and `make run`.

moto keeps clusters, services and task definitions, and answers `UpdateService` by changing
the service's task definition and desired count in place: it starts no task, opens no new
deployment and never moves a rollout on (its deployments stay as CreateService left them).
`EcsScheduler.tick` does what ECS's scheduler would, on moto's own objects (it runs in the
emulator's process, or in the test's under `mock_aws`), so that `DescribeServices` answers
as it would in AWS while a rolling update goes on:

- a service whose task definition or desired count no longer matches its PRIMARY deployment
  gets a new PRIMARY deployment (IN_PROGRESS) for it, the old one going ACTIVE (a changed
  desired count alone resizes the PRIMARY deployment, as in ECS);
- the PRIMARY deployment launches the tasks it lacks; each is PENDING for `start_seconds`,
  then RUNNING, unless an essential container's image tag contains `crash`: then the task
  stops (its essential container exits with code 1), `failedTasks` grows, and it is launched
  again on the next tick. Once all its tasks run, the older deployments' tasks are stopped
  (`drain_seconds` later) and they leave the list; the rollout is then COMPLETED and the
  service reaches a steady state;
- with the service's deployment circuit breaker on, a deployment whose failed tasks reach
  the breaker's threshold (half its desired count, at least 3, at most 200) goes FAILED and
  launches no more; with `rollback: true` the service is then pointed back at the task
  definition of its last COMPLETED deployment, which the next tick rolls out as a new PRIMARY
  deployment. Without a breaker, tasks keep failing until someone changes the service.

Service events use ECS's wording ("has started 2 tasks", "has stopped 1 running tasks",
"deployment completed", "has reached a steady state", "deployment failed: tasks failed to
start", "rolling back to deployment ..."). ECS gives a stopped task's reason and exit code
with DescribeTasks, which moto cannot answer for tasks it never ran, so the stopped-task
event carries them here: "(reason Essential container in task exited, exit code 1)".

Known gaps, kept on purpose: moto's CreateService drops `deploymentConfiguration` (set the
breaker with UpdateService, which keeps it); no task objects exist (ListTasks, DescribeTasks
find none); cluster task counts are moto's own.

The scheduler's own bookkeeping (when each task was launched) rides in the deployment dicts
under `_standIn`, which moto's serializer leaves out of every answer, so a `make run` restart
(moto's state pickled by `scripts/aws_state.py`) carries on where it was.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from chalicelib.adapters.ecs.status import breaker_threshold

logger = logging.getLogger("local_ecs")

PRIVATE = "_standIn"
# Kept on moto's Service objects (pickled with them, never serialized): the last COMPLETED
# deployment (id, task definition), and the deployment a breaker rollback goes back to.
LAST_COMPLETED = "_stand_in_completed"
ROLLING_BACK_TO = "_stand_in_rolling_back_to"
MAX_EVENTS = 100  # as many as DescribeServices returns
CRASH_WORD = "crash"


def _now_utc() -> Any:
    from moto.core.utils import utcnow

    return utcnow()


def _id(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(16)}"


def _services(backend_dict: Any) -> Iterator[tuple[Any, Any]]:
    """(backend, service) for every service moto holds, in every account and region."""
    for regions in list(backend_dict.values()):
        for backend in list(regions.values()):
            for service in list(backend.services.values()):
                yield backend, service


class EcsScheduler:
    """Moves moto's ECS services on, one `tick` at a time (a thread calls it in `make run`)."""

    def __init__(
        self,
        backend_dict: Any,
        *,
        clock: Callable[[], float] = time.time,
        start_seconds: float = 2.0,
        drain_seconds: float = 1.0,
        lock: threading.Lock | None = None,
        on_change: Callable[[], None] | None = None,
        interval: float = 0.5,
    ) -> None:
        self._backends = backend_dict
        self._clock = clock
        self._start_seconds = start_seconds
        self._drain_seconds = drain_seconds
        self._lock: AbstractContextManager[Any] = lock if lock is not None else nullcontext()
        self._on_change = on_change
        self._interval = interval
        self._stop = threading.Event()

    # ------------------------------------------------------------------ running

    def tick(self) -> int:
        """Advance every service to now; how many changed."""
        changed = 0
        with self._lock:
            for backend, service in _services(self._backends):
                if (
                    service.status == "ACTIVE"
                    and (service.deployment_controller or {}).get("type", "ECS") == "ECS"
                ):
                    changed += int(_Service(self, backend, service).advance())
        if changed and self._on_change is not None:
            self._on_change()
        return changed

    def start(self) -> None:
        threading.Thread(target=self._run, name="ecs-scheduler", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.tick()
            except Exception:
                logger.exception("ecs scheduler tick failed")


class _Service:
    """One service during one tick."""

    def __init__(self, scheduler: EcsScheduler, backend: Any, service: Any) -> None:
        self.s = scheduler
        self.backend = backend
        self.service = service
        self.now = scheduler._clock()
        self.changed = False
        self.name = service.name

    def advance(self) -> bool:
        self._follow_the_service()
        deployments = list(self.service.deployments)
        primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
        if primary is None:
            return self.changed
        self._run_tasks(primary)
        if self.service.task_definition != primary["taskDefinition"]:
            # the breaker rolled back: ECS opens the rollback's deployment at once
            self._follow_the_service()
            primary = self.service.deployments[0]
        self._drain(primary)
        self._complete(primary)
        self._counts()
        return self.changed

    # -------------------------------------------------------------- deployments

    def _follow_the_service(self) -> None:
        """A new PRIMARY deployment for a changed task definition; a resize for a changed
        desired count."""
        service = self.service
        primary = next((d for d in service.deployments if d.get("status") == "PRIMARY"), None)
        if service.task_definition is None:
            return
        # moto keeps what UpdateService was given ("web:2", a bare family); ECS the ARN
        service.task_definition = self._arn(service.task_definition)
        if primary is not None and primary.get("taskDefinition") == service.task_definition:
            if primary.get("desiredCount") != service.desired_count:
                primary["desiredCount"] = service.desired_count
                primary["updatedAt"] = _now_utc()
                if primary["rolloutState"] == "COMPLETED":
                    _private(primary, self.now)["steady"] = False
                self.changed = True
            return
        deployment_id = f"ecs-svc/{secrets.randbelow(10**19):019d}"
        rollback_of = getattr(service, ROLLING_BACK_TO, None)
        setattr(service, ROLLING_BACK_TO, None)
        reason = (
            f"ECS deployment circuit breaker: rolling back to deploymentId {rollback_of}."
            if rollback_of
            else f"ECS deployment {deployment_id} in progress."
        )
        now = _now_utc()
        fresh = {
            "id": deployment_id,
            "status": "PRIMARY",
            "taskDefinition": service.task_definition,
            "desiredCount": service.desired_count,
            "pendingCount": 0,
            "runningCount": 0,
            "failedTasks": 0,
            "createdAt": now,
            "updatedAt": now,
            "launchType": service.launch_type,
            "platformFamily": "EC2" if service.launch_type == "EC2" else "FARGATE",
            "rolloutState": "IN_PROGRESS",
            "rolloutStateReason": reason,
            PRIVATE: {"pending": [], "running": []},
        }
        older = []
        for deployment in service.deployments:
            if deployment.get("status") == "PRIMARY":
                deployment["status"] = "ACTIVE"
                deployment["updatedAt"] = now
            older.append(deployment)
        service.deployments = [fresh, *older]
        self.changed = True

    def _run_tasks(self, primary: dict[str, Any]) -> None:
        """Launch what the PRIMARY deployment lacks; start or crash what has waited long
        enough; stop what it has too many of."""
        state = _private(primary, self.now)
        failed_state = primary["rolloutState"] == "FAILED"
        crashing = self._crashes(primary["taskDefinition"])
        started, stopped = [], []
        for task, launched in list(state["pending"]):
            if self.now - launched < self.s._start_seconds:
                continue
            state["pending"].remove([task, launched])
            if crashing:
                stopped.append(task)
                primary["failedTasks"] = int(primary.get("failedTasks") or 0) + 1
            else:
                state["running"].append(task)
        if stopped:
            self._event(
                f"has stopped {len(stopped)} running tasks: {_tasks(stopped)} (reason Essential"
                " container in task exited, exit code 1)."
            )
        desired = int(primary.get("desiredCount") or 0)
        extra = len(state["running"]) - desired
        if extra > 0:
            gone, state["running"] = state["running"][:extra], state["running"][extra:]
            self._event(f"has stopped {len(gone)} running tasks: {_tasks(gone)}.")
        lacking = desired - len(state["running"]) - len(state["pending"])
        if lacking > 0 and not failed_state:
            started = [_id("") for _ in range(lacking)]
            state["pending"].extend([t, self.now] for t in started)
            self._event(f"has started {len(started)} tasks: {_tasks(started)}.")
        moved = self._moved(primary)
        if stopped or started or extra > 0 or moved:
            primary["updatedAt"] = _now_utc()
            self.changed = True
        threshold = breaker_threshold(desired)
        if (
            crashing
            and self._breaker()[0]
            and not failed_state
            and primary["failedTasks"] >= threshold
        ):
            self._trip(primary)

    def _moved(self, deployment: dict[str, Any]) -> bool:
        state = _private(deployment, self.now)
        counts = (len(state["running"]), len(state["pending"]))
        before = (deployment.get("runningCount"), deployment.get("pendingCount"))
        deployment["runningCount"], deployment["pendingCount"] = counts
        return counts != before

    def _trip(self, primary: dict[str, Any]) -> None:
        """The circuit breaker: FAILED, and with rollback on, back to the last completed."""
        primary["rolloutState"] = "FAILED"
        primary["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start."
        self._event(f"(deployment {primary['id']}) deployment failed: tasks failed to start.")
        _, rollback = self._breaker()
        last = getattr(self.service, LAST_COMPLETED, None)
        if rollback and last and last[1] != primary["taskDefinition"]:
            self._event(f"rolling back to deployment {last[0]}.")
            self.service.task_definition = last[1]
            setattr(self.service, ROLLING_BACK_TO, last[0])
        self.changed = True

    def _stop_all(self, deployment: dict[str, Any]) -> None:
        state = _private(deployment, self.now)
        gone = [t for t, _ in state["pending"]] + list(state["running"])
        if not gone:
            return
        state["pending"], state["running"] = [], []
        self._event(f"has stopped {len(gone)} running tasks: {_tasks(gone)}.")
        self._moved(deployment)
        self.changed = True

    def _drain(self, primary: dict[str, Any]) -> None:
        """Once the PRIMARY deployment has run all its tasks for ``drain_seconds``, stop the
        older deployments' tasks; ECS then drops them from the list."""
        state = _private(primary, self.now)
        desired = int(primary.get("desiredCount") or 0)
        ready = len(state["running"]) >= desired and not state["pending"]
        if not ready:
            state["readyAt"] = None
            return
        if state.get("readyAt") is None:
            state["readyAt"] = self.now
        if self.now - float(state["readyAt"]) < self.s._drain_seconds:
            return
        for deployment in self.service.deployments:
            if deployment is not primary:
                self._stop_all(deployment)
        if len(self.service.deployments) > 1:
            self.service.deployments = [primary]
            self.changed = True

    def _complete(self, primary: dict[str, Any]) -> None:
        state = _private(primary, self.now)
        desired = int(primary.get("desiredCount") or 0)
        alone = len(self.service.deployments) == 1
        done = alone and len(state["running"]) == desired and not state["pending"]
        if not done or primary["rolloutState"] == "FAILED":
            return
        if primary["rolloutState"] != "COMPLETED":
            primary["rolloutState"] = "COMPLETED"
            primary["rolloutStateReason"] = f"ECS deployment {primary['id']} completed."
            self._event(f"(deployment {primary['id']}) deployment completed.")
            setattr(self.service, LAST_COMPLETED, (primary["id"], primary["taskDefinition"]))
            state["steady"] = False
            self.changed = True
        if not state.get("steady"):
            state["steady"] = True
            self._event("has reached a steady state.")
            self.changed = True

    def _counts(self) -> None:
        running = sum(int(d.get("runningCount") or 0) for d in self.service.deployments)
        pending = sum(int(d.get("pendingCount") or 0) for d in self.service.deployments)
        if (self.service.running_count, self.service.pending_count) != (running, pending):
            self.service.running_count, self.service.pending_count = running, pending
            self.changed = True

    # -------------------------------------------------------------- reading

    def _breaker(self) -> tuple[bool, bool]:
        configuration = getattr(self.service, "deployment_configuration", None) or {}
        found = configuration.get("deploymentCircuitBreaker") or {}
        enabled = bool(found.get("enable"))
        return enabled, enabled and bool(found.get("rollback"))

    def _arn(self, reference: str) -> str:
        try:
            return str(self.backend.describe_task_definition(reference).arn)
        except Exception:  # moto's own "not found": shown as given
            return reference

    def _crashes(self, arn: str) -> bool:
        try:
            task_definition = self.backend.describe_task_definition(arn)
        except Exception:  # moto's own "not found": a deregistered one runs nothing
            return True
        return any(
            CRASH_WORD in str(c.get("image", "")).rsplit(":", 1)[-1]
            for c in task_definition.container_definitions
            if c.get("essential", True)
        )

    def _event(self, text: str) -> None:
        event = {"id": _id(""), "createdAt": _now_utc(), "message": f"(service {self.name}) {text}"}
        self.service.events = [event, *self.service.events][:MAX_EVENTS]
        self.changed = True


def _private(deployment: dict[str, Any], now: float) -> dict[str, Any]:
    """The scheduler's bookkeeping of a deployment; one moto made gets its counts as tasks
    launched ``now`` (pending) and running."""
    found = deployment.get(PRIVATE)
    if found is None:
        running = int(deployment.get("runningCount") or 0)
        pending = int(deployment.get("pendingCount") or 0)
        found = deployment[PRIVATE] = {
            "pending": [[_id(""), now] for _ in range(pending)],
            "running": [_id("") for _ in range(running)],
        }
    return found


def _tasks(ids: list[str]) -> str:
    return " ".join(f"(task {t})" for t in ids)
