"""What every use case receives: the ports, the settings and the clock, in one value."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from chalicelib.config import Settings
from chalicelib.domain.access import Grant, Role
from chalicelib.domain.apps import new_rollout_id
from chalicelib.domain.ports import (
    AlarmDirectory,
    AutomationStore,
    BackendResolver,
    EventPublisher,
    RolloutDriver,
    ScheduleRunner,
    SecretSealer,
    Store,
)
from chalicelib.domain.states import Trigger


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def time_ordered_id(prefix: str) -> str:
    """``prefix-`` then milliseconds since the epoch and randomness: ids that sort by time."""
    return f"{prefix}-{int(time.time() * 1000):012x}{secrets.token_hex(4)}"


def new_operation_id() -> str:
    """Operations list newest first by their ids."""
    return time_ordered_id("op")


@dataclass(frozen=True, slots=True)
class Deps:
    store: Store
    backends: BackendResolver
    driver: RolloutDriver
    events: EventPublisher
    settings: Settings
    automation: AutomationStore
    scheduler: ScheduleRunner
    alarms: AlarmDirectory
    sealer: SecretSealer
    clock: Callable[[], datetime] = utc_now
    new_id: Callable[[], str] = new_operation_id
    new_rollout_id: Callable[[], str] = new_rollout_id


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks, with which grants, through which trigger, and why (recorded on the
    operation and in the audit trail), and where the request came from."""

    actor: str = "anonymous"
    trigger: Trigger = Trigger.API
    reason: str | None = None
    grants: tuple[Grant, ...] = ()
    request_id: str | None = None
    source_ip: str | None = None


def system_caller(actor: str, trigger: Trigger, reason: str) -> Caller:
    """An automation trigger acting as its own principal: an operator everywhere."""
    return Caller(actor=actor, trigger=trigger, reason=reason, grants=(Grant(Role.OPERATOR),))
