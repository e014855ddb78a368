"""The reads one health evaluation makes on a cluster: besides the pods the status read
has already listed, their Namespace (does Istio inject sidecars there?), our Services and
their EndpointSlices: three requests whatever the number of pods (``health.py`` judges what
they say)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from chalicelib.adapters.gitops import tracking
from chalicelib.adapters.gitops.kube import ENDPOINT_SLICE, POD, SERVICE, KubeApi, KubeSession
from chalicelib.adapters.workloads import health
from chalicelib.domain.errors import BackendForbidden, ReleaseNotFound
from chalicelib.domain.health import HealthCheck, HealthStatus
from chalicelib.domain.models import JsonObject
from chalicelib.domain.ports import ReleaseRef

SERVICE_NAME = "kubernetes.io/service-name"
INSTANCE = "app.kubernetes.io/instance"


def health_of(
    kube: KubeSession,
    ref: ReleaseRef,
    pods: list[JsonObject],
    component_of: Callable[[JsonObject], str | None],
) -> tuple[HealthCheck, ...]:
    """The pods' probe checks, a missing Istio sidecar's where the namespace injects them,
    and those of our Services' endpoints: three more requests (the Namespace, our Services,
    their EndpointSlices), whatever the number of pods."""
    now = datetime.now(UTC)
    probes = health.pod_checks(pods, component_of=component_of, now=now)
    try:
        if pods and health.injects_sidecars(kube.namespace(ref.namespace)):
            probes = (*probes, *health.missing_sidecars(pods, component_of))
    except BackendForbidden:
        pass  # a role bound to the namespace may not read it: no sidecar check then
    try:
        services = kube.select(SERVICE, ref.namespace, ours(ref.release))
        names = sorted(filter(None, (tracking.text(s, "metadata", "name") for s in services)))
        selector = f"{SERVICE_NAME} in ({','.join(names)})"
        slices = kube.select(ENDPOINT_SLICE, ref.namespace, selector) if names else []
    except BackendForbidden as exc:  # a rollout does not fail for a check it cannot read
        unread = HealthCheck("endpoints", "endpoints", HealthStatus.UNKNOWN, exc.message)
        return (*probes, unread)
    return (*probes, *health.endpoint_checks(services, slices, pods))


def release_pods(api: KubeApi, ref: ReleaseRef) -> tuple[HealthCheck, ...]:
    """The probe checks of a chart's pods (labelled ``app.kubernetes.io/instance`` with the
    release, as charts label them), for adapters that read a controller's object rather
    than the pods: one more list request; none when the role may not list pods."""
    with api.session() as kube:
        try:
            pods = kube.select(POD, ref.namespace, f"{INSTANCE}={ref.release}")
        except (BackendForbidden, ReleaseNotFound):  # not allowed, or no such namespace
            return ()

    def component(pod: JsonObject) -> str:
        labels = tracking.dig(pod, "metadata", "labels") or {}
        return str(labels.get("app.kubernetes.io/component") or ref.release)

    return health.pod_checks(pods, component_of=component, now=datetime.now(UTC))


def ours(release: str) -> str:
    """The label selector of the objects we made for ``release``."""
    return f"{tracking.MANAGED_BY}={tracking.OWNER},{tracking.DEPLOYMENT}={release}"
