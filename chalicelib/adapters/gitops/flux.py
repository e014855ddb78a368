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

Secret values (``ReleaseTarget.secret_leaves``) never go into the HelmRelease: they go into a
Kubernetes Secret beside it, ``<release>-o2dms-values`` in Flux's namespace, whose data key
``values.yaml`` holds just the secret subtrees (as JSON, which is YAML), and the HelmRelease
reads it through ``spec.valuesFrom``; ``spec.values`` keeps the rest. helm-controller merges
``valuesFrom`` first and ``values`` over it, so Helm gets the same values. Helm replaces lists
rather than merging them, so a secret inside a list takes that whole list into the Secret.
The Secret is written before the HelmRelease that reads it (created on install, merge-patched
on a change, created when missing); a change without secret values drops the reference and
deletes the Secret a previous revision left; uninstall deletes it. A plan shows the Secret's
requests with its data as ``***``.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
from collections.abc import Callable
from contextlib import suppress
from dataclasses import replace
from datetime import UTC, datetime

from chalicelib.adapters.gitops import tracking
from chalicelib.adapters.gitops.flux_status import REQUESTED_AT, release_history, release_status
from chalicelib.adapters.gitops.kube import (
    HELM_RELEASE,
    HELM_REPOSITORY,
    SECRET,
    KubeApi,
    KubeSession,
    Request,
    create,
    delete,
    json_patch,
    merge_patch,
    pointer,
)
from chalicelib.adapters.gitops.settings import FluxSettings
from chalicelib.adapters.workloads import probes
from chalicelib.adapters.workloads.health_reads import release_pods
from chalicelib.domain.errors import (
    BackendForbidden,
    InvalidRequest,
    ReleaseConflict,
    ReleaseNotFound,
)
from chalicelib.domain.health import CustomCheck, HealthCheck
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
from chalicelib.domain.secrets import LeafPath
from chalicelib.domain.states import OperationType

logger = logging.getLogger(__name__)

