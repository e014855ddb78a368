"""Reading the metrics: who may, and what they are now (one read of the aggregates)."""

from __future__ import annotations

from chalicelib.domain.access import Action
from chalicelib.domain.metrics import Aggregate
from chalicelib.service.access import require
from chalicelib.service.context import Caller, Deps


def aggregates(deps: Deps, caller: Caller) -> list[Aggregate]:
    """Every aggregate; they span every namespace, so reading them takes an unscoped read."""
    require(deps, caller, Action.READ, what="read", target="metrics")
    return deps.store.metric_aggregates()
