"""The local run (``scripts/run_local.py``, what ``make run`` starts) for scripts that drive
it: on free ports, with its state in a folder of the caller's, until it serves."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chalicelib.adapters import local_tokens  # noqa: E402
from scripts.local_state import signing_key_file  # noqa: E402

STARTUP_SECONDS = 90


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def launch(
    folder: Path, settings: Mapping[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], Path, list[int]]:
    """The local run on free ports (API, AWS, Lambda), its state and log in ``folder``,
    once it serves; ``SystemExit`` with its log if it does not."""
    api_port, aws_port, lambda_port = ports = free_ports(3)
    log_path = folder / "run_local.log"
    env = {
        **os.environ,
        "O2DMS_API_PORT": str(api_port),
        "O2DMS_AWS_PORT": str(aws_port),
        "O2DMS_LAMBDA_PORT": str(lambda_port),
        "O2DMS_LOCAL_STATE_DIR": str(folder / "state"),
        **(settings or {}),
    }
    with log_path.open("wb") as log:
        launcher = subprocess.Popen(
            [sys.executable, "scripts/run_local.py"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{api_port}/o2dms/v1/health", timeout=2)
            return launcher, log_path, ports
        except OSError:
            if time.monotonic() > deadline or launcher.poll() is not None:
                stop(launcher)
                raise SystemExit(log_path.read_text()) from None
            time.sleep(0.3)


def stop(launcher: subprocess.Popen[bytes]) -> None:
    """As Ctrl-C does: the launcher stops its children and exits."""
    if launcher.poll() is None:
        launcher.send_signal(signal.SIGINT)
    launcher.wait(timeout=30)


def admin_token(folder: Path, *groups: str) -> str:
    """A token of the run's issuer (admin unless ``groups`` say otherwise)."""
    key = local_tokens.read_key(signing_key_file(folder / "state"))
    return local_tokens.mint(key, subject="script", groups=list(groups) or ["o2dms-admin"])
