"""GKE and AKS clusters as deployment managers: registered, listed, read and deleted like
the other kinds, their fields checked on registration (400 in the documented shape)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api_helpers import call

GKE = {
    "deploymentManagerId": "gke-paris",
    "kind": "gke",
    "project": "ran-project",
    "location": "europe-west1",
    "clusterName": "ran-paris",
    "credentialsSecret": "o2dms/clusters/gke-paris",
    "defaultNamespace": "ran",
}
AKS = {
    "deploymentManagerId": "aks-paris",
    "kind": "aks",
    "subscription": "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
    "resourceGroup": "ran-rg",
    "clusterName": "aks-paris",
    "credentialsSecret": (
        "arn:aws:secretsmanager:eu-west-3:123456789012:secret:o2dms/clusters/aks-paris-AbCdEf"
    ),
}


def test_cloud_managers_register_list_get_and_delete(client: Any) -> None:
    gke = call(client, "POST", "deploymentManagers", GKE)
    aks = call(client, "POST", "deploymentManagers", AKS)

    listed = call(client, "GET", "deploymentManagers").body["deploymentManagers"]
    found = call(client, "GET", "deploymentManagers/aks-paris").body

    assert (gke.status, aks.status) == (201, 201), (gke.body, aks.body)
    assert gke.headers["Location"] == "/o2dms/v1/deploymentManagers/gke-paris"
    assert {k: gke.body[k] for k in GKE} == GKE
    assert [m["deploymentManagerId"] for m in listed] == ["local", "aks-paris", "gke-paris"]
    assert {k: found[k] for k in AKS} == AKS
    assert found["project"] is None
    assert found["roleArn"] is None
    assert found["defaultNamespace"] == "default"
    assert call(client, "DELETE", "deploymentManagers/gke-paris").status == 204
    assert call(client, "DELETE", "deploymentManagers/aks-paris").status == 204
    assert call(client, "GET", "deploymentManagers/gke-paris").status == 404


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({**GKE, "credentialsSecret": None}, "a gke deployment manager needs project, location"),
        ({k: v for k, v in GKE.items() if k != "location"}, "needs project, location"),
        ({**GKE, "project": "Ran_Project"}, "project"),
        ({**GKE, "project": "ab"}, "project"),
        ({**GKE, "location": "europe west1"}, "location"),
        ({**GKE, "clusterName": "Ran-Paris"}, "clusterName must be a GKE cluster name"),
        ({**GKE, "clusterName": "r" * 41}, "clusterName must be a GKE cluster name"),
        ({**GKE, "region": "eu-west-3"}, "a gke deployment manager does not take region"),
        ({**GKE, "subscription": AKS["subscription"]}, "does not take subscription"),
        ({**GKE, "credentialsSecret": "o2dms/has space"}, "credentialsSecret"),
        ({**AKS, "subscription": "not-a-uuid"}, "subscription"),
        ({**AKS, "resourceGroup": "ran-rg."}, "resourceGroup"),
        ({**AKS, "clusterName": "aks-paris-"}, "clusterName must be an AKS cluster name"),
        ({**AKS, "clusterName": "a" * 64}, "clusterName must be an AKS cluster name"),
        ({**AKS, "project": "ran-project"}, "an aks deployment manager does not take project"),
        ({**AKS, "kubeconfigSource": "ssm:/o2dms/x"}, "does not take kubeconfigSource"),
        ({k: v for k, v in AKS.items() if k != "resourceGroup"}, "needs subscription"),
        ({**AKS, "kind": "openshift"}, "kind"),
    ],
)
def test_cloud_managers_bad_registration_is_400_saying_why(
    client: Any, body: dict[str, Any], words: str
) -> None:
    answer = call(client, "POST", "deploymentManagers", body)

    assert answer.status == 400, answer.body
    assert answer.body["error"] == "BadRequest"
    assert answer.body["code"] == 400
    assert words in answer.body["message"]


def test_cloud_managers_the_other_kinds_refuse_cloud_fields(client: Any) -> None:
    eks = {
        "deploymentManagerId": "eks-paris",
        "kind": "eks",
        "clusterName": "ran-paris",
        "region": "eu-west-3",
        "credentialsSecret": "o2dms/x",
    }

    answer = call(client, "POST", "deploymentManagers", eks)

    assert answer.status == 400
    assert "an eks deployment manager does not take credentialsSecret" in answer.body["message"]
