"""The PromQL of ``dashboards/grafana.json``, panel by panel.

The tests and ``scripts/prometheus_check.py`` (which runs each one against a real
Prometheus) read them the same way, without knowing Grafana's JSON model:
``python -m scripts.dashboard_queries`` prints them as JSON, one ``{"title": ..., "expr": ...}``
object per query.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

GRAFANA_DASHBOARD = Path(__file__).resolve().parent.parent / "dashboards" / "grafana.json"


def load(path: Path = GRAFANA_DASHBOARD) -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(path.read_text())
    return dashboard


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows too (Grafana nests them there)."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def panel_queries(path: Path = GRAFANA_DASHBOARD) -> list[tuple[str, str]]:
    """(panel title, PromQL expression) for every query of every panel, in dashboard order."""
    return [
        (panel["title"], target["expr"])
        for panel in panels(load(path))
        for target in panel.get("targets", [])
        if "expr" in target
    ]


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else GRAFANA_DASHBOARD
    queries = [{"title": title, "expr": expr} for title, expr in panel_queries(path)]
    json.dump(queries, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