VALUES_KEY = "values.yaml"  # the Secret's data key helm-controller reads (``valuesKey``)


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
            if target.secret_leaves:
                try:
                    kube.send(self._secret_create(target))
                except ReleaseConflict:  # left by an install that failed after creating it?
                    if not tracking.made_for(kube.get(SECRET, ns, secret_name(name)), target):
                        raise
                    kube.send(self._secret_patch(target))
            try:
                kube.send(repository)
            except ReleaseConflict:  # left by an install that failed after creating it?
                if not tracking.made_for(kube.get(HELM_REPOSITORY, ns, name), target):
                    raise
                kube.send(self._change(target, pinned=False)[0])  # re-point it
            kube.send(release)
        return self._applied(target, pinned=False)

    def upgrade(self, target: ReleaseTarget) -> Applied:
        self._send_change(target, pinned=False)
        return self._applied(target, pinned=False)

    def scale(self, target: ReleaseTarget, *, replicas: int) -> Applied:
        scaled = _scaled(target, replicas)
        self._send_change(scaled, pinned=False)
        return self._applied(scaled, pinned=False)

    def rollback(self, target: ReleaseTarget, *, to_backend_ref: str | None) -> Applied:
        self._send_change(target, pinned=True)  # the Secret too: the target's secret values
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
            try:
                kube.send(delete(SECRET, ns, secret_name(ref.release)))
            except ReleaseNotFound:
                pass  # there is none without secret values
            except BackendForbidden:
                # A cluster identity without rights on Secrets never made one: termination
                # must not fail for a deployment that had no secret values.
                logger.warning(
                    "cannot delete the values Secret; left in place",
                    extra={"release": ref.release, "namespace": ns},
                )
        if missing is not None:
            raise missing

    def status(self, ref: ReleaseRef) -> BackendStatus:
        ns = self.settings.namespace
        release = self._kube.get(HELM_RELEASE, ns, ref.release)
        seen = release_status(release, name=ref.release, namespace=ns)
        if release is None:
            return seen
        return replace(seen, health_checks=release_pods(self._kube, ref))

    def history(self, ref: ReleaseRef) -> list[BackendRevision]:
        """helm-controller's record of the Helm release's revisions, oldest first."""
        return release_history(
            self._kube.existing(HELM_RELEASE, self.settings.namespace, ref.release)
        )

    def probe(self, ref: ReleaseRef, checks: tuple[CustomCheck, ...]) -> tuple[HealthCheck, ...]:
        return probes.probe(self._kube, ref, checks)

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
                PlanStep(
                    f"Delete Secret {ns}/{secret_name(target.release)} of the release's secret "
                    "values, if it has any",
                    body=delete(SECRET, ns, secret_name(target.release)).describe(),
                ),
            ]
        secret_step = PlanStep(
            f"Apply Secret {self.settings.namespace}/{secret_name(target.release)} with the "
            f"secret values of revision {target.revision} (not shown), which the HelmRelease "
            "reads through valuesFrom",
            body=(
                self._secret_create(target)
                if kind is OperationType.INSTALL
                else self._secret_patch(target)
            ).describe(),
        )
        secrets = [secret_step] if target.secret_leaves else []
        if kind is OperationType.INSTALL:
            repository, release = self._create(target)
            return [
                *secrets,
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
            *secrets,
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
        inline, secret = split_values(target.values, target.secret_leaves)
        release: JsonObject = {
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
                "values": inline,
            },
        }
        if secret:
            release["spec"]["valuesFrom"] = self._values_from(target)
        return release

    def values_secret(self, target: ReleaseTarget) -> JsonObject:
        """The Secret that holds the target's secret values (and nothing else)."""
        _, secret = split_values(target.values, target.secret_leaves)
        document = json.dumps(secret, separators=(",", ":"))
        return {
            "apiVersion": SECRET.api_version,
            "kind": SECRET.kind,
            "metadata": {
                "name": secret_name(target.release),
                "namespace": self.settings.namespace,
                "labels": tracking.labels_for(target),
            },
            "type": "Opaque",
            "data": {VALUES_KEY: base64.b64encode(document.encode()).decode()},
        }

    def _secret_create(self, target: ReleaseTarget) -> Request:
        return create(SECRET, self.values_secret(target))

    def _secret_patch(self, target: ReleaseTarget) -> Request:
        """A merge patch that replaces the Secret's one data key (and so all its values)."""
        secret = self.values_secret(target)
        patch = {"metadata": {"labels": secret["metadata"]["labels"]}, "data": secret["data"]}
        return merge_patch(SECRET, self.settings.namespace, secret_name(target.release), patch)

    def _values_from(self, target: ReleaseTarget) -> list[JsonObject]:
        return [{"kind": SECRET.kind, "name": secret_name(target.release), "valuesKey": VALUES_KEY}]

    def _create(self, target: ReleaseTarget) -> tuple[Request, Request]:
        return (
            create(HELM_REPOSITORY, self.helm_repository(target)),
            create(HELM_RELEASE, self.helm_release(target)),
        )

    def _send_change(self, target: ReleaseTarget, *, pinned: bool) -> None:
        """The Secret first (when there are secret values), then the repository and release;
        without secret values, a reference to the Secret a previous revision left goes, and
        then the Secret."""
        ns, name = self.settings.namespace, target.release
        repository, release = self._change(target, pinned=pinned)
        with self._kube.session(operation_id=target.operation_id) as kube:
            if target.secret_leaves:
                try:
                    kube.send(self._secret_patch(target))
                except ReleaseNotFound:  # installed without secret values
                    kube.send(self._secret_create(target))
                kube.send(repository)
                kube.send(release)
                return
            stale = _reads_secret(kube, ns, name)
            if stale:
                assert isinstance(release.body, list)
                unref = {"op": "remove", "path": pointer("spec", "valuesFrom")}
                release = replace(release, body=[*release.body, unref])
            kube.send(repository)
            kube.send(release)
            if stale:
                with suppress(ReleaseNotFound):
                    kube.send(delete(SECRET, ns, secret_name(name)))

    def _change(self, target: ReleaseTarget, *, pinned: bool) -> tuple[Request, Request]:
        ns, name = self.settings.namespace, target.release
        repo_ops = [
            {"op": "add", "path": pointer("spec", key), "value": value}
            for key, value in _repository(target).items()
        ]
        notes = {**tracking.annotations_for(target, pinned=pinned), REQUESTED_AT: self._stamp()}
        chart = ("spec", "chart", "spec")
        inline, secret = split_values(target.values, target.secret_leaves)
        release_ops = [
            *tracking.annotation_ops(notes),
            {"op": "add", "path": pointer(*chart, "chart"), "value": target.chart.name},
            {"op": "add", "path": pointer(*chart, "version"), "value": target.chart.version},
            {"op": "add", "path": "/spec/values", "value": inline},
        ]
        if secret:
            ref = self._values_from(target)
            release_ops.append({"op": "add", "path": pointer("spec", "valuesFrom"), "value": ref})
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


def secret_name(release: str) -> str:
    """The Secret that holds a release's secret values."""
    return f"{release}-o2dms-values"


def split_values(values: JsonObject, leaves: tuple[LeafPath, ...]) -> tuple[JsonObject, JsonObject]:
    """``values`` without its secret values, and the secret values alone (same shape).

    Each secret leaf moves with its key; a leaf inside a list moves the whole outermost list
    that holds it (Helm replaces lists when it merges values, so a list must not be split).
    """
    inline = copy.deepcopy(values)
    secret: JsonObject = {}
    cuts = {_up_to_list(leaf) for leaf in leaves} - {()}
    for cut in sorted(cuts, key=len):  # an ancestor first: its descendants move with it
        node: object = inline
        for key in cut[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict) or cut[-1] not in node:
            continue  # moved already, with an ancestor
        into = secret
        for key in cut[:-1]:
            into = into.setdefault(key, {})
        into[cut[-1]] = node.pop(cut[-1])
    return inline, secret


def _up_to_list(leaf: LeafPath) -> tuple[str, ...]:
    keys: list[str] = []
    for step in leaf:
        if isinstance(step, int):
            break
        keys.append(step)
    return tuple(keys)


def _reads_secret(kube: KubeSession, namespace: str, release: str) -> bool:
    """Whether the HelmRelease as it is reads our Secret of secret values."""
    found = kube.get(HELM_RELEASE, namespace, release)
    refs = tracking.dig(found, "spec", "valuesFrom")
    return isinstance(refs, list) and any(
        isinstance(ref, dict)
        and ref.get("kind") == SECRET.kind
        and ref.get("name") == secret_name(release)
        for ref in refs
    )


def _scaled(target: ReleaseTarget, replicas: int) -> ReleaseTarget:
    return replace(target, values={**target.values, "replicaCount": replicas})
