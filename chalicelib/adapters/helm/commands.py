"""Pure argv builders, one per helm subcommand we use, and the settings that shape them.

Nothing here runs anything, so tests can assert every argv exactly (pyhelm3 once shipped a
flag bug no test could see). argv never carries a secret: values go on stdin
(``--values -``, as JSON, which is YAML), credentials go in a per-call kubeconfig file the
runner adds as ``--kubeconfig``. Every argv starts with ``"helm"``; the runner swaps in the
binary's path.

How the seed's Helm settings map, given that rollouts are asynchronous (the API applies a
change and answers within seconds; a follower polls ``helm status`` until ready or failed):

- ``wait`` / ``waitForJobs``: never ``--wait`` on install, upgrade or rollback. They run with
  ``--wait=hookOnly`` (helm 4's own default, spelled out): helm returns once the manifests
  are applied and hooks have run. The follower does the waiting instead: with ``wait``,
  ``status()`` is READY only once the live workloads are rolled out; with ``wait_for_jobs``,
  also once the release's Jobs have completed (``workloads.py``). Uninstall is the exception:
  once the release record is gone nothing is left to poll, so with ``wait`` it runs
  ``--wait=watcher`` and returns when the resources are deleted.
- ``atomic``: never ``--rollback-on-failure`` (it implies a blocking ``--wait``). The service
  rolls back when the follower sees the rollout fail or time out; ``HelmSettings.atomic``
  tells it to.
- ``timeout``: ``--timeout`` bounds what helm itself waits for (hooks, and the uninstall wait);
  the subprocess gets ``grace_seconds`` more before it is killed.
- ``maxHistory``: ``--history-max`` on upgrade and rollback (install starts at revision 1).
- ``crash_loop_restarts`` (ours): a rollout whose new pods crash-loop that many times has
  failed; waiting out the whole timeout (helm's behaviour) would only delay the rollback.
  0 turns it off.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.models import CHART_NAME, CHART_VERSION, ChartRef, JsonObject
from chalicelib.domain.ports import ReleaseRef, ReleaseTarget

HELM = "helm"
APPLY_WAIT = "--wait=hookOnly"
UNINSTALL_WAIT = "--wait=watcher"
VALUES_FROM_STDIN = ("--values", "-")
JSON_OUTPUT = ("--output", "json")

# Helm's own release-name rule (at most 53 characters), and Kubernetes' for namespaces.
_RELEASE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True, slots=True)
class HelmSettings:
    """The seed's Helm block (``timeout: 5m``, ``maxHistory: 10``, ``atomic``, ``wait``,
    ``waitForJobs``) plus what this adapter adds; see the module docstring for the mapping."""

    timeout_seconds: int = 300
    max_history: int = 10
    atomic: bool = True
    wait: bool = True
    wait_for_jobs: bool = True
    allow_local_charts: bool = False
    chart_mirrors: tuple[tuple[str, str], ...] = ()  # (repository, its mirror); see config
    read_timeout_seconds: int = 30
    grace_seconds: int = 30
    crash_loop_restarts: int = 3

    def __post_init__(self) -> None:
        if self.timeout_seconds < 1 or self.read_timeout_seconds < 1 or self.grace_seconds < 0:
            raise ValueError("helm timeouts must be positive")
        if self.max_history < 0:
            raise ValueError("max_history must be 0 (unlimited) or more")


def check_ref(ref: ReleaseRef | ReleaseTarget) -> None:
    """Refuse names helm would reject or read as a flag (argv has no shell, but has flags)."""
    if len(ref.release) > 53 or not _RELEASE.match(ref.release):
        raise InvalidRequest(f"{ref.release!r} is not a valid Helm release name")
    if len(ref.namespace) > 63 or not _NAMESPACE.match(ref.namespace):
        raise InvalidRequest(f"{ref.namespace!r} is not a valid Kubernetes namespace")


def mirrored(url: str, mirrors: tuple[tuple[str, str], ...]) -> str | None:
    """Where the operator's mirrors say to fetch the charts of repository ``url``, if
    anywhere."""
    wanted = url.strip().rstrip("/")
    return next((mirror for source, mirror in mirrors if source == wanted), None)


def chart_source(
    chart: ChartRef, *, allow_local_charts: bool, mirrors: tuple[tuple[str, str], ...] = ()
) -> tuple[str, ...]:
    """The argv words naming a chart: repository, OCI reference, or local archive. A
    repository with a mirror is read from the mirror; a mirror is the operator's setting,
    so a local folder is allowed there even where descriptors may not name one."""
    if not CHART_NAME.match(chart.name):
        raise InvalidRequest(f"{chart.name!r} is not a valid chart name")
    if not CHART_VERSION.match(chart.version):
        raise InvalidRequest(f"{chart.version!r} is not a valid chart version")
    url = chart.repo_url.strip()
    mirror = mirrored(url, mirrors)
    if mirror is not None:
        url, allow_local_charts = mirror, True
    if url.startswith(("https://", "http://")):
        return (chart.name, "--repo", url, "--version", chart.version)
    if url.startswith("oci://"):
        return (f"{url.rstrip('/')}/{chart.name}", "--version", chart.version)
    if url.startswith("file://"):
        if not allow_local_charts:
            raise InvalidRequest(
                "file:// chart sources are not allowed in this stage (O2DMS_ALLOW_LOCAL_CHARTS)"
            )
        folder = url.removeprefix("file://").rstrip("/") or "/"
        if folder.startswith("-"):
            raise InvalidRequest(f"{url!r} is not a usable chart folder")
        # The archive's name carries the version; helm ignores --version for a local path.
        return (f"{folder.rstrip('/')}/{chart.name}-{chart.version}.tgz",)
    raise InvalidRequest(f"{url!r}: a chart source must start with https://, oci:// or file://")


def _source(chart: ChartRef, settings: HelmSettings) -> tuple[str, ...]:
    return chart_source(
        chart, allow_local_charts=settings.allow_local_charts, mirrors=settings.chart_mirrors
    )


def encode_values(values: JsonObject) -> bytes:
    """Values for ``--values -``: JSON is YAML, so no YAML library is needed."""
    return json.dumps(values, sort_keys=True, separators=(",", ":")).encode()


def scaled_values(values: JsonObject, replicas: int) -> JsonObject:
    """The snapshot's values with ``replicaCount`` set: what a scale deploys."""
    if replicas < 0:
        raise InvalidRequest("replicas must be 0 or more")
    return {**values, "replicaCount": replicas}


