"""Cold-start benchmark: how much a Lambda cold start pays for this app, next to bare boto3.

Each scenario runs in a fresh interpreter, several times; the script prints the median
wall time and the peak resident memory of each. Run it with ``make bench``.

Scenarios:
- ``python``: the interpreter alone (the floor);
- ``boto3 client``: import boto3 and build a DynamoDB client (what any boto3 Lambda pays);
- ``import app``: import the Chalice app and its routes (no AWS client yet);
- ``app + wiring``: import the app and build its wiring (boto3 client, store, backends):
  everything a first request pays before its first DynamoDB call.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import resource, sys, time
start = time.perf_counter()
{body}
elapsed = time.perf_counter() - start
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"{{elapsed:.6f}} {{peak_kib}} {{int('kubernetes' in sys.modules)}}")
"""

SCENARIOS = {
    "python": "pass",
    "boto3 client": "import boto3; boto3.client('dynamodb', region_name='us-east-1')",
    "import app": "import app",
    "app + wiring": "import app\nfrom chalicelib import composition\ncomposition.deps()",
}


def measure(body: str, runs: int) -> tuple[float, float, bool]:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    times, peaks, kube = [], [], False
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", PROBE.format(body=body)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        seconds, peak, has_kube = done.stdout.split()
        times.append(float(seconds))
        peaks.append(int(peak) / 1024)
        kube = kube or has_kube == "1"
    return statistics.median(times), max(peaks), kube


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per scenario (median shown)")
    runs = parser.parse_args().runs
    print(f"cold start, median of {runs} fresh interpreters ({sys.version.split()[0]})")
    print(f"{'scenario':<16} {'import+init ms':>15} {'peak RSS MiB':>13}  kubernetes loaded")
    baseline = None
    for name, body in SCENARIOS.items():
        seconds, peak, kube = measure(body, runs)
        if name == "boto3 client":
            baseline = seconds
        extra = ""
        if baseline is not None and name != "boto3 client":
            extra = f"  ({(seconds - baseline) * 1000:+.0f} ms vs boto3 client)"
        print(f"{name:<16} {seconds * 1000:>15.0f} {peak:>13.1f}  {'yes' if kube else 'no'}{extra}")


if __name__ == "__main__":
    main()
