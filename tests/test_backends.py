"""Backend resolution: the adapter a deployment asked for, on the cluster it targets, built
once per cluster and adapter (so credential caches live as long as the process)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from chalicelib.adapters.backends import Backends, credentials_for
from chalicelib.adapters.clusters.eks import EksCredentials
from chalicelib.adapters.clusters.kubeconfig import KubeconfigCredentials
from chalicelib.adapters.gitops.argocd import ArgoCDBackend
from chalicelib.adapters.gitops.flux import FluxBackend
from chalicelib.adapters.helm.backend import HelmBackend
from chalicelib.adapters.local_cluster import LocalCluster
from chalicelib.adapters.workloads.backend import KubernetesBackend
from chalicelib.config import Settings
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.models import DeploymentManager
from chalicelib.domain.ports import CredentialsProvider
from chalicelib.domain.states import ClusterKind

WHEN = datetime(2026, 1, 14, tzinfo=UTC)


def _kubeconfig_manager(path: Path) -> DeploymentManager:
    return DeploymentManager(
        id="edge-1",
        kind=ClusterKind.KUBECONFIG,
        name="edge",
        default_namespace="ran",
        created_at=WHEN,
        kubeconfig_source=f"file:{path}",
    )


def test_backends_pick_the_adapter_and_reuse_it(tmp_path: Path) -> None:
    made: list[CredentialsProvider] = []

    def credentials(manager: DeploymentManager, settings: Settings) -> CredentialsProvider:
        made.append(credentials_for(manager, settings))
        return made[-1]

    backends = Backends(Settings(allow_local_charts=True), LocalCluster(), credentials=credentials)
    manager = _kubeconfig_manager(tmp_path / "kubeconfig")

    helm = backends(adapter="helm", manager=manager)
    argocd = backends(adapter="argocd", manager=manager)
    flux = backends(adapter="flux", manager=manager)
    kubernetes = backends(adapter="kubernetes", manager=manager)

    assert isinstance(helm, HelmBackend)
    assert isinstance(kubernetes, KubernetesBackend)
    assert isinstance(argocd, ArgoCDBackend)
    assert isinstance(flux, FluxBackend)
    assert backends(adapter="helm", manager=manager) is helm
    assert len(made) == 1  # one provider (one token cache) per cluster
    assert isinstance(made[0], KubeconfigCredentials)


def test_backends_eks_clusters_use_eks_credentials() -> None:
    backends = Backends(Settings(), LocalCluster())
    manager = DeploymentManager(
        id="eks-paris",
        kind=ClusterKind.EKS,
        name="paris",
        default_namespace="ran",
        created_at=WHEN,
        cluster_name="ran-paris",
        region="eu-west-3",
        role_arn="arn:aws:iam::123456789012:role/o2dms",
    )

    credentials = credentials_for(manager, Settings())
    helm = backends(adapter="helm", manager=manager)

    assert isinstance(helm, HelmBackend)
    assert isinstance(credentials, EksCredentials)
    assert (credentials.cluster_name, credentials.region) == ("ran-paris", "eu-west-3")


def test_backends_local_files_need_the_stage_to_allow_them(tmp_path: Path) -> None:
    backends = Backends(Settings(allow_local_charts=False), LocalCluster())

    with pytest.raises(InvalidRequest):
        backends(adapter="helm", manager=_kubeconfig_manager(tmp_path / "kubeconfig"))


def test_backends_local_cluster_serves_every_adapter() -> None:
    cluster = LocalCluster()
    backends = Backends(Settings(), cluster)
    local = DeploymentManager(
        id="local", kind=ClusterKind.LOCAL, name="local", default_namespace="d", created_at=WHEN
    )

    assert backends(adapter="flux", manager=local).kind == "local"
    assert backends(adapter="kubernetes", manager=local).kind == "local"


def test_backends_helm_reads_chart_mirrors_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "O2DMS_CHART_MIRRORS": (
                "https://charts.bitnami.com/bitnami/=file:///srv/charts,"
                " https://charts.example.com=oci://mirror.example.net/charts"
            )
        }
    )
    assert settings.chart_mirrors == (
        ("https://charts.bitnami.com/bitnami", "file:///srv/charts"),
        ("https://charts.example.com", "oci://mirror.example.net/charts"),
    )
    assert Settings.from_env({}).chart_mirrors == ()
    with pytest.raises(ValueError, match="O2DMS_CHART_MIRRORS"):
        Settings.from_env({"O2DMS_CHART_MIRRORS": "https://charts.example.com"})
    with pytest.raises(ValueError, match="O2DMS_CHART_MIRRORS"):
        Settings.from_env({"O2DMS_CHART_MIRRORS": "charts=/srv/charts"})
