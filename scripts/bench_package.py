"""What ``make package`` buys: the zip's size, and a cold start with and without its bytecode.

Two rows (``scripts/bench_table.py``):

- the size of ``build/deployment.zip`` (the functions' code; the helm layer comes on top)
  and how many modules it carries precompiled, against its 20 MB budget;
- a cold ``GET /status`` (``scripts/status_probe.py``: a fresh ``python -S`` on the
  unpacked package, as Lambda runs it, writing no bytecode as on its read-only
  ``/var/task``, against ``scripts/status_table.py``'s table) on the package as shipped,
  over the same request on the package with the bytecode Python makes itself (a
  sources-only copy whose first request wrote its ``__pycache__``): the shipped bytecode
  must be used, and be as good;
- for comparison, the package as it used to be, sources only (every cold start compiles
  what it imports), over the same.

Each round runs the three in a rotating order, so the machine's other load falls on all
of them; figures are medians of the per-round ratios, with their range.

Run it with ``python scripts/bench_package.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if __package__ in (None, ""):  # run as a file: the repository root holds ``scripts``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.bench_table import Row, render, spread
from scripts.lambda_package import dependencies, runtime
from scripts.lambda_package.build import MAX_BYTES, Package, ensure_built
from scripts.status_table import Seeded, seeded_table

if TYPE_CHECKING:
    from scripts.status_probe import Report

ROOT = Path(__file__).resolve().parent.parent
SIZE_MEASURE = "Lambda deployment.zip (without the helm layer)"
COLD_MEASURE = "cold GET /status as shipped / with bytecode Python compiled itself"
BEFORE_MEASURE = "cold GET /status without bytecode (before) / with bytecode"
COLD_TARGET = 1.1
DEFAULT_RUNS = 9


def without_bytecode(shipped: Path, dependency_sources: Path, into: Path) -> Path:
    """The package as it was before bytecode: ``shipped`` without a single pyc, and the
    dependencies' sources where their (sourceless) pycs were."""
    shutil.copytree(shipped, into, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(dependency_sources, into, dirs_exist_ok=True)
    return into


def compiled_copy(sources: Path, into: Path, seeded: Seeded) -> Path:
    """The sources-only package once Python has compiled it itself: a copy whose first
    request wrote the ``__pycache__`` (the best bytecode a writable folder gets)."""
    shutil.copytree(sources, into)
    seeded.as_lambda(into, read_only=False)
    return into


def triples(folders: Sequence[Path], seeded: Seeded, runs: int) -> list[dict[Path, Report]]:
    """``runs`` answers of each folder, interleaved, the order rotated every run."""
    found = []
    for run in range(runs):
        shift = run % len(folders)
        order = [*folders[shift:], *folders[:shift]]
        answers = {folder: seeded.as_lambda(folder) for folder in order}
        for folder, answer in answers.items():
            if answer["status"] != 200:
                raise RuntimeError(f"{folder.name} answered {answer['status']}: {answer['body']}")
        found.append(answers)
    return found


def size_row(package: Package, shipped: list[Report]) -> Row:
    """The zip's size and pycs; met if within budget and the shipped side compiled nothing."""
    compiled = sum(len(answer["compiled"]) for answer in shipped)
    return Row(
        measure=SIZE_MEASURE,
        figure=f"{package.megabytes:.1f} MB, {package.pyc:,} .pyc",
        target=f"<= {MAX_BYTES / 1e6:.0f} MB, precompiled",
        met=package.size <= MAX_BYTES and package.pyc > 0 and compiled == 0,
    )


def cold_rows(shipped: list[Report], compiled: list[Report], sources: list[Report]) -> list[Row]:
    """As shipped over the best Python does itself (the target), and what shipping no
    bytecode cost (the package before ``make package``), each pair from the same run."""
    ratios = [s["seconds"] / c["seconds"] for s, c in zip(shipped, compiled, strict=True)]
    before = [s["seconds"] / c["seconds"] for s, c in zip(sources, compiled, strict=True)]
    return [
        Row(
            measure=COLD_MEASURE,
            figure=spread(ratios),
            target=f"<= {COLD_TARGET}",
            met=statistics.median(ratios) <= COLD_TARGET,
        ),
        Row(
            measure=BEFORE_MEASURE,
            figure=spread(before),
            target="(for comparison)",
            met=True,
        ),
    ]


def rows(runs: int) -> list[Row]:
    """The rows, from ``runs`` interleaved rounds of fresh processes."""
    package = ensure_built(ROOT)
    deps = dependencies.ensure(ROOT, python=runtime.interpreter())  # cached by the build
    with tempfile.TemporaryDirectory(prefix="bench-package-") as tmp, seeded_table() as seeded:
        shipped = Path(tmp) / "shipped"  # as Lambda's /var/task
        with zipfile.ZipFile(package.path) as archive:
            archive.extractall(shipped)
        sources = without_bytecode(shipped, deps.sources, Path(tmp) / "sources")
        compiled = compiled_copy(sources, Path(tmp) / "compiled", seeded)
        measured = triples([shipped, compiled, sources], seeded, runs)
    answers = {folder: [m[folder] for m in measured] for folder in (shipped, compiled, sources)}
    return [
        size_row(package, answers[shipped]),
        *cold_rows(answers[shipped], answers[compiled], answers[sources]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="pairs of cold starts")
    print(render(rows(parser.parse_args().runs)))


if __name__ == "__main__":
    main()
