"""A real Prometheus (Debian's package) scraping the local run: ``scripts/prometheus_check.py``
plays both seeds' scenario and 20 scales at once, then checks ``promtool check metrics``,
every Grafana panel's query, and that the counters equal what was done."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_prometheus_scrapes_exact_counters_and_every_panel_has_data() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/prometheus_check.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1].startswith("ok: promtool clean"), done.stdout
