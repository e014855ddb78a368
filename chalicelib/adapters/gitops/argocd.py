"""Deployments as Argo CD ``Application``s (``argoproj.io/v1alpha1``), with rollbacks that stay.

One Application per deployment, named after the release, in Argo CD's namespace. Its single
source is the Helm chart: repository, chart, ``targetRevision`` (the chart version) and the
values as ``helm.valuesObject`` (the CRD offers a ``values`` string too; the object form is
structured JSON, so the API server stores exactly what we sent and history reads it back
without parsing YAML). ``syncPolicy`` is the configured one, and every change also asks for
a sync at once by setting the Application's ``operation`` field, as ``argocd app sync`` does.

Changes are JSON Patches (RFC 6902) whose ``add`` operations replace ``spec.source`` and
``spec.syncPolicy`` whole: a merge patch would merge the new values into the old ones and
keep keys the new revision dropped. The same ``Request`` values are what ``plan`` returns.

Rollback to one of our revisions: the source is set to that revision's chart version and
values, ``syncPolicy.automated`` is left out (automated sync suspended, so neither a
self-heal nor a Git-driven parent can undo the rollback), and a sync is requested. The pin
is recorded in the object's annotations and in ``Applied.extensions``
(``argocd.autoSyncSuspended``, ``argocd.pinnedRevision``). The next upgrade or scale writes
the configured sync policy back, which resumes automated sync. Removing ``automated``
rather than setting ``automated.enabled: false`` works on every Argo CD version.

Argo CD reads Helm values only from the Application itself (it cannot take them from a
Kubernetes Secret), where anyone who may read the Application would read them: a target with
secret values (``ReleaseTarget.secret_leaves``) is refused with ``SecretValuesUnsupported``
before anything is sent or planned (the service refuses it before anything is stored, too).

The Application carries Argo CD's resources finalizer, so deleting it (uninstall) removes
the workload too, as ``helm uninstall`` would; status shows the deletion until it is gone.
"""

from __future__ import annotations

import copy
from dataclasses import replace

from chalicelib.adapters.gitops import tracking
from chalicelib.adapters.gitops.argocd_status import (
    OPERATION_INFO,
    application_history,
    application_status,
)
from chalicelib.adapters.gitops.kube import (
    APPLICATION,
    KubeApi,
    Request,
    create,
    delete,
    json_patch,
)
from chalicelib.adapters.gitops.settings import ArgoCDSettings
from chalicelib.adapters.workloads import probes
from chalicelib.adapters.workloads.health_reads import release_pods
from chalicelib.domain.errors import InvalidRequest, SecretValuesUnsupported
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
from chalicelib.domain.states import OperationType

RESOURCES_FINALIZER = "resources-finalizer.argocd.argoproj.io"


