"""The thread driver follows a rollout to its end, and gives up on a follower that keeps failing."""

from __future__ import annotations

import logging
import threading

import pytest

from chalicelib.adapters.rollout_thread import ThreadRolloutDriver
from chalicelib.domain.ports import RolloutDriver


class FakeSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class ScriptedFollow:
    """Plays back a script: True/False is what ``follow`` returns, an exception is raised."""

    def __init__(self, *script: bool | Exception) -> None:
        self.script = list(script)
        self.calls: list[tuple[str, str, str]] = []

    def __call__(self, deployment_id: str, operation_id: str) -> bool:
        self.calls.append((deployment_id, operation_id, threading.current_thread().name))
        step = self.script.pop(0) if self.script else RuntimeError("script exhausted")
        if isinstance(step, Exception):
            raise step
        return step


def driver(follow: ScriptedFollow, sleep: FakeSleep, max_errors: int = 5) -> ThreadRolloutDriver:
    return ThreadRolloutDriver(
        follow, interval_seconds=2.0, sleep=sleep, max_consecutive_errors=max_errors
    )


def test_thread_driver_follows_until_done() -> None:
    # Given
    follow, sleep = ScriptedFollow(False, False, True), FakeSleep()
    rollouts = driver(follow, sleep)
    port: RolloutDriver = rollouts

    # When
    execution = port.start(deployment_id="dep-1", operation_id="op-1")
    rollouts.join_all(timeout=5)

    # Then
    assert execution == "thread:op-1"
    assert follow.calls == [("dep-1", "op-1", "rollout-op-1")] * 3
    assert sleep.calls == [2.0, 2.0]


def test_thread_driver_survives_an_exception(caplog: pytest.LogCaptureFixture) -> None:
    # Given
    follow, sleep = ScriptedFollow(RuntimeError("boom"), True), FakeSleep()
    rollouts = driver(follow, sleep)

    # When
    with caplog.at_level(logging.INFO, logger="chalicelib.adapters.rollout_thread"):
        rollouts.start(deployment_id="dep-1", operation_id="op-1")
        rollouts.join_all(timeout=5)

    # Then
    assert len(follow.calls) == 2
    failure = next(r for r in caplog.records if r.levelno == logging.ERROR)
    assert failure.exc_info is not None
    assert failure.__dict__["operation_id"] == "op-1"
    assert failure.__dict__["consecutive_errors"] == 1
    assert caplog.records[-1].getMessage() == "rollout followed to its end"


def test_thread_driver_gives_up_after_consecutive_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a follower that always fails
    follow, sleep = ScriptedFollow(), FakeSleep()
    rollouts = driver(follow, sleep, max_errors=3)

    # When
    with caplog.at_level(logging.ERROR, logger="chalicelib.adapters.rollout_thread"):
        rollouts.start(deployment_id="dep-1", operation_id="op-1")
        rollouts.join_all(timeout=5)

    # Then
    assert len(follow.calls) == 3
    assert sleep.calls == [2.0, 2.0]
    assert caplog.records[-1].getMessage() == "gave up following the rollout"


def test_thread_driver_success_resets_the_error_count() -> None:
    # Given errors that never reach three in a row
    boom = RuntimeError("boom")
    follow, sleep = ScriptedFollow(boom, boom, False, boom, boom, True), FakeSleep()
    rollouts = driver(follow, sleep, max_errors=3)

    # When
    rollouts.start(deployment_id="dep-1", operation_id="op-1")
    rollouts.join_all(timeout=5)

    # Then it followed to the end
    assert len(follow.calls) == 6
    assert follow.script == []


def test_thread_driver_runs_one_daemon_thread_per_operation() -> None:
    # Given
    gate = threading.Event()
    names: list[str] = []

    def follow(deployment_id: str, operation_id: str) -> bool:
        thread = threading.current_thread()
        assert thread.daemon
        names.append(thread.name)
        return gate.wait(timeout=5)

    rollouts = ThreadRolloutDriver(follow, interval_seconds=0.0, sleep=FakeSleep())

    # When
    rollouts.start(deployment_id="dep-1", operation_id="op-1")
    rollouts.start(deployment_id="dep-2", operation_id="op-2")
    gate.set()
    rollouts.join_all(timeout=5)

    # Then
    assert sorted(names) == ["rollout-op-1", "rollout-op-2"]
