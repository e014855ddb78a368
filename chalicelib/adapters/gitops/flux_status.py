"""What a Flux ``HelmRelease`` says about its rollout, in our terms.

Reads only helm-controller's own fields: the ``Ready``, ``Released`` and remediation
(``Remediated``) conditions, ``status.history`` (Helm release snapshots, newest first),
the failure counters, and whether the controller has caught up with our last change.

- No HelmRelease: ``ABSENT``. Deletion under way (uninstall): ``PROGRESSING``.
- Status not yet written for our last change (``observedGeneration`` behind
  ``metadata.generation``, or ``lastHandledReconcileAt`` not our ``requestedAt``):
  ``PROGRESSING``, so a verdict about the previous revision is never reported as ours.
- ``Ready=True``: ``READY``. ``Ready=False``: ``FAILED`` with the controller's message
  (and the remediation's, when one ran), except while it only waits for a dependency.
- ``Ready=Unknown`` (a Helm action running) or no ``Ready`` yet: ``PROGRESSING``.
"""

from __future__ import annotations

from chalicelib.adapters.gitops import tracking
from chalicelib.adapters.gitops.tracking import dig, text
from chalicelib.domain.models import Condition, JsonObject
from chalicelib.domain.ports import BackendRevision, BackendStatus, RolloutPhase

REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
_WAITING_REASONS = frozenset({"DependencyNotReady", "Progressing"})


def _find(conditions: list[Condition], kind: str) -> Condition | None:
    return next((c for c in conditions if c.type == kind), None)


def _caught_up(release: JsonObject, status: JsonObject) -> bool:
    """Whether helm-controller has handled the spec and the reconcile request we wrote."""
    observed = status.get("observedGeneration")
    if not isinstance(observed, int) or observed < 0:
        return False
    generation = dig(release, "metadata", "generation")
    if isinstance(generation, int) and observed < generation:
        return False
    requested = text(release, "metadata", "annotations", REQUESTED_AT)
    return requested is None or status.get("lastHandledReconcileAt") == requested


def _snapshots(release: JsonObject) -> list[JsonObject]:
    found = dig(release, "status", "history")
    return [s for s in found or [] if isinstance(s, dict) and isinstance(s.get("version"), int)]


def release_status(release: JsonObject | None, *, name: str, namespace: str) -> BackendStatus:
    where = f"HelmRelease {namespace}/{name}"
    if release is None:
        return BackendStatus(RolloutPhase.ABSENT, 100, f"{where} not found")
    status: JsonObject = release.get("status") or {}
    conditions = tracking.condition_list(status)
    ready, released = _find(conditions, "Ready"), _find(conditions, "Released")
    remediated = _find(conditions, "Remediated")
    snapshots = _snapshots(release)
    latest = snapshots[0] if snapshots else {}
    _, pinned_revision = tracking.pin(release)
    extensions: JsonObject = {
        "flux.helmRelease": name,
        "flux.namespace": namespace,
        "flux.ready": ready.status if ready else None,
        "flux.reason": ready.reason if ready else None,
        "flux.chartVersion": text(release, "spec", "chart", "spec", "version"),
        "flux.lastAttemptedRevision": status.get("lastAttemptedRevision"),
        "flux.installFailures": status.get("installFailures", 0),
        "flux.upgradeFailures": status.get("upgradeFailures", 0),
        "flux.helmRevision": latest.get("version"),
        "flux.pinnedRevision": pinned_revision,
    }
    ref = str(latest["version"]) if latest else None

    def verdict(phase: RolloutPhase, progress: int, message: str) -> BackendStatus:
        return BackendStatus(phase, progress, message, tuple(conditions), None, ref, extensions)

    release_name = text(release, "spec", "releaseName") or name
    if dig(release, "metadata", "deletionTimestamp"):
        says = f"{where} is being deleted: helm-controller is uninstalling release {release_name}"
        return verdict(RolloutPhase.PROGRESSING, 50, says)
    running = ready is not None and ready.status == "Unknown"
    if not _caught_up(release, status) and not running:
        chart = dig(release, "spec", "chart", "spec") or {}
        says = (
            f"Waiting for helm-controller to reconcile {where} "
            f"(chart {chart.get('chart')} {chart.get('version')})"
        )
        return verdict(RolloutPhase.PROGRESSING, 10 if status else 0, says)
    if ready is None:
        return verdict(RolloutPhase.PROGRESSING, 20, f"{where} has no Ready condition yet")
    if ready.status == "True":
        return verdict(RolloutPhase.READY, 100, ready.message or f"{where} is ready")
    if ready.status == "False" and ready.reason not in _WAITING_REASONS:
        says = ready.message or f"{where} is not ready ({ready.reason})"
        if remediated is not None and remediated.status == "True" and remediated.message:
            says = f"{says}; remediation: {remediated.message}"
        return verdict(RolloutPhase.FAILED, 75 if released else 50, says)
    progress = 75 if released is not None and released.status == "True" else 50
    return verdict(RolloutPhase.PROGRESSING, progress, ready.message or f"{where} is reconciling")


def release_history(release: JsonObject) -> list[BackendRevision]:
    """``status.history`` (newest first in the object) as revisions, oldest first."""
    revisions = []
    for snapshot in reversed(_snapshots(release)):
        chart = text(snapshot, "chartName") or "chart"
        version = text(snapshot, "chartVersion") or ""
        action = text(snapshot, "action") or "release"
        revisions.append(
            BackendRevision(
                backend_ref=str(snapshot["version"]),
                status=text(snapshot, "status") or "unknown",
                chart_version=version,
                app_version=text(snapshot, "appVersion"),
                description=f"{action.capitalize()} of {chart} {version} by helm-controller",
                updated_at=tracking.when(snapshot.get("lastDeployed")),
            )
        )
    return revisions
