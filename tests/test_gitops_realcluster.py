"""The GitOps backends against a real API server, when ``O2DMS_TEST_KUBECONFIG`` names one.

With the Argo CD and Flux CRDs applied (applied here from ``../shared/crds`` when missing)
and no controllers running, every step's objects must be accepted by the real API server
(its schema validation, CEL rules and JSON Patch handling) and hold the expected fields.
Everything happens in a namespace of its own, deleted at the end. Skipped without a cluster.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from chalicelib.adapters.gitops.argocd import ArgoCDBackend
from chalicelib.adapters.gitops.flux import FluxBackend
from chalicelib.adapters.gitops.kube import (
    APPLICATION,
    HELM_RELEASE,
    HELM_REPOSITORY,
    KubeApi,
    Resource,
    merge_patch,
)
from chalicelib.adapters.gitops.settings import ArgoCDSettings, FluxSettings
from chalicelib.domain.models import ChartRef
from chalicelib.domain.ports import ClusterCredentials, ReleaseRef, ReleaseTarget, RolloutPhase
from tests.crd_schema import CRDS

KUBECONFIG = os.environ.get("O2DMS_TEST_KUBECONFIG", "")
pytestmark = [
    pytest.mark.realcluster,
    pytest.mark.skipif(not KUBECONFIG, reason="set O2DMS_TEST_KUBECONFIG to a kubeconfig file"),
]
V1 = ChartRef("https://charts.example.com/stable", "demo", "0.1.0")
V2 = ChartRef("oci://registry.example.com/charts", "demo", "0.2.0")


def _credentials(*, operation_id: str | None = None) -> ClusterCredentials:
    return ClusterCredentials(kubeconfig=Path(KUBECONFIG).read_text())


@pytest.fixture(scope="module")
def namespace() -> Iterator[str]:
    from kubernetes import client

    from chalicelib.adapters.gitops.kube import api_client

    api = api_client(_credentials())
    _apply_crds(client.CustomObjectsApi(api))
    name = f"o2dms-test-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        core.delete_namespace(name)
        api.close()  # type: ignore[no-untyped-call]


def _apply_crds(api: Any) -> None:
    """Create the shared CRDs that are missing, then wait until they are served."""
    from kubernetes.client.exceptions import ApiException

    for path in sorted(CRDS.glob("*.yaml")):
        try:
            api.create_cluster_custom_object(
                "apiextensions.k8s.io",
                "v1",
                "customresourcedefinitions",
                yaml.safe_load(path.read_text()),
            )
        except ApiException as exc:
            if exc.status != 409:  # 409: already applied
                raise
    for resource in (APPLICATION, HELM_RELEASE, HELM_REPOSITORY):
        for _ in range(30):
            try:
                api.list_namespaced_custom_object(
                    resource.group, resource.version, "default", resource.plural
                )
                break
            except ApiException as exc:
                if exc.status != 404:
                    raise
                time.sleep(1)


def target(revision: int, chart: ChartRef = V1, **values: Any) -> ReleaseTarget:
    return ReleaseTarget(
        release="demo",
        namespace="apps",
        chart=chart,
        values={"replicaCount": 2, **values},
        revision=revision,
        operation_id=f"op-{revision}",
        timeout_seconds=300,
    )


def read(resource: Resource, namespace: str) -> dict[str, Any] | None:
    with KubeApi(_credentials).session() as kube:
        return kube.get(resource, namespace, "demo")


def test_realcluster_argocd_steps_are_accepted_and_rollback_suspends_auto_sync(
    namespace: str,
) -> None:
    argocd = ArgoCDBackend(_credentials, ArgoCDSettings(namespace=namespace))
    ref = ReleaseRef("demo", "apps")

    argocd.install(target(1))
    assert argocd.status(ref).phase is RolloutPhase.PROGRESSING  # no controller runs
    argocd.upgrade(target(2, V2, debug=True))
    app = read(APPLICATION, namespace)
    assert app is not None
    assert app["spec"]["source"]["targetRevision"] == "0.2.0"
    assert app["spec"]["source"]["helm"]["valuesObject"] == {"replicaCount": 2, "debug": True}
    argocd.scale(target(3, V2), replicas=4)
    argocd.rollback(target(1), to_backend_ref=None)
    app = read(APPLICATION, namespace)
    assert app is not None
    assert "automated" not in app["spec"]["syncPolicy"]
    assert app["spec"]["source"]["targetRevision"] == "0.1.0"
    assert app["operation"]["sync"]["revision"] == "0.1.0"
    argocd.upgrade(target(5, V2))
    app = read(APPLICATION, namespace)
    assert app is not None
    assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}

    argocd.uninstall(ref)
    app = read(APPLICATION, namespace)
    assert app is not None
    assert app["metadata"]["deletionTimestamp"]  # Argo CD's finalizer holds it: no controller
    with KubeApi(_credentials).session() as kube:
        kube.send(merge_patch(APPLICATION, namespace, "demo", {"metadata": {"finalizers": None}}))
    assert argocd.status(ref).phase is RolloutPhase.ABSENT


def test_realcluster_flux_steps_are_accepted(namespace: str) -> None:
    flux = FluxBackend(_credentials, FluxSettings(namespace=namespace))
    ref = ReleaseRef("demo", "apps")

    flux.install(target(1))
    assert flux.status(ref).phase is RolloutPhase.PROGRESSING
    flux.upgrade(target(2, V2, debug=True))
    flux.scale(target(3, V2), replicas=4)
    flux.rollback(target(1), to_backend_ref=None)
    release = read(HELM_RELEASE, namespace)
    assert release is not None
    assert release["spec"]["chart"]["spec"]["version"] == "0.1.0"
    assert release["spec"]["values"] == {"replicaCount": 2}
    assert release["metadata"]["annotations"]["o2dms.o-ran.org/pinned"] == "true"
    assert "reconcile.fluxcd.io/requestedAt" in release["metadata"]["annotations"]

    flux.uninstall(ref)
    assert flux.status(ref).phase is RolloutPhase.ABSENT  # no controller, so no finalizer
