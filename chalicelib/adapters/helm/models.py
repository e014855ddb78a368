"""Typed views of helm's ``--output json``, parsed defensively.

Formats observed with helm v4.3.1 (``shared/fixtures/helm4/README.md``):

- ``install``/``upgrade -o json``: a release with ``name, info, chart, config, manifest, hooks,
  version, namespace``; ``chart.metadata`` has ``name, version, appVersion``.
- ``status -o json``: the same release **without** ``chart``, and with ``info.resources``: live
  objects keyed ``"v1/Deployment"``, ``"v1/Pod(related)"`` ... (the key says ``v1`` even for
  ``apps/v1``).
- ``history -o json``: ``revision`` an int, ``updated`` RFC 3339 with nanoseconds,
  ``chart`` ``"<name>-<version>"``, ``rollback_revision`` on rollback rows only.
- ``list -o json``: ``revision`` a *string*, ``updated`` in Go's default time format.

A document that is not what helm prints raises ``BackendFailure``: the command succeeded
but we cannot tell what it did, which is a backend fault, not the caller's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.domain.errors import BackendFailure
from chalicelib.domain.models import JsonObject

_SEMVER = re.compile(r"^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]*)?$")
_GO_TIME = re.compile(r"^(\S+) (\d\d:\d\d:\d\d)(\.\d+)? ([+-]\d{4}) \S+$")


@dataclass(frozen=True, slots=True)
class Release:
    """One release revision as install, upgrade and status print it."""

    name: str
    namespace: str
    revision: int
    status: str
    description: str
    notes: str
    values: JsonObject
    chart_name: str | None = None
    chart_version: str | None = None
    app_version: str | None = None
    last_deployed: datetime | None = None
    resources: dict[str, list[JsonObject]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    revision: int
    status: str
    chart: str
    chart_name: str
    chart_version: str
    app_version: str | None
    description: str
    updated: datetime | None
    rollback_revision: int | None = None


@dataclass(frozen=True, slots=True)
class ListEntry:
    name: str
    namespace: str
    revision: int
    status: str
    chart: str
    app_version: str | None
    updated: datetime | None


@dataclass(frozen=True, slots=True)
class Metadata:
    name: str
    namespace: str
    revision: int
    status: str
    chart_name: str
    chart_version: str
    app_version: str | None


def _load(text: str | bytes, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise BackendFailure(f"helm printed {what} that is not JSON: {exc}") from exc


def _object(value: Any, what: str) -> JsonObject:
    if not isinstance(value, dict):
        raise BackendFailure(f"helm printed {what} that is not a JSON object")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise BackendFailure(f"helm printed {what} that is not a JSON list")
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise BackendFailure(f"helm printed a {what} that is not a number: {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BackendFailure(f"helm printed a {what} that is not a number: {value!r}") from None


def parse_time(value: Any) -> datetime | None:
    """RFC 3339 (``2026-11-22T01:49:30.16766316Z``) or Go's ``2026-11-22 01:49:37.6 +0000 UTC``."""
    if not isinstance(value, str) or not value:
        return None
    go = _GO_TIME.match(value)
    if go:
        day, clock, fraction, offset = go.groups()
        value = f"{day}T{clock}{(fraction or '')[:7]}{offset[:3]}:{offset[3:]}"
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def split_chart(chart: str) -> tuple[str, str]:
    """``"my-chart-1.2.3-rc.1"`` -> ``("my-chart", "1.2.3-rc.1")``: the version is the first
    hyphen-separated tail that reads as a version (names may hold hyphens, so may versions)."""
    for index, char in enumerate(chart):
        if char == "-" and _SEMVER.match(chart[index + 1 :]):
            return chart[:index], chart[index + 1 :]
    return chart, ""


def parse_release(text: str | bytes) -> Release:
    data = _object(_load(text, "a release"), "a release")
    info = _object(data.get("info", {}), "release info")
    chart = data.get("chart")
    metadata = chart.get("metadata") if isinstance(chart, dict) else None
    meta = metadata if isinstance(metadata, dict) else {}
    resources: dict[str, list[JsonObject]] = {}
    raw = info.get("resources")
    if isinstance(raw, dict):
        for key, objects in raw.items():
            if isinstance(objects, list):
                resources[str(key)] = [o for o in objects if isinstance(o, dict)]
    config = data.get("config")
    return Release(
        name=_text(data.get("name")),
        namespace=_text(data.get("namespace")),
        revision=_int(data.get("version"), "release revision"),
        status=_text(info.get("status")) or "unknown",
        description=_text(info.get("description")),
        notes=_text(info.get("notes")),
        values=config if isinstance(config, dict) else {},
        chart_name=_optional_text(meta.get("name")),
        chart_version=_optional_text(meta.get("version")),
        app_version=_optional_text(meta.get("appVersion")),
        last_deployed=parse_time(info.get("last_deployed")),
        resources=resources,
    )


def parse_history(text: str | bytes) -> list[HistoryEntry]:
    """Oldest first, as helm prints it."""
    entries = []
    for row in _list(_load(text, "a history"), "a history"):
        item = _object(row, "a history row")
        chart = _text(item.get("chart"))
        name, version = split_chart(chart)
        rollback_to = item.get("rollback_revision")
        entries.append(
            HistoryEntry(
                revision=_int(item.get("revision"), "history revision"),
                status=_text(item.get("status")) or "unknown",
                chart=chart,
                chart_name=name,
                chart_version=version,
                app_version=_optional_text(item.get("app_version")),
                description=_text(item.get("description")),
                updated=parse_time(item.get("updated")),
                rollback_revision=None if rollback_to is None else _int(rollback_to, "revision"),
            )
        )
    return sorted(entries, key=lambda e: e.revision)


def parse_list(text: str | bytes) -> list[ListEntry]:
    rows = _list(_load(text, "a release list"), "a release list")
    return [
        ListEntry(
            name=_text(item.get("name")),
            namespace=_text(item.get("namespace")),
            revision=_int(item.get("revision"), "list revision"),
            status=_text(item.get("status")) or "unknown",
            chart=_text(item.get("chart")),
            app_version=_optional_text(item.get("app_version")),
            updated=parse_time(item.get("updated")),
        )
        for item in (_object(row, "a list row") for row in rows)
    ]


def parse_values(text: str | bytes) -> JsonObject:
    """``helm get values -o json``: the user values (``null`` when there are none)."""
    data = _load(text, "values")
    return {} if data is None else _object(data, "values")


def parse_metadata(text: str | bytes) -> Metadata:
    """``helm get metadata -o json`` (camelCase, unlike the rest)."""
    data = _object(_load(text, "metadata"), "metadata")
    return Metadata(
        name=_text(data.get("name")),
        namespace=_text(data.get("namespace")),
        revision=_int(data.get("revision"), "metadata revision"),
        status=_text(data.get("status")) or "unknown",
        chart_name=_text(data.get("chart")),
        chart_version=_text(data.get("version")),
        app_version=_optional_text(data.get("appVersion")),
    )
