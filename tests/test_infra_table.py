"""The stack's table is the one ``infra/table.json`` describes, and it is safe to keep data in:
point-in-time recovery, encryption with the stack's own KMS key, kept when the stack goes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.cdk_template import ROOT, render, resources


@pytest.fixture(scope="module")
def table(stack_template: dict[str, Any]) -> dict[str, Any]:
    (found,) = resources(stack_template, "AWS::DynamoDB::Table").values()
    return found


def _by_name(items: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return {item[key]: item for item in items}


def test_table_keys_and_indexes_are_those_of_table_json(table: dict[str, Any]) -> None:
    definition = json.loads((ROOT / "infra" / "table.json").read_text())
    properties = table["Properties"]

    assert properties["KeySchema"] == definition["KeySchema"]
    assert _by_name(properties["AttributeDefinitions"], "AttributeName") == _by_name(
        definition["AttributeDefinitions"], "AttributeName"
    )
    synthesized = _by_name(properties["GlobalSecondaryIndexes"], "IndexName")
    assert synthesized == _by_name(definition["GlobalSecondaryIndexes"], "IndexName")
    assert properties["BillingMode"] == "PAY_PER_REQUEST" == definition["BillingMode"]


def test_table_has_point_in_time_recovery(table: dict[str, Any]) -> None:
    recovery = table["Properties"].get("PointInTimeRecoverySpecification", {})

    assert recovery.get("PointInTimeRecoveryEnabled") is True


def test_table_is_encrypted_with_the_stacks_customer_managed_key(
    stack_template: dict[str, Any], table: dict[str, Any]
) -> None:
    (key_id,) = resources(stack_template, "AWS::KMS::Key")
    encryption = table["Properties"].get("SSESpecification", {})

    assert encryption.get("SSEEnabled") is True
    assert encryption.get("SSEType") == "KMS"
    assert render(encryption.get("KMSMasterKeyId")) == f"${{{key_id}.Arn}}"
    key = stack_template["Resources"][key_id]
    assert key["Properties"]["EnableKeyRotation"] is True


def test_table_and_its_key_survive_the_stacks_deletion(
    stack_template: dict[str, Any], table: dict[str, Any]
) -> None:
    (key,) = resources(stack_template, "AWS::KMS::Key").values()

    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    assert key["DeletionPolicy"] == key["UpdateReplacePolicy"] == "Retain"


def test_table_ttl_attribute_is_the_reserved_ttl(table: dict[str, Any]) -> None:
    assert table["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "ttl",
        "Enabled": True,
    }
