"""The one chokepoint every helm command goes through.

``HelmRunner.run`` owns everything risky about running a CLI with cluster credentials:

- an argv list, never a shell; the binary from ``binary.py`` replaces the leading ``"helm"``;
- an explicit timeout; a command that overruns is killed and raises ``BackendTimeout``;
- credentials in a private kubeconfig, one per call: a file of mode 0600 in a fresh
  directory of mode 0700, passed as ``--kubeconfig`` and removed afterwards whatever
  happened. It holds ``credentials.kubeconfig`` as given, or one rendered from server, CA and
  bearer token as JSON (a kubeconfig may be JSON, so no YAML library is needed);
- an environment that cannot redirect helm to another cluster or namespace (``KUBECONFIG``
  and ``HELM_KUBE*``/``HELM_NAMESPACE`` are dropped) and writable helm homes (Lambda's
  home is read-only);
- a failure becomes a domain error (``errors.py``);
- a structured log line per command with the argv and outcome only: argv never holds a
  secret, and stdout (which echoes values), stdin, stderr and the kubeconfig are never logged.

``spawn`` is the seam for tests: a function with ``spawn_subprocess``'s signature.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from chalicelib import tracing
from chalicelib.adapters.helm.binary import locate_helm
from chalicelib.adapters.helm.errors import error_for
from chalicelib.domain.errors import BackendTimeout, BackendUnavailable
from chalicelib.domain.ports import ClusterCredentials

logger = logging.getLogger(__name__)

_CONTEXT = "o2dms"
_DROPPED_ENV = ("KUBECONFIG", "HELM_NAMESPACE")
_DROPPED_ENV_PREFIX = "HELM_KUBE"
_TWO_WORD = frozenset({"get", "show"})
_READ_ONLY = frozenset({"status", "history", "get", "show", "template", "version"})


@dataclass(frozen=True, slots=True)
class Spawned:
    """What a finished process left behind."""

    returncode: int
    stdout: bytes
    stderr: bytes


@dataclass(frozen=True, slots=True)
class Completed:
    """A helm command that succeeded."""

    argv: tuple[str, ...]
    stdout: bytes
    stderr: str
    seconds: float


class Spawn(Protocol):
    """Run ``argv`` to its end; raise ``subprocess.TimeoutExpired`` after ``timeout`` seconds
    and ``OSError`` when it cannot start."""

    def __call__(
        self, argv: Sequence[str], *, stdin: bytes | None, timeout: float, env: Mapping[str, str]
    ) -> Spawned: ...


class Runner(Protocol):
    """What ``HelmBackend`` needs: ``HelmRunner``, or a test's fake."""

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None,
        timeout: float,
        credentials: ClusterCredentials | None,
    ) -> Completed: ...


def spawn_subprocess(
    argv: Sequence[str], *, stdin: bytes | None, timeout: float, env: Mapping[str, str]
) -> Spawned:
    """``subprocess.run`` with no shell; stdin is closed when there is nothing to send."""
    done = subprocess.run(
        list(argv),
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        timeout=timeout,
        env=dict(env),
        check=False,
    )
    return Spawned(done.returncode, done.stdout, done.stderr)


def render_kubeconfig(credentials: ClusterCredentials) -> str:
    """The kubeconfig document for ``credentials``: its own, or one built from server + token."""
    if credentials.kubeconfig:
        return credentials.kubeconfig
    if not credentials.server:
        raise BackendUnavailable("the cluster's credentials name neither a kubeconfig nor a server")
    cluster: dict[str, str] = {"server": credentials.server}
    if credentials.certificate_authority_data:
        cluster["certificate-authority-data"] = credentials.certificate_authority_data
    user = {"token": credentials.token} if credentials.token else {}
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": _CONTEXT, "cluster": cluster}],
        "users": [{"name": _CONTEXT, "user": user}],
        "contexts": [{"name": _CONTEXT, "context": {"cluster": _CONTEXT, "user": _CONTEXT}}],
        "current-context": _CONTEXT,
    }
    return json.dumps(document)


