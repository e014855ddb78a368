"""``make bench``: every performance target of the project, measured now, in one table.

Each row comes from the module that measures it (``rows(runs)``), run in this process one
after the other, so the figures are from the same machine and the same moment:

- ``bench_package``: the Lambda package's size and bytecode, and what the bytecode saves a
  cold start;
- ``bench_cold_start``: a cold status request next to bare boto3 (client + GetItem);
- ``write_costs``: AWS calls per change, items a rollback reads;
- ``bench_first_run``: a new user's first ``make run``, from a fresh clone and an empty
  package cache (the slowest row: ``--skip first-run`` leaves it out).

Ratios are medians over ``--runs`` repeats, with their range. Exit status 1 when a target
is missed, so the table can gate a change.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # run as a script: make `scripts` importable

from scripts.bench_table import Row, render  # noqa: E402

SECTIONS = {
    "package": "scripts.bench_package",
    "cold-start": "scripts.bench_cold_start",
    "writes": "scripts.write_costs",
    "first-run": "scripts.bench_first_run",
}


def measure(section: str, runs: int) -> list[Row]:
    """The section's rows; a section that cannot run says why in a row of its own."""
    try:
        module = importlib.import_module(SECTIONS[section])
        found: list[Row] = module.rows(runs)
    except Exception as exc:  # one broken measure must not hide the others
        return [Row(f"{section}: could not measure", f"{type(exc).__name__}: {exc}", "-", False)]
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="repeats per ratio (median shown)")
    parser.add_argument(
        "--first-run-runs", type=int, default=1, help="fresh clones for the first-run row"
    )
    parser.add_argument("--skip", action="append", choices=sorted(SECTIONS), default=[])
    args = parser.parse_args(argv)
    rows: list[Row] = []
    for section in SECTIONS:
        if section in args.skip:
            continue
        began = time.monotonic()
        runs = args.first_run_runs if section == "first-run" else args.runs
        print(f"measuring {section} ...", file=sys.stderr, flush=True)
        rows += measure(section, runs)
        print(f"  {time.monotonic() - began:.0f} s", file=sys.stderr, flush=True)
    print(f"python {sys.version.split()[0]}, {args.runs} runs per ratio")
    print(render(rows))
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
