"""``GET /metrics``: both seeds' metrics in Prometheus's text format, from the aggregates
the service keeps beside its records (``domain/metrics.py``), read in one request.

Scraping takes credentials like any route (a bearer token of a principal that may read
every namespace): Prometheus sends one with ``authorization: {credentials: ...}``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib.api import http
from chalicelib.api.errors import handle_errors
from chalicelib.composition import deps
from chalicelib.domain import metrics as m

bp = Blueprint(__name__)
PATH = "/metrics"


@bp.route(PATH, methods=["GET"])
@handle_errors
def scrape() -> Response:
    from chalicelib.service import metrics as service

    req = bp.current_request
    http.query(req, ())
    found = service.aggregates(deps(), http.caller(req))
    body, content_type = render(found)
    return Response(body=body, status_code=200, headers={"Content-Type": content_type})


def render(found: list[m.Aggregate]) -> tuple[str, str]:
    """The exposition text and its content type (prometheus_client renders it: loaded
    only here, off every other route's path)."""
    from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
    from prometheus_client.registry import CollectorRegistry

    class Stored:
        def collect(self) -> Iterator[Any]:
            return families(found)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Stored())
    # The classic text format, which every Prometheus reads (2.x included).
    return generate_latest(registry).decode(), CONTENT_TYPE_PLAIN_0_0_4


def families(found: list[m.Aggregate]) -> Iterator[Any]:
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
    )

    by_metric: dict[str, list[m.Aggregate]] = defaultdict(list)
    for aggregate in found:
        by_metric[aggregate.metric].append(aggregate)
    for metric in m.ALL:
        labels = list(metric.labels)
        rows = by_metric.get(metric.name, [])
        if metric is m.HEALTH:
            family: Any = GaugeMetricFamily(metric.name, metric.help, labels=labels)
            for key, count in _health(rows).items():
                family.add_metric(list(key), count)
        elif metric is m.DEPLOYMENT_STATUS:
            family = GaugeMetricFamily(metric.name, metric.help, labels=labels)
            for row in rows:  # one begun before the metrics were kept may end below 0
                family.add_metric([row.labels.get(n, "") for n in labels], max(row.value, 0))
        elif metric.kind is m.Kind.COUNTER:
            family = CounterMetricFamily(metric.name, metric.help, labels=labels)
            for row in rows:
                family.add_metric([row.labels.get(n, "") for n in labels], row.value)
        elif metric.kind is m.Kind.HISTOGRAM:
            family = HistogramMetricFamily(metric.name, metric.help, labels=labels)
            for row in rows:
                buckets = [
                    (str(b), float(n)) for b, n in zip(m.DURATION_BUCKETS, row.buckets, strict=True)
                ]
                family.add_metric(
                    [row.labels.get(n, "") for n in labels],
                    buckets=[*buckets, ("+Inf", float(row.count))],
                    sum_value=row.sum,
                )
        else:
            family = GaugeMetricFamily(metric.name, metric.help, labels=labels)
            for row in rows:
                family.add_metric([row.labels.get(n, "") for n in labels], row.value)
        yield family


def _health(rows: list[m.Aggregate]) -> dict[tuple[str, str, str], int]:
    """Checks per platform, type and status, summed over the deployments."""
    total: dict[tuple[str, str, str], int] = defaultdict(int)
    for row in rows:
        platform = row.labels.get("platform", "")
        for name, count in row.counts.items():
            check_type, _, status = name.partition("|")
            total[(platform, check_type, status)] += count
    return dict(total)