def kube_context(credentials: ClusterCredentials | None) -> str | None:
    """The ``--kube-context`` to pass: only a given kubeconfig may need one picked."""
    if credentials is None or not credentials.kubeconfig:
        return None
    return credentials.context or None


@contextmanager
def private_kubeconfig(credentials: ClusterCredentials | None) -> Iterator[Path | None]:
    """A kubeconfig file only this process can read, for one command; gone afterwards."""
    if credentials is None:
        yield None
        return
    content = render_kubeconfig(credentials)
    folder = Path(tempfile.mkdtemp(prefix="o2dms-kube-"))  # mode 0700
    try:
        path = folder / "config"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            os.fchmod(stream.fileno(), 0o600)  # whatever the umask
            stream.write(content)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def helm_env(base: Mapping[str, str], state_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in base.items()
        if key not in _DROPPED_ENV and not key.startswith(_DROPPED_ENV_PREFIX)
    }
    env.setdefault("HELM_CACHE_HOME", str(state_dir / "cache"))
    env.setdefault("HELM_CONFIG_HOME", str(state_dir / "config"))
    env.setdefault("HELM_DATA_HOME", str(state_dir / "data"))
    env.setdefault("HOME", str(state_dir))
    return env


class HelmRunner:
    """Runs helm commands; see the module docstring for what each call guarantees."""

    def __init__(
        self,
        binary: Path | str | None = None,
        *,
        spawn: Spawn = spawn_subprocess,
        env: Mapping[str, str] | None = None,
        state_dir: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.binary = Path(binary) if binary is not None else locate_helm()
        self._spawn = spawn
        self._env = env
        self._state_dir = state_dir or Path(tempfile.gettempdir()) / "o2dms-helm"
        self._clock = clock

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None,
        timeout: float,
        credentials: ClusterCredentials | None,
    ) -> Completed:
        if len(argv) < 2 or argv[0] != "helm":
            raise ValueError(f"not a helm command: {list(argv)!r}")
        command = tuple(argv)
        subcommand = " ".join(command[1:3] if command[1] in _TWO_WORD else command[1:2])
        self._state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        env = helm_env(os.environ if self._env is None else self._env, self._state_dir)
        started = self._clock()
        with private_kubeconfig(credentials) as kubeconfig:
            full = [str(self.binary), *command[1:]]
            if kubeconfig is not None:
                full += ["--kubeconfig", str(kubeconfig)]
            try:
                with tracing.subsegment(f"helm {subcommand}"):
                    done = self._spawn(full, stdin=stdin, timeout=timeout, env=env)
            except subprocess.TimeoutExpired:
                self._log(command, started, outcome="timeout")
                raise BackendTimeout(
                    f"helm {subcommand} did not finish within {timeout:g}s and was stopped"
                ) from None
            except OSError as exc:
                self._log(command, started, outcome="not-started")
                raise BackendUnavailable(
                    f"cannot run helm at {self.binary} ({exc.strerror or exc}); run "
                    "`make setup` or set O2DMS_HELM_BINARY"
                ) from None
        stderr = done.stderr.decode("utf-8", "replace")
        if done.returncode != 0:
            error = error_for(stderr, exit_code=done.returncode, subcommand=subcommand)
            self._log(command, started, outcome=type(error).__name__, exit_code=done.returncode)
            raise error
        seconds = self._log(command, started, outcome="ok", exit_code=0)
        return Completed(command, done.stdout, stderr, seconds)

    def _log(
        self,
        command: tuple[str, ...],
        started: float,
        *,
        outcome: str,
        exit_code: int | None = None,
    ) -> float:
        seconds = self._clock() - started
        if outcome != "ok":
            level = logging.WARNING
        else:  # the follower polls status every second: keep reads out of the INFO stream
            level = logging.DEBUG if command[1] in _READ_ONLY else logging.INFO
        logger.log(
            level,
            "helm command finished",
            extra={
                "helm_argv": list(command),
                "helm_outcome": outcome,
                "helm_exit_code": exit_code,
                "helm_seconds": round(seconds, 3),
            },
        )
        return seconds
