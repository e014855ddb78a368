"""The ``Store`` port on one DynamoDB table.

Every read that answers an API request is one round trip (GetItem, or one Query page);
every change to a deployment is one TransactWriteItems conditioned on the deployment
item's ``recordVersion``. The boto3 client is passed in, never built here.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters import dynamodb_items as items
from chalicelib.adapters.dynamodb_metrics import METRICS_PK, metric_writes, read_aggregates
from chalicelib.domain.audit import AuditFilter, AuditRecord
from chalicelib.domain.errors import (
    AlreadyExists,
    ConcurrentModification,
    DeploymentManagerInUse,
    DeploymentManagerNotFound,
    DeploymentNotFound,
    DescriptorInUse,
    DescriptorNotFound,
    InvalidRequest,
    OperationNotFound,
    PayloadTooLarge,
    RevisionNotFound,
    RolloutNotFound,
    StoreUnavailable,
)
from chalicelib.domain.metrics import Aggregate
from chalicelib.domain.models import (
    Deployment,
    DeploymentManager,
    Descriptor,
    Operation,
    Page,
    Revision,
)
from chalicelib.domain.ports import (
    Change,
    CreateReads,
    DeploymentFilter,
    Detach,
    RolloutFilter,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

T = TypeVar("T")
P = ParamSpec("P")
Item = dict[str, Any]
logger = logging.getLogger(__name__)


def translate_errors(method: Callable[P, T]) -> Callable[P, T]:
    """DynamoDB failures that are not ours to handle become ``StoreUnavailable`` (503);
    DynamoDB's refusal of the request itself is the caller's (see ``validation_refusal``)."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except ClientError as exc:
            refused = validation_refusal(exc, call=method.__name__)
            if refused is not None:
                raise refused from exc
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            logger.warning("dynamodb call failed", extra={"code": code, "call": method.__name__})
            raise StoreUnavailable(f"The deployment store is unavailable ({code})") from exc
        except BotoCoreError as exc:
            logger.warning("dynamodb unreachable", extra={"call": method.__name__})
            raise StoreUnavailable("The deployment store is unreachable") from exc

    return wrapper


_FILTER_ATTRIBUTES = {
    "status": "status",
    "descriptor_id": "descriptorId",
    "namespace": "namespace",
    "adapter": "adapter",
    "deployment_manager_id": "deploymentManagerId",
}

_ROLLOUT_FILTERS = {
    "name": "appName",
    "environment": "appEnvironment",
    "platform": "appPlatform",
    "status": "appStatus",
    "namespace": "appNamespace",
}

# A descriptor or manager may be deleted only while it exists and no deployment uses it.
_UNUSED = (
    "attribute_exists(PK) AND (attribute_not_exists(deploymentCount) OR deploymentCount <= :zero)"
)
_UNUSED_VALUES: dict[str, Any] = {":zero": {"N": "0"}}


# DynamoDB's words for an item over its 400 KB: a put, or an update that would grow one.
# Queries one page of the audit trail may take when a filter skips records.
AUDIT_QUERIES = 4
BATCH_GET_ATTEMPTS = 4
_TOO_LARGE = ("Item size has exceeded", "Item size to update has exceeded")


def validation_refusal(exc: ClientError, *, call: str) -> InvalidRequest | None:
    """DynamoDB's refusal of a request as invalid (``ValidationException``, or a cancelled
    transaction with a ``ValidationError`` reason) as the caller's error: an item over 400 KB
    is ``PayloadTooLarge`` (413), any other a 400 that repeats none of the request's values.
    None for any other failure."""
    code = exc.response.get("Error", {}).get("Code", "Unknown")
    if code == "ValidationException":
        messages = [exc.response.get("Error", {}).get("Message", "")]
    else:
        reasons: list[Any] = list(exc.response.get("CancellationReasons") or [])
        messages = [r.get("Message", "") for r in reasons if r.get("Code") == "ValidationError"]
        if not messages:
            return None
    too_large = any(words in m for m in messages for words in _TOO_LARGE)
    logger.warning(
        "dynamodb refused the request", extra={"code": code, "call": call, "too_large": too_large}
    )
    if too_large:
        return PayloadTooLarge(
            "The request is too large to store: each record of the deployment store holds at"
            " most 400 KB (DynamoDB's item limit)"
        )
    return InvalidRequest("The deployment store refused the request as invalid")


