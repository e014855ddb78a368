"""The OpenAPI document: served, valid OpenAPI 3.1, covering every route the app has, and
strict enough that a wrong answer fails the per-response check."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from openapi_spec_validator import validate

from app import app
from tests.openapi_check import check_answer


def test_openapi_document_is_served_and_valid(client: Any) -> None:
    response = client.http.get("/o2dms/v1/openapi.json")

    document = json.loads(response.body)
    assert response.status_code == 200
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_openapi_document_covers_every_route(client: Any) -> None:
    document = json.loads(client.http.get("/o2dms/v1/openapi.json").body)
    documented = {
        (re.sub(r"\{[^}]+\}", "{}", path), method.upper())
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }

    served = {
        (re.sub(r"\{[^}]+\}", "{}", path), method)
        for path, methods in app.routes.items()
        for method in methods
        if "openapi" not in path  # the document itself; the health check is in it
    }

    assert served == documented


def test_openapi_check_rejects_a_body_that_breaks_the_document() -> None:
    wrong = {"deploymentId": "x", "status": "SOMETIMES"}

    with pytest.raises(AssertionError, match="does not match the document"):
        check_answer("GET", "/o2dms/v1/nfDeployments/x/status", 200, wrong)
    with pytest.raises(AssertionError, match="not documented"):
        check_answer("GET", "/o2dms/v1/nfDeployments/x/status", 201, {})


def test_the_health_check_is_documented_and_answers_as_documented(client: Any) -> None:
    from tests.api_helpers import call

    answer = call(client, "GET", "/o2dms/v1/health")  # checked against the document

    assert (answer.status, answer.body) == (200, {"status": "ok"})


def test_every_link_leads_to_a_documented_operation_with_its_path_parameters() -> None:
    from chalicelib.api.openapi import document_dict

    document = document_dict()
    links = [
        link
        for item in document["paths"].values()
        for method, operation in item.items()
        if method != "parameters"
        for answer in operation["responses"].values()
        for link in answer.get("links", {}).values()
    ]
    assert len(links) >= 15
    for link in links:
        path, method = link["operationRef"].removeprefix("#/paths/").rsplit("/", 1)
        path = path.replace("~1", "/").replace("~0", "~")
        assert method in document["paths"][path], link
        assert set(link["parameters"]) == set(re.findall(r"\{([^}]+)\}", path)), link
