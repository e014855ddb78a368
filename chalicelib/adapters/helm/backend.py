"""``HelmBackend``: the ``DeploymentBackend`` port on a real cluster, through the helm binary.

Each port method is one helm subcommand (or two, for a rollback), built by ``commands.py``
and run through the runner with fresh credentials (EKS tokens expire, so the provider is
asked on every call). Applies return as soon as helm has applied the manifests; the
follower's ``status()`` does the waiting (see ``commands.py`` for how ``wait``, ``atomic``
and ``timeout`` map).

Revisions: our history is not capped, Helm keeps ``max_history``. A rollback therefore uses
``helm rollback`` only when Helm still holds the target revision *and* it is the same
deployment (same chart and values: a release uninstalled and installed again restarts Helm's
numbering), and otherwise upgrades to our stored snapshot. ``backend_ref`` is Helm's
revision number as text.

A release removed behind our back (``helm uninstall``, or its namespace deleted): an upgrade
or a rollback installs our snapshot again, since deploying that revision is what was asked;
a scale refuses with a message saying so, since a scale (perhaps a schedule firing) must
not bring back a network function that somebody removed.
"""

from __future__ import annotations

import json
import logging

from chalicelib.adapters.gitops.kube import KubeApi
from chalicelib.adapters.helm import commands
from chalicelib.adapters.helm.commands import HelmSettings, encode_values, scaled_values
from chalicelib.adapters.helm.errors import HelmRevisionNotFound
from chalicelib.adapters.helm.models import (
    HistoryEntry,
    Release,
    parse_history,
    parse_release,
    parse_values,
)
from chalicelib.adapters.helm.runner import Completed, HelmRunner, Runner, kube_context
from chalicelib.adapters.helm.status import backend_status, extensions_of
from chalicelib.adapters.workloads import probes
from chalicelib.domain.errors import BackendFailure, InvalidRequest, ReleaseNotFound
from chalicelib.domain.health import CustomCheck, HealthCheck
from chalicelib.domain.models import JsonObject
from chalicelib.domain.ports import (
    Action,
    Applied,
    BackendRevision,
    BackendStatus,
    ClusterCredentials,
    CredentialsProvider,
    PlanStep,
    ReleaseRef,
    ReleaseTarget,
    RolloutPhase,
)
from chalicelib.domain.states import OperationType

logger = logging.getLogger(__name__)

_ROLLBACK_METHOD = "helm.rollbackMethod"
_REINSTALLED = "helm.reinstalled"  # the release was gone from the cluster and installed again
_KUBECONFIG_NOTE = "helm runs with a private per-call --kubeconfig"


def _ref(target: ReleaseTarget) -> ReleaseRef:
    return ReleaseRef(release=target.release, namespace=target.namespace)


def _applied(release: Release) -> Applied:
    return Applied(str(release.revision), release.app_version, extensions_of(release))


def _values_note(values: JsonObject) -> str:
    keys = ", ".join(sorted(values)) or "none"
    return f"values ({len(values)} top-level keys: {keys}) go on stdin, never on the command line"


def _step(says: str, argv: tuple[str, ...]) -> PlanStep:
    """A planned helm command; every one runs with a private kubeconfig, so each step says so."""
    return PlanStep(f"{says}; {_KUBECONFIG_NOTE}", argv)


