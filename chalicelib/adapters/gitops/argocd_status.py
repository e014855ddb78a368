"""What an Argo CD ``Application`` says about its rollout, in our terms.

Reads only the controller's own fields: ``status.health`` (Healthy, Progressing, Degraded,
Suspended, Missing, Unknown), ``status.sync`` (Synced, OutOfSync, Unknown) and
``status.operationState`` (Running, Succeeded, Failed, Error, Terminating), plus a pending
``operation`` that the controller has not picked up yet.

- No Application: ``ABSENT``. Deletion under way (its finalizer): ``PROGRESSING``.
- A requested sync not yet started, or a status written before our last change (the
  compared source differs from the spec): ``PROGRESSING``, never a stale verdict.
- Our sync operation ``Failed``/``Error``, or health ``Degraded``: ``FAILED``, with the
  controller's message (for health, the Degraded resources' messages in ``status.resources``).
- ``Healthy`` + ``Synced`` + the operation ``Succeeded`` (or none recorded): ``READY``.
- Anything else: ``PROGRESSING``, with progress by how far the controller has got.

History maps ``status.history`` entries (ids assigned by Argo CD, one per successful sync)
onto backend revisions, the id being the backend's reference.
"""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.gitops import tracking
from chalicelib.adapters.gitops.tracking import dig, text
from chalicelib.domain.models import Condition, JsonObject
from chalicelib.domain.ports import BackendRevision, BackendStatus, RolloutPhase

OPERATION_INFO = "o2dms.operationId"  # the sync operation's info entry naming our operation
_FAILED_PHASES = frozenset({"Failed", "Error"})
_RUNNING_PHASES = frozenset({"Running", "Terminating"})
_HEALTH_PROGRESS = {"Missing": 30, "Progressing": 70, "Suspended": 70}
_TRUTH = {"Healthy": "True", "Synced": "True", "Succeeded": "True"}
_FALSEHOOD = frozenset({"Degraded", "Missing", "OutOfSync", "Failed", "Error"})


def _truth(word: str | None) -> str:
    if word in _TRUTH:
        return "True"
    return "False" if word in _FALSEHOOD else "Unknown"


def _operation_id(operation: Any) -> str | None:
    for item in dig(operation, "info") or []:
        if isinstance(item, dict) and item.get("name") == OPERATION_INFO:
            value = item.get("value")
            return value if isinstance(value, str) else None
    return None


def _conditions(status: JsonObject) -> tuple[Condition, ...]:
    sync, health = text(status, "sync", "status"), text(status, "health", "status")
    revision = text(status, "sync", "revision")
    found = [
        Condition(
            "Synced", _truth(sync), sync or "Unknown", f"revision {revision}" if revision else ""
        ),
        Condition(
            "Healthy", _truth(health), health or "Unknown", text(status, "health", "message") or ""
        ),
    ]
    phase = text(status, "operationState", "phase")
    if phase:
        says = text(status, "operationState", "message") or ""
        found.append(Condition("SyncOperation", _truth(phase), phase, says))
    found.extend(tracking.condition_list(status))  # ComparisonError, SyncError, ...
    return tuple(found)


def _degraded_resources(status: JsonObject) -> str | None:
    """Why the Application is Degraded, from its resources' own health messages.

    The application controller writes only a status code to ``status.health`` and
    leaves its ``message`` empty; the reason a rollout failed, such as a
    Deployment's "exceeded its progress deadline", is on each resource's ``health`` in
    ``status.resources`` (Argo CD's default, ``controller.resource.health.persist``).
    """
    found = []
    for resource in status.get("resources") or []:
        message = text(resource, "health", "message")
        if text(resource, "health", "status") == "Degraded" and message:
            kind, name = text(resource, "kind") or "resource", text(resource, "name") or "?"
            found.append(f"{kind} {name}: {message}")
    return "; ".join(found) or None


def _essence(source: Any) -> tuple[Any, ...]:
    """What decides the manifests: where the chart is, which version, which values."""
    return tuple(
        dig(source, *path)
        for path in (("repoURL",), ("chart",), ("targetRevision",), ("helm", "valuesObject"))
    )


