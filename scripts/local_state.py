"""What `make run` keeps between runs, and how it cleans up after a run that was killed.

The state directory (`O2DMS_LOCAL_STATE_DIR`, default `.local/state`) holds the AWS
emulator's state (`aws.pickle`, see `scripts/aws_state.py`), the simulated cluster's
releases (`cluster.json`), the local token issuer's signing key (`auth-signing.key`,
readable by its owner only, kept across `RESET=1` so tokens already handed out stay
valid) and `run.json`, the record of the run in progress: the launcher's
process and its children's, each with its start time so that a reused pid is never taken
for one of ours.

A launcher killed with SIGKILL cannot stop its children. On Linux they stop themselves: each
is started with `die_with_parent()`, which asks the kernel to send it SIGTERM when the
launcher dies. Elsewhere, and as a second line, the next launcher reads `run.json` and
stops the children a dead launcher left behind before it claims the ports
(`stop_stale_run`); if that launcher is still alive, it refuses to share the directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

STATE_DIR_VAR = "O2DMS_LOCAL_STATE_DIR"
AWS_STATE_FILE = "aws.pickle"
CLUSTER_STATE_FILE = "cluster.json"
RUN_RECORD_FILE = "run.json"
SIGNING_KEY_FILE = "auth-signing.key"
SAVED_STATE_FILES = (AWS_STATE_FILE, CLUSTER_STATE_FILE)
STOP_GRACE_SECONDS = 5.0
_POLL_SECONDS = 0.1
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class RunInProgressError(Exception):
    """Another launcher, still alive, uses the same state directory."""


def state_dir_from_env(environ: Mapping[str, str], default: Path) -> Path:
    raw = environ.get(STATE_DIR_VAR, "").strip()
    return Path(raw).expanduser().resolve() if raw else default


def signing_key_file(state_dir: Path) -> Path:
    """Where the local run keeps the key its bearer tokens are signed with."""
    return state_dir / SIGNING_KEY_FILE


def reset_state(state_dir: Path) -> list[Path]:
    """Delete the saved state (only the files this project writes); those deleted."""
    removed = []
    for name in SAVED_STATE_FILES:
        path = state_dir / name
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


@dataclass(frozen=True)
class ProcessId:
    """A process as of its start: the pid, and when it started (where the OS tells)."""

    pid: int
    started: str | None

    @classmethod
    def of(cls, pid: int) -> ProcessId:
        return cls(pid, _start_time(pid))

    def alive(self) -> bool:
        """The same process still runs (a zombie or a pid reused since does not count)."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # it exists, under another user
        if _is_zombie(self.pid):
            return False
        return self.started is None or _start_time(self.pid) == self.started


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (Linux); None elsewhere or if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def _start_time(pid: int) -> str | None:
    fields = _proc_stat(pid)
    return fields[19] if fields and len(fields) > 19 else None  # field 22: starttime


def _is_zombie(pid: int) -> bool:
    fields = _proc_stat(pid)
    return fields is not None and fields[:1] == ["Z"]


@dataclass(frozen=True)
class RunRecord:
    launcher: ProcessId
    children: dict[str, ProcessId]

    def to_json(self) -> str:
        def entry(process: ProcessId) -> dict[str, object]:
            return {"pid": process.pid, "started": process.started}

        return json.dumps(
            {
                "launcher": entry(self.launcher),
                "children": {name: entry(p) for name, p in self.children.items()},
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> RunRecord:
        data = json.loads(text)

        def process(entry: Mapping[str, object]) -> ProcessId:
            started = entry.get("started")
            return ProcessId(int(str(entry["pid"])), None if started is None else str(started))

        return cls(
            launcher=process(data["launcher"]),
            children={name: process(e) for name, e in data["children"].items()},
        )


def write_run_record(state_dir: Path, children: Mapping[str, int]) -> None:
    """Record this launcher and its children (pid by name), replacing any earlier record."""
    record = RunRecord(
        ProcessId.of(os.getpid()), {name: ProcessId.of(pid) for name, pid in children.items()}
    )
    state_dir.mkdir(parents=True, exist_ok=True)
    partial = state_dir / f"{RUN_RECORD_FILE}.partial"
    partial.write_text(record.to_json())
    os.replace(partial, state_dir / RUN_RECORD_FILE)


def remove_run_record(state_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (state_dir / RUN_RECORD_FILE).unlink()


def stop_stale_run(state_dir: Path, *, grace_seconds: float = STOP_GRACE_SECONDS) -> list[str]:
    """Stop what a dead launcher left running; the names of the children it had to stop.

    Raises `RunInProgressError` if the recorded launcher is still alive: two runs on one
    state directory would overwrite each other's state.
    """
    path = state_dir / RUN_RECORD_FILE
    try:
        record = RunRecord.from_json(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        path.unlink()  # unreadable: nothing in it can be trusted, or stopped
        return []
    if record.launcher.pid != os.getpid() and record.launcher.alive():
        raise RunInProgressError(
            f"another local run (launcher pid {record.launcher.pid}) is using {state_dir}; "
            "stop it first"
        )
    orphans = {name: p for name, p in record.children.items() if p.alive()}
    stop_processes(orphans.values(), grace_seconds=grace_seconds)
    path.unlink()
    return sorted(orphans)


def stop_processes(processes: Iterable[ProcessId], *, grace_seconds: float) -> None:
    """SIGTERM each process's group (each leads one), then SIGKILL what is left after grace."""
    running = list(processes)
    for process in running:
        _signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while any(p.alive() for p in running) and time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
    for process in running:
        if process.alive():
            _signal_group(process.pid, signal.SIGKILL)


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child get SIGTERM when this process dies, even by
    SIGKILL (Linux's PR_SET_PDEATHSIG); None where the system has no such request."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def in_child() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return in_child
