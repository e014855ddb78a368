"""The labels and annotations our GitOps objects carry, and reading them back.

An Application or HelmRelease outlives any one request: a later status poll has only the
object to go on. So every object records which deployment made it and, on each change,
which of our revisions its spec holds, which operation wrote it, and whether that revision
is pinned by a rollback. Every change rewrites all three annotations, so none ever has to
be removed (a JSON Patch ``remove`` of a missing key would fail the whole patch).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.adapters.gitops.kube import pointer
from chalicelib.domain.models import Condition, JsonObject
from chalicelib.domain.ports import ReleaseTarget

MANAGED_BY = "app.kubernetes.io/managed-by"
DEPLOYMENT = "o2dms.o-ran.org/deployment"
REVISION = "o2dms.o-ran.org/revision"
OPERATION = "o2dms.o-ran.org/operation-id"
PINNED = "o2dms.o-ran.org/pinned"
OWNER = "o2dms"


def labels_for(target: ReleaseTarget) -> dict[str, str]:
    return {MANAGED_BY: OWNER, DEPLOYMENT: target.release}


def annotations_for(target: ReleaseTarget, *, pinned: bool) -> dict[str, str]:
    return {
        REVISION: str(target.revision),
        OPERATION: target.operation_id,
        PINNED: "true" if pinned else "false",
    }


def made_for(obj: JsonObject | None, target: ReleaseTarget) -> bool:
    """Whether ``obj`` is one we made for ``target``'s deployment."""
    found = dig(obj, "metadata", "labels") or {}
    return bool(found.get(MANAGED_BY) == OWNER and found.get(DEPLOYMENT) == target.release)


def annotation_ops(values: dict[str, str]) -> list[JsonObject]:
    """JSON Patch ``add`` operations that set each annotation (replacing any old value)."""
    return [
        {"op": "add", "path": pointer("metadata", "annotations", key), "value": value}
        for key, value in values.items()
    ]


def dig(obj: Any, *keys: str) -> Any:
    """``obj[k1][k2]...``, or ``None`` as soon as a level is missing or not a mapping."""
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def text(obj: Any, *keys: str) -> str | None:
    found = dig(obj, *keys)
    return found if isinstance(found, str) and found else None


def pin(obj: JsonObject) -> tuple[bool, int | None]:
    """Whether the object's spec is pinned by a rollback, and to which of our revisions."""
    notes = dig(obj, "metadata", "annotations") or {}
    revision = notes.get(REVISION, "")
    number = int(revision) if isinstance(revision, str) and revision.isdigit() else None
    pinned = notes.get(PINNED) == "true"
    return pinned, number if pinned else None


def when(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as the API server writes it, or ``None``."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def condition_list(status: Any) -> list[Condition]:
    """``status.conditions`` as Kubernetes writes them (type, status, reason, message)."""
    found = dig(status, "conditions")
    if not isinstance(found, list):
        return []
    return [
        Condition(
            type=str(c.get("type", "")),
            status=str(c.get("status", "True")),
            reason=str(c.get("reason", "")),
            message=str(c.get("message", "")),
        )
        for c in found
        if isinstance(c, dict) and c.get("type")
    ]