# A page token is the start key DynamoDB returned, as unpadded base64url of its JSON, then
# "." and the first 16 bytes of an HMAC-SHA256 (unpadded base64url) over the listing's name
# and that text: a token is good only for the listing that handed it out, and only with the
# key it was signed with (``Settings.page_token_secret``).
_MAC_BYTES = 16
_NOT_OURS = "nextToken is not a token this API returned"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _signature(payload: str, *, secret: bytes, listing: str) -> str:
    message = f"{listing}\n{payload}".encode()
    return _b64(hmac.new(secret, message, hashlib.sha256).digest()[:_MAC_BYTES])


def encode_token(key: Item, *, secret: bytes, listing: str) -> str:
    """The page token of start key ``key`` in ``listing``, signed with ``secret``."""
    payload = _b64(json.dumps(key, sort_keys=True, separators=(",", ":")).encode())
    return f"{payload}.{_signature(payload, secret=secret, listing=listing)}"


_TABLE_KEY = frozenset({"PK", "SK"})
_INDEX_KEY = _TABLE_KEY | {"GSI1PK", "GSI1SK"}


def decode_token(
    token: str,
    *,
    secret: bytes,
    listing: str,
    partition: str | None = None,
    index_partition: str | None = None,
) -> Item:
    """The start key a page token stands for. 400 for anything we did not hand out, before
    DynamoDB sees it: a signature that is not ours for ``listing`` (compared in constant
    time), then a key that is not exactly the key attributes of the table (and of the index,
    for an index page), each a string, in ``partition`` (``index_partition``)."""
    payload, dot, signature = token.partition(".")
    expected = _signature(payload, secret=secret, listing=listing)
    if not dot or not signature.isascii() or not hmac.compare_digest(signature, expected):
        raise InvalidRequest(_NOT_OURS)
    try:
        padded = payload + "=" * (-len(payload) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(_NOT_OURS) from exc
    key_names = _INDEX_KEY if index_partition is not None else _TABLE_KEY
    if (
        not isinstance(key, dict)
        or set(key) != key_names
        or not all(
            isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str)
            for v in key.values()
        )
    ):
        raise InvalidRequest(_NOT_OURS)
    if partition is not None and key["PK"] != {"S": partition}:
        raise InvalidRequest("nextToken belongs to another listing")
    if index_partition is not None and key["GSI1PK"] != {"S": index_partition}:
        raise InvalidRequest("nextToken belongs to another listing")
    return key


def _cancellation(
    exc: Any, change: Change, first_count: int, descriptor_ids: list[str], manager_ids: list[str]
) -> Exception:
    """Why a commit was cancelled: DynamoDB refused a write as invalid (an item over 400 KB),
    a use count's target is gone (the count writes start at ``first_count``, descriptors
    first), else the deployment changed meanwhile."""
    refused = validation_refusal(exc, call="commit")
    if refused is not None:
        return refused
    for index, reason in enumerate(exc.response.get("CancellationReasons") or []):
        if reason.get("Code") != "ConditionalCheckFailed" or index < first_count:
            continue
        counted = index - first_count
        if counted < len(descriptor_ids):
            return DescriptorNotFound(f"Descriptor {descriptor_ids[counted]} not found")
        missing = manager_ids[counted - len(descriptor_ids)]
        return DeploymentManagerNotFound(f"Deployment manager {missing} not found")
    return ConcurrentModification(f"deployment {change.deployment.id} changed meanwhile")


