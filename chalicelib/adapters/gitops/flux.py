"""Deployments as Flux ``HelmRelease``s (``helm.toolkit.fluxcd.io/v2``) and their chart sources.

Each deployment gets one HelmRelease and one ``HelmRepository`` (``source.toolkit.fluxcd.io/
v1``), both named after the release, in Flux's namespace. ``oci://`` sources use a
HelmRepository of ``type: oci``, HTTP(S) ones ``type: default``. One repository per release
rather than one shared per URL: nothing has to count users across deployments (our lease
serialises one deployment's operations, not different deployments'), an upgrade to another
repository never disturbs another release, and uninstall simply deletes both objects.

The HelmRelease installs the chart as the Helm release of our name into the deployment's
namespace (``releaseName``, ``targetNamespace``, and ``storageNamespace`` so ``helm history``
there shows it, as with the Helm adapter), with the configured interval, timeout and
install/upgrade remediation. Changes are JSON Patches that replace ``spec.values`` whole
(a merge patch would keep keys a new revision dropped) and set the chart name and version.

Rollback pins the target revision's exact chart version and values and requests an
immediate reconciliation with the ``reconcile.fluxcd.io/requestedAt`` annotation (every
change sets it, so status can tell whether helm-controller has handled our latest request
from ``status.lastHandledReconcileAt``). The pin is recorded in the object's annotations and
in ``Applied.extensions`` (``flux.pinnedRevision``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import suppress
from dataclasses import replace
from datetime import UTC, datetime

from chalicelib.adapters.gitops import tracking
from chalicelib.adapters.gitops.flux_status import REQUESTED_AT, release_history, release_status
from chalicelib.adapters.gitops.kube import (
    HELM_RELEASE,
    HELM_REPOSITORY,
    KubeApi,
    Request,
    create,
    delete,
    json_patch,
    pointer,
)
from chalicelib.adapters.gitops.settings import FluxSettings
from chalicelib.domain.errors import InvalidRequest, ReleaseConflict, ReleaseNotFound
from chalicelib.domain.models import JsonObject
from chalicelib.domain.ports import (
    Action,
    Applied,
    BackendRevision,
    BackendStatus,
    CredentialsProvider,
    PlanStep,
    ReleaseRef,
    ReleaseTarget,
)
from chalicelib.domain.states import OperationType


def _now() -> datetime:
    return datetime.now(UTC)


class FluxBackend:
    """``DeploymentBackend`` on one cluster's Flux helm-controller and source-controller."""

    kind = "flux"

    def __init__(
        self,
        credentials: CredentialsProvider,
        settings: FluxSettings | None = None,
        *,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._kube = KubeApi(credentials)
        self.settings = settings or FluxSettings()
        self._clock = clock

    # ------------------------------------------------------------------ the port

    def install(self, target: ReleaseTarget) -> Applied:
        repository, release = self._create(target)
        ns, name = self.settings.namespace, target.release
        with self._kube.session(operation_id=target.operation_id) as kube:
            try:
                kube.send(repository)
            except ReleaseConflict:  # left by an install that failed after creating it?
                if not tracking.made_for(kube.get(HELM_REPOSITORY, ns, name), target):
                    raise
                kube.send(self._change(target, pinned=False)[0])  # re-point it
            kube.send(release)
        return self._applied(target, pinned=False)

    def upgrade(self, target: ReleaseTarget) -> Applied:
        self._kube.send(*self._change(target, pinned=False), operation_id=target.operation_id)
        return self._applied(target, pinned=False)

    def scale(self, target: ReleaseTarget, *, replicas: int) -> Applied:
        scaled = _scaled(target, replicas)
        self._kube.send(*self._change(scaled, pinned=False), operation_id=target.operation_id)
        return self._applied(scaled, pinned=False)

    def rollback(self, target: ReleaseTarget, *, to_backend_ref: str | None) -> Applied:
        self._kube.send(*self._change(target, pinned=True), operation_id=target.operation_id)
        applied = self._applied(target, pinned=True)
        if to_backend_ref is not None:
            applied.extensions["flux.rollbackToHelmRevision"] = to_backend_ref
        return applied

    def uninstall(self, ref: ReleaseRef) -> None:
        ns = self.settings.namespace
        missing: ReleaseNotFound | None = None
        with self._kube.session() as kube:
            try:
                kube.send(delete(HELM_RELEASE, ns, ref.release))
            except ReleaseNotFound as exc:
                missing = exc  # still remove a repository a failed install left behind
            with suppress(ReleaseNotFound):  # no other release uses it
                kube.send(delete(HELM_REPOSITORY, ns, ref.release))
        if missing is not None:
            raise missing

    def status(self, ref: ReleaseRef) -> BackendStatus:
        ns = self.settings.namespace
        release = self._kube.get(HELM_RELEASE, ns, ref.release)
        return release_status(release, name=ref.release, namespace=ns)

    def history(self, ref: ReleaseRef) -> list[BackendRevision]:
        """helm-controller's record of the Helm release's revisions, oldest first."""
        return release_history(
            self._kube.existing(HELM_RELEASE, self.settings.namespace, ref.release)
        )

    def plan(self, action: Action) -> list[PlanStep]:
        target, kind = action.target, action.type
        where = f"{self.settings.namespace}/{target.release}"
        if kind is OperationType.TERMINATE:
            ns = self.settings.namespace
            return [
                PlanStep(
                    f"Delete HelmRelease {where}: helm-controller uninstalls the Helm release",
                    body=delete(HELM_RELEASE, ns, target.release).describe(),
                ),
                PlanStep(
                    f"Delete HelmRepository {where}, used by this release only",
                    body=delete(HELM_REPOSITORY, ns, target.release).describe(),
                ),
            ]
        if kind is OperationType.INSTALL:
            repository, release = self._create(target)
            return [
                PlanStep(
                    f"Create HelmRepository {where} for {target.chart.repo_url}",
                    body=repository.describe(),
                ),
                PlanStep(
                    f"Create HelmRelease {where} for chart {target.chart.name} "
                    f"{target.chart.version}",
                    body=release.describe(),
                ),
            ]
        if kind is OperationType.SCALE:
            if action.replicas is None:
                raise InvalidRequest("a scale plan needs a replica count")
            target = _scaled(target, action.replicas)
        pinned = kind is OperationType.ROLLBACK
        repository, release = self._change(target, pinned=pinned)
        says = (
            f"Patch HelmRelease {where} to chart {target.chart.name} {target.chart.version} "
            f"with the values of revision {target.revision}"
            + (" (pinned by the rollback)" if pinned else "")
            + f" and request reconciliation ({REQUESTED_AT})"
        )
        return [
            PlanStep(
                f"Point HelmRepository {where} at {target.chart.repo_url}",
                body=repository.describe(),
            ),
            PlanStep(says, body=release.describe()),
        ]

    # ------------------------------------------------------------- the objects

    def helm_repository(self, target: ReleaseTarget) -> JsonObject:
        return {
            "apiVersion": HELM_REPOSITORY.api_version,
            "kind": HELM_REPOSITORY.kind,
            "metadata": {
                "name": target.release,
                "namespace": self.settings.namespace,
                "labels": tracking.labels_for(target),
            },
            "spec": {"interval": self.settings.interval, **_repository(target)},
        }

    def helm_release(self, target: ReleaseTarget) -> JsonObject:
        s = self.settings
        return {
            "apiVersion": HELM_RELEASE.api_version,
            "kind": HELM_RELEASE.kind,
            "metadata": {
                "name": target.release,
                "namespace": s.namespace,
                "labels": tracking.labels_for(target),
                "annotations": tracking.annotations_for(target, pinned=False),
            },
            "spec": {
                "interval": s.interval,
                "timeout": s.timeout,
                "releaseName": target.release,
                "targetNamespace": target.namespace,
                "storageNamespace": target.namespace,
                "chart": {
                    "spec": {
                        "chart": target.chart.name,
                        "version": target.chart.version,
                        "reconcileStrategy": "ChartVersion",
                        "sourceRef": {
                            "kind": HELM_REPOSITORY.kind,
                            "name": target.release,
                            "namespace": s.namespace,
                        },
                    }
                },
                "install": s.install(),
                "upgrade": s.upgrade(),
                "values": copy.deepcopy(target.values),
            },
        }

    def _create(self, target: ReleaseTarget) -> tuple[Request, Request]:
        return (
            create(HELM_REPOSITORY, self.helm_repository(target)),
            create(HELM_RELEASE, self.helm_release(target)),
        )

    def _change(self, target: ReleaseTarget, *, pinned: bool) -> tuple[Request, Request]:
        ns, name = self.settings.namespace, target.release
        repo_ops = [
            {"op": "add", "path": pointer("spec", key), "value": value}
            for key, value in _repository(target).items()
        ]
        notes = {**tracking.annotations_for(target, pinned=pinned), REQUESTED_AT: self._stamp()}
        chart = ("spec", "chart", "spec")
        release_ops = [
            *tracking.annotation_ops(notes),
            {"op": "add", "path": pointer(*chart, "chart"), "value": target.chart.name},
            {"op": "add", "path": pointer(*chart, "version"), "value": target.chart.version},
            {"op": "add", "path": "/spec/values", "value": copy.deepcopy(target.values)},
        ]
        return (
            json_patch(HELM_REPOSITORY, ns, name, repo_ops),
            json_patch(HELM_RELEASE, ns, name, release_ops),
        )

    # ------------------------------------------------------------------ helpers

    def _stamp(self) -> str:
        return self._clock().astimezone(UTC).isoformat().replace("+00:00", "Z")

    def _applied(self, target: ReleaseTarget, *, pinned: bool) -> Applied:
        return Applied(
            backend_ref=None,  # the Helm revision exists once helm-controller has acted
            app_version=None,
            extensions={
                "flux.helmRelease": target.release,
                "flux.namespace": self.settings.namespace,
                "flux.chartVersion": target.chart.version,
                "flux.revision": target.revision,
                "flux.pinnedRevision": target.revision if pinned else None,
            },
        )


def _repository(target: ReleaseTarget) -> JsonObject:
    """The HelmRepository's ``url`` and ``type`` for the target's chart repository."""
    url = target.chart.repo_url
    if url.startswith("oci://"):
        return {"url": url.rstrip("/"), "type": "oci"}
    if url.startswith(("http://", "https://")):
        return {"url": url, "type": "default"}
    raise InvalidRequest(
        f"Flux cannot fetch a chart from {url}: use an http(s):// chart repository or oci://"
    )


def _scaled(target: ReleaseTarget, replicas: int) -> ReleaseTarget:
    return replace(target, values={**target.values, "replicaCount": replicas})
