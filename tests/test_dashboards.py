"""``dashboards/grafana.json``, checked without Grafana or Prometheus: seed 002's seven panels
and seed 000's three queries are all there, laid out on the grid, each reading the one
Prometheus data source variable; and every expression parses and names only the metrics,
labels and label values the service's ``/metrics`` exposes.

The expression check is a small PromQL parser of its own, not Prometheus's: enough of the
grammar for dashboards (selectors, ranges, functions, aggregations, binary operators) to
catch a typo, an unbalanced bracket, a metric or label the service does not have, or a label
value it never emits (seed 000's ``status="success"``). When ``promtool`` is on the PATH the
expressions also go through Prometheus's own parser (as recording rules).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from scripts.dashboard_queries import GRAFANA_DASHBOARD, load, panel_queries, panels

TITLES = (
    # seed 002, "Grafana Dashboard"
    "Deployment Status Overview",
    "Success Rate",
    "Average Duration by Platform",
    "Platform Distribution",
    "Health Check Status",
    "Rollback Trend",
    "Active Deployments",
    # seed 000, "Grafana Dashboard Query Examples"
    "Scale Operations Rate",
    "Rollback Success Rate",
    "Average Upgrade Duration",
)
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRID_COLUMNS = 24

# The contract: what /metrics exposes (seed 000's and seed 002's names and labels).
OUTCOMES = frozenset({"COMPLETED", "FAILED", "ROLLED_BACK", "CANCELLED"})
OPERATIONS = frozenset({"install", "upgrade", "scale", "rollback", "terminate"})
ROLLOUT_STATUSES = frozenset(
    {
        "pending",
        "preparing",
        "deploying",
        "verifying",
        "completed",
        "failed",
        "rolling_back",
        "rolled_back",
    }
)
CHECK_TYPES = frozenset({"readiness", "liveness", "startup", "http", "tcp", "dependency"})
HEALTH_STATUSES = frozenset({"healthy", "unhealthy", "pending", "unknown"})
ROLLOUT_LABELS = frozenset({"platform", "environment", "version"})
# metric -> {label: the values it takes, or None when any value may appear}
METRICS: dict[str, dict[str, frozenset[str] | None]] = {
    "o2dms_scale_operations_total": {
        "adapter": None,
        "direction": frozenset({"up", "down"}),
        "status": OUTCOMES,
    },
    "o2dms_rollback_operations_total": {"adapter": None, "status": OUTCOMES},
    "o2dms_upgrade_operations_total": {"adapter": None, "status": OUTCOMES},
    "o2dms_operation_duration_seconds_bucket": {
        "operation": OPERATIONS,
        "adapter": None,
        "le": None,
    },
    "o2dms_operation_duration_seconds_sum": {"operation": OPERATIONS, "adapter": None},
    "o2dms_operation_duration_seconds_count": {"operation": OPERATIONS, "adapter": None},
    "deployment_total": dict.fromkeys(ROLLOUT_LABELS),
    "deployment_duration_seconds": dict.fromkeys(ROLLOUT_LABELS),
    "deployment_status": dict.fromkeys(ROLLOUT_LABELS) | {"status": ROLLOUT_STATUSES},
    "deployment_health_check_status": {
        "platform": None,
        "check_type": CHECK_TYPES,
        "status": HEALTH_STATUSES,
    },
    "deployment_rollback_total": dict.fromkeys(ROLLOUT_LABELS),
}

QUERIES = panel_queries()


# A PromQL parser, enough of the grammar for dashboards


class PromQLError(ValueError):
    """The expression does not parse, or asks for what the service does not expose."""


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<duration>(?:\d+(?:ms|[smhdwy]))+)(?![\w.])
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<name>[A-Za-z_][\w:]*)
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=])
  | (?P<punct>[(){}\[\],:])
    """,
    re.VERBOSE,
)
_PAIRS = {"(": ")", "[": "]", "{": "}"}
_BINARY = {"+", "-", "*", "/", "%", "^", "==", "!=", ">", "<", ">=", "<="}
_SET_OPERATORS = {"and", "or", "unless", "atan2"}
_MATCH = {"=", "!=", "=~", "!~"}
_AGGREGATIONS = {
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
}
_PARAMETRIC = {"topk", "bottomk", "quantile", "count_values"}
# functions whose first argument is a range vector: m[5m]
_RANGE_FUNCTIONS = {
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "deriv",
    "changes",
    "resets",
    "predict_linear",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "last_over_time",
    "quantile_over_time",
    "absent_over_time",
}
_FUNCTIONS = _RANGE_FUNCTIONS | {
    "abs",
    "absent",
    "ceil",
    "clamp",
    "clamp_max",
    "clamp_min",
    "floor",
    "histogram_quantile",
    "label_replace",
    "round",
    "scalar",
    "sort",
    "sort_desc",
    "time",
    "vector",
}
_SCALAR_FUNCTIONS = {"scalar", "time"}
_LABEL_NAME = re.compile(r"^[A-Za-z_]\w*$")
_PLAIN_ALTERNATIVES = re.compile(r"^[\w.-]+(\|[\w.-]+)*$")


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    at: int


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str


