"""Every error row of the seed document, and bad input in general: the documented status and
the ``{"error", "message", "code"}`` body, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api_helpers import NGINX_DESCRIPTOR, call, create_deployment, create_descriptor
from tests.conftest import World


def assert_error(answer: Any, code: int, error: str, contains: str = "") -> None:
    assert answer.status == code, answer.body
    assert answer.body["code"] == code
    assert answer.body["error"] == error
    assert contains in answer.body["message"]


@pytest.mark.parametrize(
    ("body", "contains"),
    [
        ({"replicas": -1}, "Replica count must be non-negative"),
        ({"replicas": 1.5}, "replicas"),
        ({"replicas": "3"}, "replicas"),
        ({"replicas": True}, "replicas"),
        ({}, "replicas"),
        ({"replicas": 2, "extra": 1}, "extra: unknown field"),
    ],
)
def test_scale_bad_replicas_is_400(running: Any, body: dict[str, Any], contains: str) -> None:
    answer = call(running, "POST", "nfDeployments/nginx-prod/scale", body)

    assert_error(answer, 400, "BadRequest", contains)


def test_scale_negative_replicas_message_is_the_seeds(running: Any) -> None:
    answer = call(running, "POST", "nfDeployments/nginx-prod/scale", {"replicas": -1})

    assert answer.body == {
        "error": "BadRequest",
        "message": "Replica count must be non-negative",
        "code": 400,
    }


def test_scale_unknown_deployment_is_404(running: Any) -> None:
    answer = call(running, "POST", "nfDeployments/nope/scale", {"replicas": 2})

    assert_error(answer, 404, "NotFound", "nope")


def test_scale_with_cluster_unreachable_is_503_and_releases_the_lease(
    running: Any, world: World
) -> None:
    world.cluster.set_reachable(False)

    answer = call(running, "POST", "nfDeployments/nginx-prod/scale", {"replicas": 5})

    assert_error(answer, 503, "ServiceUnavailable", "unreachable")
    operations = call(running, "GET", "nfDeployments/nginx-prod/operations").body["operations"]
    assert operations[0]["type"] == "scale"
    assert operations[0]["state"] == "FAILED"
    assert operations[0]["error"]["error"] == "BackendUnavailable"
    status = call(running, "GET", "nfDeployments/nginx-prod/status").body
    assert status["status"] == "INSTANTIATED"
    assert status["operationId"] is None
    world.cluster.set_reachable(True)
    again = call(running, "POST", "nfDeployments/nginx-prod/scale", {"replicas": 5})
    assert again.status == 204


@pytest.mark.parametrize(
    ("body", "contains"),
    [
        ({"revision": -1}, "Invalid revision number"),
        ({"revision": "two"}, "revision"),
        ({}, "revision"),
    ],
)
def test_rollback_invalid_revision_is_400(
    running: Any, body: dict[str, Any], contains: str
) -> None:
    answer = call(running, "POST", "nfDeployments/nginx-prod/rollback", body)

    assert_error(answer, 400, "BadRequest", contains)


def test_rollback_to_missing_revision_is_404(running: Any) -> None:
    answer = call(running, "POST", "nfDeployments/nginx-prod/rollback", {"revision": 3})

    assert_error(answer, 404, "NotFound", "Revision 3 not found in deployment history")


def test_rollback_to_current_revision_is_409(running: Any) -> None:
    answer = call(running, "POST", "nfDeployments/nginx-prod/rollback", {"revision": 1})

    assert_error(answer, 409, "Conflict", "current revision")


def test_rollback_with_no_previous_revision_is_409(running: Any) -> None:
    answer = call(running, "POST", "nfDeployments/nginx-prod/rollback", {"revision": 0})

    assert_error(answer, 409, "Conflict", "no previous good revision")


def test_rollback_while_rolling_back_is_409(running: Any, world: World) -> None:
    call(running, "PUT", "nfDeployments/nginx-prod", {"parameters": {"replicaCount": 3}})
    world.settle()
    first = call(running, "POST", "nfDeployments/nginx-prod/rollback", {"revision": 0})

    second = call(running, "POST", "nfDeployments/nginx-prod/rollback", {"revision": 1})

    assert first.status == 200
    assert_error(second, 409, "Conflict", "currently rolling back")


def test_upgrade_while_upgrading_is_409(running: Any) -> None:
    first = call(running, "PUT", "nfDeployments/nginx-prod", {"parameters": {"replicaCount": 3}})

    second = call(running, "PUT", "nfDeployments/nginx-prod", {"parameters": {"replicaCount": 4}})

    assert first.status == 200
    assert_error(second, 409, "Conflict", "in progress")


def test_upgrade_unknown_fields_is_400(running: Any) -> None:
    answer = call(running, "PUT", "nfDeployments/nginx-prod", {"params": {"a": 1}})

    assert_error(answer, 400, "BadRequest", "params: unknown field")


def test_upgrade_to_unknown_descriptor_is_404(running: Any) -> None:
    answer = call(running, "PUT", "nfDeployments/nginx-prod", {"descriptorId": "missing-1.0"})

    assert_error(answer, 404, "NotFound", "missing-1.0")


def test_upgrade_parameters_failing_schema_is_422(client: Any, world: World) -> None:
    schema = {
        "type": "object",
        "properties": {
            "image": {
                "type": "object",
                "properties": {"tag": {"type": "string", "pattern": r"^\d+\.\d+\.\d+$"}},
            },
            "replicaCount": {"type": "integer", "maximum": 10},
        },
    }
    create_descriptor(client, parameterSchema=schema)
    create_deployment(client)
    world.settle()

    answer = call(
        client, "PUT", "nfDeployments/nginx-prod", {"parameters": {"image": {"tag": "latest"}}}
    )
    too_many = call(client, "POST", "nfDeployments/nginx-prod/scale", {"replicas": 11})

    assert_error(answer, 422, "ValidationError", "Invalid parameter: image.tag")
    assert_error(too_many, 422, "ValidationError", "replicaCount")
    history = call(client, "GET", "nfDeployments/nginx-prod/history").body
    assert [r["revision"] for r in history["revisions"]] == [1]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "nfDeployments/Bad_Name"),
        ("GET", "nfDeployments/" + "a" * 54),
        ("GET", "nfDeployments/nginx-prod/history/zero"),
        ("GET", "nfDeployments/nginx-prod/operations/not-an-op"),
        ("GET", "nfDeploymentDescriptors/bad%20id"),
        ("GET", "nfDeployments?limit=0"),
        ("GET", "nfDeployments?limit=x"),
        ("GET", "nfDeployments?status=RUNNING"),
        ("GET", "nfDeployments?colour=red"),
        ("GET", "nfDeployments?nextToken=garbage!"),
        ("GET", "nfDeployments/nginx-prod/history?nextToken=e30"),
        ("GET", "nfDeployments/nginx-prod/status?verbose=1"),
    ],
)
def test_bad_ids_and_query_parameters_are_400(running: Any, method: str, path: str) -> None:
    answer = call(running, method, path)

    assert_error(answer, 400, "BadRequest")


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("nfDeployments", "{not json"),
        ("nfDeployments", "[1, 2]"),
        ("nfDeployments", ""),
        ("nfDeployments/nginx-prod/scale", "5"),
    ],
)
def test_malformed_bodies_are_400(running: Any, path: str, raw: str) -> None:
    answer = call(running, "POST", path, raw=raw)

    assert_error(answer, 400, "BadRequest")


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Nginx_Prod", "descriptorId": "nginx-chart-1.2.0"},
        {"name": "x" * 54, "descriptorId": "nginx-chart-1.2.0"},
        {"name": "ok", "descriptorId": "nginx-chart-1.2.0", "namespace": "Prod"},
        {"name": "ok", "descriptorId": "nginx-chart-1.2.0", "adapter": "kustomize"},
        {"name": "ok", "descriptorId": "nginx-chart-1.2.0", "parameters": [1]},
        {"descriptorId": "nginx-chart-1.2.0"},
    ],
)
def test_create_deployment_bad_body_is_400(running: Any, body: dict[str, Any]) -> None:
    answer = call(running, "POST", "nfDeployments", body)

    assert_error(answer, 400, "BadRequest")


def test_create_existing_deployment_is_409(running: Any) -> None:
    answer = call(
        running,
        "POST",
        "nfDeployments",
        {"name": "nginx-prod", "descriptorId": "nginx-chart-1.2.0"},
    )

    assert_error(answer, 409, "Conflict", "already exists")


def test_create_on_unknown_deployment_manager_is_404(running: Any) -> None:
    body = {"name": "other", "descriptorId": "nginx-chart-1.2.0", "deploymentManagerId": "eks-9"}

    answer = call(running, "POST", "nfDeployments", body)

    assert_error(answer, 404, "NotFound", "eks-9")
    assert call(running, "GET", "nfDeployments/other").status == 404


def test_create_with_unknown_descriptor_is_404(running: Any) -> None:
    answer = call(running, "POST", "nfDeployments", {"name": "x", "descriptorId": "nope-1.0"})

    assert_error(answer, 404, "NotFound", "nope-1.0")


def test_install_with_cluster_unreachable_is_503_and_deployment_failed(
    client: Any, world: World
) -> None:
    create_descriptor(client)
    world.cluster.set_reachable(False)

    answer = call(
        client, "POST", "nfDeployments", {"name": "edge", "descriptorId": "nginx-chart-1.2.0"}
    )

    assert_error(answer, 503, "ServiceUnavailable")
    status = call(client, "GET", "nfDeployments/edge/status").body
    assert status["status"] == "FAILED"
    assert status["operationId"] is None
    history = call(client, "GET", "nfDeployments/edge/history").body
    assert [(r["revision"], r["status"]) for r in history["revisions"]] == [(1, "failed")]
    world.cluster.set_reachable(True)
    retried = call(client, "PUT", "nfDeployments/edge", {})
    assert retried.status == 200
    world.settle()
    assert call(client, "GET", "nfDeployments/edge/status").body["status"] == "INSTANTIATED"
    history = call(client, "GET", "nfDeployments/edge/history").body
    assert [(r["revision"], r["status"]) for r in history["revisions"]] == [
        (2, "deployed"),
        (1, "failed"),
    ]


def test_store_unavailable_is_503_not_500(client: Any, dynamodb: Any) -> None:
    from tests.conftest import TABLE

    dynamodb.delete_table(TableName=TABLE)

    listed = call(client, "GET", "nfDeployments")
    created = call(client, "POST", "nfDeployments", {"name": "a", "descriptorId": "b"})

    assert_error(listed, 503, "ServiceUnavailable", "store")
    assert_error(created, 503, "ServiceUnavailable", "store")


def test_ids_with_a_trailing_newline_are_refused(running: Any) -> None:
    # Python's `$` also matches before a final newline; the ids must not end in one.
    answer = call(running, "GET", "nfDeployments/nginx-prod%0A")
    assert answer.status == 400, answer.body
    assert answer.body["error"] == "BadRequest"
    body = {**NGINX_DESCRIPTOR, "descriptorId": "nginx-chart\n"}
    created = call(running, "POST", "nfDeploymentDescriptors", body)
    assert created.status == 400, created.body


@pytest.mark.parametrize(
    "parameters",
    [
        {"replicaCount": "many"},
        {"replicaCount": -1},
        {"replicaCount": 2.5},
        {"replicaCount": True},
        {"replicaCount": 10_001},
        {"image": "nginx:1.21"},
        {"image": {"tag": 1.21}},
    ],
)
def test_bad_well_known_parameters_are_422_before_anything_is_written(
    running: Any, world: World, parameters: dict[str, Any]
) -> None:
    history = call(running, "GET", "nfDeployments/nginx-prod/history").body
    operations = call(running, "GET", "nfDeployments/nginx-prod/operations").body

    upgrade = call(running, "PUT", "nfDeployments/nginx-prod", {"parameters": parameters})
    created = call(
        running,
        "POST",
        "nfDeployments",
        {"name": "other", "descriptorId": "nginx-chart-1.2.0", "parameters": parameters},
    )

    assert_error(upgrade, 422, "ValidationError", "Invalid parameter: ")
    assert_error(created, 422, "ValidationError", "Invalid parameter: ")
    assert call(running, "GET", "nfDeployments/nginx-prod/history").body == history
    assert call(running, "GET", "nfDeployments/nginx-prod/operations").body == operations
    assert call(running, "GET", "nfDeployments/other").status == 404
    assert call(running, "GET", "nfDeployments/other/history").status == 404
    world.settle()
    assert call(running, "GET", "nfDeployments/nginx-prod/status").body["status"] == (
        "INSTANTIATED"
    )


def test_a_descriptor_with_bad_well_known_defaults_is_422(client: Any) -> None:
    bad = {**NGINX_DESCRIPTOR, "defaultParameters": {"replicaCount": "two"}}

    answer = call(client, "POST", "nfDeploymentDescriptors", bad)

    assert_error(answer, 422, "ValidationError", "replicaCount: must be a whole number")


def test_parameters_that_grow_past_what_a_revision_can_store_are_422(
    running: Any, world: World
) -> None:
    answers = []
    for key in ("a", "b", "c"):  # each request is small enough; together they are not
        answer = call(
            running, "PUT", "nfDeployments/nginx-prod", {"parameters": {key: "x" * 30_000}}
        )
        answers.append(answer)
        world.settle()

    assert [a.status for a in answers] == [200, 200, 422]
    assert_error(answers[2], 422, "ValidationError", "at most 65536 fit in a revision")
    history = call(running, "GET", "nfDeployments/nginx-prod/history").body["revisions"]
    assert [r["revision"] for r in history] == [3, 2, 1]
    assert call(running, "GET", "nfDeployments/nginx-prod/status").body["status"] == "INSTANTIATED"


def test_a_whole_number_written_with_a_decimal_point_is_that_number(running: Any) -> None:
    answer = call(running, "POST", "nfDeployments/nginx-prod/scale?dryRun=true", {"replicas": 3.0})

    assert answer.status == 200, answer.body
    assert answer.body["type"] == "scale"
    assert_error(
        call(running, "POST", "nfDeployments/nginx-prod/scale", {"replicas": 3.5}),
        400,
        "BadRequest",
        "replicas",
    )


@pytest.mark.parametrize(
    "key",
    [
        {"PK": 1, "SK": 2, "GSI1PK": 3, "GSI1SK": 4},
        {"PK": {"S": "x"}, "SK": {"S": "y"}},
        {"PK": {"N": "1"}, "SK": {"S": "y"}, "GSI1PK": {"S": "a"}, "GSI1SK": {"S": "b"}},
        ["not", "a", "key"],
    ],
)
def test_a_page_token_we_did_not_hand_out_is_400_not_a_store_error(running: Any, key: Any) -> None:
    import base64
    import json

    token = base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")

    for listing in ("nfDeployments", "nfDeploymentDescriptors", "nfDeployments/nginx-prod/history"):
        answer = call(running, "GET", f"{listing}?limit=1&nextToken={token}")
        assert_error(answer, 400, "BadRequest", "nextToken")
