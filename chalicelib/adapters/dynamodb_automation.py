"""The ``AutomationStore`` port on the service's one DynamoDB table.

Schedules and the alarm binding live in the deployment's partition (``SCHED#<id>``,
``ALARMS``), so one query returns a deployment with all its schedules; an alarm's
deployments are found through lookup items ``ALARM#<name>`` / ``DEP#<id>``. Duplicate
firings and rollback storms are stopped by conditional writes, not by reading first.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters import dynamodb_items as items
from chalicelib.adapters.dynamodb_store import audit_write, translate_errors
from chalicelib.domain.audit import AuditRecord
from chalicelib.domain.errors import AlreadyExists, DeploymentNotFound, ScheduleNotFound
from chalicelib.domain.models import AlarmBinding, Deployment, Operation, ScalingSchedule

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Item = dict[str, Any]
logger = logging.getLogger(__name__)
_TRANSACTION_LIMIT = 100


class DynamoDBAutomationStore:
    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        watch_window_seconds: int,
        cooldown_seconds: int,
    ) -> None:
        self._client = client
        self._table = table_name
        self._watch_window = watch_window_seconds
        self._cooldown = cooldown_seconds

    # -------------------------------------------------------------------- schedules

    @translate_errors
    def put_schedule(self, schedule: ScalingSchedule, *, audit: AuditRecord) -> None:
        put: Item = {
            "TableName": self._table,
            "Item": items.schedule_item(schedule),
            "ConditionExpression": "attribute_not_exists(PK)",
        }
        try:
            writes: list[Any] = [{"Put": put}, audit_write(self._table, audit)]
            self._client.transact_write_items(TransactItems=writes)
        except self._client.exceptions.TransactionCanceledException as exc:
            raise AlreadyExists(f"Scaling schedule {schedule.id} already exists") from exc

    @translate_errors
    def get_schedule(self, deployment_id: str, schedule_id: str) -> ScalingSchedule:
        answer = self._client.get_item(
            TableName=self._table,
            Key=items.schedule_key(deployment_id, schedule_id),
            ConsistentRead=True,
        )
        if "Item" not in answer:
            raise ScheduleNotFound(
                f"Scaling schedule {schedule_id} not found for deployment {deployment_id}"
            )
        return items.read_schedule(answer["Item"])

    @translate_errors
    def deployment_schedules(
        self, deployment_id: str
    ) -> tuple[Deployment, tuple[ScalingSchedule, ...]]:
        # "REV~" (the deployment) sorts just before "SCHED#...", and "SCHED$" just after.
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :low AND :high",
            "ExpressionAttributeValues": {
                ":pk": {"S": items.deployment_partition(deployment_id)},
                ":low": {"S": items.DEPLOYMENT_SK},
                ":high": {"S": items.SCHEDULE_SK_PREFIX[:-1] + "$"},
            },
            "ConsistentRead": True,
        }
        found: list[Item] = []
        while True:
            answer = self._client.query(**query)
            found += answer.get("Items", [])
            if "LastEvaluatedKey" not in answer:
                break
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        if not found or found[0]["SK"]["S"] != items.DEPLOYMENT_SK:
            raise DeploymentNotFound(f"Deployment {deployment_id} not found")
        schedules = tuple(
            items.read_schedule(i)
            for i in found[1:]
            if i["SK"]["S"].startswith(items.SCHEDULE_SK_PREFIX)
        )
        return items.read_deployment(found[0]), schedules

    @translate_errors
    def delete_schedule(
        self, deployment_id: str, schedule_id: str, *, audit: AuditRecord | None = None
    ) -> None:
        key = items.schedule_key(deployment_id, schedule_id)
        if audit is None:
            self._client.delete_item(TableName=self._table, Key=key)
            return
        delete: Item = {"Delete": {"TableName": self._table, "Key": key}}
        writes: list[Any] = [delete, audit_write(self._table, audit)]
        self._client.transact_write_items(TransactItems=writes)

    @translate_errors
    def claim_firing(self, schedule: ScalingSchedule, scheduled_time: datetime) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=items.schedule_key(schedule.deployment_id, schedule.id),
                UpdateExpression="SET lastScheduledTime = :t",
                ConditionExpression=(
                    "attribute_exists(PK) AND "
                    "(attribute_not_exists(lastScheduledTime) OR lastScheduledTime < :t)"
                ),
                ExpressionAttributeValues={":t": {"S": items.utc_text(scheduled_time)}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release_firing(self, schedule: ScalingSchedule, scheduled_time: datetime) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=items.schedule_key(schedule.deployment_id, schedule.id),
                UpdateExpression="REMOVE lastScheduledTime",
                ConditionExpression="lastScheduledTime = :t",
                ExpressionAttributeValues={":t": {"S": items.utc_text(scheduled_time)}},
            )
        except (ClientError, BotoCoreError):
            logger.warning(
                "could not release a firing", extra={"schedule": schedule.id}, exc_info=True
            )

    @translate_errors
    def record_firing(self, schedule: ScalingSchedule) -> None:
        if schedule.last_firing is None:
            return
        try:
            self._client.update_item(
                TableName=self._table,
                Key=items.schedule_key(schedule.deployment_id, schedule.id),
                UpdateExpression="SET lastFiring = :f",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":f": items.firing_value(schedule.last_firing)},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return  # deleted meanwhile: nothing left to annotate

    @translate_errors
    def record_operation(self, operation: Operation) -> None:
        self._client.put_item(
            TableName=self._table,
            Item=items.operation_item(operation),
            ConditionExpression="attribute_not_exists(PK)",
        )

    # ----------------------------------------------------------------------- alarms

    @translate_errors
    def get_alarm_binding(self, deployment_id: str) -> AlarmBinding | None:
        answer = self._client.get_item(
            TableName=self._table,
            Key=items.alarm_binding_key(deployment_id),
            ConsistentRead=True,
        )
        if "Item" not in answer:
            return None
        return items.read_alarm_binding(
            answer["Item"], watch_window=self._watch_window, cooldown=self._cooldown
        )

    @translate_errors
    def deployment_alarm_binding(self, deployment_id: str) -> tuple[Deployment, AlarmBinding]:
        keys = [items.deployment_key(deployment_id), items.alarm_binding_key(deployment_id)]
        found: list[Item] = []
        request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
        while request:  # more than one round trip only when DynamoDB defers keys (throttling)
            answer = self._client.batch_get_item(RequestItems=request)
            found += answer.get("Responses", {}).get(self._table, [])
            request = answer.get("UnprocessedKeys") or {}
        by_sort_key = {i["SK"]["S"]: i for i in found}
        if items.DEPLOYMENT_SK not in by_sort_key:
            raise DeploymentNotFound(f"Deployment {deployment_id} not found")
        binding = by_sort_key.get(items.ALARM_BINDING_SK)
        deployment = items.read_deployment(by_sort_key[items.DEPLOYMENT_SK])
        if binding is None:
            return deployment, AlarmBinding(
                deployment_id=deployment_id,
                alarm_names=(),
                watch_window_seconds=self._watch_window,
                cooldown_seconds=self._cooldown,
            )
        return deployment, items.read_alarm_binding(
            binding, watch_window=self._watch_window, cooldown=self._cooldown
        )

    @translate_errors
    def put_alarm_binding(
        self, binding: AlarmBinding, previous: tuple[str, ...], *, audit: AuditRecord
    ) -> None:
        item = items.alarm_binding_item(binding)
        # Keep the cooldown mark: rebinding must not reopen the door to a rollback storm.
        item.pop("lastRollbackAt", None)
        attributes = [k for k in item if k not in ("PK", "SK")]
        writes: list[Any] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": items.alarm_binding_key(binding.deployment_id),
                    "UpdateExpression": "SET "
                    + ", ".join(f"#{i} = :{i}" for i in range(len(attributes))),
                    "ExpressionAttributeNames": {f"#{i}": a for i, a in enumerate(attributes)},
                    "ExpressionAttributeValues": {
                        f":{i}": item[a] for i, a in enumerate(attributes)
                    },
                }
            }
        ]
        dropped = set(previous) - set(binding.alarm_names)
        writes += [
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": items.alarm_lookup_key(name, binding.deployment_id),
                }
            }
            for name in sorted(dropped)
        ]
        writes += [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        **items.alarm_lookup_key(name, binding.deployment_id),
                        "deploymentId": {"S": binding.deployment_id},
                    },
                }
            }
            for name in binding.alarm_names
        ]
        writes.append(audit_write(self._table, audit))
        if len(writes) > _TRANSACTION_LIMIT:
            raise ValueError("too many alarm names for one transaction")
        self._client.transact_write_items(TransactItems=writes)

    @translate_errors
    def delete_alarm_binding(self, deployment_id: str) -> None:
        binding = self.get_alarm_binding(deployment_id)
        names = binding.alarm_names if binding else ()
        writes: list[Any] = [
            {"Delete": {"TableName": self._table, "Key": items.alarm_binding_key(deployment_id)}}
        ]
        writes += [
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": items.alarm_lookup_key(name, deployment_id),
                }
            }
            for name in names
        ]
        self._client.transact_write_items(TransactItems=writes)

    @translate_errors
    def deployments_for_alarm(self, alarm_name: str) -> tuple[str, ...]:
        answer = self._client.query(
            TableName=self._table,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": f"{items.ALARM_PK_PREFIX}{alarm_name}"}},
            ConsistentRead=True,
        )
        return tuple(i["deploymentId"]["S"] for i in answer.get("Items", []))

    @translate_errors
    def claim_alarm_rollback(
        self, deployment_id: str, *, now: datetime, cooldown_seconds: int, event: str
    ) -> bool:
        cutoff = now - timedelta(seconds=cooldown_seconds)
        try:
            self._client.update_item(
                TableName=self._table,
                Key=items.alarm_binding_key(deployment_id),
                UpdateExpression="SET lastRollbackAt = :now, lastRollbackEvent = :event",
                ConditionExpression=(
                    "attribute_not_exists(lastRollbackAt) OR lastRollbackAt <= :cutoff"
                    " OR lastRollbackEvent = :event"
                ),
                ExpressionAttributeValues={
                    ":now": {"S": items.utc_text(now)},
                    ":cutoff": {"S": items.utc_text(cutoff)},
                    ":event": {"S": event},
                },
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release_alarm_rollback(self, deployment_id: str, *, event: str) -> None:
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._client.update_item(
                TableName=self._table,
                Key=items.alarm_binding_key(deployment_id),
                UpdateExpression="REMOVE lastRollbackAt, lastRollbackEvent",
                ConditionExpression="lastRollbackEvent = :event",
                ExpressionAttributeValues={":event": {"S": event}},
            )
