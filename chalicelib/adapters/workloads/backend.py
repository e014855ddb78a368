"""Deployments as a plain ``apps/v1`` Deployment (and an optional Service): the
``kubernetes`` adapter. No Helm, no GitOps controller: the deployment controller of the
cluster rolls the pods out, and we read its verdict back.

- The Deployment is named ``deploymentName`` (default: the release). install creates it (and
  the Service ``serviceName`` names), or takes over one we left behind (it carries our
  labels); upgrade patches it, creating it when it is missing; scale patches
  ``spec.replicas``; uninstall deletes both. A Deployment that is not ours is a conflict,
  unless ``adopt`` is true: then install or upgrade adopts it (``deployment.py``).
- status, history and uninstall get no values, so no ``deploymentName``: they find our
  Deployment by our tracking labels, with one list request. Should several match (a
  ``deploymentName`` changed between revisions leaves the older Deployment behind), the one
  named after the release wins, else the first by name.
- Pods and ReplicaSets are selected by the Deployment's own ``spec.selector``: ours
  (``app.kubernetes.io/instance=<release>``), or an adopted Deployment's.
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
    delete,
    json_patch,
)
from chalicelib.adapters.workloads import components, parts, probes
from chalicelib.adapters.workloads import deployment as objects
from chalicelib.adapters.workloads.health_reads import health_of, ours
from chalicelib.adapters.workloads.status import (
    deployment_history,
    deployment_status,
    observed,
    revision_of,
)
from chalicelib.domain.errors import InvalidRequest, ReleaseConflict, ReleaseNotFound
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
        if components.components_of(target.values):
            raise InvalidRequest(
                "a deployment of several components is scaled per component: start a version"
                " with each component's replicas"
            )
        scaled = _scaled(target, replicas)
        with self._kube.session(operation_id=target.operation_id) as kube:
            found = self._ours(kube, target)
            kube.send(objects.change(scaled, OperationType.SCALE, live=found))
            return self._applied(kube, scaled, OperationType.SCALE, found)

    def rollback(self, target: ReleaseTarget, *, to_backend_ref: str | None) -> Applied:
        if components.components_of(target.values):
            return self._apply(target, OperationType.ROLLBACK)  # our snapshot, in reverse
        with self._kube.session(operation_id=target.operation_id) as kube:
            found = self._ours(kube, target)
            kept = self._replica_set(kube, target, found, to_backend_ref)
            template = objects.replica_set_template(kept) if kept is not None else None
            kube.send(objects.change(target, OperationType.ROLLBACK, template, live=found))
            applied = self._applied(kube, target, OperationType.ROLLBACK, found, template)
        applied.extensions["kubernetes.rollbackMethod"] = "undo" if kept else "snapshot"
        applied.extensions["kubernetes.rollbackToRevision"] = to_backend_ref
        return applied

    def uninstall(self, ref: ReleaseRef) -> None:
        with self._kube.session() as kube:
            listed = self._listed(kube, ref)
            found = _first(listed, ref)
            services = kube.select(SERVICE, ref.namespace, ours(ref.release))
            if found is None:
                raise ReleaseNotFound(f"no Deployment of {ref.release} in {ref.namespace}")
            several = [d for d in listed if components.is_part(d)]
            for gone in several or [found]:
                kube.send(delete(DEPLOYMENT, ref.namespace, _name(gone)))
            for svc in services:
                name = tracking.text(svc, "metadata", "name")
                if name:
                    kube.send(Request("DELETE", SERVICE, ref.namespace, name))

    def status(self, ref: ReleaseRef) -> BackendStatus:
        with self._kube.session() as kube:
            listed = self._listed(kube, ref)
            if any(components.is_part(d) for d in listed):
                return parts.status(
                    kube, ref, listed, crash_loop_restarts=self._crash_loop_restarts
                )
            found = _first(listed, ref)
            pods = (
                kube.select(POD, ref.namespace, objects.pod_selector(found, ref.release))
                if found
                else []
            )
            name = _name(found) if found else ref.release
            checks = health_of(kube, ref, pods, lambda _: name) if found else ()
        seen = deployment_status(
            found,
            pods,
            name=name,
            namespace=ref.namespace,
            crash_loop_restarts=self._crash_loop_restarts,
        )
        return replace(seen, health_checks=checks)

    def history(self, ref: ReleaseRef) -> list[BackendRevision]:
        """The Deployment's ReplicaSet revisions, oldest first."""
        with self._kube.session() as kube:
            found = self._find(kube, ref)
            if found is None:
                raise ReleaseNotFound(f"no Deployment of {ref.release} in {ref.namespace}")
            selector = objects.pod_selector(found, ref.release)
            sets = kube.select(REPLICA_SET, ref.namespace, selector)
        return deployment_history(found, sets)

    def probe(self, ref: ReleaseRef, checks: tuple[CustomCheck, ...]) -> tuple[HealthCheck, ...]:
        return probes.probe(self._kube, ref, checks)

    def plan(self, action: Action) -> list[PlanStep]:
        target, kind = action.target, action.type
        if components.components_of(target.values):
            if kind is OperationType.TERMINATE:
                return [
                    PlanStep(
                        f"Delete Deployment {target.namespace}/{p['name']}", component=p["name"]
                    )
                    for wave in components.waves(target.values)
                    for p in wave
                ]
            return components.manual_steps(target.values, target.namespace, kind)
        name = objects.deployment_name(target.release, target.values)
        where = f"{target.namespace}/{name}"
        if kind is not OperationType.TERMINATE and objects.adopting(target.values):
            return _adoption_plan(action, name)
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
                command = objects.undo_command(name, target.namespace, to)
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
        if components.components_of(target.values):
            with self._kube.session(operation_id=target.operation_id) as kube:
                ours = self._listed(kube, ReleaseRef(target.release, target.namespace))
                return parts.apply(kube, target, kind, ours, self._put_service)
        name = objects.deployment_name(target.release, target.values)
        where = f"Deployment {target.namespace}/{name}"
        with self._kube.session(operation_id=target.operation_id) as kube:
            found = kube.get(DEPLOYMENT, target.namespace, name)
            if found is None:
                objects.image_of(target, why=f"{where} does not exist: to create it, ")
                kube.send(objects.creates(target, kind)[0])
            elif tracking.made_for(found, target) or _adoptable(found, target):
                kube.send(objects.change(target, kind, live=found))
            else:
                raise ReleaseConflict(f"{where} exists and is not ours (adopt: true takes it)")
            kept = objects.keeps_template(found, target)
            svc = objects.service(target, objects.match_labels(found) if kept else None)
            if svc is not None:
                self._put_service(kube, target, svc)
            return self._applied(kube, target, kind, found)

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
    def _listed(kube: KubeSession, ref: ReleaseRef) -> list[JsonObject]:
        """Our Deployments of ``ref``, by our tracking labels (one list request)."""
        listed = kube.select(DEPLOYMENT, ref.namespace, ours(ref.release))
        # the API server filters already; checked again so that one ignoring labelSelector
        # cannot hand us a Deployment that is not ours
        return [d for d in listed if _tracks(d, ref.release)]

    def _find(self, kube: KubeSession, ref: ReleaseRef) -> JsonObject | None:
        """Our Deployment of ``ref``: the one named after the release if several match,
        else the first by name."""
        return _first(self._listed(kube, ref), ref)

    @staticmethod
    def _ours(kube: KubeSession, target: ReleaseTarget) -> JsonObject:
        """Our Deployment for ``target``: it must exist and carry our labels."""
        name = objects.deployment_name(target.release, target.values)
        found = kube.get(DEPLOYMENT, target.namespace, name)
        if found is None:
            raise ReleaseNotFound(f"Deployment {target.namespace}/{name} not found")
        if not tracking.made_for(found, target):
            raise ReleaseConflict(f"Deployment {target.namespace}/{name} exists and is not ours")
        return found

    @staticmethod
    def _replica_set(
        kube: KubeSession, target: ReleaseTarget, found: JsonObject, revision: str | None
    ) -> JsonObject | None:
        """The ReplicaSet holding Deployment revision ``revision``, if the cluster kept it."""
        if revision is None:
            return None
        selector = objects.pod_selector(found, target.release)
        sets = kube.select(REPLICA_SET, target.namespace, selector)
        return next((rs for rs in sets if revision in objects.revisions_of(rs)), None)

    def _settled(self, kube: KubeSession, namespace: str, name: str) -> JsonObject | None:
        """The Deployment once its controller has observed our change (or as last read)."""
        deadline = time.monotonic() + self._settle_seconds
        while True:
            found = kube.get(DEPLOYMENT, namespace, name)
            if found is None or observed(found) or time.monotonic() >= deadline:
                return found
            self._sleep(0.1)

    def _applied(
        self,
        kube: KubeSession,
        target: ReleaseTarget,
        kind: OperationType,
        live: JsonObject | None,
        sent: JsonObject | None = None,
    ) -> Applied:
        """What was applied over ``live`` (the Deployment as read before; ``sent``: the
        ReplicaSet template a rollback put back)."""
        name = objects.deployment_name(target.release, target.values)
        found = self._settled(kube, target.namespace, name)
        ref = revision_of(found) if found is not None and observed(found) else None
        template, image = objects.written(target, live)
        replicas = objects.replicas_for(target, live)
        return Applied(
            backend_ref=ref,
            app_version=objects.tag_of(target),
            extensions={
                "kubernetes.deployment": name,
                "kubernetes.namespace": target.namespace,
                "kubernetes.image": image,
                "kubernetes.replicas": (
                    replicas if replicas is not None else tracking.dig(found, "spec", "replicas")
                ),
                "kubernetes.revision": ref,
                "kubernetes.changeCause": objects.change_cause(target, kind, image),
                "kubernetes.podTemplate": sent or template,
            },
        )


