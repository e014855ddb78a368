"""The metrics' aggregates as items of one partition (``PK = METRICS``), so that a scrape
is one Query: a counter or a histogram is updated with ``ADD`` (exact under concurrent
transactions), a gauge with ``SET``. ``SK`` is the metric and its labels (or, for a gauge
that holds a state, the thing it describes)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.metrics import BY_NAME, DURATION_BUCKETS, Aggregate, Kind, Sample

METRICS_PK = "METRICS"
Item = dict[str, Any]


@dataclass
class _Merged:
    """The samples of one item in one change (a transaction may touch an item once)."""

    sample: Sample
    values: list[float] = field(default_factory=list)


def metric_writes(table: str, samples: Sequence[Sample]) -> list[Item]:
    merged: dict[str, _Merged] = {}
    for s in samples:
        found = merged.setdefault(s.item_key, _Merged(s))
        found.sample = s  # a gauge keeps the last value
        found.values.append(s.value)
    return [_write(table, m) for m in merged.values()]


def _write(table: str, merged: _Merged) -> Item:
    s = merged.sample
    kind = BY_NAME[s.metric].kind
    names = {"#m": "metric", "#l": "labels"}
    values: Item = {
        ":m": {"S": s.metric},
        ":l": {"S": json.dumps(dict(s.state or s.labels))},
    }
    sets = ["#m = :m", "#l = :l"]
    adds: list[str] = []
    if kind is Kind.COUNTER or s.add:
        adds.append("v :v")
        values[":v"] = {"N": repr(sum(merged.values))}
    elif kind is Kind.HISTOGRAM:
        names |= {"#s": "sum", "#c": "count"}
        adds += ["#s :s", "#c :c"]
        values[":s"] = {"N": repr(sum(merged.values))}
        values[":c"] = {"N": str(len(merged.values))}
        for index, bound in enumerate(DURATION_BUCKETS):
            hits = sum(1 for v in merged.values if v <= bound)
            if hits:
                adds.append(f"b{index} :b{index}")
                values[f":b{index}"] = {"N": str(hits)}
    elif s.counts or (s.state and not s.labels):
        sets.append("counts = :counts")
        values[":counts"] = {"S": json.dumps(dict(s.counts))}
    elif not s.state:
        sets.append("v = :v")
        values[":v"] = {"N": repr(merged.values[-1])}
    expression = "SET " + ", ".join(sets) + (" ADD " + ", ".join(adds) if adds else "")
    return {
        "Update": {
            "TableName": table,
            "Key": {"PK": {"S": METRICS_PK}, "SK": {"S": s.item_key}},
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


def read_aggregates(items: Iterable[Item]) -> list[Aggregate]:
    found = []
    for item in items:
        metric = item.get("metric", {}).get("S")
        if metric not in BY_NAME:
            continue
        found.append(
            Aggregate(
                metric=metric,
                labels=json.loads(item["labels"]["S"]),
                value=float(item.get("v", {}).get("N", "0")),
                sum=float(item.get("sum", {}).get("N", "0")),
                count=int(item.get("count", {}).get("N", "0")),
                buckets=tuple(
                    int(item.get(f"b{i}", {}).get("N", "0")) for i in range(len(DURATION_BUCKETS))
                ),
                counts=json.loads(item["counts"]["S"]) if "counts" in item else {},
            )
        )
    return found
