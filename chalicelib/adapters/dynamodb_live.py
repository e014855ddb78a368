"""The ``Subscriptions`` port on the service's table: WebSocket connections and what each
follows, as items that expire (attribute ``ttl``).

- a connection: ``PK = CONN#<connection id>``, ``SK = CONN``, with its caller and the set
  of topics it follows (so a disconnect knows what to delete);
- a subscription: ``PK = LIVE#<topic>``, ``SK = CONN#<connection id>``, with the caller
  again, so that the followers of a deployment are one Query and nothing more.

DynamoDB deletes expired items only eventually (and the emulator never): reads leave out
what has expired.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.adapters.dynamodb_store import translate_errors
from chalicelib.domain.errors import NotFound
from chalicelib.domain.live import Connection, Subscription

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Item = dict[str, Any]
CONNECTION_PK_PREFIX = "CONN#"
CONNECTION_SK = "CONN"
SUBSCRIPTION_PK_PREFIX = "LIVE#"
SUBSCRIPTION_SK_PREFIX = "CONN#"
TTL = "ttl"
_BATCH = 25  # BatchWriteItem's limit


def connection_key(connection_id: str) -> Item:
    return {"PK": {"S": f"{CONNECTION_PK_PREFIX}{connection_id}"}, "SK": {"S": CONNECTION_SK}}


def subscription_key(topic: str, connection_id: str) -> Item:
    return {
        "PK": {"S": f"{SUBSCRIPTION_PK_PREFIX}{topic}"},
        "SK": {"S": f"{SUBSCRIPTION_SK_PREFIX}{connection_id}"},
    }


def is_subscription_key(keys: Item) -> bool:
    return str(keys.get("PK", {}).get("S", "")).startswith(SUBSCRIPTION_PK_PREFIX)


def subscription_item(s: Subscription) -> Item:
    item: Item = {
        **subscription_key(s.topic, s.connection_id),
        "connectionId": {"S": s.connection_id},
        "topic": {"S": s.topic},
        "actor": {"S": s.actor},
        "groups": {"S": json.dumps(list(s.groups))},
        TTL: {"N": str(s.expires_at)},
        "since": {"N": str(s.since)},
    }
    if s.ref:
        item["ref"] = {"S": s.ref}
    if s.snapshot_due:
        item["snapshotDue"] = {"BOOL": True}
    return item


def read_subscription(item: Item) -> Subscription:
    return Subscription(
        connection_id=item["connectionId"]["S"],
        topic=item["topic"]["S"],
        actor=item["actor"]["S"],
        groups=tuple(json.loads(item["groups"]["S"])),
        expires_at=int(item[TTL]["N"]),
        ref=item["ref"]["S"] if "ref" in item else None,
        snapshot_due=bool(item.get("snapshotDue", {}).get("BOOL", False)),
        since=int(item.get("since", {}).get("N", "0")),
    )


def _expired(item: Item, now: int) -> bool:
    return TTL in item and int(item[TTL]["N"]) <= now


class DynamoDBSubscriptions:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    @translate_errors
    def open(self, connection: Connection) -> None:
        item: Item = {
            **connection_key(connection.connection_id),
            "actor": {"S": connection.actor},
            "groups": {"S": json.dumps(list(connection.groups))},
            TTL: {"N": str(connection.expires_at)},
        }
        if connection.topics:
            item["topics"] = {"SS": sorted(connection.topics)}
        self._client.put_item(TableName=self._table, Item=item)

    @translate_errors
    def add(self, subscription: Subscription) -> None:
        """The topic on the connection first (``NotFound`` when the connection has gone
        meanwhile), then the subscription: a failure between the two leaves a topic
        without a subscription, which a disconnect deletes harmlessly, never a
        subscription its connection does not know of. No transaction: they cost twice."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=connection_key(subscription.connection_id),
                UpdateExpression="ADD topics :t",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":t": {"SS": [subscription.topic]}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            raise NotFound(f"Connection {subscription.connection_id} is gone") from exc
        self._client.put_item(TableName=self._table, Item=subscription_item(subscription))

    @translate_errors
    def remove(self, connection_id: str, topic: str) -> None:
        """The subscription first, then the topic on the connection (see ``add``)."""
        self._client.delete_item(TableName=self._table, Key=subscription_key(topic, connection_id))
        try:
            self._client.update_item(
                TableName=self._table,
                Key=connection_key(connection_id),
                UpdateExpression="DELETE topics :t",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":t": {"SS": [topic]}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise  # a connection that has gone has no topics to forget

    @translate_errors
    def shown(self, subscription: Subscription) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=subscription_key(subscription.topic, subscription.connection_id),
                UpdateExpression="REMOVE snapshotDue",
                ConditionExpression="attribute_exists(PK)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise  # unsubscribed meanwhile: nothing to mark

    @translate_errors
    def followers(self, topic: str, *, now: int) -> tuple[Subscription, ...]:
        found: list[Subscription] = []
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"{SUBSCRIPTION_PK_PREFIX}{topic}"}},
        }
        while True:
            page = self._client.query(**query)
            found += [read_subscription(i) for i in page["Items"] if not _expired(i, now)]
            if "LastEvaluatedKey" not in page:
                return tuple(found)
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    @translate_errors
    def connection(self, connection_id: str, *, now: int) -> Connection | None:
        item = self._client.get_item(
            TableName=self._table, Key=connection_key(connection_id), ConsistentRead=True
        ).get("Item")
        if item is None or _expired(item, now):
            return None
        return Connection(
            connection_id=connection_id,
            actor=item["actor"]["S"],
            groups=tuple(json.loads(item["groups"]["S"])),
            expires_at=int(item[TTL]["N"]),
            topics=frozenset(item.get("topics", {}).get("SS", ())),
        )

    @translate_errors
    def forget(self, connection_id: str) -> None:
        item = self._client.get_item(
            TableName=self._table, Key=connection_key(connection_id), ConsistentRead=True
        ).get("Item")
        topics = item.get("topics", {}).get("SS", []) if item else []
        keys = [subscription_key(t, connection_id) for t in topics]
        keys.append(connection_key(connection_id))
        for start in range(0, len(keys), _BATCH):
            requests: Any = {
                self._table: [{"DeleteRequest": {"Key": k}} for k in keys[start : start + _BATCH]]
            }
            while requests:
                answer = self._client.batch_write_item(RequestItems=requests)
                requests = answer.get("UnprocessedItems") or None