def _timeout(seconds: int) -> tuple[str, str]:
    return ("--timeout", f"{seconds}s")


def _scope(ref: ReleaseRef | ReleaseTarget, kube_context: str | None) -> tuple[str, ...]:
    check_ref(ref)
    context = ("--kube-context", kube_context) if kube_context else ()
    return ("--namespace", ref.namespace, *context)


def install(
    target: ReleaseTarget, *, settings: HelmSettings, kube_context: str | None = None
) -> tuple[str, ...]:
    source = _source(target.chart, settings)
    return (
        HELM,
        "install",
        target.release,
        *source,
        *_scope(target, kube_context),
        "--create-namespace",
        *VALUES_FROM_STDIN,
        *_timeout(target.timeout_seconds),
        APPLY_WAIT,
        *JSON_OUTPUT,
    )


def upgrade(
    target: ReleaseTarget, *, settings: HelmSettings, kube_context: str | None = None
) -> tuple[str, ...]:
    """Deploy exactly the snapshot: ``--reset-values`` drops whatever the last release had."""
    source = _source(target.chart, settings)
    return (
        HELM,
        "upgrade",
        target.release,
        *source,
        *_scope(target, kube_context),
        "--reset-values",
        *VALUES_FROM_STDIN,
        "--history-max",
        str(settings.max_history),
        *_timeout(target.timeout_seconds),
        APPLY_WAIT,
        *JSON_OUTPUT,
    )


def rollback(
    target: ReleaseTarget,
    revision: int,
    *,
    settings: HelmSettings,
    kube_context: str | None = None,
) -> tuple[str, ...]:
    if revision < 1:
        raise InvalidRequest(f"{revision} is not a Helm revision")
    return (
        HELM,
        "rollback",
        target.release,
        str(revision),
        *_scope(target, kube_context),
        "--history-max",
        str(settings.max_history),
        *_timeout(target.timeout_seconds),
        APPLY_WAIT,
    )


def uninstall(
    ref: ReleaseRef, *, settings: HelmSettings, kube_context: str | None = None
) -> tuple[str, ...]:
    wait = UNINSTALL_WAIT if settings.wait else APPLY_WAIT
    return (
        HELM,
        "uninstall",
        ref.release,
        *_scope(ref, kube_context),
        *_timeout(settings.timeout_seconds),
        wait,
    )


def status(ref: ReleaseRef, *, kube_context: str | None = None) -> tuple[str, ...]:
    return (HELM, "status", ref.release, *_scope(ref, kube_context), *JSON_OUTPUT)


def history(
    ref: ReleaseRef, *, kube_context: str | None = None, max_entries: int | None = None
) -> tuple[str, ...]:
    limit = ("--max", str(max_entries)) if max_entries else ()
    return (HELM, "history", ref.release, *_scope(ref, kube_context), *limit, *JSON_OUTPUT)


def get_values(
    ref: ReleaseRef, revision: int, *, kube_context: str | None = None
) -> tuple[str, ...]:
    """The user-supplied values of one revision (what ``--values`` gave it)."""
    return (
        HELM,
        "get",
        "values",
        ref.release,
        *_scope(ref, kube_context),
        "--revision",
        str(revision),
        *JSON_OUTPUT,
    )


def show_chart(chart: ChartRef, *, settings: HelmSettings) -> tuple[str, ...]:
    """Chart.yaml of a chart source; needs no cluster."""
    source = _source(chart, settings)
    return (HELM, "show", "chart", *source)


def template(target: ReleaseTarget, *, settings: HelmSettings) -> tuple[str, ...]:
    """Render the chart with the snapshot's values (stdin), client-side: needs no cluster."""
    source = _source(target.chart, settings)
    return (HELM, "template", target.release, *source, *_scope(target, None), *VALUES_FROM_STDIN)
