"""API Gateway's own answers as deployed: in the API's error shape and documented statuses,
an unknown path a 404, and a method a path does not offer reaching the app (which answers
405), as the local server does."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.cdk_template import render

DOCUMENTED = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    413: "PayloadTooLarge",
    500: "InternalError",
    503: "ServiceUnavailable",
}


@pytest.fixture(scope="module")
def definition(stack_template: dict[str, Any]) -> dict[str, Any]:
    (api,) = [
        r for r in stack_template["Resources"].values() if r["Type"] == "AWS::Serverless::Api"
    ]
    body: dict[str, Any] = api["Properties"]["DefinitionBody"]
    return body


def answer(template: str, gateway_message: str = "Gateway says no") -> Any:
    """The body API Gateway sends for a response template."""
    return json.loads(template.replace("$context.error.messageString", json.dumps(gateway_message)))


def test_gateway_responses_are_in_the_error_shape(definition: dict[str, Any]) -> None:
    responses = definition["x-amazon-apigateway-gateway-responses"]

    assert {"DEFAULT_4XX", "DEFAULT_5XX", "MISSING_AUTHENTICATION_TOKEN"} <= set(responses)
    for kind, response in responses.items():
        body = answer(response["responseTemplates"]["application/json"])
        assert set(body) == {"error", "message", "code"}, kind
        assert body["code"] == response["statusCode"], kind
        assert DOCUMENTED[body["code"]] == body["error"], kind
        assert isinstance(body["message"], str), kind


def test_unknown_path_is_404_not_found(definition: dict[str, Any]) -> None:
    missing = definition["x-amazon-apigateway-gateway-responses"]["MISSING_AUTHENTICATION_TOKEN"]

    body = answer(missing["responseTemplates"]["application/json"])

    assert missing["statusCode"] == 404
    assert body["error"] == "NotFound"
    assert "Authentication" not in body["message"]


def test_defaults_carry_the_gateways_message(definition: dict[str, Any]) -> None:
    responses = definition["x-amazon-apigateway-gateway-responses"]

    for kind, (code, error) in {
        "DEFAULT_4XX": (400, "BadRequest"),
        "DEFAULT_5XX": (500, "InternalError"),
    }.items():
        body = answer(responses[kind]["responseTemplates"]["application/json"], 'a "quoted" no')
        assert body == {"error": error, "message": 'a "quoted" no', "code": code}


def test_a_request_too_large_for_the_gateway_is_413_payload_too_large(
    definition: dict[str, Any],
) -> None:
    too_large = definition["x-amazon-apigateway-gateway-responses"]["REQUEST_TOO_LARGE"]

    body = answer(too_large["responseTemplates"]["application/json"], "Request Too Long")

    assert too_large["statusCode"] == 413
    assert body == {"error": "PayloadTooLarge", "message": "Request Too Long", "code": 413}


def test_every_path_sends_other_methods_to_the_app(definition: dict[str, Any]) -> None:
    for path, item in definition["paths"].items():
        own = [m for m in ("get", "put", "post", "delete", "patch") if m in item]
        fallback = item["x-amazon-apigateway-any-method"]
        integration = fallback["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy", path
        assert render(integration["uri"]) == render(
            item[own[0]]["x-amazon-apigateway-integration"]["uri"]
        ), path
        assert fallback["responses"], path


def test_every_method_accepts_any_media_type(definition: dict[str, Any]) -> None:
    for path, item in definition["paths"].items():
        for method in ("get", "put", "post", "delete"):
            if method in item:
                assert item[method]["consumes"] == ["*/*"], f"{method} {path}"


def test_the_stage_is_throttled_and_serves_no_other_origin(
    stack_template: dict[str, Any],
) -> None:
    (api,) = [
        r for r in stack_template["Resources"].values() if r["Type"] == "AWS::Serverless::Api"
    ]
    (setting,) = api["Properties"]["MethodSettings"]

    assert (setting["ResourcePath"], setting["HttpMethod"]) == ("/*", "*")
    assert (setting["ThrottlingRateLimit"], setting["ThrottlingBurstLimit"]) == (50, 100)
    assert "Cors" not in api["Properties"]  # CORS is off unless corsOrigin is given
    responses = api["Properties"]["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]
    assert responses["THROTTLED"]["statusCode"] == 503  # past the throttle: our 503


def test_a_configured_origin_gets_a_cors_policy() -> None:
    from infra.gateway import cors

    policy = cors("https://smo.example.net")

    assert policy["AllowOrigin"] == "'https://smo.example.net'"
    assert "Authorization" in policy["AllowHeaders"]
    assert "Prefer" in policy["AllowHeaders"]
