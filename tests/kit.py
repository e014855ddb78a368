"""The real Kubernetes API server the real-cluster suites run against.

``O2DMS_TEST_KUBECONFIG`` aims them at any cluster. Without it they use the test kit beside
the project (``../shared/k8s/cluster``: a real kube-apiserver, controller-manager and etcd
with a simulated node), started once per test session in a folder every xdist worker sees:
each worker calls ``up`` on it (the kit serialises the calls and starts the cluster once),
and the controller process calls ``down`` when the session ends. When the session failed,
the cluster's logs are copied to ``.local/k8s-logs/`` first, where they outlive pytest's
rotation of temporary folders.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CLUSTER = SHARED / "k8s" / "cluster"
CRDS = SHARED / "crds"
KEPT_LOGS = ROOT / ".local" / "k8s-logs"
OVERRIDE = "O2DMS_TEST_KUBECONFIG"
UP_TIMEOUT = 300


def unavailable() -> str | None:
    """Why no cluster can be had, or None when one can."""
    if os.environ.get(OVERRIDE):
        return None
    if not os.access(CLUSTER, os.X_OK):
        return f"no cluster: set {OVERRIDE} to a kubeconfig, or put the test kit at {CLUSTER}"
    return None


def state_dir(basetemp: Path, *, worker: bool) -> Path:
    """The kit's folder for this session, the same for the controller and its workers."""
    return (basetemp.parent if worker else basetemp) / "k8s"


def up(state: Path) -> str:
    """The kubeconfig of the session's cluster, starting it unless it is already up."""
    if os.environ.get(OVERRIDE):
        return os.environ[OVERRIDE]
    done = subprocess.run(
        [str(CLUSTER), "up", str(state), "--crds", str(CRDS)],
        capture_output=True,
        text=True,
        timeout=UP_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the test cluster did not start:\n{done.stderr.strip()}")
    line = done.stdout.strip().splitlines()[-1]
    return line.removeprefix("KUBECONFIG=")


def down(state: Path, *, failed: bool) -> Path | None:
    """Stop the session's cluster if it was started; keep its logs if the session failed.
    Answers where the logs were kept."""
    if not (state / "run").is_dir():
        return None
    subprocess.run(
        [str(CLUSTER), "down", str(state)], capture_output=True, timeout=120, check=False
    )
    if not failed or not (state / "logs").is_dir():
        return None
    kept = KEPT_LOGS / time.strftime("%Y%m%d-%H%M%S")
    shutil.copytree(state / "logs", kept, dirs_exist_ok=True)
    return kept
