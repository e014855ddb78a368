"""The DynamoDB table, built from ``infra/table.json``: the file the tests and the local run
create their table from is the only place its keys and indexes are written down.

On-demand, point-in-time recovery, encrypted with a customer-managed KMS key, and kept
(with its key) when the stack is deleted. ``ttl`` is the table's TTL attribute, reserved for
items that should expire: nothing writes it yet (a lease's ``expiresAt`` lives inside the
deployment item and must not delete it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

TABLE_FILE = Path(__file__).resolve().parent / "table.json"
TTL_ATTRIBUTE = "ttl"

_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}
_PROJECTIONS = {
    "ALL": dynamodb.ProjectionType.ALL,
    "KEYS_ONLY": dynamodb.ProjectionType.KEYS_ONLY,
    "INCLUDE": dynamodb.ProjectionType.INCLUDE,
}


def load_definition(path: Path = TABLE_FILE) -> dict[str, Any]:
    definition: dict[str, Any] = json.loads(path.read_text())
    if definition.get("BillingMode") != "PAY_PER_REQUEST":
        raise ValueError(f"{path.name}: the stack builds an on-demand table (PAY_PER_REQUEST)")
    return definition


def _keys(
    key_schema: list[dict[str, str]], types: dict[str, str]
) -> tuple[dynamodb.Attribute, dynamodb.Attribute | None]:
    by_role = {k["KeyType"]: k["AttributeName"] for k in key_schema}

    def attribute(name: str) -> dynamodb.Attribute:
        return dynamodb.Attribute(name=name, type=_TYPES[types[name]])

    sort = by_role.get("RANGE")
    return attribute(by_role["HASH"]), attribute(sort) if sort else None


class ServiceTable(Construct):
    """The table and its key."""

    def __init__(self, scope: Construct, construct_id: str, *, deletion_protection: bool) -> None:
        super().__init__(scope, construct_id)
        definition = load_definition()
        types = {a["AttributeName"]: a["AttributeType"] for a in definition["AttributeDefinitions"]}
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the O2-DMS table",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
            pending_window=Duration.days(30),
        )
        partition, sort = _keys(definition["KeySchema"], types)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=partition,
            sort_key=sort,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=TTL_ATTRIBUTE,
            deletion_protection=deletion_protection,
            removal_policy=RemovalPolicy.RETAIN,
        )
        for index in definition.get("GlobalSecondaryIndexes", []):
            index_partition, index_sort = _keys(index["KeySchema"], types)
            projection = index.get("Projection", {})
            self.table.add_global_secondary_index(
                index_name=index["IndexName"],
                partition_key=index_partition,
                sort_key=index_sort,
                projection_type=_PROJECTIONS[projection.get("ProjectionType", "ALL")],
                non_key_attributes=projection.get("NonKeyAttributes"),
            )
