"""How long a new user waits: the first `make run` on a fresh clone, until the API answers.

The README promises two commands, and the first one a newcomer types installs everything
before it serves anything. That wait is what this measures, as a new user has it: each run
is a `git clone` of this repository (the committed tree, not the working one) in a temporary
directory, with empty pip and uv caches of its own, and pip's configuration files ignored
(they can point at local mirrors a new user does not have; `--keep-pip-config` keeps them).
The clock starts with `make run` and stops at the first answer of `GET /o2dms/v1/health`.

Every server a run starts is stopped, whether the run succeeds, fails or is interrupted:
SIGTERM to `make run`'s process group (make, the launcher, pip or uv; the launcher stops its
own children, which lead groups of their own), SIGKILL to what is left after a grace period,
then the launcher's run record finds any child that outlived it. Then the clone and its
caches are deleted.

    python scripts/bench_first_run.py --runs 3
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # run as a script: make `scripts` importable

from scripts.bench_table import Row, render, spread  # noqa: E402 - needs the path above
from scripts.local_state import RunInProgressError, stop_stale_run  # noqa: E402

Popen = subprocess.Popen[str]

MEASURE = "first make run on a fresh clone, until it serves"
TARGET_SECONDS = 60.0
HOST = "127.0.0.1"
HEALTH_PATH = "/o2dms/v1/health"
# Far beyond the target, so a slow run is measured rather than cut short.
GIVE_UP_SECONDS = 900.0
STOP_GRACE_SECONDS = 10.0
POLL_SECONDS = 0.2
# Where the time goes: make echoes each step's command as it starts it; the text before the
# first of these is creating the virtualenv.
PHASES: Sequence[tuple[str, str]] = (
    ("scripts/install_requirements.py", "packages"),
    ("scripts/install_helm.py", "helm"),
    ("helm package", "chart"),
    ("scripts/run_local.py", "start"),
)
# pip settings that bring in this machine's own sources, which a new user's does not have.
_MACHINE_PIP_VARS = ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX", "PIP_CONFIG_FILE")
# Settings that would aim the run elsewhere, or hand it an outer make's or venv's state.
_DROPPED_VARS = (
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
    "VIRTUAL_ENV",
    "O2DMS_KUBECONFIG",
    "O2DMS_KUBE_CONTEXT",
    "O2DMS_LOCAL_STATE_DIR",
)


class BenchError(Exception):
    """A run did not get to serving; the message says how far it got."""


@dataclass
class Timeline:
    """make's output with the time each line came, from the start of `make run`."""

    started: float = field(default_factory=time.monotonic)
    lines: list[tuple[float, str]] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append((time.monotonic() - self.started, line.rstrip("\n")))

    def phases(self, served_after: float) -> list[tuple[str, float]]:
        """Each step's duration, by the lines make echoed when it started the next one."""
        marks: list[tuple[str, float]] = [("venv", 0.0)]
        for pattern, name in PHASES:
            found = next((at for at, line in self.lines if pattern in line), None)
            if found is not None and found >= marks[-1][1]:
                marks.append((name, found))
        ends = [at for _, at in marks[1:]] + [served_after]
        return [(name, end - start) for (name, start), end in zip(marks, ends, strict=True)]

    def tail(self, count: int = 15) -> str:
        return "\n".join(line for _, line in self.lines[-count:])


@dataclass(frozen=True)
class FirstRun:
    seconds: float
    phases: list[tuple[str, float]]

    def breakdown(self) -> str:
        return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.phases)


def free_ports(count: int) -> list[int]:
    """Ports free now, all different (held open together while the system picks them)."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind((HOST, 0))
        return [int(probe.getsockname()[1]) for probe in probes]


def fresh_environment(
    environ: Mapping[str, str], scratch: Path, ports: Sequence[int], *, keep_pip_config: bool
) -> dict[str, str]:
    """A new user's environment: empty caches in ``scratch``, and ports nobody else uses."""
    dropped = _DROPPED_VARS if keep_pip_config else _DROPPED_VARS + _MACHINE_PIP_VARS
    env = {name: value for name, value in environ.items() if name not in dropped}
    virtualenv = environ.get("VIRTUAL_ENV")
    if virtualenv:  # an activated venv's python must not become the clone's base
        bin_dir = str(Path(virtualenv) / "bin")
        env["PATH"] = os.pathsep.join(
            part for part in env.get("PATH", "").split(os.pathsep) if part != bin_dir
        )
    if not keep_pip_config:
        env["PIP_CONFIG_FILE"] = os.devnull
    api_port, aws_port, lambda_port = ports
    env.update(
        PIP_CACHE_DIR=str(scratch / "pip-cache"),
        UV_CACHE_DIR=str(scratch / "uv-cache"),
        XDG_CACHE_HOME=str(scratch / "cache"),  # helm's cache too
        O2DMS_API_PORT=str(api_port),
        O2DMS_AWS_PORT=str(aws_port),
        O2DMS_LAMBDA_PORT=str(lambda_port),
    )
    return env


