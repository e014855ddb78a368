"""Security as deployed: who may call (a Cognito user pool on the main API, IAM on the
machine API, two public routes on both), refusals in the API's error shape, an audit trail
no function can change, the table's key used for secret parameters only with the table's
encryption context, and the settings the app reads them from."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from infra import auth
from infra.gateway import ANSWERS, ANY_METHOD, cors, gateway_responses, with_error_answers
from infra.settings import SettingsError, from_context
from tests.cdk_template import IAM_PRINCIPALS, arn_of, as_list, render, resources, statements

# Those that act on deployments (they may write any item and seal secret parameters).
DEPLOYMENT_FUNCTIONS = (
    "APIHandler",
    "RolloutFollow",
    "RolloutAbort",
    "ScheduledScale",
    "AlarmRollback",
    "WebsocketConnect",
    "WebsocketMessage",
)
FUNCTIONS = (*DEPLOYMENT_FUNCTIONS, "WebsocketDisconnect", "LiveUpdates")
PUBLIC = {("get", "/o2dms/v1/health"), ("get", "/o2dms/v1/openapi.json")}
METHODS = ("get", "put", "post", "delete", "patch", "options", "head", ANY_METHOD)
NO_CONTEXT: dict[str, object] = {}
ERROR_NAMES = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 413: "PayloadTooLarge"}


def _methods(definition: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): item[method]
        for path, item in definition["paths"].items()
        for method in METHODS
        if method in item
    }


def _answer(response: dict[str, Any]) -> Any:
    template = response["responseTemplates"]["application/json"]
    return json.loads(template.replace("$context.error.messageString", '"Gateway says no"'))


@pytest.fixture(scope="module")
def main_api(stack_template: dict[str, Any]) -> dict[str, Any]:
    (api,) = resources(stack_template, "AWS::Serverless::Api").values()
    body: dict[str, Any] = api["Properties"]["DefinitionBody"]
    return body


@pytest.fixture(scope="module")
def machine_api(stack_template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (logical_id, api)
        for logical_id, api in resources(stack_template, "AWS::ApiGateway::RestApi").items()
        if api["Properties"]["Name"] == "o2dms-dev-iam"
    ]
    return found


@pytest.fixture(scope="module")
def user_pool_id(stack_template: dict[str, Any]) -> str:
    (found,) = resources(stack_template, "AWS::Cognito::UserPool")
    return found


def _role_statements(template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    role = template["Resources"][arn_of(template["Resources"][function]["Properties"]["Role"])]
    return [
        statement
        for policy in role["Properties"]["Policies"]
        for statement in statements(policy["PolicyDocument"])
    ]


# The user pool


def test_user_pool_admits_only_users_an_administrator_creates(
    stack_template: dict[str, Any], user_pool_id: str
) -> None:
    pool = stack_template["Resources"][user_pool_id]["Properties"]
    password = pool["Policies"]["PasswordPolicy"]

    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["UsernameConfiguration"] == {"CaseSensitive": False}
    assert password["MinimumLength"] >= 14
    assert all(
        password[rule]
        for rule in ("RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols")
    )
    assert stack_template["Resources"][user_pool_id]["DeletionPolicy"] == "Delete"  # dev


def test_cli_client_has_no_secret_and_signs_in_with_password_or_srp(
    stack_template: dict[str, Any], user_pool_id: str
) -> None:
    (client,) = resources(stack_template, "AWS::Cognito::UserPoolClient").values()
    properties = client["Properties"]

    assert render(properties["UserPoolId"]) == f"${{{user_pool_id}}}"
    assert properties["GenerateSecret"] is False
    assert sorted(properties["ExplicitAuthFlows"]) == [
        "ALLOW_REFRESH_TOKEN_AUTH",
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_USER_SRP_AUTH",
    ]
    assert properties["AllowedOAuthFlowsUserPoolClient"] is False
    assert properties["PreventUserExistenceErrors"] == "ENABLED"


def test_user_pool_has_the_three_groups_the_app_grants_roles_from(
    stack_template: dict[str, Any], user_pool_id: str
) -> None:
    groups = {
        group["Properties"]["GroupName"]: group["Properties"]
        for group in resources(stack_template, "AWS::Cognito::UserPoolGroup").values()
    }

    assert set(groups) == {"o2dms-viewer", "o2dms-operator", "o2dms-admin"}
    assert all(render(g["UserPoolId"]) == f"${{{user_pool_id}}}" for g in groups.values())
    assert groups["o2dms-admin"]["Precedence"] < groups["o2dms-operator"]["Precedence"]
    assert groups["o2dms-operator"]["Precedence"] < groups["o2dms-viewer"]["Precedence"]


def test_stack_outputs_what_the_cli_needs_to_sign_in(
    stack_template: dict[str, Any], user_pool_id: str, machine_api: tuple[str, dict[str, Any]]
) -> None:
    outputs = {name: render(output["Value"]) for name, output in stack_template["Outputs"].items()}
    (client_id,) = resources(stack_template, "AWS::Cognito::UserPoolClient")
    machine_id, _ = machine_api

    assert outputs["UserPoolId"] == f"${{{user_pool_id}}}"
    assert outputs["UserPoolClientId"] == f"${{{client_id}}}"
    assert outputs["UserPoolIssuer"] == f"https://${{{user_pool_id}.ProviderURL}}"
    assert outputs["MachineEndpointURL"].startswith(f"https://${{{machine_id}}}.execute-api.")
    assert outputs["MachineExecuteApiArn"].endswith(f":${{{machine_id}}}/api/*/*")


# Authorization on the two APIs


def test_main_api_requires_a_user_pool_token_on_every_method_but_the_public_ones(
    main_api: dict[str, Any], user_pool_id: str
) -> None:
    methods = _methods(main_api)
    scheme = main_api["securityDefinitions"][auth.USER_POOL_SCHEME]

    assert methods.keys() >= PUBLIC
    assert any(method == ANY_METHOD for method, _ in methods)
    for where, method in methods.items():
        expected: list[dict[str, list[str]]] | None = (
            None if where in PUBLIC else [{auth.USER_POOL_SCHEME: []}]
        )
        assert method.get("security") == expected, where
    assert scheme["x-amazon-apigateway-authtype"] == "cognito_user_pools"
    assert render(scheme["x-amazon-apigateway-authorizer"]) == {
        "type": "cognito_user_pools",
        "providerARNs": [f"${{{user_pool_id}.Arn}}"],
        "identitySource": "method.request.header.Authorization",
    }
    assert (scheme["in"], scheme["name"]) == ("header", "Authorization")
    assert "security" not in main_api  # no API-wide requirement the public routes would inherit


def test_machine_api_requires_sigv4_on_every_method_but_the_public_ones(
    main_api: dict[str, Any], machine_api: tuple[str, dict[str, Any]]
) -> None:
    _, api = machine_api
    body = api["Properties"]["Body"]
    methods = _methods(body)

    assert methods.keys() == _methods(main_api).keys()
    assert body["securityDefinitions"] == {
        auth.IAM_SCHEME: {
            "type": "apiKey",
            "name": "Authorization",
            "in": "header",
            "x-amazon-apigateway-authtype": "awsSigv4",
        }
    }
    for where, method in methods.items():
        expected: list[dict[str, list[str]]] | None = (
            None if where in PUBLIC else [{auth.IAM_SCHEME: []}]
        )
        assert method.get("security") == expected, where
        assert render(method["x-amazon-apigateway-integration"]) == render(
            _methods(main_api)[where]["x-amazon-apigateway-integration"]
        ), where
    assert api["Properties"]["EndpointConfiguration"] == {"Types": ["REGIONAL"]}


def test_machine_api_is_deployed_throttled_and_may_invoke_the_api_handler(
    stack_template: dict[str, Any], machine_api: tuple[str, dict[str, Any]]
) -> None:
    machine_id, _ = machine_api
    (main,) = resources(stack_template, "AWS::Serverless::Api").values()
    (stage,) = resources(stack_template, "AWS::ApiGateway::Stage").values()
    (deployment_id,) = resources(stack_template, "AWS::ApiGateway::Deployment")
    permissions = [
        p["Properties"]
        for p in resources(stack_template, "AWS::Lambda::Permission").values()
        if machine_id in json.dumps(p["Properties"]["SourceArn"])
    ]
    (main_setting,) = main["Properties"]["MethodSettings"]
    (setting,) = stage["Properties"]["MethodSettings"]

    assert render(stage["Properties"]["RestApiId"]) == f"${{{machine_id}}}"
    assert render(stage["Properties"]["DeploymentId"]) == f"${{{deployment_id}}}"
    assert stage["Properties"]["StageName"] == main["Properties"]["StageName"] == "api"
    for key in ("ResourcePath", "HttpMethod", "ThrottlingRateLimit", "ThrottlingBurstLimit"):
        assert setting[key] == main_setting[key], key
    assert setting["MetricsEnabled"] is True
    assert [render(p) for p in permissions] == [
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": "${APIHandler}",
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": (
                f"arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:"
                f"${{{machine_id}}}/*/*/*"
            ),
        }
    ]
    assert not resources(stack_template, "AWS::ApiGateway::Account")  # no account-wide role


def test_refusals_are_in_the_error_shape_on_both_apis(
    main_api: dict[str, Any], machine_api: tuple[str, dict[str, Any]]
) -> None:
    expected = {
        "UNAUTHORIZED": 401,
        "INVALID_SIGNATURE": 401,
        "EXPIRED_TOKEN": 401,
        "ACCESS_DENIED": 403,
        "REQUEST_TOO_LARGE": 413,
    }
    _, machine = machine_api

    for definition in (main_api, machine["Properties"]["Body"]):
        responses = definition["x-amazon-apigateway-gateway-responses"]
        for kind, status in expected.items():
            body = _answer(responses[kind])
            assert responses[kind]["statusCode"] == status, kind
            assert body == {
                "error": ERROR_NAMES[status],
                "message": body["message"],
                "code": status,
            }
            assert isinstance(body["message"], str), kind


def test_unknown_path_is_404_on_both_apis_and_the_machine_api_names_a_missing_signature(
    main_api: dict[str, Any], machine_api: tuple[str, dict[str, Any]]
) -> None:
    _, machine = machine_api
    main_missing = main_api["x-amazon-apigateway-gateway-responses"]["MISSING_AUTHENTICATION_TOKEN"]
    machine_responses = machine["Properties"]["Body"]["x-amazon-apigateway-gateway-responses"]
    main_responses = main_api["x-amazon-apigateway-gateway-responses"]

    assert main_missing["statusCode"] == 404
    assert "SigV4" not in _answer(main_missing)["message"]
    machine_missing = machine_responses["MISSING_AUTHENTICATION_TOKEN"]
    assert machine_missing["statusCode"] == 404
    assert "not signed with SigV4" in _answer(machine_missing)["message"]
    assert {k: v for k, v in machine_responses.items() if k != "MISSING_AUTHENTICATION_TOKEN"} == {
        k: v for k, v in main_responses.items() if k != "MISSING_AUTHENTICATION_TOKEN"
    }


# What the functions may do, and are told


def test_no_function_may_update_or_delete_an_audit_row(stack_template: dict[str, Any]) -> None:
    (table_id,) = resources(stack_template, "AWS::DynamoDB::Table")

    for function in FUNCTIONS:
        found = _role_statements(stack_template, function)
        denies = [s for s in found if s["Effect"] == "Deny"]
        (deny,) = denies
        assert set(as_list(deny["Action"])) == {
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:BatchWriteItem",
        }, function
        assert render(deny["Resource"])[0] == f"${{{table_id}.Arn}}", function
        assert deny["Condition"] == {
            "ForAnyValue:StringEquals": {"dynamodb:LeadingKeys": ["AUDIT"]}
        }, function
        if function in DEPLOYMENT_FUNCTIONS:
            allowed = {
                action for s in found if s["Effect"] == "Allow" for action in as_list(s["Action"])
            }
            assert {"dynamodb:PutItem", "dynamodb:UpdateItem"} <= allowed, function


def test_functions_use_the_table_key_through_dynamodb_or_with_the_tables_context(
    stack_template: dict[str, Any],
) -> None:
    (table_id,) = resources(stack_template, "AWS::DynamoDB::Table")
    (key_id,) = resources(stack_template, "AWS::KMS::Key")

    for function in FUNCTIONS:
        kms = [
            render(s)
            for s in _role_statements(stack_template, function)
            if any(a.startswith("kms:") for a in as_list(s["Action"]))
        ]
        assert all(s["Resource"] == f"${{{key_id}.Arn}}" for s in kms), function
        assert all("Condition" in s for s in kms), function  # no unconditional use of the key
        sealings = [
            s for s in kms if "kms:EncryptionContext:o2dms:table" in s["Condition"]["StringEquals"]
        ]
        if function not in DEPLOYMENT_FUNCTIONS:  # no secret parameter ever reaches them
            (through_table,) = kms
            assert sealings == [], function
            assert set(through_table["Condition"]["StringEquals"]) == {"kms:ViaService"}
            continue
        (sealing,) = sealings
        assert sorted(as_list(sealing["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
        assert sealing["Condition"] == {
            "StringEquals": {"kms:EncryptionContext:o2dms:table": f"${{{table_id}}}"}
        }
        (through_table,) = [s for s in kms if s is not sealing]
        assert through_table["Condition"] == {
            "StringEquals": {"kms:ViaService": "dynamodb.${AWS::Region}.${AWS::URLSuffix}"}
        }


def test_functions_are_told_how_callers_are_authenticated_and_where_their_keys_are(
    stack_template: dict[str, Any],
) -> None:
    (key_id,) = resources(stack_template, "AWS::KMS::Key")
    (secret_id,) = resources(stack_template, "AWS::SecretsManager::Secret")
    secret = stack_template["Resources"][secret_id]["Properties"]

    for function in FUNCTIONS:
        variables = render(
            stack_template["Resources"][function]["Properties"]["Environment"]["Variables"]
        )
        assert variables["O2DMS_AUTH"] == "gateway", function
        assert json.loads(variables["O2DMS_IAM_GROUPS"]) == IAM_PRINCIPALS, function
        assert variables["O2DMS_SECRETS_KEY_ARN"] == f"${{{key_id}.Arn}}", function
        assert variables["O2DMS_PAGE_TOKEN_KEY"] == (
            f"{{{{resolve:secretsmanager:${{{secret_id}}}:SecretString:::}}}}"
        ), function
    assert secret["GenerateSecretString"]["PasswordLength"] >= 32


# The definitions, built directly


def _definition() -> dict[str, Any]:
    integration = {"type": "aws_proxy", "uri": "handler"}
    return {
        "paths": {
            "/o2dms/v1/health": {"get": {"x-amazon-apigateway-integration": integration}},
            "/o2dms/v1/nfDeployments": {
                "get": {"x-amazon-apigateway-integration": integration},
                "post": {"x-amazon-apigateway-integration": integration},
            },
        }
    }


def test_with_user_pool_protects_all_but_public_routes_and_leaves_its_input_alone() -> None:
    given = with_error_answers(_definition())
    before = json.dumps(given, sort_keys=True)

    protected = auth.with_user_pool(given, user_pool_arn="arn:pool")

    assert json.dumps(given, sort_keys=True) == before
    secured = {where for where, m in _methods(protected).items() if "security" in m}
    assert secured == {
        ("get", "/o2dms/v1/nfDeployments"),
        ("post", "/o2dms/v1/nfDeployments"),
        (ANY_METHOD, "/o2dms/v1/nfDeployments"),
        (ANY_METHOD, "/o2dms/v1/health"),  # only GET is public
    }
    authorizer = protected["securityDefinitions"]["o2dms-users"]["x-amazon-apigateway-authorizer"]
    assert authorizer["providerARNs"] == ["arn:pool"]


def test_with_iam_signs_all_but_public_routes_and_names_a_missing_signature() -> None:
    protected = auth.with_iam(with_error_answers(_definition()))

    assert _methods(protected)[("get", "/o2dms/v1/health")].get("security") is None
    assert _methods(protected)[("post", "/o2dms/v1/nfDeployments")]["security"] == [{"sigv4": []}]
    missing = protected["x-amazon-apigateway-gateway-responses"]["MISSING_AUTHENTICATION_TOKEN"]
    assert "SigV4" in _answer(missing)["message"]
    assert auth.is_public("GET", "/o2dms/v1/openapi.json")
    assert not auth.is_public("POST", "/o2dms/v1/health")


def test_gateway_answers_for_refusals_use_the_apps_error_names() -> None:
    for kind, status in {
        "UNAUTHORIZED": 401,
        "ACCESS_DENIED": 403,
        "REQUEST_TOO_LARGE": 413,
    }.items():
        assert (ANSWERS[kind].status, ANSWERS[kind].error) == (status, ERROR_NAMES[status])


def test_cors_allows_the_authorization_header_and_no_actor_header() -> None:
    headers = cors("https://smo.example.net")["AllowHeaders"].strip("'").split(",")

    assert "Authorization" in headers
    assert "X-O2DMS-Actor" not in headers


def test_with_a_cors_origin_a_browser_can_read_the_gateways_refusals() -> None:
    with_origin = gateway_responses("https://smo.example.net")
    without = gateway_responses()

    assert with_origin["UNAUTHORIZED"]["responseParameters"] == {
        "gatewayresponse.header.Access-Control-Allow-Origin": "'https://smo.example.net'"
    }
    assert "responseParameters" not in without["UNAUTHORIZED"]


def test_machine_api_construct_makes_no_account_wide_role_and_one_named_output() -> None:
    from infra import jsii_quiet

    jsii_quiet.silence(os.environ)
    import aws_cdk as cdk
    from aws_cdk import assertions

    from infra.machine_api import MachineApi

    stack = cdk.Stack(cdk.App(), "dev")
    MachineApi(
        stack,
        "Machine",
        settings=from_context(NO_CONTEXT.get),
        definition=auth.with_iam(with_error_answers(_definition())),
        handler_name="o2dms-dev",
    )
    template = assertions.Template.from_stack(stack).to_json()

    kinds = sorted(r["Type"] for r in template["Resources"].values())
    assert kinds == [
        "AWS::ApiGateway::Deployment",
        "AWS::ApiGateway::RestApi",
        "AWS::ApiGateway::Stage",
        "AWS::Lambda::Permission",
    ]
    assert "Outputs" not in template  # the stack names the URL output itself


# Settings


@pytest.mark.parametrize(
    "given",
    [
        {"arn:aws:iam::123456789012:role/smo": ["o2dms-operator:production", "o2dms-viewer"]},
        '{"arn:aws:iam::123456789012:role/smo": ["o2dms-operator:production", "o2dms-viewer"]}',
    ],
)
def test_settings_read_iam_principals_from_an_object_or_json_text(given: object) -> None:
    settings = from_context({"iamPrincipals": given}.get)

    assert settings.iam_principals == (
        ("arn:aws:iam::123456789012:role/smo", ("o2dms-operator:production", "o2dms-viewer")),
    )
    assert json.loads(settings.iam_groups_json) == {
        "arn:aws:iam::123456789012:role/smo": ["o2dms-operator:production", "o2dms-viewer"]
    }


def test_settings_default_to_no_iam_principals_and_a_machine_api() -> None:
    settings = from_context(NO_CONTEXT.get)

    assert settings.iam_principals == ()
    assert settings.iam_groups_json == "{}"
    assert settings.machine_api is True
    assert from_context({"machineApi": "false"}.get).machine_api is False
    assert from_context({"machineApi": False}.get).machine_api is False


def test_settings_prod_keeps_its_users() -> None:
    dev, prod = from_context({"stage": "dev"}.get), from_context({"stage": "prod"}.get)

    assert prod.user_pool_deletion_protection
    assert not dev.user_pool_deletion_protection
    assert prod.user_pool_removal != dev.user_pool_removal


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"iamPrincipals": "not json"}, "not JSON"),
        ({"iamPrincipals": '["arn:aws:iam::123456789012:role/smo"]'}, "must be an object"),
        ({"iamPrincipals": {"smo": ["o2dms-viewer"]}}, "is not an IAM role ARN"),
        (
            {"iamPrincipals": {"arn:aws:iam::123456789012:role/team/smo": ["o2dms-viewer"]}},
            "without a path",
        ),
        ({"iamPrincipals": {"arn:aws:iam::123456789012:role/smo": []}}, "non-empty list"),
        ({"iamPrincipals": {"arn:aws:iam::123456789012:role/smo": ["admin"]}}, "'admin'"),
        (
            {"iamPrincipals": {"arn:aws:iam::123456789012:role/smo": ["o2dms-operator:"]}},
            "o2dms-operator:",
        ),
        ({"machineApi": "perhaps"}, "true or false"),
    ],
)
def test_settings_refuse_iam_principals_the_app_could_not_match(
    context: dict[str, object], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        from_context(context.get)
