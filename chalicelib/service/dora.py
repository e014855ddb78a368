"""DORA figures of the rollouts a caller may see: read the window's rollouts, newest first,
then hand them to ``domain.dora``.

The rollouts are read through ``apps.list_page``, the list's own gate, so the figures count
exactly what the caller could list. The reading stops at the first page that reaches back
before the window, and after ``MAX_PAGES`` pages in any case: a busy history then answers
``truncated`` rather than costing an unbounded number of reads.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib.domain import dora
from chalicelib.domain.access import Action, visible_namespaces
from chalicelib.domain.models import Operation
from chalicelib.domain.ports import RolloutFilter
from chalicelib.service import apps
from chalicelib.service.access import require
from chalicelib.service.context import Caller, Deps

PATH = "metrics/dora"
PAGE_SIZE = 100
MAX_PAGES = 20  # 2,000 rollouts: a year of a busy team's deployments


@dataclass(frozen=True, slots=True)
class DoraQuery:
    window: timedelta
    name: str | None = None
    environment: str | None = None
    platform: str | None = None


@dataclass(frozen=True, slots=True)
class Measured:
    report: dora.Report
    truncated: bool  # the page bound was hit before the window's start


def measure(deps: Deps, caller: Caller, query: DoraQuery) -> Measured:
    """The figures of the rollouts started in the window that ends now."""
    require(deps, caller, Action.READ, what="read", target=PATH, anywhere=True)
    end = deps.clock()
    start = end - query.window
    filters = RolloutFilter(name=query.name, environment=query.environment, platform=query.platform)
    found, truncated = _read(deps, caller, filters, since=start)
    return Measured(dora.report(found, start=start, end=end), truncated)


def _read(
    deps: Deps, caller: Caller, filters: RolloutFilter, *, since: datetime
) -> tuple[list[Operation], bool]:
    """Every rollout the caller may list, back to ``since``, and whether the bound cut it.

    A caller scoped to several namespaces walks each one with the store filtering on it:
    walking them all and dropping the others' would spend the bound on rollouts it cannot
    see, and could not tell where the window starts."""
    scopes = visible_namespaces(caller.grants)
    walks = [filters] if scopes is None else [replace(filters, namespace=n) for n in sorted(scopes)]
    budget = MAX_PAGES
    found: list[Operation] = []
    for walk in walks:
        token: str | None = None
        while True:
            if budget == 0:
                return found, True
            budget -= 1
            page = apps.list_page(deps, caller, filters=walk, limit=PAGE_SIZE, token=token)
            found.extend(page.items)
            token = page.next_token
            if token is None or any(o.started_at < since for o in page.items):
                break
    return found, False
