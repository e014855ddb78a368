"""A scheduled scale of a GitOps deployment is written where the controller keeps the
replica count, the Application's or HelmRelease's values, so the controller does not undo
it. Through the API and the scaling Lambda, onto the Kubernetes API emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib.adapters.gitops.kube import APPLICATION, HELM_RELEASE
from tests.api_helpers import NGINX_DESCRIPTOR, call
from tests.conftest import SCALE_FUNCTION_ARN, SCHEDULER_ROLE_ARN
from tests.kube_emulator import EmulatedCluster
from tests.real_cluster import follow_all, real_adapters

GROUP = "o2dms-dev"
AUTOMATION = {
    "schedule_group": GROUP,
    "schedule_target_arn": SCALE_FUNCTION_ARN,
    "scheduler_role_arn": SCHEDULER_ROLE_ARN,
}


def _values(cluster: EmulatedCluster, adapter: str) -> dict[str, Any]:
    if adapter == "argocd":
        app = cluster.read(APPLICATION, "argocd", "nginx-prod")
        assert app is not None
        return dict(app["spec"]["source"]["helm"]["valuesObject"])
    release = cluster.read(HELM_RELEASE, "flux-system", "nginx-prod")
    assert release is not None
    return dict(release["spec"]["values"])


@pytest.mark.parametrize("adapter", ["argocd", "flux"])
def test_scheduled_scale_lands_in_the_controllers_values(
    adapter: str, cluster: EmulatedCluster, tmp_path: Path
) -> None:
    credentials = cluster.kubeconfig_credentials()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(credentials.credentials.kubeconfig or "")
    with real_adapters(operation_timeout_seconds=1, helm_atomic=False, **AUTOMATION) as (
        client,
        driver,
    ):
        boto3.client("scheduler", region_name="us-east-1").create_schedule_group(Name=GROUP)
        manager = {
            "deploymentManagerId": "emulated",
            "kind": "kubeconfig",
            "kubeconfigSource": f"file:{kubeconfig}",
            "context": "emulated",
            "default": True,
        }
        assert call(client, "POST", "deploymentManagers", manager).status == 201
        assert call(client, "POST", "nfDeploymentDescriptors", NGINX_DESCRIPTOR).status == 201
        created = call(
            client,
            "POST",
            "nfDeployments",
            {"name": "nginx-prod", "descriptorId": "nginx-chart-1.2.0", "adapter": adapter},
        )
        assert created.status == 201, created.body
        follow_all(driver, interval=0.5)  # no controller runs here: the rollout times out
        assert _values(cluster, adapter)["replicaCount"] == 2
        schedule = call(
            client,
            "POST",
            "nfDeployments/nginx-prod/scalingSchedules",
            {"expression": "cron(0 8 * * ? *)", "timezone": "Europe/Paris", "replicas": 6},
        )
        assert schedule.status == 201, schedule.body

        payload = json.loads(
            boto3.client("scheduler", region_name="us-east-1").get_schedule(
                Name=schedule.body["scheduleId"], GroupName=GROUP
            )["Target"]["Input"]
        )
        payload["scheduledTime"] = "2026-01-15T07:00:00Z"
        fired = client.lambda_.invoke("scheduled_scale", payload).payload

        assert fired["outcome"] == "started", fired
        values = _values(cluster, adapter)
        assert values["replicaCount"] == 6
        assert values["image"] == {"repository": "nginx", "tag": "1.20.0"}
        newest = call(client, "GET", "nfDeployments/nginx-prod/operations").body["operations"][0]
        assert (newest["type"], newest["trigger"]) == ("scale", "schedule")
        follow_all(driver, interval=0.5)