def _detached_keys(detach: Detach) -> list[Item]:
    d = detach
    keys = [items.schedule_key(d.deployment_id, s) for s in d.schedule_ids]
    if d.binding:
        keys.append(items.alarm_binding_key(d.deployment_id))
    keys += [items.alarm_lookup_key(name, d.deployment_id) for name in d.alarm_names]
    return keys


def audit_write(table: str, record: AuditRecord) -> Item:
    """The write of an audit record, in the transaction of the change it tells of; never
    over an existing record."""
    return {
        "Put": {
            "TableName": table,
            "Item": items.audit_item(record),
            "ConditionExpression": "attribute_not_exists(PK)",
        }
    }


class DynamoDBStore:
    def __init__(
        self, client: DynamoDBClient, table_name: str, *, token_key: str | None = None
    ) -> None:
        """``token_key`` signs page tokens (the composition root passes
        ``Settings.page_token_secret``); without one, a key derived from the table name."""
        self._client = client
        self._table = table_name
        self._token_secret = (token_key or f"o2dms-page-token/{table_name}").encode()

    # ------------------------------------------------------------------ descriptors

    @translate_errors
    def put_descriptor(self, descriptor: Descriptor, *, audit: AuditRecord) -> None:
        put: Item = {
            "TableName": self._table,
            "Item": items.descriptor_item(descriptor),
            "ConditionExpression": "attribute_not_exists(PK)",
        }
        try:
            writes: list[Any] = [{"Put": put}, self._audit(audit)]
            self._client.transact_write_items(TransactItems=writes)
        except self._client.exceptions.TransactionCanceledException as exc:
            raise AlreadyExists(f"Descriptor {descriptor.id} already exists") from exc

    @translate_errors
    def get_descriptor(self, descriptor_id: str) -> Descriptor:
        item = self._get(items.descriptor_key(descriptor_id))
        if item is None or "name" not in item:
            raise DescriptorNotFound(f"Descriptor {descriptor_id} not found")
        return items.read_descriptor(item)

    @translate_errors
    def list_descriptors(self, *, limit: int, token: str | None) -> Page[Descriptor]:
        return self._index_page(
            items.DESCRIPTORS_INDEX_PK, items.read_descriptor, limit=limit, token=token
        )

    @translate_errors
    def delete_descriptor(self, descriptor_id: str, *, audit: AuditRecord) -> None:
        delete: Item = {
            "TableName": self._table,
            "Key": items.descriptor_key(descriptor_id),
            "ConditionExpression": _UNUSED,
            "ExpressionAttributeValues": _UNUSED_VALUES,
        }
        try:
            writes: list[Any] = [{"Delete": delete}, self._audit(audit)]
            self._client.transact_write_items(TransactItems=writes)
        except self._client.exceptions.TransactionCanceledException as exc:
            descriptor = self.get_descriptor(descriptor_id)  # raises DescriptorNotFound
            raise DescriptorInUse(
                f"Descriptor {descriptor_id} is used by {descriptor.deployment_count} "
                "deployment(s); terminate them or upgrade them to another descriptor first"
            ) from exc

    # ------------------------------------------------------------------- managers

    @translate_errors
    def put_manager(self, manager: DeploymentManager, *, audit: AuditRecord) -> None:
        writes: list[Any] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": items.manager_item(manager),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            }
        ]
        if manager.is_default:
            pointer = {**items.DEFAULT_MANAGER_KEY, "managerId": {"S": manager.id}}
            writes.append({"Put": {"TableName": self._table, "Item": pointer}})
        writes.append(self._audit(audit))
        try:
            self._client.transact_write_items(TransactItems=writes)
        except self._client.exceptions.TransactionCanceledException as exc:
            raise AlreadyExists(f"Deployment manager {manager.id} already exists") from exc

    @translate_errors
    def get_manager(self, manager_id: str) -> DeploymentManager:
        found = self._client.batch_get_item(
            RequestItems={
                self._table: {
                    "Keys": [items.manager_key(manager_id), items.DEFAULT_MANAGER_KEY],
                    "ConsistentRead": True,
                }
            }
        )["Responses"].get(self._table, [])
        by_pk = {i["PK"]["S"]: i for i in found}
        item = by_pk.get(items.manager_key(manager_id)["PK"]["S"])
        if item is None:
            raise DeploymentManagerNotFound(f"Deployment manager {manager_id} not found")
        pointer = by_pk.get(items.DEFAULT_MANAGER_KEY["PK"]["S"])
        default_id = pointer["managerId"]["S"] if pointer else None
        return items.read_manager(item, default_id=default_id)

    @translate_errors
    def default_manager_id(self) -> str | None:
        pointer = self._get(items.DEFAULT_MANAGER_KEY)
        return str(pointer["managerId"]["S"]) if pointer else None

    @translate_errors
    def list_managers(
        self, *, limit: int, token: str | None
    ) -> tuple[str | None, Page[DeploymentManager]]:
        default_id = self.default_manager_id()
        return default_id, self._index_page(
            items.MANAGERS_INDEX_PK,
            lambda i: items.read_manager(i, default_id=default_id),
            limit=limit,
            token=token,
        )

    @translate_errors
    def delete_manager(self, manager_id: str, *, audit: AuditRecord) -> None:
        manager = self.get_manager(manager_id)
        writes: list[Any] = [
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": items.manager_key(manager_id),
                    "ConditionExpression": _UNUSED,
                    "ExpressionAttributeValues": _UNUSED_VALUES,
                }
            }
        ]
        if manager.is_default:
            writes.append({"Delete": {"TableName": self._table, "Key": items.DEFAULT_MANAGER_KEY}})
        writes.append(self._audit(audit))
        try:
            self._client.transact_write_items(TransactItems=writes)
        except self._client.exceptions.TransactionCanceledException as exc:
            raise DeploymentManagerInUse(
                f"Deployment manager {manager_id} is used by {manager.deployment_count} "
                "deployment(s); terminate them first"
            ) from exc

    # ------------------------------------------------------------------ deployments

    @translate_errors
    def get_deployment(self, deployment_id: str) -> Deployment:
        item = self._get(items.deployment_key(deployment_id))
        if item is None:
            raise DeploymentNotFound(f"Deployment {deployment_id} not found")
        return items.read_deployment(item)

    @translate_errors
    def create_reads(
        self, deployment_id: str, *, descriptor_id: str, manager_id: str | None
    ) -> CreateReads:
        keys = [
            items.deployment_key(deployment_id),
            items.descriptor_key(descriptor_id),
            items.DEFAULT_MANAGER_KEY,
        ]
        if manager_id is not None:
            keys.append(items.manager_key(manager_id))
        found = {(i["PK"]["S"], i["SK"]["S"]): i for i in self._batch_get(keys)}

        def item(key: Item) -> Item | None:
            return found.get((key["PK"]["S"], key["SK"]["S"]))

        pointer = item(items.DEFAULT_MANAGER_KEY)
        default_id = str(pointer["managerId"]["S"]) if pointer else None
        deployment = item(items.deployment_key(deployment_id))
        descriptor = item(items.descriptor_key(descriptor_id))
        if descriptor is not None and "name" not in descriptor:
            descriptor = None  # only a use count left behind: no descriptor (get_descriptor)
        manager = item(items.manager_key(manager_id)) if manager_id is not None else None
        return CreateReads(
            existing=items.read_deployment(deployment) if deployment else None,
            descriptor=items.read_descriptor(descriptor) if descriptor else None,
            manager=items.read_manager(manager, default_id=default_id) if manager else None,
            default_manager_id=default_id,
        )

    @translate_errors
    def list_deployments(
        self, *, filters: DeploymentFilter, limit: int, token: str | None
    ) -> Page[Deployment]:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        clauses = []
        for field, attribute in _FILTER_ATTRIBUTES.items():
            wanted = getattr(filters, field)
            if wanted is not None:
                names[f"#{field}"] = attribute
                values[f":{field}"] = {"S": str(wanted)}
                clauses.append(f"#{field} = :{field}")
        extra: dict[str, Any] = {}
        if clauses:
            extra = {
                "FilterExpression": " AND ".join(clauses),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        return self._index_page(
            items.DEPLOYMENTS_INDEX_PK, items.read_deployment, limit=limit, token=token, **extra
        )

    # -------------------------------------------------------------- history and ops

    @translate_errors
    def get_revision(self, deployment_id: str, number: int) -> Revision:
        item = self._get(items.revision_key(deployment_id, number))
        if item is None:
            raise RevisionNotFound(f"Revision {number} not found in deployment history")
        return items.read_revision(item)

    @translate_errors
    def history(
        self, deployment_id: str, *, limit: int, token: str | None
    ) -> tuple[Deployment, Page[Revision]]:
        partition = items.deployment_partition(deployment_id)
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :rev)",
            "ExpressionAttributeValues": {":pk": {"S": partition}, ":rev": {"S": "REV"}},
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        if token is None:
            # The deployment item (SK "REV~") sorts after every revision: it comes first.
            answer = self._client.query(**query, Limit=limit + 1)
            found = answer.get("Items", [])
            if not found or found[0]["SK"]["S"] != items.DEPLOYMENT_SK:
                raise DeploymentNotFound(f"Deployment {deployment_id} not found")
            deployment, rows = items.read_deployment(found[0]), found[1:]
        else:
            start = decode_token(
                token, secret=self._token_secret, listing="history", partition=partition
            )
            answer = self._client.query(**query, Limit=limit, ExclusiveStartKey=start)
            deployment, rows = self.get_deployment(deployment_id), answer.get("Items", [])
        next_key = answer.get("LastEvaluatedKey")
        page = Page(
            tuple(items.read_revision(r) for r in rows),
            encode_token(next_key, secret=self._token_secret, listing="history")
            if next_key
            else None,
        )
        return deployment, page

    @translate_errors
    def get_operation(self, deployment_id: str, operation_id: str) -> Operation:
        item = self._get(items.operation_key(deployment_id, operation_id))
        if item is None:
            raise OperationNotFound(
                f"Operation {operation_id} not found for deployment {deployment_id}"
            )
        return items.read_operation(item)

    @translate_errors
    def list_operations(
        self, deployment_id: str, *, limit: int, token: str | None
    ) -> Page[Operation]:
        partition = items.deployment_partition(deployment_id)
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :op)",
            "ExpressionAttributeValues": {":pk": {"S": partition}, ":op": {"S": "OP#"}},
            "ScanIndexForward": False,
            "ConsistentRead": True,
            "Limit": limit,
        }
        if token is not None:
            query["ExclusiveStartKey"] = decode_token(
                token, secret=self._token_secret, listing="operations", partition=partition
            )
        answer = self._client.query(**query)
        next_key = answer.get("LastEvaluatedKey")
        return Page(
            tuple(items.read_operation(i) for i in answer.get("Items", [])),
            encode_token(next_key, secret=self._token_secret, listing="operations")
            if next_key
            else None,
        )

    # ------------------------------------------------------------ seed-002 rollouts

    @translate_errors
    def get_rollout(self, rollout_id: str) -> Operation:
        """One Query of the index; only a rollout begun moments ago, not there yet, costs
        the lookup item and the operation besides."""
        answer = self._client.query(
            TableName=self._table,
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :gpk AND GSI1SK = :id",
            ExpressionAttributeValues={
                ":gpk": {"S": items.ROLLOUTS_INDEX_PK},
                ":id": {"S": rollout_id},
            },
        )
        found = answer.get("Items", [])
        if found:
            return items.read_operation(found[0])
        lookup = self._get(items.rollout_lookup_key(rollout_id))
        if lookup is None:
            raise RolloutNotFound(f"Deployment {rollout_id} not found")
        deployment_id, operation_id = items.read_rollout_lookup(lookup)
        return self.get_operation(deployment_id, operation_id)

    @translate_errors
    def list_rollouts(
        self, *, filters: RolloutFilter, limit: int, token: str | None
    ) -> Page[Operation]:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        clauses = []
        for field, attribute in _ROLLOUT_FILTERS.items():
            wanted = getattr(filters, field)
            if wanted is not None:
                names[f"#{field}"] = attribute
                values[f":{field}"] = {"S": wanted}
                clauses.append(f"#{field} = :{field}")
        extra: dict[str, Any] = {"ScanIndexForward": False}
        if clauses:
            extra |= {
                "FilterExpression": " AND ".join(clauses),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        return self._index_page(
            items.ROLLOUTS_INDEX_PK, items.read_operation, limit=limit, token=token, **extra
        )

    # ---------------------------------------------------------------------- writes

    @translate_errors
    def metric_aggregates(self) -> list[Aggregate]:
        """Every metric aggregate: one Query (more pages only past 1 MB of them)."""
        found: list[Item] = []
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": METRICS_PK}},
        }
        while True:
            page = self._client.query(**query)
            found += page["Items"]
            if "LastEvaluatedKey" not in page:
                return read_aggregates(found)
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    @translate_errors
    def commit(self, change: Change) -> Deployment:
        deployment = change.deployment
        if deployment.record_version != change.expected_version + 1:
            raise ValueError("a change must advance record_version by exactly one")
        writes: list[Any] = [self._deployment_put(change)]
        writes += [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": items.revision_item(r),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            }
            for r in change.new_revisions
        ]
        writes += [
            {"Put": {"TableName": self._table, "Item": items.revision_item(r)}}
            for r in change.revisions
        ]
        writes += [
            {"Put": {"TableName": self._table, "Item": items.operation_item(o)}}
            for o in change.operations
        ]
        lookups = (items.rollout_lookup_item(o) for o in change.operations)
        writes += [{"Put": {"TableName": self._table, "Item": i}} for i in lookups if i]
        if change.audit is not None:
            writes.append(self._audit(change.audit))
        if change.detach is not None:
            writes += [
                {"Delete": {"TableName": self._table, "Key": key}}
                for key in _detached_keys(change.detach)
            ]
        first_count = len(writes)
        descriptor_ids = [d for d, delta in change.descriptor_refs.items() if delta]
        writes += [
            self._use_count(items.descriptor_key(d), change.descriptor_refs[d])
            for d in descriptor_ids
        ]
        manager_ids = [m for m, delta in change.manager_refs.items() if delta]
        writes += [
            self._use_count(items.manager_key(m), change.manager_refs[m]) for m in manager_ids
        ]
        writes += metric_writes(self._table, change.metrics)  # unconditional: last
        try:
            self._client.transact_write_items(TransactItems=writes)
        except self._client.exceptions.TransactionCanceledException as exc:
            raise _cancellation(exc, change, first_count, descriptor_ids, manager_ids) from exc
        return deployment

    def _deployment_put(self, change: Change) -> Item:
        put: Item = {"TableName": self._table, "Item": items.deployment_item(change.deployment)}
        if change.expected_version == 0:
            put["ConditionExpression"] = "attribute_not_exists(PK)"
        else:
            put["ConditionExpression"] = "recordVersion = :expected"
            put["ExpressionAttributeValues"] = {":expected": {"N": str(change.expected_version)}}
        return {"Put": put}

    def _use_count(self, key: Item, delta: int) -> Item:
        update: Item = {
            "TableName": self._table,
            "Key": key,
            "UpdateExpression": "ADD deploymentCount :delta",
            "ExpressionAttributeValues": {":delta": {"N": str(delta)}},
        }
        if delta > 0:
            update["ConditionExpression"] = "attribute_exists(PK)"
        return {"Update": update}

    # ------------------------------------------------------------------ audit trail

    def _audit(self, record: AuditRecord) -> Item:
        return audit_write(self._table, record)

    @translate_errors
    def record_audit(self, record: AuditRecord) -> None:
        self._client.put_item(
            TableName=self._table,
            Item=items.audit_item(record),
            ConditionExpression="attribute_not_exists(PK)",
        )

    @translate_errors
    def audit_page(
        self, filters: AuditFilter, *, limit: int, token: str | None
    ) -> Page[AuditRecord]:
        """Newest first: a Query on the audit partition between ``since`` and ``until``,
        filtered by actor and deployment, reading on until the page is full or
        ``AUDIT_QUERIES`` queries have been made (a short page then carries a next token, so
        a selective filter over a long trail never holds a request for long)."""
        since = items.audit_sort_key(filters.since) if filters.since else "0"
        until = items.audit_sort_key(filters.until) + "~" if filters.until else "~"
        values: dict[str, Any] = {
            ":pk": {"S": items.AUDIT_PK},
            ":since": {"S": since},
            ":until": {"S": until},
        }
        clauses = []
        if filters.actor is not None:
            clauses.append("actor = :actor")
            values[":actor"] = {"S": filters.actor}
        if filters.deployment_id is not None:
            clauses.append("deploymentId = :deployment")
            values[":deployment"] = {"S": filters.deployment_id}
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :since AND :until",
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
        }
        if clauses:
            query["FilterExpression"] = " AND ".join(clauses)
        found: list[AuditRecord] = []
        secret = self._token_secret
        start = (
            decode_token(token, secret=secret, listing="audit", partition=items.AUDIT_PK)
            if token
            else None
        )
        for _ in range(AUDIT_QUERIES):
            if start:
                query["ExclusiveStartKey"] = start
            answer = self._client.query(**query, Limit=limit - len(found))
            found += [items.read_audit(i) for i in answer.get("Items", [])]
            start = answer.get("LastEvaluatedKey")
            if not start or len(found) >= limit:
                break
        next_token = encode_token(start, secret=secret, listing="audit") if start else None
        return Page(tuple(found), next_token)

    # --------------------------------------------------------------------- helpers

    def _get(self, key: Item) -> Item | None:
        answer = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True)
        return answer.get("Item")

    def _batch_get(self, keys: list[Item]) -> list[Item]:
        """The items stored under ``keys`` (strongly consistent), in one round trip unless
        DynamoDB hands some keys back unprocessed (throttling), which are asked again."""
        found: list[Item] = []
        request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
        for _ in range(BATCH_GET_ATTEMPTS):
            answer = self._client.batch_get_item(RequestItems=request)
            found += answer.get("Responses", {}).get(self._table, [])
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                return found
        raise StoreUnavailable("DynamoDB kept some keys of a read unprocessed; retry shortly")

    def _index_page(
        self,
        partition: str,
        read: Callable[[Item], T],
        *,
        limit: int,
        token: str | None,
        **extra: Any,
    ) -> Page[T]:
        """A page from index GSI1; with a filter, keeps reading until the page is full."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "GSI1",
            "KeyConditionExpression": "GSI1PK = :gpk",
            **extra,
            "ExpressionAttributeValues": {
                **extra.get("ExpressionAttributeValues", {}),
                ":gpk": {"S": partition},
            },
        }
        found: list[T] = []
        secret = self._token_secret
        start = (
            decode_token(token, secret=secret, listing=partition, index_partition=partition)
            if token
            else None
        )
        while True:
            if start:
                query["ExclusiveStartKey"] = start
            answer = self._client.query(**query, Limit=limit - len(found))
            found += [read(i) for i in answer.get("Items", [])]
            start = answer.get("LastEvaluatedKey")
            if not start or len(found) >= limit:
                next_token = (
                    encode_token(start, secret=secret, listing=partition) if start else None
                )
                return Page(tuple(found), next_token)
