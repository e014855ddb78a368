"""The local run's state directory: a killed run's leftovers are stopped, a live run is not
shared, `--reset` forgets only the saved state, and children die with their launcher."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.local_state import (
    AWS_STATE_FILE,
    CLUSTER_STATE_FILE,
    RUN_RECORD_FILE,
    ProcessId,
    RunInProgressError,
    RunRecord,
    reset_state,
    state_dir_from_env,
    stop_stale_run,
    write_run_record,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes that wait to be stopped, each leading its own group; reaped after the test."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def sleeper(started: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(SLEEPER, start_new_session=True)
    started.append(process)
    return process


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def record(state_dir: Path, launcher: ProcessId, **children: ProcessId) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / RUN_RECORD_FILE).write_text(RunRecord(launcher, children).to_json())


def wait_for_exit(process: subprocess.Popen[bytes], timeout: float = 10) -> int | None:
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def test_stop_stale_run_stops_the_children_of_a_dead_launcher(
    tmp_path: Path, sleepers: list[subprocess.Popen[bytes]]
) -> None:
    # Given the record of a launcher that is gone, and its child still running
    orphan = sleeper(sleepers)
    record(tmp_path, ProcessId(dead_pid(), None), emulator=ProcessId.of(orphan.pid))

    # When the next launcher claims the directory
    stopped = stop_stale_run(tmp_path, grace_seconds=5)

    # Then the child is stopped, and the record is gone
    assert stopped == ["emulator"]
    assert wait_for_exit(orphan) == -signal.SIGTERM
    assert not (tmp_path / RUN_RECORD_FILE).exists()


def test_stop_stale_run_refuses_to_share_the_directory_with_a_live_launcher(
    tmp_path: Path, sleepers: list[subprocess.Popen[bytes]]
) -> None:
    # Given the record of a launcher that still runs, with its child
    launcher, child = sleeper(sleepers), sleeper(sleepers)
    record(tmp_path, ProcessId.of(launcher.pid), emulator=ProcessId.of(child.pid))

    # When another launcher claims the directory, then it is refused, naming the launcher
    with pytest.raises(RunInProgressError, match=f"pid {launcher.pid}"):
        stop_stale_run(tmp_path)

    # And nothing was stopped
    assert launcher.poll() is None
    assert child.poll() is None


def test_stop_stale_run_leaves_a_reused_pid_alone(
    tmp_path: Path, sleepers: list[subprocess.Popen[bytes]]
) -> None:
    # Given a record whose child pid now belongs to another process (another start time)
    stranger = sleeper(sleepers)
    if ProcessId.of(stranger.pid).started is None:
        pytest.skip("this system does not tell when a process started")
    record(tmp_path, ProcessId(dead_pid(), None), emulator=ProcessId(stranger.pid, "1"))

    # When the next launcher claims the directory
    stopped = stop_stale_run(tmp_path, grace_seconds=1)

    # Then that process is not touched
    assert stopped == []
    assert stranger.poll() is None


def test_write_run_record_names_this_launcher_and_its_children(
    tmp_path: Path, sleepers: list[subprocess.Popen[bytes]]
) -> None:
    child = sleeper(sleepers)

    write_run_record(tmp_path, {"the AWS emulator": child.pid})

    saved = RunRecord.from_json((tmp_path / RUN_RECORD_FILE).read_text())
    assert saved.launcher == ProcessId.of(os.getpid())
    assert saved.children == {"the AWS emulator": ProcessId.of(child.pid)}


def test_reset_state_removes_only_the_saved_state(tmp_path: Path) -> None:
    # Given saved state beside files the project does not own
    for name in (AWS_STATE_FILE, CLUSTER_STATE_FILE, "notes.txt"):
        (tmp_path / name).write_text("x")

    # When
    removed = reset_state(tmp_path)

    # Then
    assert sorted(p.name for p in removed) == sorted([AWS_STATE_FILE, CLUSTER_STATE_FILE])
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_state_dir_from_env_defaults_and_resolves(tmp_path: Path) -> None:
    default = tmp_path / "default"

    assert state_dir_from_env({}, default) == default
    assert state_dir_from_env({"O2DMS_LOCAL_STATE_DIR": str(tmp_path / "s")}, default) == (
        tmp_path / "s"
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_supervisor_children_die_when_the_launcher_is_killed(tmp_path: Path) -> None:
    # Given a launcher that started a child with the Supervisor, then waits
    pid_file = tmp_path / "child.pid"
    launcher_code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from scripts.run_local import Supervisor
        supervisor = Supervisor()
        supervisor.start("sleeper", {SLEEPER!r}, cwd=Path("."), env={{}})
        Path({str(pid_file)!r}).write_text(str(supervisor.pids()["sleeper"]))
        time.sleep(60)
        """
    )
    launcher = subprocess.Popen([sys.executable, "-c", launcher_code])
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert launcher.poll() is None
        assert time.monotonic() < deadline
        time.sleep(0.05)
    child = ProcessId.of(int(pid_file.read_text()))
    assert child.alive()

    # When the launcher is killed with SIGKILL
    launcher.kill()
    launcher.wait()

    # Then the child exits too
    deadline = time.monotonic() + 10
    while child.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not child.alive()