def application_status(app: JsonObject | None, *, name: str, namespace: str) -> BackendStatus:
    where = f"Application {namespace}/{name}"
    if app is None:
        return BackendStatus(RolloutPhase.ABSENT, 100, f"{where} not found")
    status: JsonObject = app.get("status") or {}
    pinned, pinned_revision = tracking.pin(app)
    history = [h for h in status.get("history") or [] if isinstance(h, dict) and "id" in h]
    phase = text(status, "operationState", "phase")
    extensions: JsonObject = {
        "argocd.application": name,
        "argocd.namespace": namespace,
        "argocd.syncStatus": text(status, "sync", "status"),
        "argocd.healthStatus": text(status, "health", "status"),
        "argocd.operationPhase": phase,
        "argocd.syncedRevision": text(status, "sync", "revision"),
        "argocd.autoSyncSuspended": pinned,
        "argocd.pinnedRevision": pinned_revision,
    }
    ref = str(max(int(h["id"]) for h in history)) if history else None

    def verdict(phase_: RolloutPhase, progress: int, message: str) -> BackendStatus:
        return BackendStatus(phase_, progress, message, _conditions(status), None, ref, extensions)

    if dig(app, "metadata", "deletionTimestamp"):
        return verdict(
            RolloutPhase.PROGRESSING,
            50,
            f"{where} is being deleted: Argo CD is removing its resources",
        )
    pending = app.get("operation")
    if pending:
        wanted_revision = text(pending, "sync", "revision") or "the target revision"
        says = (
            f"Sync to {wanted_revision} requested; waiting for the Argo CD application controller"
        )
        return verdict(RolloutPhase.PROGRESSING, 10, says)
    if not status:
        return verdict(
            RolloutPhase.PROGRESSING,
            0,
            f"Waiting for the Argo CD application controller to reconcile {where}",
        )
    op_message = text(status, "operationState", "message")
    wanted = text(app, "metadata", "annotations", tracking.OPERATION)
    ran = _operation_id(dig(status, "operationState", "operation"))
    ours = wanted is None or ran is None or wanted == ran
    if phase in _FAILED_PHASES and ours:
        return verdict(RolloutPhase.FAILED, 40, op_message or f"Sync {phase.lower()}")
    if phase in _RUNNING_PHASES:
        return verdict(
            RolloutPhase.PROGRESSING, 40, f"Sync {phase.lower()}: {op_message or ''}".rstrip(": ")
        )
    health, sync = text(status, "health", "status"), text(status, "sync", "status")
    health_says = text(status, "health", "message")
    if health == "Degraded":
        errors = [c.message for c in tracking.condition_list(status) if c.message]
        why = health_says or _degraded_resources(status) or next(iter(errors), None)
        return verdict(RolloutPhase.FAILED, 70, why or f"{where} is Degraded")
    compared = dig(status, "sync", "comparedTo", "source")
    current = compared is None or _essence(compared) == _essence(dig(app, "spec", "source"))
    if health == "Healthy" and sync == "Synced" and phase in (None, "Succeeded") and current:
        at = text(status, "sync", "revision") or text(app, "spec", "source", "targetRevision")
        return verdict(RolloutPhase.READY, 100, f"{where} is Synced and Healthy at revision {at}")
    progress = _HEALTH_PROGRESS.get(health or "", 60 if sync == "Synced" else 20)
    errors = [f"{c.type}: {c.message}" for c in tracking.condition_list(status) if c.message]
    says = (
        health_says
        or "; ".join(errors)
        or f"Sync {sync or 'Unknown'}, health {health or 'Unknown'}"
    )
    return verdict(RolloutPhase.PROGRESSING, progress, says)


def application_history(app: JsonObject) -> list[BackendRevision]:
    """``status.history`` oldest first; the newest entry is what is deployed now."""
    entries = sorted(
        (h for h in dig(app, "status", "history") or [] if isinstance(h, dict) and "id" in h),
        key=lambda h: int(h["id"]),
    )
    revisions = []
    for index, entry in enumerate(entries):
        chart = text(entry, "source", "chart") or "chart"
        version = text(entry, "source", "targetRevision") or text(entry, "revision") or ""
        by = dig(entry, "initiatedBy") or {}
        who = (
            "automated sync"
            if by.get("automated")
            else f"sync by {by.get('username') or 'unknown'}"
        )
        revisions.append(
            BackendRevision(
                backend_ref=str(entry["id"]),
                status="deployed" if index == len(entries) - 1 else "superseded",
                chart_version=version,
                app_version=None,
                description=f"{who.capitalize()} of {chart} {version}",
                updated_at=tracking.when(entry.get("deployedAt")),
            )
        )
    return revisions
