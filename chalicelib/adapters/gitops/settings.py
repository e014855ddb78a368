"""The seed's Argo CD and Flux configuration blocks, as typed settings with its defaults.

The first seed document ("Adapter-Specific Behavior") configures Argo CD with a sync policy
``automated: {prune: true, selfHeal: true}``, ``syncOptions: [CreateNamespace=true]`` and
``retry: {limit: 5, backoff: {duration: 5s, factor: 2, maxDuration: 3m}}``; and Flux with
``interval: 5m``, ``retries: 3``, ``timeout: 10m``, ``install.remediation.retries: 3`` and
``upgrade.remediation: {retries: 3, remediateLastFailure: true}``.

Each dataclass renders its part of the objects exactly as the CRDs spell it, so the
adapters never assemble these fields by hand. The seed's top-level ``flux.retries`` has no
field of its own in a ``HelmRelease`` (v2); it is the default of both remediation counts.
Durations are checked against the CRDs' own pattern when the settings are built, so a bad
value fails at wiring time, not at the first rollout.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from chalicelib.domain.models import JsonObject

_GO_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")  # the CRDs' duration pattern


def _check_durations(**durations: str) -> None:
    for name, value in durations.items():
        if not _GO_DURATION.match(value):
            raise ValueError(f"{name}={value!r} is not a duration such as 30s, 5m or 1h")


@dataclass(frozen=True, slots=True)
class SyncRetry:
    """Argo CD's ``retry`` block: how often a failed sync is tried again, and how fast."""

    limit: int = 5
    duration: str = "5s"
    factor: int = 2
    max_duration: str = "3m"

    def __post_init__(self) -> None:
        _check_durations(duration=self.duration, max_duration=self.max_duration)

    def render(self) -> JsonObject:
        backoff = {"duration": self.duration, "factor": self.factor}
        return {"limit": self.limit, "backoff": {**backoff, "maxDuration": self.max_duration}}


@dataclass(frozen=True, slots=True)
class ArgoCDSettings:
    """Where Applications live, where they deploy to, and the sync policy they carry.

    ``destination_server`` (an API server URL as Argo CD knows the cluster) or
    ``destination_name`` (the cluster's name in Argo CD) picks the target cluster; exactly
    one is set. ``automated`` off (``prune`` and ``self_heal`` ignored) means manual syncs.
    """

    namespace: str = "argocd"
    project: str = "default"
    destination_server: str | None = "https://kubernetes.default.svc"
    destination_name: str | None = None
    automated: bool = True
    prune: bool = True
    self_heal: bool = True
    sync_options: tuple[str, ...] = ("CreateNamespace=true",)
    retry: SyncRetry | None = field(default_factory=SyncRetry)

    def __post_init__(self) -> None:
        if (self.destination_server is None) == (self.destination_name is None):
            raise ValueError("set exactly one of destination_server and destination_name")

    def destination(self, namespace: str) -> JsonObject:
        if self.destination_name is not None:
            return {"name": self.destination_name, "namespace": namespace}
        return {"server": self.destination_server, "namespace": namespace}

    def sync_policy(self, *, automated: bool) -> JsonObject:
        """The ``spec.syncPolicy``; ``automated=False`` leaves automated sync out (a pin)."""
        policy: JsonObject = {}
        if automated and self.automated:
            policy["automated"] = {"prune": self.prune, "selfHeal": self.self_heal}
        if self.sync_options:
            policy["syncOptions"] = list(self.sync_options)
        if self.retry is not None:
            policy["retry"] = self.retry.render()
        return policy

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ArgoCDSettings:
        """``O2DMS_ARGOCD_NAMESPACE``, ``_PROJECT``, ``_DESTINATION_SERVER`` or ``_NAME``."""
        name = env.get("O2DMS_ARGOCD_DESTINATION_NAME") or None
        server = None if name else env.get("O2DMS_ARGOCD_DESTINATION_SERVER")
        return cls(
            namespace=env.get("O2DMS_ARGOCD_NAMESPACE", "argocd"),
            project=env.get("O2DMS_ARGOCD_PROJECT", "default"),
            destination_server=server or (None if name else "https://kubernetes.default.svc"),
            destination_name=name,
        )


@dataclass(frozen=True, slots=True)
class Remediation:
    """One ``remediation`` block of a HelmRelease (install or upgrade)."""

    retries: int = 3
    remediate_last_failure: bool | None = None

    def render(self) -> JsonObject:
        block: JsonObject = {"retries": self.retries}
        if self.remediate_last_failure is not None:
            block["remediateLastFailure"] = self.remediate_last_failure
        return block


@dataclass(frozen=True, slots=True)
class FluxSettings:
    """Where HelmReleases and their HelmRepositories live, and how helm-controller acts."""

    namespace: str = "flux-system"
    interval: str = "5m"
    retries: int = 3
    timeout: str = "10m"
    install_remediation: Remediation | None = None  # None: ``retries`` retries
    upgrade_remediation: Remediation | None = None  # None: ``retries``, remediateLastFailure
    create_namespace: bool = True  # like Argo CD's CreateNamespace=true and helm's flag

    def __post_init__(self) -> None:
        _check_durations(interval=self.interval, timeout=self.timeout)

    def install(self) -> JsonObject:
        remediation = self.install_remediation or Remediation(self.retries)
        return {"createNamespace": self.create_namespace, "remediation": remediation.render()}

    def upgrade(self) -> JsonObject:
        remediation = self.upgrade_remediation or Remediation(self.retries, True)
        return {"remediation": remediation.render()}

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FluxSettings:
        """``O2DMS_FLUX_NAMESPACE``, ``O2DMS_FLUX_INTERVAL``, ``O2DMS_FLUX_TIMEOUT``."""
        return cls(
            namespace=env.get("O2DMS_FLUX_NAMESPACE", "flux-system"),
            interval=env.get("O2DMS_FLUX_INTERVAL", "5m"),
            timeout=env.get("O2DMS_FLUX_TIMEOUT", "10m"),
        )
