"""The stack's context: a stage Chalice knows, and cluster ARNs as a list or as text."""

from __future__ import annotations

import pytest

from infra.settings import SettingsError, from_context


def test_settings_default_to_dev_without_clusters() -> None:
    no_context: dict[str, object] = {}

    settings = from_context(no_context.get)

    assert (settings.stage, settings.prefix) == ("dev", "o2dms-dev")
    assert settings.cluster_role_arns == settings.cluster_arns == ()


def test_settings_prod_keeps_more_than_dev() -> None:
    dev, prod = from_context({"stage": "dev"}.get), from_context({"stage": "prod"}.get)

    assert prod.log_retention_days > dev.log_retention_days
    assert prod.table_deletion_protection
    assert not dev.table_deletion_protection


@pytest.mark.parametrize(
    "given",
    [
        "arn:aws:iam::1:role/a,arn:aws:iam::1:role/b",
        '["arn:aws:iam::1:role/a", "arn:aws:iam::1:role/b"]',
        ["arn:aws:iam::1:role/a", "arn:aws:iam::1:role/b"],
    ],
)
def test_settings_read_cluster_roles_from_text_or_list(given: object) -> None:
    settings = from_context({"clusterRoleArns": given}.get)

    assert settings.cluster_role_arns == ("arn:aws:iam::1:role/a", "arn:aws:iam::1:role/b")


def test_settings_refuse_an_unknown_stage() -> None:
    with pytest.raises(SettingsError, match="unknown stage 'staging'"):
        from_context({"stage": "staging"}.get)


def test_settings_refuse_what_is_not_an_arn() -> None:
    with pytest.raises(SettingsError, match="clusterArns: 'ran-paris' is not an ARN"):
        from_context({"clusterArns": "ran-paris"}.get)


def test_settings_throttle_every_stage_and_serve_no_other_origin_by_default() -> None:
    dev, prod = from_context({"stage": "dev"}.get), from_context({"stage": "prod"}.get)
    tuned = from_context(
        {"throttleRate": "20", "throttleBurst": 40, "corsOrigin": "https://smo.example.net/"}.get
    )

    assert (dev.throttle_rate, dev.throttle_burst) == (50, 100)
    assert prod.throttle_rate > dev.throttle_rate
    assert dev.cors_origin is None
    assert (tuned.throttle_rate, tuned.throttle_burst) == (20, 40)
    assert tuned.cors_origin == "https://smo.example.net"


@pytest.mark.parametrize(
    "context",
    [
        {"throttleRate": "0"},
        {"throttleBurst": "many"},
        {"corsOrigin": "*"},
        {"corsOrigin": "http://smo.example.net"},
        {"corsOrigin": "https://a.example.net,https://b.example.net"},
        {"corsOrigin": "https://smo.example.net/ui"},
    ],
)
def test_settings_refuse_a_throttle_or_origin_that_makes_no_sense(
    context: dict[str, object],
) -> None:
    with pytest.raises(SettingsError):
        from_context(context.get)