@dataclass(frozen=True)
class Selector:
    metric: str | None
    matchers: tuple[Matcher, ...]


@dataclass(frozen=True)
class Grouping:
    """``by (...)`` / ``without (...)`` of an aggregation, and the metrics it aggregates."""

    without: bool
    labels: tuple[str, ...]
    metrics: frozenset[str]


@dataclass(frozen=True)
class Value:
    """What a subexpression evaluates to, and the metrics it reads."""

    kind: str  # instant | range | scalar | string
    metrics: frozenset[str] = frozenset()


@dataclass
class Parsed:
    selectors: list[Selector] = field(default_factory=list)
    groupings: list[Grouping] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)

    @property
    def metrics(self) -> set[str]:
        return {s.metric for s in self.selectors if s.metric is not None}


def tokenize(expr: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(expr):
        found = _TOKEN.match(expr, position)
        if found is None or found.lastgroup is None:
            raise PromQLError(f"unexpected {expr[position]!r} at {position}")
        if found.lastgroup != "space":
            tokens.append(Token(found.lastgroup, found.group(), position))
        position = found.end()
    return tokens


def check_balanced(tokens: list[Token]) -> None:
    """Brackets, braces and parentheses close in order (strings are single tokens)."""
    open_: list[Token] = []
    for token in tokens:
        if token.text in _PAIRS:
            open_.append(token)
        elif token.text in _PAIRS.values() and (
            not open_ or _PAIRS[open_.pop().text] != token.text
        ):
            raise PromQLError(f"unmatched {token.text!r} at {token.at}")
    if open_:
        raise PromQLError(f"{open_[-1].text!r} at {open_[-1].at} is never closed")


class _Parser:
    def __init__(self, expr: str) -> None:
        self.tokens = tokenize(expr)
        check_balanced(self.tokens)
        self.position = 0
        self.parsed = Parsed()

    # tokens

    def peek(self, ahead: int = 0) -> Token | None:
        at = self.position + ahead
        return self.tokens[at] if at < len(self.tokens) else None

    def next(self) -> Token:
        token = self.peek()
        if token is None:
            raise PromQLError("the expression ends too early")
        self.position += 1
        return token

    def expect(self, text: str) -> Token:
        token = self.next()
        if token.text != text:
            raise PromQLError(f"expected {text!r} at {token.at}, found {token.text!r}")
        return token

    def accept(self, text: str) -> bool:
        token = self.peek()
        if token is not None and token.text == text:
            self.position += 1
            return True
        return False

    # grammar

    def parse(self) -> Parsed:
        value = self.expression()
        if self.peek() is not None:
            token = self.next()
            raise PromQLError(f"unexpected {token.text!r} at {token.at}")
        if value.kind not in {"instant", "scalar"}:
            raise PromQLError(f"a panel query must be an instant vector or scalar: {value.kind}")
        return self.parsed

    def expression(self) -> Value:
        left = self.unary()
        while (token := self.peek()) is not None and (
            (token.kind == "op" and token.text in _BINARY)
            or (token.kind == "name" and token.text in _SET_OPERATORS)
        ):
            self.next()
            self.accept("bool")
            matching = self.peek()
            if matching is not None and matching.text in {"on", "ignoring"}:
                self.next()
                self.labels()
                group = self.peek()
                if group is not None and group.text in {"group_left", "group_right"}:
                    self.next()
                    if (following := self.peek()) is not None and following.text == "(":
                        self.labels()
            right = self.unary()
            for side in (left, right):
                if side.kind in {"range", "string"}:
                    raise PromQLError(f"a {side.kind} cannot be an operand of {token.text!r}")
            kind = "scalar" if left.kind == right.kind == "scalar" else "instant"
            left = Value(kind, left.metrics | right.metrics)
        return left

    def unary(self) -> Value:
        token = self.peek()
        if token is not None and token.kind == "op" and token.text in {"-", "+"}:
            self.next()
        return self.postfix()

    def postfix(self) -> Value:
        value = self.primary()
        if self.accept("["):
            if value.kind != "instant":
                raise PromQLError("only a selector (or a subquery's expression) takes a range")
            self.duration()
            if self.accept(":"):
                token = self.peek()
                if token is not None and token.kind == "duration":
                    self.duration()
            self.expect("]")
            value = Value("range", value.metrics)
        if self.accept("offset"):
            self.duration()
        return value

    def duration(self) -> None:
        token = self.next()
        if token.kind != "duration":
            raise PromQLError(f"expected a duration at {token.at}, found {token.text!r}")

    def primary(self) -> Value:
        token = self.next()
        if token.kind == "number":
            return Value("scalar")
        if token.kind == "string":
            return Value("string")
        if token.text == "(":
            value = self.expression()
            self.expect(")")
            return value
        if token.text == "{":
            return self.selector(None)
        if token.kind != "name":
            raise PromQLError(f"unexpected {token.text!r} at {token.at}")
        if token.text in _AGGREGATIONS:
            return self.aggregation(token.text)
        following = self.peek()
        if following is not None and following.text == "(":
            return self.call(token)
        if token.text in _SET_OPERATORS | {"by", "without", "on", "ignoring", "bool", "offset"}:
            raise PromQLError(f"keyword {token.text!r} out of place at {token.at}")
        if self.accept("{"):
            return self.selector(token.text)
        return self.record(Selector(token.text, ()))

    def selector(self, metric: str | None) -> Value:
        """After ``{``: matchers up to ``}``."""
        matchers: list[Matcher] = []
        while not self.accept("}"):
            label = self.next()
            if label.kind != "name" or not _LABEL_NAME.match(label.text):
                raise PromQLError(f"expected a label name at {label.at}, found {label.text!r}")
            op = self.next()
            if op.text not in _MATCH:
                raise PromQLError(f"expected =, !=, =~ or !~ at {op.at}, found {op.text!r}")
            value = self.next()
            if value.kind != "string":
                raise PromQLError(f"a label value must be quoted, at {value.at}")
            matchers.append(Matcher(label.text, op.text, value.text[1:-1]))
            if not self.accept(","):
                self.expect("}")
                break
        if metric is None and not matchers:
            raise PromQLError("a selector needs a metric name or a matcher")
        return self.record(Selector(metric, tuple(matchers)))

    def record(self, selector: Selector) -> Value:
        self.parsed.selectors.append(selector)
        return Value("instant", frozenset({selector.metric} if selector.metric else ()))

    def labels(self) -> tuple[str, ...]:
        self.expect("(")
        names: list[str] = []
        while not self.accept(")"):
            name = self.next()
            if name.kind != "name" or not _LABEL_NAME.match(name.text):
                raise PromQLError(f"expected a label name at {name.at}, found {name.text!r}")
            names.append(name.text)
            if not self.accept(","):
                self.expect(")")
                break
        return tuple(names)

    def grouping(self) -> tuple[bool, tuple[str, ...]] | None:
        token = self.peek()
        if token is None or token.text not in {"by", "without"}:
            return None
        self.next()
        return token.text == "without", self.labels()

    def aggregation(self, name: str) -> Value:
        before = self.grouping()
        self.expect("(")
        if name in _PARAMETRIC:
            parameter = self.expression()
            if parameter.kind not in {"scalar", "string"}:
                raise PromQLError(f"{name}'s first argument is a scalar or a string")
            self.expect(",")
        inner = self.expression()
        self.expect(")")
        after = self.grouping()
        if before is not None and after is not None:
            raise PromQLError(f"{name} is grouped twice")
        if inner.kind != "instant":
            raise PromQLError(f"{name} aggregates an instant vector, not a {inner.kind}")
        if (grouped := before or after) is not None:
            without, labels = grouped
            self.parsed.groupings.append(Grouping(without, labels, inner.metrics))
        return Value("instant", inner.metrics)

    def call(self, name: Token) -> Value:
        if name.text not in _FUNCTIONS:
            raise PromQLError(f"unknown function {name.text!r} at {name.at}")
        self.parsed.functions.append(name.text)
        self.expect("(")
        arguments: list[Value] = []
        first_grouping = len(self.parsed.groupings)
        while not self.accept(")"):
            arguments.append(self.expression())
            if not self.accept(","):
                self.expect(")")
                break
        vectors = [a for a in arguments if a.kind in {"instant", "range"}]
        if name.text in _RANGE_FUNCTIONS:
            if not arguments or arguments[0].kind != "range":
                raise PromQLError(f"{name.text} takes a range vector, e.g. m[5m]")
        elif any(a.kind == "range" for a in arguments):
            raise PromQLError(f"{name.text} takes no range vector")
        if name.text == "histogram_quantile":
            self.check_quantile(arguments, first_grouping)
        metrics = frozenset(m for v in vectors for m in v.metrics)
        return Value("scalar" if name.text in _SCALAR_FUNCTIONS else "instant", metrics)

    def check_quantile(self, arguments: list[Value], first_grouping: int) -> None:
        if [a.kind for a in arguments] != ["scalar", "instant"]:
            raise PromQLError("histogram_quantile(φ, buckets) takes a scalar and a vector")
        if not arguments[1].metrics or not all(m.endswith("_bucket") for m in arguments[1].metrics):
            raise PromQLError("histogram_quantile reads a histogram's _bucket series")
        for grouping in self.parsed.groupings[first_grouping:]:
            if ("le" in grouping.labels) == grouping.without:
                raise PromQLError("the buckets must keep their le label for histogram_quantile")


def parse(expr: str) -> Parsed:
    """Parse ``expr``, raising PromQLError if it is not PromQL this checker understands."""
    return _Parser(expr).parse()


def check_contract(expr: str) -> Parsed:
    """Parse ``expr`` and check it against the service's metrics, their labels and values."""
    parsed = parse(expr)
    for selector in parsed.selectors:
        if selector.metric not in METRICS:
            raise PromQLError(f"the service exposes no metric {selector.metric!r}")
        labels = METRICS[selector.metric]
        for matcher in selector.matchers:
            if matcher.label not in labels:
                raise PromQLError(f"{selector.metric} has no label {matcher.label!r}")
            allowed = labels[matcher.label]
            if allowed is None:
                continue
            if matcher.op in {"=", "!="}:
                wanted = {matcher.value}
            elif _PLAIN_ALTERNATIVES.match(matcher.value):
                wanted = set(matcher.value.split("|"))
            else:
                continue  # a real regular expression: nothing to compare
            if unknown := wanted - allowed:
                raise PromQLError(
                    f"{selector.metric}'s {matcher.label} is never {sorted(unknown)}: "
                    f"it is one of {sorted(allowed)}"
                )
    for grouping in parsed.groupings:
        for label in grouping.labels:
            lacking = sorted(m for m in grouping.metrics if label not in METRICS[m])
            if lacking:
                raise PromQLError(f"grouping by {label!r}, which {lacking} do not have")
    return parsed


# The dashboard


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return load()


def _ids(queries: list[tuple[str, str]]) -> list[str]:
    return [f"{title}#{n}" for n, (title, _) in enumerate(queries)]


def test_dashboard_is_a_grafana_10_model_with_the_ten_panels(dashboard: dict[str, Any]) -> None:
    found = [panel["title"] for panel in panels(dashboard)]

    assert dashboard["schemaVersion"] >= 38
    assert dashboard["uid"]
    assert dashboard["title"]
    assert sorted(found) == sorted(TITLES)
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(set(ids)) == len(ids)
    assert all(isinstance(i, int) for i in ids)


def test_every_panel_says_what_it_shows_and_queries_something(
    dashboard: dict[str, Any],
) -> None:
    for panel in panels(dashboard):
        assert panel["title"].strip(), panel
        assert len(panel.get("description", "")) > 20, panel["title"]
        assert panel["type"] in {"stat", "gauge", "timeseries", "piechart", "table"}
        targets = panel["targets"]
        assert targets, panel["title"]
        assert all(t["expr"].strip() for t in targets), panel["title"]
        ref_ids = [t["refId"] for t in targets]
        assert len(set(ref_ids)) == len(ref_ids), panel["title"]


def test_panels_sit_on_the_grid_without_overlapping(dashboard: dict[str, Any]) -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in panels(dashboard):
        grid = panel["gridPos"]
        assert set(grid) >= {"x", "y", "w", "h"}, panel["title"]
        assert min(grid["w"], grid["h"]) > 0, panel["title"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= GRID_COLUMNS, panel["title"]
        for column in range(grid["x"], grid["x"] + grid["w"]):
            for row in range(grid["y"], grid["y"] + grid["h"]):
                assert (column, row) not in taken, (panel["title"], taken.get((column, row)))
                taken[(column, row)] = panel["title"]


def test_every_panel_reads_the_prometheus_data_source_variable(
    dashboard: dict[str, Any],
) -> None:
    (variable,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]

    assert (variable["name"], variable["query"]) == ("datasource", "prometheus")
    for panel in panels(dashboard):
        assert panel["datasource"] == DATASOURCE, panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource", DATASOURCE) == DATASOURCE, panel["title"]
    # No data source is named anywhere else: nothing tied to one Grafana's uids.
    text = GRAFANA_DASHBOARD.read_text()
    uids = set(re.findall(r'"uid":\s*"([^"]*)"', text))
    assert uids == {"${datasource}", "-- Grafana --", dashboard["uid"]}


def test_queries_are_extracted_per_panel_in_order() -> None:
    titles = [title for title, _ in QUERIES]

    assert set(titles) == set(TITLES)
    assert titles.count("Average Upgrade Duration") == 2  # the average and the 95th percentile
    assert len(QUERIES) == len(TITLES) + 1


@pytest.mark.parametrize(("title", "expr"), QUERIES, ids=_ids(QUERIES))
def test_expression_parses_and_asks_only_for_what_the_service_exposes(
    title: str, expr: str
) -> None:
    parsed = check_contract(expr)

    assert parsed.metrics, title


def test_seed_000_queries_are_used_as_written() -> None:
    by_title: dict[str, list[str]] = {}
    for title, expr in QUERIES:
        by_title.setdefault(title, []).append(" ".join(expr.split()))

    assert by_title["Scale Operations Rate"] == ["rate(o2dms_scale_operations_total[5m])"]
    assert by_title["Rollback Success Rate"] == [
        'sum(rate(o2dms_rollback_operations_total{status="COMPLETED"}[5m])) / '
        "sum(rate(o2dms_rollback_operations_total[5m]))"
    ]
    assert (
        'rate(o2dms_operation_duration_seconds_sum{operation="upgrade"}[5m]) / '
        'rate(o2dms_operation_duration_seconds_count{operation="upgrade"}[5m])'
    ) in by_title["Average Upgrade Duration"]


def test_panels_that_depart_from_a_seed_say_why(dashboard: dict[str, Any]) -> None:
    described = {panel["title"]: panel["description"] for panel in panels(dashboard)}

    assert 'status="COMPLETED"' in described["Rollback Success Rate"]
    assert 'status="success"' in described["Rollback Success Rate"]
    assert "_bucket" in described["Average Upgrade Duration"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not on the PATH")
def test_prometheus_parses_every_expression(tmp_path: Path) -> None:
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{n}:value", "expr": expr}
                    for n, (_, expr) in enumerate(QUERIES)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(json.dumps(rules))  # JSON is YAML
    promtool = shutil.which("promtool")
    assert promtool is not None

    done = subprocess.run(
        [promtool, "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr


# The checker itself catches what it is there to catch


@pytest.mark.parametrize(
    ("expr", "complaint"),
    [
        ("sum(rate(deployment_total[5m])", "never closed"),
        ("sum(rate(deployment_total[5m)))", "unmatched"),
        ("deployment_status{status=completed}", "quoted"),
        ('deployment_status{status~"completed"}', "unexpected"),
        ('deployment_status{status=="completed"}', "expected =, !=, =~ or !~"),
        ("rate(deployment_total)", "range vector"),
        ("sum(deployment_total[5m])", "not a range"),
        ("deployment_total[5m]", "instant vector or scalar"),
        ("frobnicate(deployment_total)", "unknown function"),
        ("rate(deployment_total[5 m])", "duration"),
        ("deployments_total", "no metric"),
        ("o2dms_operation_duration_seconds", "no metric"),  # a histogram has no bare series
        ('deployment_total{status="completed"}', "no label"),
        ("sum by (status) (deployment_total)", "grouping by 'status'"),
        ('sum(rate(o2dms_rollback_operations_total{status="success"}[5m]))', "never"),
        ('deployment_status{status=~"deploying|paused"}', "never"),
        (
            "histogram_quantile(0.9, sum by (adapter) (rate("
            "o2dms_operation_duration_seconds_bucket[5m])))",
            "le",
        ),
        ("histogram_quantile(0.9, rate(o2dms_operation_duration_seconds_sum[5m]))", "_bucket"),
    ],
)
def test_checker_rejects(expr: str, complaint: str) -> None:
    with pytest.raises(PromQLError, match=re.escape(complaint)):
        check_contract(expr)


@pytest.mark.parametrize(
    "expr",
    [
        "deployment_total",
        '-sum without (version) (deployment_total{platform!="docker",}) > bool 2',
        "count(deployment_status == 1) or vector(0)",
        'topk(3, deployment_duration_seconds{environment=~"prod.*"})',
        "sum(increase(deployment_rollback_total[1h] offset 1d)) * 2",
        "max_over_time(deployment_duration_seconds[1h:5m])",
        "deployment_total / on (platform) group_left sum by (platform) (deployment_total)",
    ],
)
def test_checker_accepts(expr: str) -> None:
    check_contract(expr)
