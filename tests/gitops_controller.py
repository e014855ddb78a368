"""Test stand-ins for Argo CD's application controller and Flux's helm-controller.

The real-cluster suite runs on a real API server with the real CRDs, but no controller
runs there. These classes play the controller's part for one object, once per call, and
write what that controller writes, through the API server (so its schema checks every
status too):

- ``ArgoCDController``: an ``operation`` is run as Argo CD runs a sync. It is copied into
  ``status.operationState`` (phase ``Succeeded``, ``syncResult``) and cleared; a
  ``status.history`` entry is added (ids from 0, as Argo CD numbers them, at most
  ``spec.revisionHistoryLimit``, default 10); ``status.sync`` compares the spec's source;
  ``status.health`` is only a code, as the controller writes it, with the reason on each
  resource's health in ``status.resources``. A deleted Application loses its resources
  finalizer, as after Argo CD has removed the workload.
- ``FluxController``: a new generation or an unhandled ``reconcile.fluxcd.io/requestedAt``
  is reconciled as helm-controller's ``v2`` reconciler does. It adds its finalizer first,
  runs a Helm install or upgrade when the chart or values differ from the latest release
  (a ``status.history`` snapshot, newest first, truncated after the previous successful
  release), writes ``Released`` and ``Ready`` with its messages and ``observedGeneration``,
  counts failures (cleared when the chart or values change), and records
  ``lastHandledReconcileAt``, ``lastAttempted*`` and ``observedGeneration``. A deleted
  HelmRelease is uninstalled: its finalizer goes.

Each write is a JSON Patch that first tests ``metadata.resourceVersion``, so a stand-in
never overwrites a change it has not seen (the API server answers 409 instead).
"""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from kubernetes.client import ApiClient, CustomObjectsApi
from kubernetes.config import new_client_from_config

from chalicelib.adapters.gitops.kube import APPLICATION, HELM_RELEASE, JSON_PATCH, Resource

ARGOCD_FINALIZER = "resources-finalizer.argocd.argoproj.io"
FLUX_FINALIZER = "finalizers.fluxcd.io"
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
SYNCED = "successfully synced (all tasks run)"
FAILURE_COUNTS = ("failures", "installFailures", "upgradeFailures")
ARGOCD_HISTORY_LIMIT = 10  # Argo CD's default for spec.revisionHistoryLimit

Obj = dict[str, Any]


