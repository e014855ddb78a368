"""Descriptors: create, list (paginated), get, delete, and 409 while a deployment uses one."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api_helpers import NGINX_DESCRIPTOR, call, create_deployment, create_descriptor
from tests.conftest import World


def test_descriptor_create_get_list_delete(client: Any) -> None:
    created = create_descriptor(client)
    for n in range(3):
        create_descriptor(client, descriptorId=f"extra-{n}")

    found = call(client, "GET", "nfDeploymentDescriptors/nginx-chart-1.2.0")
    first = call(client, "GET", "nfDeploymentDescriptors?limit=3")
    token = first.body["nextToken"]
    rest = call(client, "GET", f"nfDeploymentDescriptors?limit=3&nextToken={token}")
    deleted = call(client, "DELETE", "nfDeploymentDescriptors/extra-0")

    assert created.headers["Location"] == "/o2dms/v1/nfDeploymentDescriptors/nginx-chart-1.2.0"
    assert found.body["artifactRepoUrl"] == NGINX_DESCRIPTOR["artifactRepoUrl"]
    assert found.body["defaultParameters"] == NGINX_DESCRIPTOR["defaultParameters"]
    assert found.body["supportedAdapters"] == ["helm", "argocd", "flux", "kubernetes"]
    listed = [d["descriptorId"] for d in first.body["nfDeploymentDescriptors"]]
    listed += [d["descriptorId"] for d in rest.body["nfDeploymentDescriptors"]]
    assert sorted(listed) == ["extra-0", "extra-1", "extra-2", "nginx-chart-1.2.0"]
    assert rest.body["nextToken"] is None
    assert deleted.status == 204
    assert call(client, "GET", "nfDeploymentDescriptors/extra-0").status == 404


def test_descriptor_duplicate_is_409(client: Any) -> None:
    create_descriptor(client)

    again = call(client, "POST", "nfDeploymentDescriptors", NGINX_DESCRIPTOR)

    assert again.status == 409


def test_descriptor_bad_bodies_are_400(client: Any) -> None:
    bad = [
        {**NGINX_DESCRIPTOR, "artifactRepoUrl": "ftp://x"},
        {**NGINX_DESCRIPTOR, "descriptorId": "has space"},
        {**NGINX_DESCRIPTOR, "supportedAdapters": ["kubectl"]},
        {**NGINX_DESCRIPTOR, "parameterSchema": {"type": "no-such-type"}},
        {**NGINX_DESCRIPTOR, "artifactRepoUrl": "file:///charts"},
        {k: v for k, v in NGINX_DESCRIPTOR.items() if k != "artifactVersion"},
    ]

    answers = [call(client, "POST", "nfDeploymentDescriptors", body) for body in bad]

    assert [a.status for a in answers] == [400] * len(bad)
    assert all(a.body["error"] == "BadRequest" for a in answers)


def test_descriptor_defaults_failing_own_schema_is_422(client: Any) -> None:
    schema = {"type": "object", "properties": {"replicaCount": {"type": "integer", "maximum": 1}}}

    answer = call(
        client, "POST", "nfDeploymentDescriptors", {**NGINX_DESCRIPTOR, "parameterSchema": schema}
    )

    assert answer.status == 422
    assert "replicaCount" in answer.body["message"]


def test_descriptor_in_use_cannot_be_deleted_until_terminated(client: Any, world: World) -> None:
    create_descriptor(client)
    create_deployment(client)
    world.settle()

    refused = call(client, "DELETE", "nfDeploymentDescriptors/nginx-chart-1.2.0")
    call(client, "DELETE", "nfDeployments/nginx-prod")
    world.settle()
    allowed = call(client, "DELETE", "nfDeploymentDescriptors/nginx-chart-1.2.0")

    assert refused.status == 409
    assert "used by 1 deployment" in refused.body["message"]
    assert allowed.status == 204


def test_descriptor_use_moves_with_upgrade_to_another_descriptor(client: Any, world: World) -> None:
    create_descriptor(client)
    create_descriptor(client, descriptorId="nginx-chart-1.3.0", artifactVersion="1.3.0")
    create_deployment(client)
    world.settle()

    call(client, "PUT", "nfDeployments/nginx-prod", {"descriptorId": "nginx-chart-1.3.0"})
    world.settle()

    counts = {
        d["descriptorId"]: d["deploymentCount"]
        for d in call(client, "GET", "nfDeploymentDescriptors").body["nfDeploymentDescriptors"]
    }
    assert counts == {"nginx-chart-1.2.0": 0, "nginx-chart-1.3.0": 1}
    assert call(client, "DELETE", "nfDeploymentDescriptors/nginx-chart-1.2.0").status == 204
    back = call(client, "POST", "nfDeployments/nginx-prod/rollback", {"revision": 1})
    world.settle()
    assert back.status == 200
    assert back.body["descriptorId"] == "nginx-chart-1.2.0"
    assert call(client, "GET", "nfDeployments/nginx-prod").body["chartVersion"] == "1.2.0"
    assert call(client, "DELETE", "nfDeploymentDescriptors/nginx-chart-1.3.0").status == 204


def test_descriptor_not_found_is_404(client: Any) -> None:
    assert call(client, "GET", "nfDeploymentDescriptors/none").status == 404
    assert call(client, "DELETE", "nfDeploymentDescriptors/none").status == 404


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("artifactName", "--post-renderer=/bin/sh"),
        ("artifactName", "-x"),
        ("artifactVersion", "--devel"),
        ("artifactVersion", "1.0 --set x=y"),
    ],
)
def test_a_chart_name_or_version_helm_would_read_as_a_flag_is_refused_at_creation(
    client: Any, field: str, value: str
) -> None:
    answer = call(client, "POST", "nfDeploymentDescriptors", {**NGINX_DESCRIPTOR, field: value})

    assert answer.status == 400, answer.body
    assert field in answer.body["message"]