def _tracks(obj: JsonObject, release: str) -> bool:
    labels = tracking.dig(obj, "metadata", "labels") or {}
    return bool(
        labels.get(tracking.MANAGED_BY) == tracking.OWNER
        and labels.get(tracking.DEPLOYMENT) == release
    )


def _adoptable(found: JsonObject, target: ReleaseTarget) -> bool:
    """Whether ``adopt`` asks for ``found``, a Deployment not ours: never one that another
    of our deployments manages (two would then fight over it)."""
    owner = tracking.text(found, "metadata", "labels", tracking.DEPLOYMENT)
    if tracking.text(found, "metadata", "labels", tracking.MANAGED_BY) == tracking.OWNER:
        name = tracking.text(found, "metadata", "name")
        raise ReleaseConflict(
            f"Deployment {target.namespace}/{name} belongs to deployment {owner}: not adopted"
        )
    return objects.adopting(target.values)


def _first(listed: list[JsonObject], ref: ReleaseRef) -> JsonObject | None:
    found = sorted(listed, key=lambda d: (_name(d) != ref.release, _name(d)))
    return found[0] if found else None


def _name(obj: JsonObject) -> str:
    return tracking.text(obj, "metadata", "name") or ""


def _adoption_plan(action: Action, name: str) -> list[PlanStep]:
    """The plan when ``adopt`` is true: the patch depends on the live Deployment, which a plan
    does not read, so the steps say what is sent and carry no body."""
    target, kind = action.target, action.type
    objects.refuse_secrets(target)
    where = f"Deployment {target.namespace}/{name}"
    if kind is OperationType.SCALE:
        if action.replicas is None:
            raise InvalidRequest("a scale plan needs a replica count")
        return [PlanStep(f"Patch {where} to {action.replicas} replicas")]
    container = target.values.get("container") or "its first container"
    repository = objects.repository_of(target) or "its repository"
    says = (
        f"Patch {where} to revision {target.revision}: if it is not ours (adopting it) or was"
        " adopted, as `kubectl set image` would (keep its selector and pod template, set"
        f" {container} to {repository}:{objects.tag_of(target)}, add our labels), else with"
        " this revision's pod template"
    )
    if kind is OperationType.INSTALL or kind is OperationType.UPGRADE:
        create = "create it" if objects.repository_of(target) else "fail: image is needed"
        return [PlanStep(f"{says}; {create} if it does not exist")]
    to = action.rollback_to_ref
    if to is None:
        return [PlanStep(says)]
    command = objects.undo_command(name, target.namespace, to)
    undo = f"Put back the pod template of ReplicaSet revision {to} of {where}, as this would"
    return [PlanStep(undo, command=command), PlanStep(f"{says}, if revision {to} was pruned")]


def _scaled(target: ReleaseTarget, replicas: int) -> ReleaseTarget:
    return replace(target, values={**target.values, "replicaCount": replicas})
