"""Secret parameters: marked by the descriptor's schema (``writeOnly``, ``x-o2dms-secret``)
or named as secrets (password, token, apiKey...). Their values reach the backend unchanged
and appear in no answer: not in the deployment, the list, history entries, the change's
own answer, a dry-run plan, nor a 422 message."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.domain.secrets import mask, schema_secret_paths
from tests.api_helpers import NGINX_DESCRIPTOR, call
from tests.conftest import World

DB_PASSWORD = "s3cr3t-Pa55word"  # marked writeOnly by the schema, under a neutral key
API_KEY = "ak-0123456789abcdef"  # secret by its key's name
NEW_PASSWORD = "An0ther-Pa55word"
SCHEMA = {
    "type": "object",
    "properties": {
        "db": {
            "type": "object",
            "properties": {"auth": {"type": "string", "writeOnly": True, "minLength": 12}},
        },
        "replicaCount": {"type": "integer"},
    },
}


def _everything_shown(client: Any) -> str:
    """Every answer a caller can read about the deployment, as one text."""
    base = "nfDeployments/nginx-prod"
    reads = [
        "nfDeployments",
        base,
        f"{base}/status",
        f"{base}/history",
        f"{base}/operations",
        "nfDeploymentDescriptors/nginx-chart-1.2.0",
    ]
    history = call(client, "GET", f"{base}/history").body["revisions"]
    reads += [f"{base}/history/{r['revision']}" for r in history]
    return json.dumps([call(client, "GET", path).body for path in reads])


def test_secret_values_reach_the_backend_and_no_answer(client: Any, world: World) -> None:
    descriptor = {**NGINX_DESCRIPTOR, "parameterSchema": SCHEMA}
    assert call(client, "POST", "nfDeploymentDescriptors", descriptor).status == 201
    create = {
        "name": "nginx-prod",
        "descriptorId": "nginx-chart-1.2.0",
        "parameters": {"db": {"auth": DB_PASSWORD}, "apiKey": API_KEY},
    }
    created = call(client, "POST", "nfDeployments", create)
    world.settle()
    upgrade = {"parameters": {"db": {"auth": NEW_PASSWORD}}}
    upgraded = call(client, "PUT", "nfDeployments/nginx-prod", upgrade)
    world.settle()
    planned = call(client, "PUT", "nfDeployments/nginx-prod?dryRun=true", upgrade)
    too_short = call(
        client, "PUT", "nfDeployments/nginx-prod", {"parameters": {"db": {"auth": "short-pw"}}}
    )

    assert (created.status, upgraded.status, planned.status) == (201, 200, 200)
    assert created.body["parameters"] == {"db": {"auth": "***"}, "apiKey": "***"}
    assert too_short.status == 422
    assert "db.auth" in too_short.body["message"]
    shown = json.dumps([created.body, upgraded.body, planned.body, too_short.body])
    shown += _everything_shown(client)
    for secret in (DB_PASSWORD, API_KEY, NEW_PASSWORD, "short-pw"):
        assert secret not in shown
    with world.cluster.releases() as releases:
        values = releases[("default", "nginx-prod")].current.values
    assert values["db"]["auth"] == NEW_PASSWORD  # the backend got the real value
    assert values["apiKey"] == API_KEY


def test_the_name_rule_and_schema_marks_hide_values_at_any_depth() -> None:
    paths = schema_secret_paths(SCHEMA)
    shown = mask(
        {
            "db": {"auth": "x", "host": "db"},
            "tls": {"privateKey": {"pem": "k"}},
            "auth": {"token": None},
            "users": [{"name": "a", "password": "p"}],
            "tokenizerModel": "keep?",
        },
        paths,
    )
    assert paths == ("db.auth",)
    assert shown == {
        "db": {"auth": "***", "host": "db"},
        "tls": {"privateKey": "***"},
        "auth": {"token": None},
        "users": [{"name": "a", "password": "***"}],
        "tokenizerModel": "***",  # the rule errs on the side of hiding
    }


def test_a_gitops_plan_body_carries_no_secret() -> None:
    from chalicelib.api import render
    from chalicelib.domain.ports import PlanStep
    from chalicelib.domain.states import OperationType
    from chalicelib.service.lifecycle import Planned

    release = {  # what the Flux adapter plans to write: the values inside the object
        "kind": "HelmRelease",
        "spec": {"values": {"db": {"auth": DB_PASSWORD}, "apiKey": API_KEY, "replicaCount": 2}},
        "metadata": {"annotations": {"note": f"rotated to {DB_PASSWORD}"}},
    }
    planned = Planned(
        OperationType.UPGRADE,
        2,
        "Upgraded parameters: db.auth",
        [PlanStep("Apply HelmRelease ns/nginx-prod", ("kubectl", "apply"), release)],
        secrets=(DB_PASSWORD, API_KEY),
    )

    body = render.plan("nginx-prod", planned).model_dump(by_alias=True)["plan"][0]["body"]

    assert body["spec"]["values"] == {"db": {"auth": "***"}, "apiKey": "***", "replicaCount": 2}
    assert body["metadata"]["annotations"]["note"] == "rotated to ***"


def test_argocd_refuses_secret_values_before_anything_is_stored(client: Any) -> None:
    assert call(client, "POST", "nfDeploymentDescriptors", NGINX_DESCRIPTOR).status == 201
    create = {
        "name": "nginx-argo",
        "descriptorId": "nginx-chart-1.2.0",
        "adapter": "argocd",
        "parameters": {"replicaCount": 1, "apiKey": API_KEY},
    }
    planned = call(client, "POST", "nfDeployments?dryRun=true", create)
    refused = call(client, "POST", "nfDeployments", create)

    for answer in (planned, refused):
        assert (answer.status, answer.body["error"]) == (422, "ValidationError"), answer.body
        assert answer.body["message"].startswith(
            "Adapter argocd cannot deploy secret parameter values (apiKey)"
        )
        assert "helm or flux adapter" in answer.body["message"]
        assert API_KEY not in json.dumps(answer.body)
    assert call(client, "GET", "nfDeployments/nginx-argo").status == 404
