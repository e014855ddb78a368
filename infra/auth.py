"""Who may call the API, as API Gateway enforces it: the groups, the public routes, and the
authorization each REST API's OpenAPI definition carries.

API Gateway checks credentials before the app runs, and a method carries one kind of
authorization only, so the service has two REST APIs built from the same definition:

- the main API: a Cognito user pool authorizer (people, with the CLI's ID token);
- the machine API: IAM (SigV4-signed requests from roles named in ``iamPrincipals``).

On both, ``PUBLIC`` routes need no credentials; every other method, including the ``ANY``
fallback that ``gateway.with_error_answers`` adds, does. The app then reads the principal
from the request context and decides what its groups allow.

A request without credentials on a known path: the user pool authorizer answers
``UNAUTHORIZED`` (401). On an IAM API, API Gateway cannot tell an unsigned request from a
path it has no resource for (both are ``MISSING_AUTHENTICATION_TOKEN``): the machine API
answers 404 with a message naming both causes, since a signed caller meets it only on an
unknown path.
"""

from __future__ import annotations

import copy
from typing import Any

from infra.gateway import ANY_METHOD, GATEWAY_RESPONSES, GatewayAnswer

# Each group grants its role everywhere; a scoped one (``o2dms-operator:production``) is made
# by operators for one namespace, not by the stack.
GROUP_PREFIX = "o2dms-"
ROLES = ("viewer", "operator", "admin")
GROUPS = tuple(f"{GROUP_PREFIX}{role}" for role in ROLES)

PUBLIC = frozenset({("get", "/o2dms/v1/health"), ("get", "/o2dms/v1/openapi.json")})
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", ANY_METHOD)

SECURITY_DEFINITIONS = "securityDefinitions"
USER_POOL_SCHEME = "o2dms-users"
IAM_SCHEME = "sigv4"
AUTHORIZATION_HEADER = "Authorization"

MACHINE_NO_ROUTE = GatewayAnswer(
    404,
    "NotFound",
    "No such resource in this API, or the request is not signed with SigV4 "
    "(see /o2dms/v1/openapi.json)",
)


def user_pool_scheme(user_pool_arn: str) -> dict[str, Any]:
    """A ``cognito_user_pools`` authorizer reading the ID token from ``Authorization``."""
    return {
        "type": "apiKey",
        "name": AUTHORIZATION_HEADER,
        "in": "header",
        "x-amazon-apigateway-authtype": "cognito_user_pools",
        "x-amazon-apigateway-authorizer": {
            "type": "cognito_user_pools",
            "providerARNs": [user_pool_arn],
            "identitySource": f"method.request.header.{AUTHORIZATION_HEADER}",
        },
    }


def iam_scheme() -> dict[str, Any]:
    """SigV4 (``AWS_IAM``): the caller's IAM identity must allow ``execute-api:Invoke``."""
    return {
        "type": "apiKey",
        "name": AUTHORIZATION_HEADER,
        "in": "header",
        "x-amazon-apigateway-authtype": "awsSigv4",
    }


def is_public(method: str, path: str) -> bool:
    return (method.lower(), path) in PUBLIC


def protected_methods(definition: dict[str, Any]) -> list[tuple[str, str]]:
    """Every ``(method, path)`` of ``definition`` that needs credentials."""
    return [
        (method, path)
        for path, item in definition["paths"].items()
        for method in METHODS
        if method in item and not is_public(method, path)
    ]


def _with_scheme(definition: dict[str, Any], name: str, scheme: dict[str, Any]) -> dict[str, Any]:
    updated = copy.deepcopy(definition)
    updated[SECURITY_DEFINITIONS] = {**updated.get(SECURITY_DEFINITIONS, {}), name: scheme}
    for method, path in protected_methods(updated):
        updated["paths"][path][method]["security"] = [{name: []}]
    return updated


def with_user_pool(definition: dict[str, Any], *, user_pool_arn: str) -> dict[str, Any]:
    """The main API: every method but the public ones needs a token of the user pool."""
    return _with_scheme(definition, USER_POOL_SCHEME, user_pool_scheme(user_pool_arn))


def with_iam(definition: dict[str, Any]) -> dict[str, Any]:
    """The machine API: every method but the public ones needs a SigV4 signature. Its
    ``MISSING_AUTHENTICATION_TOKEN`` answer names an unsigned request as a possible cause."""
    updated = _with_scheme(definition, IAM_SCHEME, iam_scheme())
    responses = updated.get(GATEWAY_RESPONSES)
    if responses is not None and "MISSING_AUTHENTICATION_TOKEN" in responses:
        responses["MISSING_AUTHENTICATION_TOKEN"] = {
            **responses["MISSING_AUTHENTICATION_TOKEN"],
            "statusCode": MACHINE_NO_ROUTE.status,
            "responseTemplates": {"application/json": MACHINE_NO_ROUTE.template()},
        }
    return updated
