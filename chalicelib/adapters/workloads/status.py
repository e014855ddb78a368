"""What a Deployment, its ReplicaSets and its pods say about a rollout, in our terms.

The rules are the Helm adapter's (``helm/workloads.py`` reads the objects, ``helm/status.py``
gives the verdict), applied to the objects read from the API server instead of those helm
returns: the controller must have observed the latest spec, every desired replica must be
updated and available with no old one left; ``ProgressDeadlineExceeded`` on ``Progressing``
fails the rollout, and so does a new pod crash-looping past ``crash_loop_restarts``.
"""

from __future__ import annotations

from chalicelib.adapters.gitops import tracking
from chalicelib.adapters.helm.status import conditions_of, replicas_of, rollout_verdict
from chalicelib.adapters.helm.workloads import read
from chalicelib.adapters.workloads.deployment import CHANGE_CAUSE, RS_REVISION, VERSION
from chalicelib.domain.models import JsonObject
from chalicelib.domain.ports import BackendRevision, BackendStatus, RolloutPhase


def revision_of(obj: JsonObject | None) -> str | None:
    """The ``deployment.kubernetes.io/revision`` of a Deployment or ReplicaSet."""
    return tracking.text(obj, "metadata", "annotations", RS_REVISION)


def observed(deployment: JsonObject) -> bool:
    """Whether the deployment controller has handled the Deployment's latest spec."""
    seen = tracking.dig(deployment, "status", "observedGeneration")
    generation = tracking.dig(deployment, "metadata", "generation")
    return isinstance(seen, int) and isinstance(generation, int) and seen >= generation


def deployment_status(
    deployment: JsonObject | None,
    pods: list[JsonObject],
    *,
    name: str,
    namespace: str,
    crash_loop_restarts: int = 3,
) -> BackendStatus:
    where = f"Deployment {namespace}/{name}"
    if deployment is None:
        return BackendStatus(RolloutPhase.ABSENT, 100, f"{where} not found")
    ref = revision_of(deployment)
    pinned, pinned_revision = tracking.pin(deployment)
    extensions: JsonObject = {
        "kubernetes.deployment": name,
        "kubernetes.namespace": namespace,
        "kubernetes.revision": ref,
        "kubernetes.version": tracking.text(deployment, "metadata", "labels", VERSION),
        "kubernetes.pinnedRevision": pinned_revision if pinned else None,
    }
    if tracking.dig(deployment, "metadata", "deletionTimestamp"):
        return BackendStatus(
            RolloutPhase.PROGRESSING, 50, f"{where} is being deleted", (), None, ref, extensions
        )
    seen = read({"apps/v1/Deployment": [deployment], "v1/Pod(related)": pods})
    phase, progress, message = rollout_verdict(
        seen, seen.workloads, crash_loop_restarts=crash_loop_restarts, done=f"{where} rolled out"
    )
    return BackendStatus(
        phase=phase,
        progress=progress,
        message=message,
        conditions=conditions_of(seen.workloads, seen.pod_problems),
        replicas=replicas_of(seen.workloads),
        backend_ref=ref,
        extensions=extensions,
    )


def deployment_history(
    deployment: JsonObject, replica_sets: list[JsonObject]
) -> list[BackendRevision]:
    """The Deployment's ReplicaSets as revisions, oldest first; the current one deployed."""
    current = revision_of(deployment)
    uid = tracking.dig(deployment, "metadata", "uid")
    revisions = []
    for rs in replica_sets:
        owners = tracking.dig(rs, "metadata", "ownerReferences") or []
        if uid and not any(isinstance(o, dict) and o.get("uid") == uid for o in owners):
            continue
        ref = revision_of(rs)
        if ref is None or not ref.isdigit():
            continue
        version = tracking.text(rs, "spec", "template", "metadata", "labels", VERSION) or ""
        name = tracking.text(rs, "metadata", "name") or ""
        cause = tracking.text(rs, "metadata", "annotations", CHANGE_CAUSE)
        revisions.append(
            BackendRevision(
                backend_ref=ref,
                status="deployed" if ref == current else "superseded",
                chart_version=version,
                app_version=version or None,
                description=cause or f"ReplicaSet {name}",
                updated_at=tracking.when(tracking.dig(rs, "metadata", "creationTimestamp")),
            )
        )
    return sorted(revisions, key=lambda r: int(r.backend_ref))
