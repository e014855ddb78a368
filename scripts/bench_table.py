"""One row of ``make bench``'s table: a measure, the figure this run saw, and the target.

Each benchmark module measures its own rows and returns them; ``scripts/bench.py`` prints
them together, so the table is always figures from one run, never a claim copied from an
earlier one.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Row:
    measure: str
    figure: str  # what this run saw, e.g. "1.21 (1.18-1.25)"
    target: str  # e.g. "<= 1.3"
    met: bool


def spread(values: Sequence[float], digits: int = 2) -> str:
    """A median with its range: ``1.21 (1.18-1.25)``."""
    middle = statistics.median(values)
    return f"{middle:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def render(rows: Sequence[Row]) -> str:
    """The rows as a plain-text table, widths fitted to the content."""
    header = ("measure", "this run", "target", "met")
    cells = [header] + [(r.measure, r.figure, r.target, "yes" if r.met else "NO") for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)
