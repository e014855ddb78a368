"""Command-line start-up benchmark: ``apm --help`` and ``o2dms --help`` (the installed
console scripts, fresh processes) next to ``python -c pass``, median and spread of
``--runs`` runs, and what ``apm deploy list --help`` loads. Run it with ``make bench-cli``."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def timed(argv: list[str], runs: int) -> list[float]:
    found = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        found.append((time.perf_counter() - began) * 1000)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "apm --help": [str(BIN / "apm"), "--help"],
        "apm deploy list --help": [str(BIN / "apm"), "deploy", "list", "--help"],
        "o2dms --help": [str(BIN / "o2dms"), "--help"],
    }
    base = None
    print(f"{'command':<26}{'median ms':>10}{'range ms':>16}{'vs python':>11}")
    for name, argv in cases.items():
        if not Path(argv[0]).exists():
            print(f"{name:<26}{'(not installed: make setup)':>37}")
            continue
        times = timed(argv, args.runs)
        median = statistics.median(times)
        base = base or median
        spread = f"{min(times):.0f}-{max(times):.0f}"
        print(f"{name:<26}{median:>10.0f}{spread:>16}{median / base:>10.2f}x")


if __name__ == "__main__":
    main()
