"""Small fakes shared by the tests: a clock that moves only when told, and a rollout
driver that follows rollouts only when the test says so."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from chalicelib.adapters.kms_sealer import KmsSealer
from chalicelib.composition import automation_ports
from chalicelib.config import Settings
from chalicelib.domain.models import Deployment, Operation
from chalicelib.service.context import Deps
from chalicelib.service.rollouts import follow


@dataclass
class FakeClock:
    current: datetime = field(default_factory=lambda: datetime(2026, 1, 14, 10, 0, tzinfo=UTC))
    ticks: int = 0

    def now(self) -> datetime:
        return self.current

    def seconds(self) -> float:
        """Monotonic seconds for the local cluster's rollout timing."""
        return (self.current - datetime(2026, 1, 1, tzinfo=UTC)).total_seconds()

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@dataclass
class ManualDriver:
    """Records rollouts to follow; ``run`` follows them to their end on the caller's thread."""

    started: list[tuple[str, str]] = field(default_factory=list)
    deps: Deps | None = None

    def execution_id(self, operation_id: str) -> str:
        return f"manual:{operation_id}"

    def start(self, *, deployment_id: str, operation_id: str) -> str:
        self.started.append((deployment_id, operation_id))
        return self.execution_id(operation_id)

    def poll(self) -> None:
        """One follow step for every rollout still running."""
        assert self.deps is not None
        self.started = [(d, o) for d, o in self.started if not follow(self.deps, d, o)]

    def pending(self) -> int:
        return len(self.started)


class IdSequence:
    """Operation ids that sort in creation order, like the real ones."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"op-{self.n:012x}00000000"


@dataclass
class RecordingEvents:
    """Keeps every "operation ended" event instead of sending it."""

    ended: list[tuple[str, str, str]] = field(default_factory=list)

    def operation_ended(self, operation: Operation, deployment: Deployment) -> None:
        self.ended.append((operation.id, operation.type.value, operation.state.value))


@dataclass
class RecordingKms:
    """A KMS client (moto's, inside ``mock_aws``) that notes the name of every call made."""

    client: Any
    calls: list[str] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return method(*args, **kwargs)

        return call


def kms_sealer(table: str) -> tuple[KmsSealer, RecordingKms]:
    """A sealer on a fresh moto KMS key (inside ``mock_aws``), and the client it calls."""
    kms = RecordingKms(boto3.client("kms"))
    arn = kms.client.create_key(Description=f"{table} secret parameters")["KeyMetadata"]["Arn"]
    return KmsSealer(lambda: kms, key_arn=arn, table_name=table), kms


def automation_fields(settings: Settings, dynamodb: Any) -> dict[str, Any]:
    """The automation ports of ``Deps`` on moto (inside ``mock_aws``), as keyword arguments."""
    automation, scheduler, alarms = automation_ports(settings, dynamodb, boto3.client)
    return {"automation": automation, "scheduler": scheduler, "alarms": alarms}
