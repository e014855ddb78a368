"""Cold-start benchmark: what a cold ``GET /status`` costs in a fresh Lambda process, next
to bare boto3 doing the same read.

The measured row: a fresh interpreter that imports the app, builds its wiring and answers
``GET /o2dms/v1/nfDeployments/{id}/status`` through ``app.app(event, context)`` (an API
Gateway REST proxy event whose authorizer has checked the caller), against a fresh one that
imports boto3, builds a DynamoDB client and makes one ``GetItem`` of the same item. Both run
``scripts/status_probe.py`` with the API function's environment, against one moto server in
its own process holding the stack's table and one deployment the app itself stored
(``scripts/status_table.py``).

Timing: inside each child, from the probe script's first statement to the answer in hand
(``time.perf_counter``), for both sides alike; the interpreter's own start, the same for
both, is left out. The pairs are interleaved (and each pair's order alternates) so that the
machine's other load falls on both sides; the figure is the median of the per-pair ratios,
with their range.

Below the row, ``main`` prints the scenario detail, median ms and peak resident memory, each
in a fresh interpreter: ``python`` (the floor), ``boto3 client``, ``import app``, ``app +
wiring`` (everything before the first DynamoDB call), then the two sides of the row; and the
same pairs' ratio by CPU time (steadier on a loaded machine) and by the whole subprocess's
wall time (the interpreter's start and exit included: the exit, which Lambda never waits
for, is cheaper for the app, whose wiring is frozen out of the final collection).

Run it with ``make bench`` (``scripts/bench.py`` takes ``rows``) or ``python
scripts/bench_cold_start.py [--runs N] [--package DIR]``; ``--package`` imports the app from
another folder, e.g. ``git archive HEAD`` unpacked, to compare a change with its base.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if __package__ in (None, ""):  # run as a file: the repository root holds ``scripts``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.bench_table import Row, render, spread
from scripts.status_table import ROOT, Seeded, seeded_table

if TYPE_CHECKING:
    from scripts.status_probe import Report

MEASURE = "cold GET /status in a fresh process / (boto3 client + one GetItem)"
TARGET = 1.3
DEFAULT_RUNS = 15
# A source tree is writable: Python keeps the bytecode it compiles there, so a module edited
# since the last run is compiled by the first process only, not by every one measured.
READ_ONLY = False
Pairs = list[tuple["Report", "Report"]]  # (app, boto3) probe reports
Timing = Literal["seconds", "cpu_seconds", "process_seconds"]

SCENARIO_PROBE = """
import time
start = time.perf_counter()
{body}
elapsed = time.perf_counter() - start
import json, sys
sys.path.insert(0, {scripts!r})
from status_probe import peak_kib
print(json.dumps({{"seconds": elapsed, "peak_kib": peak_kib()}}))
"""
SCENARIOS = {
    "python": "pass",
    "boto3 client": "import boto3; boto3.client('dynamodb')",
    "import app": "import app",
    "app + wiring": "import app\nfrom chalicelib import composition\ncomposition.deps()",
}


def _probe(kind: str, seeded: Seeded, package: Path) -> Report:
    report = seeded.probe(kind, package=package, read_only=READ_ONLY)
    if report["status"] != 200:
        raise RuntimeError(f"the {kind} probe answered {report['status']}: {report['body']}")
    return report


def pairs(seeded: Seeded, runs: int, package: Path = ROOT) -> Pairs:
    """``runs`` (app, boto3) reports, interleaved, the order swapped every other pair; the
    app is imported from ``package`` (this tree, or another one to compare with)."""
    found = []
    for run in range(runs):
        order = ("app", "boto3") if run % 2 == 0 else ("boto3", "app")
        reports = {kind: _probe(kind, seeded, package) for kind in order}
        found.append((reports["app"], reports["boto3"]))
    return found


def ratios(measured: Pairs, key: Timing = "seconds") -> list[float]:
    return [app[key] / bare[key] for app, bare in measured]


def ratio_row(measured: Pairs) -> Row:
    found = ratios(measured)
    return Row(
        measure=MEASURE,
        figure=spread(found),
        target=f"<= {TARGET}",
        met=statistics.median(found) <= TARGET,
    )


def rows(runs: int) -> list[Row]:
    """The measured row, from ``runs`` interleaved pairs of fresh processes."""
    with seeded_table() as seeded:
        return [ratio_row(pairs(seeded, runs))]


def scenario(body: str, seeded: Seeded, runs: int, package: Path = ROOT) -> tuple[float, float]:
    """Median seconds and peak MiB of ``body`` in ``runs`` fresh interpreters."""
    times, peaks = [], []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", SCENARIO_PROBE.format(body=body, scripts=str(ROOT / "scripts"))],
            cwd=package,
            env=seeded.environment(read_only=READ_ONLY),
            capture_output=True,
            text=True,
            check=True,
        )
        report = json.loads(done.stdout.strip().splitlines()[-1])
        times.append(report["seconds"])
        peaks.append(report["peak_kib"] / 1024)
    return statistics.median(times), max(peaks)


def detail(seeded: Seeded, measured: Pairs, package: Path = ROOT) -> str:
    """The scenario lines: where a cold start's time and memory go."""
    runs = len(measured)
    found = {name: scenario(body, seeded, runs, package) for name, body in SCENARIOS.items()}
    for name, index in (("GET /status", 0), ("boto3 GetItem", 1)):
        reports = [pair[index] for pair in measured]
        peak = max(r["peak_kib"] for r in reports) / 1024
        found[name] = (statistics.median(r["seconds"] for r in reports), peak)
    lines = [f"{'scenario':<16} {'ms (median)':>12} {'peak RSS MiB':>13}"]
    lines += [f"{n:<16} {s * 1000:>12.0f} {p:>13.1f}" for n, (s, p) in found.items()]
    lines += [
        "",
        "GET /status / boto3 GetItem, the same pairs timed otherwise:",
        f"  CPU time of the same span:           {spread(ratios(measured, 'cpu_seconds'))}",
        f"  whole subprocess (start, exit too):  {spread(ratios(measured, 'process_seconds'))}",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="pairs of processes")
    parser.add_argument(
        "--package",
        type=Path,
        default=ROOT,
        help="import the app from this folder (e.g. a `git archive` of another commit)",
    )
    args = parser.parse_args()
    runs = args.runs
    with seeded_table() as seeded:
        measured = pairs(seeded, runs, args.package)
        print(render([ratio_row(measured)]))
        print()
        print(f"fresh interpreters, {runs} runs each ({sys.version.split()[0]})")
        print(detail(seeded, measured, args.package))


if __name__ == "__main__":
    main()