class ArgoCDBackend:
    """``DeploymentBackend`` on one cluster's Argo CD."""

    kind = "argocd"

    def __init__(
        self,
        credentials: CredentialsProvider,
        settings: ArgoCDSettings | None = None,
        *,
        user: str = "o2dms",
    ) -> None:
        self._kube = KubeApi(credentials)
        self.settings = settings or ArgoCDSettings()
        self._user = user

    # ------------------------------------------------------------------ the port

    def install(self, target: ReleaseTarget) -> Applied:
        self._kube.send(self._create(target), operation_id=target.operation_id)
        return self._applied(target, pinned=False)

    def upgrade(self, target: ReleaseTarget) -> Applied:
        self._kube.send(
            self._change(target, OperationType.UPGRADE), operation_id=target.operation_id
        )
        return self._applied(target, pinned=False)

    def scale(self, target: ReleaseTarget, *, replicas: int) -> Applied:
        scaled = _scaled(target, replicas)
        self._kube.send(self._change(scaled, OperationType.SCALE), operation_id=target.operation_id)
        return self._applied(scaled, pinned=False)

    def rollback(self, target: ReleaseTarget, *, to_backend_ref: str | None) -> Applied:
        self._kube.send(
            self._change(target, OperationType.ROLLBACK), operation_id=target.operation_id
        )
        applied = self._applied(target, pinned=True)
        if to_backend_ref is not None:
            applied.extensions["argocd.rollbackToHistoryId"] = to_backend_ref
        return applied

    def uninstall(self, ref: ReleaseRef) -> None:
        self._kube.send(self._delete(ref.release))

    def status(self, ref: ReleaseRef) -> BackendStatus:
        ns = self.settings.namespace
        app = self._kube.get(APPLICATION, ns, ref.release)
        seen = application_status(app, name=ref.release, namespace=ns)
        if app is None:
            return seen
        return replace(seen, health_checks=release_pods(self._kube, ref))

    def history(self, ref: ReleaseRef) -> list[BackendRevision]:
        """Argo CD's deployment history of the Application, oldest first."""
        return application_history(
            self._kube.existing(APPLICATION, self.settings.namespace, ref.release)
        )

    def probe(self, ref: ReleaseRef, checks: tuple[CustomCheck, ...]) -> tuple[HealthCheck, ...]:
        return probes.probe(self._kube, ref, checks)

    def plan(self, action: Action) -> list[PlanStep]:
        target, kind = action.target, action.type
        if kind is OperationType.TERMINATE:
            says = f"Delete Application {self._where(target.release)} and, through its "
            says += "finalizer, the resources Argo CD deployed for it"
            return [PlanStep(says, body=self._delete(target.release).describe())]
        if kind is OperationType.INSTALL:
            says = f"Create Application {self._where(target.release)} and request a sync"
            return [PlanStep(says, body=self._create(target).describe())]
        if kind is OperationType.SCALE:
            if action.replicas is None:
                raise InvalidRequest("a scale plan needs a replica count")
            target = _scaled(target, action.replicas)
        pinned = kind is OperationType.ROLLBACK
        request = self._change(target, kind)
        says = (
            f"Patch Application {self._where(target.release)} to chart {target.chart.name} "
            f"{target.chart.version} with the revision's values"
            + (", suspend automated sync" if pinned else "")
            + " and request a sync"
        )
        return [PlanStep(says, body=request.describe())]

    # ------------------------------------------------------------- the objects

    def application(self, target: ReleaseTarget) -> JsonObject:
        """The whole Application that ``install`` creates."""
        s = self.settings
        return {
            "apiVersion": APPLICATION.api_version,
            "kind": APPLICATION.kind,
            "metadata": {
                "name": target.release,
                "namespace": s.namespace,
                "labels": tracking.labels_for(target),
                "annotations": tracking.annotations_for(target, pinned=False),
                "finalizers": [RESOURCES_FINALIZER],
            },
            "spec": {
                "project": s.project,
                "source": source(target),
                "destination": s.destination(target.namespace),
                "syncPolicy": s.sync_policy(automated=True),
            },
            "operation": self._sync_operation(target, OperationType.INSTALL),
        }

    def _create(self, target: ReleaseTarget) -> Request:
        return create(APPLICATION, self.application(target))

    def _change(self, target: ReleaseTarget, kind: OperationType) -> Request:
        """The patch for an upgrade, a scale or (pinned) a rollback to ``target``."""
        pinned = kind is OperationType.ROLLBACK
        policy = self.settings.sync_policy(automated=not pinned)
        ops = [
            *tracking.annotation_ops(tracking.annotations_for(target, pinned=pinned)),
            {"op": "add", "path": "/spec/source", "value": source(target)},
            {"op": "add", "path": "/spec/syncPolicy", "value": policy},
            {"op": "add", "path": "/operation", "value": self._sync_operation(target, kind)},
        ]
        return json_patch(APPLICATION, self.settings.namespace, target.release, ops)

    def _delete(self, release: str) -> Request:
        return delete(APPLICATION, self.settings.namespace, release)

    def _sync_operation(self, target: ReleaseTarget, kind: OperationType) -> JsonObject:
        s = self.settings
        sync: JsonObject = {"revision": target.chart.version, "prune": s.prune}
        if s.sync_options:
            sync["syncOptions"] = list(s.sync_options)
        operation: JsonObject = {
            "initiatedBy": {"username": self._user},
            "info": [
                {"name": OPERATION_INFO, "value": target.operation_id},
                {"name": "Reason", "value": f"O2-DMS {kind.value} (revision {target.revision})"},
            ],
            "sync": sync,
        }
        if s.retry is not None:
            operation["retry"] = s.retry.render()
        return operation

    # ------------------------------------------------------------------ helpers

    def _applied(self, target: ReleaseTarget, *, pinned: bool) -> Applied:
        suspended = pinned and self.settings.automated
        return Applied(
            backend_ref=None,  # Argo CD numbers its history once the sync has happened
            app_version=None,
            extensions={
                "argocd.application": target.release,
                "argocd.namespace": self.settings.namespace,
                "argocd.chartVersion": target.chart.version,
                "argocd.revision": target.revision,
                "argocd.syncRequested": True,
                "argocd.autoSyncSuspended": suspended,
                "argocd.pinnedRevision": target.revision if pinned else None,
            },
        )

    def _where(self, release: str) -> str:
        return f"{self.settings.namespace}/{release}"


def source(target: ReleaseTarget) -> JsonObject:
    """The Application's Helm source for ``target``.

    ``oci://`` repositories are given without the scheme, with the chart in ``chart``: the
    form every Argo CD version reads as a Helm repository in an OCI registry (its repository
    credentials must then say ``enableOCI``).
    """
    if target.secret_leaves:
        raise SecretValuesUnsupported.for_adapter(ArgoCDBackend.kind, target.secret_leaves)
    chart = target.chart
    if chart.repo_url.startswith("file://"):
        raise InvalidRequest(
            "Argo CD cannot deploy a chart from a local path (file://); "
            "publish it to a chart repository or OCI registry"
        )
    return {
        "repoURL": chart.repo_url.removeprefix("oci://"),
        "chart": chart.name,
        "targetRevision": chart.version,
        "helm": {"releaseName": target.release, "valuesObject": copy.deepcopy(target.values)},
    }


def _scaled(target: ReleaseTarget, replicas: int) -> ReleaseTarget:
    return replace(target, values={**target.values, "replicaCount": replicas})
