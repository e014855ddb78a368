"""Deployments as a plain ``apps/v1`` Deployment (and an optional Service): the
``kubernetes`` adapter. No Helm, no GitOps controller: the deployment controller of the
cluster rolls the pods out, and we read its verdict back.

- install creates the Deployment (and the Service ``serviceName`` names), or adopts one we
  left behind (it carries our labels); upgrade patches it, creating it when it is missing;
  scale patches ``spec.replicas``; uninstall deletes both.
- Revisions are the Deployment's ReplicaSet revisions (``deployment.kubernetes.io/revision``):
  right after a change, the Deployment is read back until the controller has observed it
  (``settle_seconds``), and its revision is the ``backend_ref`` we record.
- rollback has ``kubectl rollout undo --to-revision`` semantics, through the API: the pod
  template of the ReplicaSet holding that revision (its own, or one in its
  ``revision-history``) is put back without its ``pod-template-hash``. When the ReplicaSet is
  gone (``revisionHistoryLimit`` pruned it), our snapshot's template is re-applied: our
  history outlives the cluster's. The snapshot's replica count is restored either way.
- status reads the Deployment and its pods (``status.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from chalicelib.adapters.gitops import tracking
from chalicelib.adapters.gitops.kube import (
    DEPLOYMENT,
    POD,
    REPLICA_SET,
    SERVICE,
    KubeApi,
    KubeSession,
    Request,
    create,
    json_patch,
)
from chalicelib.adapters.workloads import deployment as objects
from chalicelib.adapters.workloads.status import (
    deployment_history,
    deployment_status,
    observed,
    revision_of,
)
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


class KubernetesBackend:
    """``DeploymentBackend`` writing a Deployment through one cluster's API server."""

    kind = "kubernetes"

    def __init__(
        self,
        credentials: CredentialsProvider,
        *,
        crash_loop_restarts: int = 3,
        settle_seconds: float = 3.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._kube = KubeApi(credentials)
        self._crash_loop_restarts = crash_loop_restarts
        self._settle_seconds = settle_seconds
        self._sleep = sleep

    # ------------------------------------------------------------------ the port

    def install(self, target: ReleaseTarget) -> Applied:
        return self._apply(target, OperationType.INSTALL)

    def upgrade(self, target: ReleaseTarget) -> Applied:
        return self._apply(target, OperationType.UPGRADE)

    def scale(self, target: ReleaseTarget, *, replicas: int) -> Applied:
        scaled = _scaled(target, replicas)
        with self._kube.session(operation_id=target.operation_id) as kube:
            self._ours(kube, target, required=True)
            kube.send(objects.change(scaled, OperationType.SCALE))
            return self._applied(kube, scaled, OperationType.SCALE)

    def rollback(self, target: ReleaseTarget, *, to_backend_ref: str | None) -> Applied:
        with self._kube.session(operation_id=target.operation_id) as kube:
            self._ours(kube, target, required=True)
            kept = self._replica_set(kube, target, to_backend_ref)
            template = objects.replica_set_template(kept) if kept is not None else None
            kube.send(objects.change(target, OperationType.ROLLBACK, template))
            applied = self._applied(kube, target, OperationType.ROLLBACK)
        applied.extensions["kubernetes.rollbackMethod"] = "undo" if kept else "snapshot"
        applied.extensions["kubernetes.rollbackToRevision"] = to_backend_ref
        if template is not None:
            applied.extensions["kubernetes.podTemplate"] = template
        return applied

    def uninstall(self, ref: ReleaseRef) -> None:
        with self._kube.session() as kube:
            services = kube.select(SERVICE, ref.namespace, _ours_selector(ref.release))
            kube.send(objects.removes(ref.release, ref.namespace, None)[0])
            for svc in services:
                name = tracking.text(svc, "metadata", "name")
                if name:
                    kube.send(Request("DELETE", SERVICE, ref.namespace, name))

    def status(self, ref: ReleaseRef) -> BackendStatus:
        with self._kube.session() as kube:
            found = kube.get(DEPLOYMENT, ref.namespace, ref.release)
            pods = kube.select(POD, ref.namespace, objects.selector(ref.release)) if found else []
        return deployment_status(
            found,
            pods,
            name=ref.release,
            namespace=ref.namespace,
            crash_loop_restarts=self._crash_loop_restarts,
        )

    def history(self, ref: ReleaseRef) -> list[BackendRevision]:
        """The Deployment's ReplicaSet revisions, oldest first."""
        with self._kube.session() as kube:
            found = self._kube_existing(kube, ref.namespace, ref.release)
            sets = kube.select(REPLICA_SET, ref.namespace, objects.selector(ref.release))
        return deployment_history(found, sets)

    def plan(self, action: Action) -> list[PlanStep]:
        target, kind = action.target, action.type
        where = f"{target.namespace}/{target.release}"
        if kind is OperationType.TERMINATE:
            return [
                PlanStep(f"Delete {r.resource.kind} {r.namespace}/{r.name}", body=r.describe())
                for r in objects.removes(target.release, target.namespace, target.values)
            ]
        if kind is OperationType.INSTALL:
            return [
                PlanStep(
                    f"Create {r.resource.kind} {r.namespace}/{r.name} (or adopt ours)",
                    body=r.describe(),
                )
                for r in objects.creates(target)
            ]
        if kind is OperationType.SCALE:
            if action.replicas is None:
                raise InvalidRequest("a scale plan needs a replica count")
            request = objects.change(_scaled(target, action.replicas), kind)
            says = f"Patch Deployment {where} to {action.replicas} replicas"
            return [PlanStep(says, body=request.describe())]
        repository, tag = objects.image_of(target)
        request = objects.change(target, kind)
        if kind is OperationType.ROLLBACK:
            steps = []
            to = action.rollback_to_ref
            if to is not None:
                command = objects.undo_command(target.release, target.namespace, to)
                says = (
                    f"Put back the pod template of ReplicaSet revision {to} of Deployment "
                    f"{where}, as this command would"
                )
                steps.append(PlanStep(says, command=command))
            says = (
                f"Patch Deployment {where} to revision {target.revision} ({repository}:{tag})"
                + (f", with this snapshot's pod template if revision {to} was pruned" if to else "")
            )
            return [*steps, PlanStep(says, body=request.describe())]
        says = f"Patch Deployment {where} to {repository}:{tag} (created when missing)"
        return [PlanStep(says, body=request.describe())]

    # ------------------------------------------------------------------ helpers

    def _apply(self, target: ReleaseTarget, kind: OperationType) -> Applied:
        with self._kube.session(operation_id=target.operation_id) as kube:
            if self._ours(kube, target, required=False) is None:
                kube.send(objects.creates(target, kind)[0])
            else:
                kube.send(objects.change(target, kind))
            svc = objects.service(target)
            if svc is not None:
                self._put_service(kube, target, svc)
            return self._applied(kube, target, kind)

    def _put_service(self, kube: KubeSession, target: ReleaseTarget, svc: JsonObject) -> None:
        name = svc["metadata"]["name"]
        found = kube.get(SERVICE, target.namespace, name)
        if found is None:
            kube.send(create(SERVICE, svc))
            return
        if not tracking.made_for(found, target):
            raise ReleaseConflict(f"Service {target.namespace}/{name} exists and is not ours")
        ops: list[JsonObject] = [
            {"op": "add", "path": "/metadata/labels", "value": svc["metadata"]["labels"]},
            {"op": "add", "path": "/spec/selector", "value": svc["spec"]["selector"]},
            {"op": "add", "path": "/spec/ports", "value": svc["spec"]["ports"]},
        ]
        kube.send(json_patch(SERVICE, target.namespace, name, ops))

    @staticmethod
    def _kube_existing(kube: KubeSession, namespace: str, name: str) -> JsonObject:
        found = kube.get(DEPLOYMENT, namespace, name)
        if found is None:
            raise ReleaseNotFound(f"Deployment {namespace}/{name} not found")
        return found

    def _ours(
        self, kube: KubeSession, target: ReleaseTarget, *, required: bool
    ) -> JsonObject | None:
        """Our Deployment for ``target`` (``None`` when there is none and none is required)."""
        if required:
            found: JsonObject | None = self._kube_existing(kube, target.namespace, target.release)
        else:
            found = kube.get(DEPLOYMENT, target.namespace, target.release)
        if found is not None and not tracking.made_for(found, target):
            raise ReleaseConflict(
                f"Deployment {target.namespace}/{target.release} exists and is not ours"
            )
        return found

    @staticmethod
    def _replica_set(
        kube: KubeSession, target: ReleaseTarget, revision: str | None
    ) -> JsonObject | None:
        """The ReplicaSet holding Deployment revision ``revision``, if the cluster kept it."""
        if revision is None:
            return None
        sets = kube.select(REPLICA_SET, target.namespace, objects.selector(target.release))
        return next((rs for rs in sets if revision in objects.revisions_of(rs)), None)

    def _settled(self, kube: KubeSession, target: ReleaseTarget) -> JsonObject | None:
        """The Deployment once its controller has observed our change (or as last read)."""
        deadline = time.monotonic() + self._settle_seconds
        while True:
            found = kube.get(DEPLOYMENT, target.namespace, target.release)
            if found is None or observed(found) or time.monotonic() >= deadline:
                return found
            self._sleep(0.1)

    def _applied(self, kube: KubeSession, target: ReleaseTarget, kind: OperationType) -> Applied:
        found = self._settled(kube, target)
        ref = revision_of(found) if found is not None and observed(found) else None
        repository, tag = objects.image_of(target)
        return Applied(
            backend_ref=ref,
            app_version=tag,
            extensions={
                "kubernetes.deployment": target.release,
                "kubernetes.namespace": target.namespace,
                "kubernetes.image": f"{repository}:{tag}",
                "kubernetes.replicas": objects.replicas_of(target),
                "kubernetes.revision": ref,
                "kubernetes.changeCause": objects.change_cause(target, kind),
                "kubernetes.podTemplate": objects.pod_template(target),
            },
        )


def _ours_selector(release: str) -> str:
    return f"{tracking.MANAGED_BY}={tracking.OWNER},{tracking.DEPLOYMENT}={release}"


def _scaled(target: ReleaseTarget, replicas: int) -> ReleaseTarget:
    return replace(target, values={**target.values, "replicaCount": replicas})