def serves(port: int) -> bool:
    url = f"http://{HOST}:{port}{HEALTH_PATH}"
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def make_run(clone: Path, env: Mapping[str, str], timeline: Timeline) -> Iterator[Popen]:
    """`make run` in ``clone``, in a process group of its own; everything it started is
    stopped when the block ends, however it ends."""
    process = subprocess.Popen(
        ["make", "run"],
        cwd=clone,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    reader = threading.Thread(target=_read_into, args=(process, timeline), daemon=True)
    reader.start()
    try:
        yield process
    finally:
        stop_group(process)
        reader.join(timeout=STOP_GRACE_SECONDS)
        with contextlib.suppress(RunInProgressError, OSError):
            stop_stale_run(clone / ".local" / "state")


def _read_into(process: Popen, timeline: Timeline) -> None:
    """Drain make's output (a full pipe would stall it) into the timeline."""
    assert process.stdout is not None
    for line in process.stdout:
        timeline.add(line)


def stop_group(process: Popen) -> None:
    """SIGTERM to the whole group (make, the launcher, pip or uv); SIGKILL to what is left
    after a grace period. make itself may exit at once: the launcher, in the same group,
    still gets its grace period to stop its children."""
    _signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while _group_alive(process.pid) and time.monotonic() < deadline:
        process.poll()  # reap make, or its pid keeps the group "alive" as a zombie
        time.sleep(POLL_SECONDS)
    _signal_group(process.pid, signal.SIGKILL)
    process.wait()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def clone_repository(source: Path, destination: Path) -> None:
    done = subprocess.run(
        ["git", "clone", "--quiet", str(source), str(destination)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"git clone of {source} failed: {done.stderr.strip()}")


def first_run(*, keep_pip_config: bool = False, source: Path = REPO_ROOT) -> FirstRun:
    """One fresh clone's first `make run`, timed until it serves; everything removed after."""
    scratch = Path(tempfile.mkdtemp(prefix="o2dms-first-run-"))
    try:
        clone = scratch / "repo"
        clone_repository(source, clone)
        ports = free_ports(3)
        env = fresh_environment(os.environ, scratch, ports, keep_pip_config=keep_pip_config)
        timeline = Timeline()
        with make_run(clone, env, timeline) as process:
            deadline = timeline.started + GIVE_UP_SECONDS
            while not serves(ports[0]):
                if process.poll() is not None:
                    raise BenchError(
                        f"make run exited with code {process.returncode} before serving:\n"
                        f"{timeline.tail()}"
                    )
                if time.monotonic() > deadline:
                    raise BenchError(
                        f"make run did not serve within {GIVE_UP_SECONDS:.0f} s:\n{timeline.tail()}"
                    )
                time.sleep(POLL_SECONDS)
            seconds = time.monotonic() - timeline.started
        return FirstRun(seconds, timeline.phases(seconds))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def figure(seconds: Sequence[float]) -> str:
    """``48 s (46-51)``: the median in seconds, then the range."""
    median, _, extent = spread(seconds, digits=0).partition(" ")
    return f"{median} s {extent}"


def rows(runs: int, *, keep_pip_config: bool = False, log: bool = True) -> list[Row]:
    """One row: the median first run of ``runs`` fresh clones, against the 60 s target."""
    results: list[FirstRun] = []
    for number in range(1, runs + 1):
        result = first_run(keep_pip_config=keep_pip_config)
        results.append(result)
        if log:
            print(
                f"first run {number}/{runs}: served after {result.seconds:.1f} s "
                f"({result.breakdown()})",
                file=sys.stderr,
                flush=True,
            )
    seconds = [result.seconds for result in results]
    met = statistics.median(seconds) <= TARGET_SECONDS
    return [Row(MEASURE, figure(seconds), f"<= {TARGET_SECONDS:.0f} s", met)]


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C, so the `finally` blocks stop the servers and clean up."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="fresh clones to time (3)")
    parser.add_argument(
        "--keep-pip-config",
        action="store_true",
        help="let pip read this machine's configuration files (local mirrors, find-links)",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        table = rows(args.runs, keep_pip_config=args.keep_pip_config)
    except BenchError as exc:
        print(f"bench_first_run: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench_first_run: interrupted; servers stopped, clones removed", file=sys.stderr)
        return 130
    print(render(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