class HelmBackend:
    """``DeploymentBackend`` for one cluster, reached with ``credentials``."""

    kind = "helm"

    def __init__(
        self,
        credentials: CredentialsProvider,
        *,
        settings: HelmSettings | None = None,
        runner: Runner | None = None,
    ) -> None:
        self._credentials = credentials
        self.settings = settings or HelmSettings()
        self._runner: Runner = runner if runner is not None else HelmRunner()

    # ------------------------------------------------------------------ applying changes

    def install(self, target: ReleaseTarget) -> Applied:
        creds = self._creds(target.operation_id)
        argv = commands.install(target, settings=self.settings, kube_context=kube_context(creds))
        return self._apply(argv, target, creds, target.values)

    def upgrade(self, target: ReleaseTarget) -> Applied:
        return self._upgrade(target, target.values, reinstall=True)

    def scale(self, target: ReleaseTarget, *, replicas: int) -> Applied:
        try:
            return self._upgrade(target, scaled_values(target.values, replicas))
        except ReleaseNotFound as exc:
            raise ReleaseNotFound(
                f'Release "{target.release}" is no longer installed in namespace'
                f" {target.namespace}: it was removed outside O2-DMS. A scale only changes an"
                " installed release; an upgrade or a rollback installs the stored revision"
                " again."
            ) from exc

    def rollback(self, target: ReleaseTarget, *, to_backend_ref: str | None) -> Applied:
        creds = self._creds(target.operation_id)
        kept = self._kept_revision(target, to_backend_ref, creds)
        if kept is not None:
            argv = commands.rollback(
                target, kept, settings=self.settings, kube_context=kube_context(creds)
            )
            try:
                self._runner.run(
                    argv, stdin=None, timeout=self._apply_timeout(target), credentials=creds
                )
            except HelmRevisionNotFound:
                logger.info("helm pruned the revision meanwhile; redeploying the snapshot")
            else:
                latest = self._latest(target, creds)
                return self._record(target, self._rolled_back(latest, kept))
        applied = self._upgrade(target, target.values, creds=creds, reinstall=True)
        return Applied(
            applied.backend_ref,
            applied.app_version,
            {**applied.extensions, _ROLLBACK_METHOD: "redeploy"},
        )

    def uninstall(self, ref: ReleaseRef) -> None:
        creds = self._creds(None)
        argv = commands.uninstall(ref, settings=self.settings, kube_context=kube_context(creds))
        timeout = self.settings.timeout_seconds + self.settings.grace_seconds
        self._runner.run(argv, stdin=None, timeout=timeout, credentials=creds)

    # ------------------------------------------------------------------------- reading

    def status(self, ref: ReleaseRef) -> BackendStatus:
        creds = self._creds(None)
        try:
            done = self._read(commands.status(ref, kube_context=kube_context(creds)), creds)
        except ReleaseNotFound:
            return BackendStatus(
                RolloutPhase.ABSENT, 100, f'release "{ref.release}" is not installed'
            )
        return backend_status(
            parse_release(done.stdout),
            wait=self.settings.wait,
            wait_for_jobs=self.settings.wait_for_jobs,
            crash_loop_restarts=self.settings.crash_loop_restarts,
        )

    def history(self, ref: ReleaseRef) -> list[BackendRevision]:
        """Oldest first, as ``helm history`` lists them (at most ``max_history``)."""
        return [
            BackendRevision(
                backend_ref=str(entry.revision),
                status=entry.status,
                chart_version=entry.chart_version,
                app_version=entry.app_version,
                description=entry.description,
                updated_at=entry.updated,
            )
            for entry in self._history(ref, self._creds(None))
        ]

    def probe(self, ref: ReleaseRef, checks: tuple[CustomCheck, ...]) -> tuple[HealthCheck, ...]:
        return probes.probe(KubeApi(self._credentials), ref, checks)

    def plan(self, action: Action) -> list[PlanStep]:
        target, kind = action.target, action.type
        creds = self._creds(target.operation_id)
        context = kube_context(creds)
        release = f'release "{target.release}" in namespace {target.namespace}'
        if kind is OperationType.TERMINATE:
            argv = commands.uninstall(_ref(target), settings=self.settings, kube_context=context)
            return [_step(f"Uninstall {release}", argv)]
        if kind is OperationType.ROLLBACK:
            kept = self._kept_revision(target, action.rollback_to_ref, creds)
            if kept is not None:
                argv = commands.rollback(target, kept, settings=self.settings, kube_context=context)
                return [_step(f"Roll {release} back to its Helm revision {kept}", argv)]
            why = "Helm no longer holds that revision: upgrade to the stored snapshot"
            return [self._values_step(target, target.values, context, why)]
        if kind is OperationType.SCALE:
            if action.replicas is None:
                raise InvalidRequest("a scale plan needs a replica count")
            values = scaled_values(target.values, action.replicas)
            return [self._values_step(target, values, context, f"scale to {action.replicas}")]
        if kind is OperationType.INSTALL:
            argv = commands.install(target, settings=self.settings, kube_context=context)
            chart = f"chart {target.chart.name} {target.chart.version}"
            says = f"Install {release} from {chart}; {_values_note(target.values)}"
            return [_step(says, argv)]
        return [self._values_step(target, target.values, context, "upgrade")]

    # ----------------------------------------------------------------------- internals

    def _creds(self, operation_id: str | None) -> ClusterCredentials:
        return self._credentials(operation_id=operation_id)

    def _apply_timeout(self, target: ReleaseTarget) -> float:
        return float(target.timeout_seconds + self.settings.grace_seconds)

    def _apply(
        self,
        argv: tuple[str, ...],
        target: ReleaseTarget,
        creds: ClusterCredentials,
        values: JsonObject,
    ) -> Applied:
        """Run an install or upgrade with ``values`` on stdin; record what helm deployed."""
        done = self._runner.run(
            argv,
            stdin=encode_values(values),
            timeout=self._apply_timeout(target),
            credentials=creds,
        )
        return self._record(target, _applied(parse_release(done.stdout)))

    def _read(self, argv: tuple[str, ...], creds: ClusterCredentials) -> Completed:
        timeout = float(self.settings.read_timeout_seconds)
        return self._runner.run(argv, stdin=None, timeout=timeout, credentials=creds)

    def _history(
        self, ref: ReleaseRef, creds: ClusterCredentials, *, max_entries: int | None = None
    ) -> list[HistoryEntry]:
        argv = commands.history(ref, kube_context=kube_context(creds), max_entries=max_entries)
        return parse_history(self._read(argv, creds).stdout)

    def _upgrade(
        self,
        target: ReleaseTarget,
        values: JsonObject,
        *,
        creds: ClusterCredentials | None = None,
        reinstall: bool = False,
    ) -> Applied:
        """``helm upgrade``; with ``reinstall``, ``helm install`` when the release is gone."""
        creds = creds or self._creds(target.operation_id)
        context = kube_context(creds)
        argv = commands.upgrade(target, settings=self.settings, kube_context=context)
        try:
            return self._apply(argv, target, creds, values)
        except ReleaseNotFound:
            if not reinstall:
                raise
        logger.warning(
            "release missing on the cluster; installing the stored revision again",
            extra={"release": target.release, "namespace": target.namespace},
        )
        argv = commands.install(target, settings=self.settings, kube_context=context)
        applied = self._apply(argv, target, creds, values)
        return Applied(
            applied.backend_ref,
            applied.app_version,
            {**applied.extensions, _REINSTALLED: True},
        )

    def _values_step(
        self, target: ReleaseTarget, values: JsonObject, context: str | None, why: str
    ) -> PlanStep:
        argv = commands.upgrade(target, settings=self.settings, kube_context=context)
        chart = f"chart {target.chart.name} {target.chart.version}"
        says = f'Upgrade release "{target.release}" to {chart} ({why}); {_values_note(values)}'
        return _step(says, argv)

    def _kept_revision(
        self, target: ReleaseTarget, backend_ref: str | None, creds: ClusterCredentials
    ) -> int | None:
        """Helm's revision ``backend_ref`` when Helm still has it with our snapshot's chart
        and values; ``None`` when the snapshot must be redeployed instead."""
        if not backend_ref or not backend_ref.isdigit():
            return None
        number, ref = int(backend_ref), _ref(target)
        try:
            kept = self._history(ref, creds)
        except ReleaseNotFound:
            return None  # the release itself is gone: install the snapshot again
        entry = next((e for e in kept if e.revision == number), None)
        if entry is None or (entry.chart_name, entry.chart_version) != (
            target.chart.name,
            target.chart.version,
        ):
            return None
        argv = commands.get_values(ref, number, kube_context=kube_context(creds))
        try:
            held = parse_values(self._read(argv, creds).stdout)
        except HelmRevisionNotFound:
            return None
        return number if held == json.loads(encode_values(target.values)) else None

    def _latest(self, target: ReleaseTarget, creds: ClusterCredentials) -> HistoryEntry:
        entries = self._history(_ref(target), creds, max_entries=1)
        if not entries:
            raise BackendFailure(f'helm history of "{target.release}" is empty after a rollback')
        return entries[-1]

    def _rolled_back(self, latest: HistoryEntry, kept: int) -> Applied:
        return Applied(
            backend_ref=str(latest.revision),
            app_version=latest.app_version,
            extensions={
                "helm.revision": latest.revision,
                "helm.status": latest.status,
                "helm.chartName": latest.chart_name,
                "helm.chartVersion": latest.chart_version,
                "helm.appVersion": latest.app_version,
                "helm.rollbackRevision": kept,
                _ROLLBACK_METHOD: "rollback",
            },
        )

    def _record(self, target: ReleaseTarget, applied: Applied) -> Applied:
        logger.info(
            "helm change applied",
            extra={
                "release": target.release,
                "namespace": target.namespace,
                "operation": target.operation_id,
                "helm_revision": applied.backend_ref,
            },
        )
        return applied