def _now() -> str:
    """A timestamp as the controllers write them (``metav1.Time``: seconds, UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _digest(value: Any) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


class _Objects:
    """Reads and JSON-patches one custom object, guarded by the version last read."""

    def __init__(self, kubeconfig: str, resource: Resource, namespace: str, name: str) -> None:
        self._client: ApiClient = new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig
        )
        self._api = CustomObjectsApi(self._client)
        self.resource, self.namespace, self.name = resource, namespace, name

    def read(self) -> Obj | None:
        from kubernetes.client.exceptions import ApiException

        r = self.resource
        try:
            found = self._api.get_namespaced_custom_object(
                r.group, r.version, self.namespace, r.plural, self.name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        assert isinstance(found, dict)
        return found

    def patch(self, obj: Obj, ops: list[Obj], *, status: bool = False) -> None:
        """Apply ``ops`` to ``obj`` as read, to the object or to its status subresource."""
        r = self.resource
        guard = {
            "op": "test",
            "path": "/metadata/resourceVersion",
            "value": obj["metadata"]["resourceVersion"],
        }
        send = (
            self._api.patch_namespaced_custom_object_status
            if status
            else self._api.patch_namespaced_custom_object
        )
        send(
            r.group,
            r.version,
            self.namespace,
            r.plural,
            self.name,
            [guard, *ops],
            _content_type=JSON_PATCH,
        )

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]


def _without_finalizer(obj: Obj, finalizer: str) -> list[Obj]:
    """The ops that drop ``finalizer`` from ``obj``, none when it is not there."""
    held = obj["metadata"].get("finalizers") or []
    if finalizer not in held:
        return []
    kept = [f for f in held if f != finalizer]
    return [{"op": "replace", "path": "/metadata/finalizers", "value": kept}]


class ArgoCDController:
    """Argo CD's application controller for the Application ``name`` in ``namespace``."""

    def __init__(self, kubeconfig: str, namespace: str, name: str = "demo") -> None:
        self._objects = _Objects(kubeconfig, APPLICATION, namespace, name)
        self.namespace, self.name = namespace, name
        self.degraded: str | None = None  # the next sync's workload fails with this message

    def close(self) -> None:
        self._objects.close()

    def reconcile(self) -> bool:
        """Run the requested sync or finish a deletion; False when there was nothing to do."""
        app = self._objects.read()
        if app is None:
            return False
        if app["metadata"].get("deletionTimestamp"):
            ops = _without_finalizer(app, ARGOCD_FINALIZER)
            if ops:
                self._objects.patch(app, ops)
            return bool(ops)
        operation = app.get("operation")
        if not operation:
            return False
        status = self._synced(app, operation, degraded=self.degraded)
        self.degraded = None
        self._objects.patch(
            app,
            [
                {"op": "add", "path": "/status", "value": status},
                {"op": "remove", "path": "/operation"},
            ],
        )
        return True

    def _synced(self, app: Obj, operation: Obj, *, degraded: str | None) -> Obj:
        """The status after a successful sync of the spec's source, healthy or not."""
        now, spec = _now(), app["spec"]
        source = copy.deepcopy(spec["source"])
        revision = operation.get("sync", {}).get("revision") or source["targetRevision"]
        old: Obj = app.get("status") or {}
        history = list(old.get("history") or [])
        entry = {
            "id": max((h["id"] for h in history), default=-1) + 1,
            "revision": revision,
            "deployStartedAt": now,
            "deployedAt": now,
            "source": source,
            "initiatedBy": copy.deepcopy(operation.get("initiatedBy") or {}),
        }
        limit = spec.get("revisionHistoryLimit", ARGOCD_HISTORY_LIMIT)
        health = "Degraded" if degraded else "Healthy"
        workload = self._workload(spec, health=health, message=degraded)
        return {
            "operationState": {
                "operation": copy.deepcopy(operation),
                "phase": "Succeeded",
                "message": SYNCED,
                "startedAt": now,
                "finishedAt": now,
                "syncResult": {
                    "revision": revision,
                    "source": source,
                    "resources": [
                        {
                            **{k: v for k, v in workload.items() if k != "health"},
                            "message": f"deployment.apps/{self.name} configured",
                            "hookPhase": "Running",
                            "syncPhase": "Sync",
                        }
                    ],
                },
            },
            "sync": {
                "status": "Synced",
                "revision": revision,
                "comparedTo": {"source": source, "destination": spec["destination"]},
            },
            "health": {"status": health, "lastTransitionTime": now},
            "history": [*history, entry][-limit:],
            "resources": [workload],
            "reconciledAt": now,
            "sourceType": "Helm",
            "summary": {},
            "controllerNamespace": self.namespace,
        }

    def _workload(self, spec: Obj, *, health: str, message: str | None) -> Obj:
        """The chart's Deployment as ``status.resources`` lists it."""
        said = {"status": health, **({"message": message} if message else {})}
        return {
            "group": "apps",
            "version": "v1",
            "kind": "Deployment",
            "namespace": spec["destination"]["namespace"],
            "name": self.name,
            "status": "Synced",
            "health": said,
        }


