"""API Gateway's own answers in the API's error shape ``{"error", "message", "code"}``.

API Gateway answers some requests without calling the app: a path it has no resource for
(``MISSING_AUTHENTICATION_TOKEN``, a 403 ``{"message": "Missing Authentication Token"}`` by
default), a request its authorizer refuses (``UNAUTHORIZED``, ``ACCESS_DENIED``, and for
SigV4 ``INVALID_SIGNATURE``, ``EXPIRED_TOKEN``), a body over its 10 MB, a throttled request,
a Lambda that timed out or failed. Its gateway responses are set here to the API's
documented statuses and body (401 ``Unauthorized`` and 403 ``Forbidden`` as the app answers
them). They go into the REST API's OpenAPI definition
(``x-amazon-apigateway-gateway-responses``), so a change to them is part of the definition
and is redeployed with it.

A method a path does not offer is no "missing route" for the app: every path also gets an
``ANY`` method (API Gateway prefers a path's own methods to it) that calls the app, which
answers 405 ``MethodNotAllowed`` with ``Allow``, as the local server does.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.settings import StageSettings

INTEGRATION = "x-amazon-apigateway-integration"
ANY_METHOD = "x-amazon-apigateway-any-method"
GATEWAY_RESPONSES = "x-amazon-apigateway-gateway-responses"
# API Gateway's own message for the response, as a quoted JSON string.
GATEWAY_MESSAGE = "$context.error.messageString"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")


@dataclass(frozen=True, slots=True)
class GatewayAnswer:
    status: int
    error: str
    message: str | None = None  # None: API Gateway's own message

    def template(self) -> str:
        message = json.dumps(self.message) if self.message is not None else GATEWAY_MESSAGE
        return f'{{"error":"{self.error}","message":{message},"code":{self.status}}}'


NO_ROUTE = GatewayAnswer(
    404, "NotFound", "No such resource in this API (see /o2dms/v1/openapi.json)"
)
ANSWERS: dict[str, GatewayAnswer] = {
    "MISSING_AUTHENTICATION_TOKEN": NO_ROUTE,  # no resource for the path
    "RESOURCE_NOT_FOUND": GatewayAnswer(404, "NotFound"),
    "UNSUPPORTED_MEDIA_TYPE": GatewayAnswer(400, "BadRequest"),
    "REQUEST_TOO_LARGE": GatewayAnswer(413, "PayloadTooLarge"),
    # No credentials, or a token the user pool authorizer refuses (expired, forged).
    "UNAUTHORIZED": GatewayAnswer(401, "Unauthorized"),
    # SigV4: the signature does not match, or its session token has expired.
    "INVALID_SIGNATURE": GatewayAnswer(401, "Unauthorized"),
    "EXPIRED_TOKEN": GatewayAnswer(401, "Unauthorized"),
    # The caller's IAM policy does not allow execute-api:Invoke on the method.
    "ACCESS_DENIED": GatewayAnswer(403, "Forbidden"),
    "THROTTLED": GatewayAnswer(503, "ServiceUnavailable", "Too many requests; retry later"),
    "QUOTA_EXCEEDED": GatewayAnswer(503, "ServiceUnavailable", "Too many requests; retry later"),
    "INTEGRATION_TIMEOUT": GatewayAnswer(
        503, "ServiceUnavailable", "The request took too long; see the operation's status"
    ),
    "DEFAULT_4XX": GatewayAnswer(400, "BadRequest"),
    "DEFAULT_5XX": GatewayAnswer(500, "InternalError"),
}


def throttling(settings: StageSettings) -> list[dict[str, Any]]:
    """The stage's throttle for every method (API Gateway answers 429 past it, which the
    gateway responses above turn into 503 ``ServiceUnavailable``), with its metrics on."""
    return [
        {
            "ResourcePath": "/*",
            "HttpMethod": "*",
            "ThrottlingRateLimit": settings.throttle_rate,
            "ThrottlingBurstLimit": settings.throttle_burst,
            "MetricsEnabled": True,
        }
    ]


def cors(origin: str) -> dict[str, Any]:
    """The CORS policy for ``origin``, set only when one is configured: by default no
    browser on another origin is served."""
    return {
        "AllowOrigin": f"'{origin}'",
        "AllowMethods": "'GET,POST,PUT,DELETE,OPTIONS'",
        "AllowHeaders": "'Content-Type,Authorization,Prefer'",
        "MaxAge": "'600'",
    }


def gateway_responses(cors_origin: str | None = None) -> dict[str, Any]:
    """The ``x-amazon-apigateway-gateway-responses`` extension for ``ANSWERS``. With a CORS
    origin, they carry ``Access-Control-Allow-Origin`` too, so a browser can read a 401."""
    headers = (
        {"gatewayresponse.header.Access-Control-Allow-Origin": f"'{cors_origin}'"}
        if cors_origin
        else {}
    )
    return {
        kind: {
            "statusCode": answer.status,
            "responseTemplates": {"application/json": answer.template()},
            **({"responseParameters": dict(headers)} if headers else {}),
        }
        for kind, answer in ANSWERS.items()
    }


def with_error_answers(
    definition: dict[str, Any], *, cors_origin: str | None = None
) -> dict[str, Any]:
    """The REST API's OpenAPI definition with the gateway responses and, on every path, an
    ``ANY`` method calling the same function as the path's own methods."""
    updated = copy.deepcopy(definition)
    updated[GATEWAY_RESPONSES] = gateway_responses(cors_origin)
    for item in updated["paths"].values():
        integration = next(
            (item[m][INTEGRATION] for m in _METHODS if m in item and INTEGRATION in item[m]),
            None,
        )
        if integration is not None:
            item[ANY_METHOD] = {
                "responses": {"405": {"description": "The path does not offer the method"}},
                INTEGRATION: copy.deepcopy(integration),
            }
    return updated
