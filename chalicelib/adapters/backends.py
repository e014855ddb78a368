"""Which backend serves a deployment: the adapter it asked for, on the cluster it targets.

One backend (and one credentials provider, so EKS tokens are reused until they expire) is
kept per registered cluster and adapter for the life of the process. Adapters are imported
only when a deployment first needs them, so the Kubernetes client stays off the paths that
do not deploy. The ``ecs`` adapter deploys to an ECS service through AWS's API, whatever the
manager: an ``eks`` manager gives it its region and role, any other the functions' own.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from chalicelib.adapters.local_cluster import LocalCluster
from chalicelib.config import Settings
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.models import DeploymentManager
from chalicelib.domain.ports import CredentialsProvider, DeploymentBackend
from chalicelib.domain.states import Adapter, ClusterKind

BackendBuilder = Callable[[CredentialsProvider], DeploymentBackend]


class Backends:
    """The ``BackendResolver`` port for every cluster kind and adapter."""

    def __init__(
        self,
        settings: Settings,
        local: LocalCluster,
        *,
        credentials: Callable[[DeploymentManager, Settings], CredentialsProvider] | None = None,
    ) -> None:
        self._settings = settings
        self._local = local
        self._make_credentials = credentials or credentials_for
        self._lock = threading.Lock()
        self._credentials: dict[tuple[str, str], CredentialsProvider] = {}
        self._backends: dict[tuple[str, str, str], DeploymentBackend] = {}

    def __call__(self, *, adapter: str, manager: DeploymentManager) -> DeploymentBackend:
        if adapter == Adapter.ECS:  # AWS's own API on any manager, the local one included
            return self._ecs(manager)
        if manager.kind is ClusterKind.LOCAL:
            return self._local.backend(adapter)
        key = (manager.id, manager.created_at.isoformat(), adapter)
        with self._lock:
            if key not in self._backends:
                build = self._builder(Adapter(adapter))
                self._backends[key] = build(self._credentials_for(manager))
            return self._backends[key]

    def _ecs(self, manager: DeploymentManager) -> DeploymentBackend:
        """The ECS backend of ``manager``'s AWS account (``ecs.clients``); the ECS adapter is
        imported by the first ECS deployment only."""
        key = (manager.id, manager.created_at.isoformat(), Adapter.ECS.value)
        with self._lock:
            if key not in self._backends:
                from chalicelib.adapters.ecs.backend import EcsBackend
                from chalicelib.adapters.ecs.clients import EcsClients, account_of

                clients = EcsClients(
                    account_of(manager),
                    endpoint_url=self._settings.endpoint_url,
                    config=_aws_config(self._settings),
                )
                self._backends[key] = EcsBackend(clients)
            return self._backends[key]

    def _credentials_for(self, manager: DeploymentManager) -> CredentialsProvider:
        key = (manager.id, manager.created_at.isoformat())
        if key not in self._credentials:
            self._credentials[key] = self._make_credentials(manager, self._settings)
        return self._credentials[key]

    def _builder(self, adapter: Adapter) -> BackendBuilder:
        if adapter is Adapter.ARGOCD:
            from chalicelib.adapters.gitops.argocd import ArgoCDBackend
            from chalicelib.adapters.gitops.settings import ArgoCDSettings

            argocd = ArgoCDSettings.from_env(os.environ)
            return lambda credentials: ArgoCDBackend(credentials, argocd)
        if adapter is Adapter.FLUX:
            from chalicelib.adapters.gitops.flux import FluxBackend
            from chalicelib.adapters.gitops.settings import FluxSettings

            flux = FluxSettings.from_env(os.environ)
            return lambda credentials: FluxBackend(credentials, flux)
        if adapter is Adapter.KUBERNETES:
            from chalicelib.adapters.workloads.backend import KubernetesBackend

            return KubernetesBackend
        return helm_builder(self._settings)


def _aws_config(settings: Settings) -> Any:
    """botocore's client config with the request path's bounded timeouts and retries."""
    from botocore.config import Config

    return Config(
        connect_timeout=settings.aws_connect_timeout_seconds,
        read_timeout=settings.aws_read_timeout_seconds,
        retries={"mode": "standard", "max_attempts": settings.aws_max_attempts},
    )


def credentials_for(manager: DeploymentManager, settings: Settings) -> CredentialsProvider:
    """The cluster's credentials provider; google-auth and azure-identity are imported only
    here, for a GKE or AKS cluster."""
    if manager.kind is ClusterKind.GKE:
        from chalicelib.adapters.clusters import gke

        return gke.for_manager(manager, settings, os.environ)
    if manager.kind is ClusterKind.AKS:
        from chalicelib.adapters.clusters import aks

        return aks.for_manager(manager, settings, os.environ)
    if manager.kind is ClusterKind.EKS:
        from chalicelib.adapters.clusters.eks import EksCredentials

        if not manager.cluster_name or not manager.region:
            raise InvalidRequest(f"Deployment manager {manager.id} lacks clusterName or region")
        return EksCredentials(
            cluster_name=manager.cluster_name, region=manager.region, role_arn=manager.role_arn
        )
    from chalicelib.adapters.clusters.kubeconfig import KubeconfigCredentials

    if not manager.kubeconfig_source:
        raise InvalidRequest(f"Deployment manager {manager.id} lacks kubeconfigSource")
    return KubeconfigCredentials(
        manager.kubeconfig_source,
        context=manager.context,
        allow_local_files=settings.allow_local_charts,
    )


def helm_builder(settings: Settings) -> BackendBuilder:
    from chalicelib.adapters.helm.backend import HelmBackend
    from chalicelib.adapters.helm.commands import HelmSettings

    helm = HelmSettings(
        timeout_seconds=settings.operation_timeout_seconds,
        max_history=settings.helm_max_history,
        atomic=settings.helm_atomic,
        wait=settings.helm_wait,
        wait_for_jobs=settings.helm_wait_for_jobs,
        allow_local_charts=settings.allow_local_charts,
        chart_mirrors=settings.chart_mirrors,
    )
    return lambda credentials: HelmBackend(credentials, settings=helm)