class FluxController:
    """Flux's helm-controller for the HelmRelease ``name`` in ``namespace``."""

    def __init__(self, kubeconfig: str, namespace: str, name: str = "demo") -> None:
        self._objects = _Objects(kubeconfig, HELM_RELEASE, namespace, name)
        self.failure: str | None = None  # the next Helm action fails with this error

    def close(self) -> None:
        self._objects.close()

    def reconcile(self) -> bool:
        """Handle a new generation, a reconcile request or a deletion; False when idle."""
        release = self._objects.read()
        if release is None:
            return False
        meta = release["metadata"]
        if meta.get("deletionTimestamp"):  # helm uninstall, then let the object go
            ops = _without_finalizer(release, FLUX_FINALIZER)
            if ops:
                self._objects.patch(release, ops)
            return bool(ops)
        if FLUX_FINALIZER not in (meta.get("finalizers") or []):
            add = {"op": "add", "path": "/metadata/finalizers", "value": [FLUX_FINALIZER]}
            self._objects.patch(release, [add])
            release = self._objects.read()
            assert release is not None
        if self._handled(release):
            return False
        status = self._reconciled(release, failure=self.failure)
        self.failure = None
        self._objects.patch(
            release, [{"op": "add", "path": "/status", "value": status}], status=True
        )
        return True

    @staticmethod
    def _handled(release: Obj) -> bool:
        status: Obj = release.get("status") or {}
        requested = (release["metadata"].get("annotations") or {}).get(REQUESTED_AT)
        return status.get("observedGeneration") == release["metadata"]["generation"] and (
            requested is None or status.get("lastHandledReconcileAt") == requested
        )

    def _reconciled(self, release: Obj, *, failure: str | None) -> Obj:
        """The status after one reconciliation of the spec as it is now."""
        spec, generation = release["spec"], release["metadata"]["generation"]
        chart = spec["chart"]["spec"]
        values = spec.get("values") or {}
        digest = _digest(values)
        old: Obj = copy.deepcopy(release.get("status") or {})
        status = {k: v for k, v in old.items() if k not in FAILURE_COUNTS}
        attempted = (old.get("lastAttemptedRevision"), old.get("lastAttemptedConfigDigest"))
        if attempted == (chart["version"], digest):  # counts reset when chart or values change
            status |= {k: v for k, v in old.items() if k in FAILURE_COUNTS}
        history: list[Obj] = list(old.get("history") or [])
        latest = history[0] if history else None
        in_sync = (
            latest is not None
            and latest["status"] == "deployed"
            and (latest["chartVersion"], latest["configDigest"]) == (chart["version"], digest)
        )
        action = "upgrade" if latest is not None else "install"
        storage = spec.get("storageNamespace") or release["metadata"]["namespace"]
        conditions: list[Obj] = old.get("conditions") or []
        if not in_sync:
            history = self._released(history, spec, storage, digest, action, failed=failure)
            conditions = self._verdict(history[0], action, failure)
            counter = f"{action}Failures"
            if failure:
                status["failures"] = status.get("failures", 0) + 1
                status[counter] = status.get(counter, 0) + 1
            status["lastAttemptedReleaseAction"] = action
        for condition in conditions:
            condition["observedGeneration"] = generation
        ns = release["metadata"]["namespace"]
        status |= {
            "observedGeneration": generation,
            "conditions": conditions,
            "history": history,
            "helmChart": f"{ns}/{ns}-{release['metadata']['name']}",
            "storageNamespace": storage,
            "lastAttemptedGeneration": generation,
            "lastAttemptedRevision": chart["version"],
            "lastAttemptedConfigDigest": digest,
        }
        requested = (release["metadata"].get("annotations") or {}).get(REQUESTED_AT)
        if requested is not None:
            status["lastHandledReconcileAt"] = requested
        return status

    @staticmethod
    def _released(
        history: list[Obj],
        spec: Obj,
        storage: str,
        digest: str,
        action: str,
        *,
        failed: str | None,
    ) -> list[Obj]:
        """The history after one Helm install or upgrade, newest first, truncated after the
        previous successful release (helm-controller's ``Snapshots.Truncate``)."""
        now = _now()
        if not failed:  # a successful release supersedes the one deployed before it
            for snapshot in history:
                if snapshot["status"] == "deployed":
                    snapshot["status"] = "superseded"
        snapshot = {
            "name": spec.get("releaseName") or "",
            "namespace": spec.get("targetNamespace") or storage,
            "version": (history[0]["version"] if history else 0) + 1,
            "status": "failed" if failed else "deployed",
            "chartName": spec["chart"]["spec"]["chart"],
            "chartVersion": spec["chart"]["spec"]["version"],
            "configDigest": digest,
            "firstDeployed": history[-1]["firstDeployed"] if history else now,
            "lastDeployed": now,
            "action": action,
        }
        snapshot["digest"] = _digest(snapshot)
        result = [snapshot, *history]
        for index, older in enumerate(result[1:], start=1):
            if older["status"] in ("deployed", "superseded"):
                return result[: index + 1]
        return result

    @staticmethod
    def _verdict(snapshot: Obj, action: str, failure: str | None) -> list[Obj]:
        """``Released`` and ``Ready`` with helm-controller's reasons and messages."""
        verb = action.capitalize()
        chart = f"{snapshot['chartName']}@{snapshot['chartVersion']}"
        release = f"{snapshot['namespace']}/{snapshot['name']}"
        if failure:
            state, reason = "False", f"{verb}Failed"
            message = f"Helm {action} failed for release {release} with chart {chart}: {failure}"
        else:
            state, reason = "True", f"{verb}Succeeded"
            message = (
                f"Helm {action} succeeded for release {release}.v{snapshot['version']} "
                f"with chart {chart}"
            )
        now = _now()
        return [
            {
                "type": kind,
                "status": state,
                "reason": reason,
                "message": message,
                "lastTransitionTime": now,
            }
            for kind in ("Ready", "Released")
        ]
