"""Health-evaluation benchmark: what one evaluation of a deployment's health costs on a real
API server, for 3, 30 and 300 pods: the API requests it makes (they must not grow with the
pods) and its wall time (median of several), with the number of checks it yields.

It starts the Kubernetes test kit beside the project (``../shared/k8s``) in a temporary
folder, or uses the cluster of ``--kubeconfig``; installs one Deployment (and its Service)
per size with the ``kubernetes`` adapter, waits until it is rolled out, then times the
status read the rollout follower and ``GET .../healthChecks`` make. Run it with
``make bench-health``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.adapters.gitops.kube import KubeSession  # noqa: E402
from chalicelib.adapters.workloads.backend import KubernetesBackend  # noqa: E402
from chalicelib.domain.models import ChartRef  # noqa: E402
from chalicelib.domain.ports import (  # noqa: E402
    ClusterCredentials,
    ReleaseRef,
    ReleaseTarget,
    RolloutPhase,
)

KIT = ROOT.parent / "shared" / "k8s" / "cluster"
KUBECTL = ROOT / ".local" / "bin" / "kubectl"


@contextmanager
def cluster(kubeconfig: str | None) -> Iterator[str]:
    if kubeconfig:
        yield kubeconfig
        return
    with tempfile.TemporaryDirectory(prefix="bench-health-") as folder:
        done = subprocess.run(
            [str(KIT), "up", folder], capture_output=True, text=True, check=True, timeout=300
        )
        try:
            yield done.stdout.strip().splitlines()[-1].removeprefix("KUBECONFIG=")
        finally:
            subprocess.run([str(KIT), "down", folder], capture_output=True, check=False)


class Counting:
    """Counts the requests every ``KubeSession`` makes."""

    def __init__(self) -> None:
        self.calls = 0
        original = KubeSession._call

        def counted(what: str, call: Callable[[], object], **options: bool) -> object:
            self.calls += 1
            return original(what, call, **options)

        KubeSession._call = staticmethod(counted)  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", help="a cluster of your own (default: the test kit)")
    parser.add_argument("--sizes", default="3,30,300", help="pod counts, comma separated")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]

    with cluster(args.kubeconfig) as kubeconfig:
        namespace = f"bench-health-{int(time.time())}"
        subprocess.run(
            [str(KUBECTL), "--kubeconfig", kubeconfig, "create", "namespace", namespace],
            capture_output=True,
            check=True,
        )
        text = Path(kubeconfig).read_text()
        backend = KubernetesBackend(lambda **_: ClusterCredentials(kubeconfig=text))
        counter = Counting()
        print(f"{'pods':>6} {'API requests':>13} {'wall ms (median)':>17} {'checks':>7}")
        for size in sizes:
            name = f"bench-{size}"
            ref = ReleaseRef(release=name, namespace=namespace)
            target = ReleaseTarget(
                release=name,
                namespace=namespace,
                chart=ChartRef("", name, "1.0.0"),
                values={
                    "image": {"repository": "registry.example.com/bench"},
                    "replicaCount": size,
                    "serviceName": name,
                },
                revision=1,
                operation_id="bench",
                timeout_seconds=600,
            )
            backend.install(target)
            deadline = time.monotonic() + 600
            while backend.status(ref).phase is not RolloutPhase.READY:
                if time.monotonic() > deadline:
                    raise SystemExit(f"{name} did not roll out in 10 minutes")
                time.sleep(1)
            times, calls, checks = [], 0, 0
            for _ in range(args.runs):
                before = counter.calls
                start = time.perf_counter()
                seen = backend.status(ref)
                times.append(time.perf_counter() - start)
                calls, checks = counter.calls - before, len(seen.health_checks)
            print(f"{size:>6} {calls:>13} {statistics.median(times) * 1000:>17.1f} {checks:>7}")
        subprocess.run(
            [
                str(KUBECTL),
                "--kubeconfig",
                kubeconfig,
                "delete",
                "namespace",
                namespace,
                "--wait=false",
            ],
            capture_output=True,
            check=False,
        )


if __name__ == "__main__":
    main()
