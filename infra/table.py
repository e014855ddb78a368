"""The DynamoDB table, built from ``infra/table.json``: the file the tests and the local run
create their table from is the only place its keys and indexes are written down.

On-demand, point-in-time recovery, encrypted with a customer-managed KMS key, and kept
(with its key) when the stack is deleted. ``ttl`` is the table's TTL attribute, for items
that should expire: WebSocket connections and subscriptions (a lease's ``expiresAt`` lives
inside the deployment item and must not delete it). Its stream (``StreamSpecification``)
carries every change, with the item before and after, to the live-updates function.
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
_STREAM_VIEWS = {
    "NEW_AND_OLD_IMAGES": dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
    "NEW_IMAGE": dynamodb.StreamViewType.NEW_IMAGE,
    "OLD_IMAGE": dynamodb.StreamViewType.OLD_IMAGE,
    "KEYS_ONLY": dynamodb.StreamViewType.KEYS_ONLY,
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


def stream_view(definition: dict[str, Any]) -> dynamodb.StreamViewType | None:
    """The stream ``definition`` asks for (CreateTable's ``StreamSpecification``), or None."""
    spec = definition.get("StreamSpecification") or {}
    if not spec.get("StreamEnabled"):
        return None
    view = spec.get("StreamViewType")
    if view not in _STREAM_VIEWS:
        raise ValueError(f"{TABLE_FILE.name}: unknown StreamViewType {view!r}")
    return _STREAM_VIEWS[view]


def _keys(
    key_schema: list[dict[str, str]], types: dict[str, str]
) -> tuple[dynamodb.Attribute, dynamodb.Attribute | None]:
    by_role = {k["KeyType"]: k["AttributeName"] for k in key_schema}

    def attribute(name: str) -> dynamodb.Attribute:
        return dynamodb.Attribute(name=name, type=_TYPES[types[name]])

    sort = by_role.get("RANGE")
    return attribute(by_role["HASH"]), attribute(sort) if sort else None


class ServiceTable(Construct):
    """The table, its key, and its stream when ``table.json`` asks for one."""

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
            stream=stream_view(definition),
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

    @property
    def stream_arn(self) -> str:
        """The stream's ARN; the live-updates function reads it, so the table must have one."""
        arn = self.table.table_stream_arn
        if arn is None:
            raise ValueError(f"{TABLE_FILE.name} enables no stream (StreamSpecification)")
        return arn
