"""The registry of target clusters (deployment managers): register, list, get, delete, the
default, and 409 while deployments use one."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api_helpers import call, create_descriptor
from tests.conftest import World

EKS = {
    "deploymentManagerId": "eks-paris",
    "kind": "eks",
    "clusterName": "ran-paris",
    "region": "eu-west-3",
    "roleArn": "arn:aws:iam::123456789012:role/o2dms-deployer",
    "defaultNamespace": "ran",
}
KUBECONFIG = {
    "deploymentManagerId": "edge-1",
    "kind": "kubeconfig",
    "kubeconfigSource": "ssm:/o2dms/clusters/edge-1",
    "context": "edge-1-admin",
}


def test_managers_register_list_get(client: Any) -> None:
    eks = call(client, "POST", "deploymentManagers", EKS)
    kube = call(client, "POST", "deploymentManagers", KUBECONFIG)

    listed = call(client, "GET", "deploymentManagers").body["deploymentManagers"]
    found = call(client, "GET", "deploymentManagers/eks-paris").body

    assert (eks.status, kube.status) == (201, 201)
    assert eks.headers["Location"] == "/o2dms/v1/deploymentManagers/eks-paris"
    assert [m["deploymentManagerId"] for m in listed] == ["local", "edge-1", "eks-paris"]
    assert [m["default"] for m in listed] == [True, False, False]
    assert found["roleArn"] == EKS["roleArn"]
    assert found["defaultNamespace"] == "ran"
    assert call(client, "GET", "deploymentManagers/local").body["kind"] == "local"


def test_managers_default_receives_new_deployments(client: Any, world: World) -> None:
    call(client, "POST", "deploymentManagers", {**EKS, "default": True})
    create_descriptor(client)

    answer = call(
        client, "POST", "nfDeployments", {"name": "du-1", "descriptorId": "nginx-chart-1.2.0"}
    )

    assert answer.status == 503  # this test's backends reach only the local cluster
    deployment = world.store.get_deployment("du-1")
    assert deployment.deployment_manager_id == "eks-paris"
    assert deployment.namespace == "ran"
    listed = call(client, "GET", "deploymentManagers").body["deploymentManagers"]
    assert [(m["deploymentManagerId"], m["default"]) for m in listed] == [
        ("local", False),
        ("eks-paris", True),
    ]


def test_managers_in_use_cannot_be_deleted_until_terminated(client: Any, world: World) -> None:
    call(client, "POST", "deploymentManagers", EKS)
    create_descriptor(client)
    body = {"name": "du-1", "descriptorId": "nginx-chart-1.2.0", "deploymentManagerId": "eks-paris"}
    call(client, "POST", "nfDeployments", body)

    refused = call(client, "DELETE", "deploymentManagers/eks-paris")
    terminated = call(client, "DELETE", "nfDeployments/du-1")
    world.settle()
    allowed = call(client, "DELETE", "deploymentManagers/eks-paris")

    assert refused.status == 409
    assert "used by 1 deployment" in refused.body["message"]
    assert terminated.status == 202
    assert allowed.status == 204
    assert call(client, "GET", "deploymentManagers/eks-paris").status == 404


def test_managers_local_deployments_hold_no_registry_count(running: Any, world: World) -> None:
    call(running, "POST", "deploymentManagers", EKS)

    assert call(running, "DELETE", "deploymentManagers/eks-paris").status == 204
    assert call(running, "DELETE", "deploymentManagers/local").status == 400


@pytest.mark.parametrize(
    "body",
    [
        {**EKS, "region": None},
        {**EKS, "region": "aa-a-0"},  # shaped like a region, but no AWS region
        {**EKS, "clusterName": "bad name"},
        {**EKS, "roleArn": "arn:aws:iam::12:role/x"},
        {**EKS, "kubeconfigSource": "ssm:/x"},
        {**KUBECONFIG, "kubeconfigSource": "http://x"},
        {**KUBECONFIG, "roleArn": EKS["roleArn"]},
        {k: v for k, v in KUBECONFIG.items() if k != "kubeconfigSource"},
        {**EKS, "deploymentManagerId": "Bad_Id"},
        {**EKS, "deploymentManagerId": "local"},
        {**EKS, "kind": "gke"},
        {**EKS, "colour": "red"},
    ],
)
def test_managers_bad_registration_is_400(client: Any, body: dict[str, Any]) -> None:
    answer = call(client, "POST", "deploymentManagers", body)

    assert answer.status == 400, answer.body
    assert answer.body["error"] == "BadRequest"


def test_managers_duplicate_is_409_and_unknown_is_404(client: Any) -> None:
    call(client, "POST", "deploymentManagers", EKS)

    assert call(client, "POST", "deploymentManagers", EKS).status == 409
    assert call(client, "GET", "deploymentManagers/nope").status == 404
    assert call(client, "DELETE", "deploymentManagers/nope").status == 404


def test_a_create_that_never_reached_its_cluster_leaves_the_name_free(
    client: Any, world: World
) -> None:
    create_descriptor(client)
    assert call(client, "POST", "deploymentManagers", EKS).status == 201
    body = {"name": "nginx-prod", "descriptorId": "nginx-chart-1.2.0"}

    failed = call(client, "POST", "nfDeployments", {**body, "deploymentManagerId": "eks-paris"})
    assert failed.status == 503, failed.body  # no test backend for EKS: unreachable

    retried = call(client, "POST", "nfDeployments", body)  # to the local cluster this time
    assert retried.status == 201, retried.body
    world.settle()
    assert call(client, "GET", "nfDeployments/nginx-prod/status").body["status"] == ("INSTANTIATED")
    history = call(client, "GET", "nfDeployments/nginx-prod/history").body["revisions"]
    assert [(r["revision"], r["status"]) for r in history] == [(2, "deployed"), (1, "failed")]
    # the failed create no longer holds the EKS cluster
    assert call(client, "DELETE", "deploymentManagers/eks-paris").status == 204


def test_a_create_that_reached_its_cluster_keeps_its_name(client: Any, world: World) -> None:
    create_descriptor(client)
    body = {"name": "nginx-prod", "descriptorId": "nginx-chart-1.2.0"}
    crashing = {**body, "parameters": {"image": {"tag": "crash"}}}
    assert call(client, "POST", "nfDeployments", crashing).status == 201
    world.settle(seconds=120)
    assert call(client, "GET", "nfDeployments/nginx-prod/status").body["status"] == "FAILED"

    again = call(client, "POST", "nfDeployments", body)

    assert again.status == 409, again.body
    assert again.body["error"] == "Conflict"
