"""The table's stream records, read as what live progress cares about.

Lambda hands the stream to the live-updates handler in batches of records whose images are
in DynamoDB's attribute-value form, the form the store writes: an operation's new (and
old) image is read back into an ``Operation``; a new subscription item that is owed a
snapshot becomes ``Followed``. Every other record is nobody's concern here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chalicelib.adapters.dynamodb_items import read_operation
from chalicelib.adapters.dynamodb_live import is_subscription_key, read_subscription
from chalicelib.domain.live import Followed, OperationChanged

OPERATION_SK_PREFIX = "OP#"


def changes(records: Iterable[Mapping[str, Any]]) -> list[OperationChanged | Followed]:
    found: list[OperationChanged | Followed] = []
    for record in records:
        data = record.get("dynamodb") or {}
        keys = data.get("Keys") or {}
        event = record.get("eventName")
        new = data.get("NewImage")
        if new is None or event not in ("INSERT", "MODIFY"):
            continue
        if str(keys.get("SK", {}).get("S", "")).startswith(OPERATION_SK_PREFIX):
            old = data.get("OldImage")
            found.append(
                OperationChanged(read_operation(old) if old else None, read_operation(new))
            )
        elif event == "INSERT" and is_subscription_key(keys):
            subscription = read_subscription(new)
            if subscription.snapshot_due:
                found.append(Followed(subscription))
    return found
