"""Live progress: who follows which deployment, and which updates a stored change makes.

A WebSocket connection follows one NF deployment (named by it, or by the seed-002 id of one
of its rollouts), or every deployment its caller may read (``EVERYTHING``). Whenever an
operation record changes, each follower gets one message per kind of change, in the order
a reader expects: the stage, then progress, then health, then how it ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from chalicelib.domain.apps import AppStatus, status_of
from chalicelib.domain.models import Operation
from chalicelib.domain.states import OperationType, Stage

# The topic of connections that follow every deployment their caller may read.
EVERYTHING = "*"
# API Gateway closes a WebSocket connection after two hours whatever happens; the records
# of one expire a little later, should its disconnect never be handled.
CONNECTION_LIFETIME_SECONDS = 2 * 3600 + 300
SNAPSHOT_PATIENCE_SECONDS = 60


class Update(StrEnum):
    SNAPSHOT = "snapshot"
    STATUS = "status"
    PROGRESS = "progress"
    STAGE = "stage"
    HEALTH_CHECK = "health_check"
    COMPLETED = "completed"
    FAILED = "failed"
    ROLLBACK_STARTED = "rollback_started"
    ROLLED_BACK = "rolled_back"
    ERROR = "error"  # an answer to a message the service could not act on


_ENDINGS = {
    AppStatus.COMPLETED: Update.COMPLETED,
    AppStatus.ROLLED_BACK: Update.ROLLED_BACK,
    AppStatus.FAILED: Update.FAILED,
}


@dataclass(frozen=True, slots=True)
class Connection:
    """A connected WebSocket client and the caller it authenticated as when it connected
    (later messages carry no credentials)."""

    connection_id: str
    actor: str
    groups: tuple[str, ...]
    expires_at: int  # epoch seconds
    topics: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Subscription:
    """One connection following one topic (a deployment id, or ``EVERYTHING``), with the
    caller it authenticated as: the grants decide, at each send, what a follower of
    everything may see."""

    connection_id: str
    topic: str
    actor: str
    groups: tuple[str, ...]
    expires_at: int  # epoch seconds
    ref: str | None = None  # what the client named: a rollout id, or the deployment id
    # Owed its snapshot: until the stream handler has sent it, the follower gets no update
    # (it would arrive before the snapshot, and say less).
    snapshot_due: bool = False
    since: int = 0  # epoch seconds it was made

    def waiting_for_snapshot(self, now: int) -> bool:
        """Owed its snapshot still; one owed for a minute lost its stream record, and gets
        updates anyway rather than none."""
        return self.snapshot_due and now - self.since < SNAPSHOT_PATIENCE_SECONDS

    @property
    def follows_everything(self) -> bool:
        return self.topic == EVERYTHING


@dataclass(frozen=True, slots=True)
class OperationChanged:
    """An operation record as it was before a write (None: new) and after."""

    old: Operation | None
    new: Operation


@dataclass(frozen=True, slots=True)
class Followed:
    """A subscription has just been recorded: its follower is owed a snapshot."""

    subscription: Subscription


def updates(old: Operation | None, new: Operation) -> tuple[Update, ...]:
    """The messages one stored change of an operation makes, in order; none for a change
    nobody watching would notice (a lease renewal, the execution id)."""
    if old is None:
        begun = Update.ROLLBACK_STARTED if new.type is OperationType.ROLLBACK else Update.STATUS
        return (begun, *_ending(None, new))
    found: list[Update] = []
    rolling_back = new.stage is Stage.ROLLING_BACK and old.stage is not Stage.ROLLING_BACK
    if rolling_back:
        found += [Update.FAILED, Update.ROLLBACK_STARTED]
    elif new.stage is not old.stage and not new.state.finished:
        found.append(Update.STAGE)
    if new.progress != old.progress or new.components != old.components:
        found.append(Update.PROGRESS)
    if new.health_checks != old.health_checks:
        found.append(Update.HEALTH_CHECK)
    found += _ending(old, new)
    if not found and status_of(old) is not status_of(new):
        found.append(Update.STATUS)
    return tuple(found)


def _ending(old: Operation | None, new: Operation) -> tuple[Update, ...]:
    if not new.state.finished or (old is not None and old.state.finished):
        return ()
    return (_ENDINGS.get(status_of(new), Update.STATUS),)
