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
