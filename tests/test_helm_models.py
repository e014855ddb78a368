"""Every recorded ``-o json`` document parses into its model, with the fields we rely on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.helm.models import (
    parse_history,
    parse_list,
    parse_metadata,
    parse_release,
    parse_time,
    parse_values,
    split_chart,
)
from chalicelib.domain.errors import BackendFailure
from tests.helm_fakes import HELM4, fixture

# Which parser reads which recorded file (by name prefix); a new JSON fixture needs a line.
PARSERS: dict[str, Callable[[bytes], Any]] = {
    "helm-install": parse_release,
    "helm-upgrade": parse_release,
    "helm-status": parse_release,
    "helm-history": parse_history,
    "helm-list": parse_list,
    "helm-get-values": parse_values,
    "helm-get-metadata": parse_metadata,
}
RECORDED = sorted(HELM4.glob("*.json"))


def _parser(path: Path) -> Callable[[bytes], Any]:
    prefix = next((p for p in PARSERS if path.name.startswith(p)), None)
    assert prefix is not None, f"new fixture {path.name}: say which parser reads it"
    return PARSERS[prefix]


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.name)
def test_models_every_recorded_json_parses(path: Path) -> None:
    parsed = _parser(path)(path.read_bytes())
    assert parsed is not None


def test_models_install_output() -> None:
    release = parse_release(fixture("helm-install.json"))
    assert (release.name, release.namespace, release.revision) == ("demo", "apps", 1)
    assert (release.status, release.description) == ("deployed", "Install complete")
    assert (release.chart_name, release.chart_version, release.app_version) == (
        "demo",
        "0.1.0",
        "1.16.0",
    )
    assert release.values == {"replicaCount": 2}
    assert release.notes.startswith("1. Get the application URL")
    assert release.last_deployed == datetime(2026, 11, 22, 1, 49, 30, 167663, tzinfo=UTC)
    assert release.resources == {}


def test_models_upgrade_to_new_chart_version() -> None:
    release = parse_release(fixture("helm-upgrade-chart-0.2.0.json"))
    assert (release.revision, release.chart_version, release.app_version) == (3, "0.2.0", "1.17.0")


def test_models_status_has_live_resources_but_no_chart() -> None:
    release = parse_release(fixture("helm-status.json"))
    assert (release.revision, release.status, release.description) == (
        4,
        "deployed",
        "Rollback to 1",
    )
    assert release.chart_name is None
    assert set(release.resources) == {
        "v1/Deployment",
        "v1/Pod(related)",
        "v1/Service",
        "v1/ServiceAccount",
    }
    assert release.resources["v1/Deployment"][0]["kind"] == "Deployment"


def test_models_history_revisions_are_ints_with_rollback_targets() -> None:
    entries = parse_history(fixture("helm-history-after-pending.json"))
    assert [e.revision for e in entries] == list(range(1, 10))
    assert [e.status for e in entries][-3:] == ["superseded", "pending-upgrade", "deployed"]
    third = entries[2]
    assert (third.chart, third.chart_name, third.chart_version, third.app_version) == (
        "demo-0.2.0",
        "demo",
        "0.2.0",
        "1.17.0",
    )
    assert entries[3].rollback_revision == 1
    assert entries[0].rollback_revision is None
    assert entries[4].description.endswith("\ncontext deadline exceeded")
    assert entries[0].updated == datetime(2026, 11, 22, 1, 49, 30, 167663, tzinfo=UTC)


def test_models_list_revision_is_a_string_and_time_is_gos() -> None:
    (entry,) = parse_list(fixture("helm-list-pending.json"))
    assert (entry.revision, entry.status, entry.app_version) == (8, "pending-upgrade", "1.16.0")
    assert entry.updated == datetime(2026, 11, 22, 1, 50, 24, 741767, tzinfo=UTC)


def test_models_values_and_metadata() -> None:
    assert parse_values(fixture("helm-get-values-revision-3.json")) == {"replicaCount": 3}
    assert parse_values(b"null") == {}
    meta = parse_metadata(fixture("helm-get-metadata.json"))
    assert (meta.chart_name, meta.chart_version, meta.app_version, meta.revision) == (
        "demo",
        "0.1.0",
        "1.16.0",
        4,
    )


@pytest.mark.parametrize(
    ("chart", "expected"),
    [
        ("demo-0.1.0", ("demo", "0.1.0")),
        ("my-chart-1.2.3-rc.1", ("my-chart", "1.2.3-rc.1")),
        ("nginx-v2-1.0.0+build.5", ("nginx-v2", "1.0.0+build.5")),
        ("odd", ("odd", "")),
    ],
)
def test_models_split_chart(chart: str, expected: tuple[str, str]) -> None:
    assert split_chart(chart) == expected


def test_models_parse_time_tolerates_junk() -> None:
    assert parse_time("yesterday") is None
    assert parse_time(None) is None


@pytest.mark.parametrize(
    ("parser", "text"),
    [
        (parse_release, b"not json"),
        (parse_release, b"[]"),
        (parse_release, b'{"version": "four"}'),
        (parse_history, b"{}"),
        (parse_history, b'[{"revision": true}]'),
        (parse_list, b"{}"),
        (parse_values, b"[1]"),
    ],
)
def test_models_unexpected_documents_are_backend_failures(
    parser: Callable[[bytes], Any], text: bytes
) -> None:
    with pytest.raises(BackendFailure):
        parser(text)
