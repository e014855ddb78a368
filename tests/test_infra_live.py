"""Live progress as deployed: the WebSocket API Chalice packages, throttled and announced as
``wss://``; the table's stream feeding the live-updates function, filtered to the records
it acts on and unable to stall on one; who may post to connections and read the stream; and
what the live functions are told."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.adapters import dynamodb_live, dynamodb_stream
from chalicelib.api.live import STREAM_ARN_PLACEHOLDER
from infra import live, permissions, table
from tests.cdk_template import (
    ROOT,
    arn_of,
    as_list,
    policy_documents,
    render,
    resources,
    statements,
)

LIVE = ("WebsocketConnect", "WebsocketMessage", "WebsocketDisconnect", "LiveUpdates")
ROUTES = {
    "$connect": "WebsocketConnect",
    "$default": "WebsocketMessage",
    "$disconnect": "WebsocketDisconnect",
}
POSTERS = {"WebsocketMessage", "LiveUpdates"}
REGION_ACCOUNT = "${AWS::Region}:${AWS::AccountId}"
ENDPOINT = "${WebsocketAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api"
CONNECTIONS = (
    f"arn:${{AWS::Partition}}:execute-api:{REGION_ACCOUNT}:${{WebsocketAPI}}"
    "/api/POST/@connections/*"
)
STREAM_READ = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"}
WRITES = {
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
}
DEPLOYMENT_ONLY = ("events:", "ssm:", "secretsmanager:", "sts:", "eks:", "states:", "scheduler:")


@pytest.fixture(scope="module")
def table_id(stack_template: dict[str, Any]) -> str:
    (found,) = resources(stack_template, "AWS::DynamoDB::Table")
    return found


@pytest.fixture(scope="module")
def stream_event(stack_template: dict[str, Any]) -> dict[str, Any]:
    events = stack_template["Resources"]["LiveUpdates"]["Properties"]["Events"]
    (event,) = [e for e in events.values() if e["Type"] == "DynamoDB"]
    properties: dict[str, Any] = event["Properties"]
    return properties


def _allowed(template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    role = template["Resources"][arn_of(template["Resources"][function]["Properties"]["Role"])]
    return [
        statement
        for policy in role["Properties"]["Policies"]
        for statement in statements(policy["PolicyDocument"])
        if statement["Effect"] == "Allow"
    ]


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resources(template, "AWS::Serverless::Function")


def _granting(template: dict[str, Any], actions: set[str]) -> dict[str, list[Any]]:
    """Function -> the resources of its statements that allow any of ``actions``."""
    found: dict[str, list[Any]] = {}
    for function in _functions(template):
        on = [
            render(s["Resource"])
            for s in _allowed(template, function)
            if set(as_list(s["Action"])) & actions
        ]
        if on:
            found[function] = on
    return found


# ------------------------------------------------------------------- the WebSocket API


def test_websocket_api_routes_each_event_to_its_handler(stack_template: dict[str, Any]) -> None:
    (api_id,) = resources(stack_template, "AWS::ApiGatewayV2::Api")
    api = stack_template["Resources"][api_id]["Properties"]
    integrations = resources(stack_template, "AWS::ApiGatewayV2::Integration")
    routes = {
        r["Properties"]["RouteKey"]: render(r["Properties"]["Target"])
        for r in resources(stack_template, "AWS::ApiGatewayV2::Route").values()
    }

    assert api_id == live.WEBSOCKET_API
    assert api["ProtocolType"] == "WEBSOCKET"
    assert set(routes) == set(ROUTES)
    for key, function in ROUTES.items():
        integration_id = routes[key].removeprefix("integrations/${").removesuffix("}")
        uri = json.dumps(integrations[integration_id]["Properties"]["IntegrationUri"])
        assert integrations[integration_id]["Properties"]["IntegrationType"] == "AWS_PROXY"
        assert f'"Ref": "{function}"' in uri, key
    # A Lambda proxy's answer to $connect (its Sec-WebSocket-Protocol header among it) is
    # the handshake's; route responses only carry messages on an open connection.
    assert not resources(stack_template, "AWS::ApiGatewayV2::RouteResponse")


def test_websocket_stage_is_throttled_as_the_rest_api(stack_template: dict[str, Any]) -> None:
    (stage,) = resources(stack_template, "AWS::ApiGatewayV2::Stage").values()
    (rest,) = resources(stack_template, "AWS::Serverless::Api").values()
    (method,) = rest["Properties"]["MethodSettings"]
    routes = stage["Properties"]["DefaultRouteSettings"]

    assert render(stage["Properties"]["ApiId"]) == f"${{{live.WEBSOCKET_API}}}"
    assert stage["Properties"]["StageName"] == rest["Properties"]["StageName"] == "api"
    assert routes["ThrottlingRateLimit"] == method["ThrottlingRateLimit"]
    assert routes["ThrottlingBurstLimit"] == method["ThrottlingBurstLimit"]
    assert routes["DetailedMetricsEnabled"] is True


def test_stack_outputs_the_wss_url(stack_template: dict[str, Any]) -> None:
    outputs = {name: render(output["Value"]) for name, output in stack_template["Outputs"].items()}

    assert outputs["WebSocketURL"] == f"wss://{ENDPOINT}"


def test_live_functions_are_told_where_to_post_and_whose_tokens_to_accept(
    stack_template: dict[str, Any],
) -> None:
    (pool_id,) = resources(stack_template, "AWS::Cognito::UserPool")
    (client_id,) = resources(stack_template, "AWS::Cognito::UserPoolClient")
    functions = _functions(stack_template)

    for function in LIVE:
        variables = render(functions[function]["Properties"]["Environment"]["Variables"])
        assert variables["O2DMS_WS_ENDPOINT"] == f"https://{ENDPOINT}", function
        assert variables["O2DMS_USER_POOL_ISSUER"] == f"https://${{{pool_id}.ProviderURL}}"
        assert variables["O2DMS_USER_POOL_CLIENT_ID"] == f"${{{client_id}}}", function
    for function in set(functions) - set(LIVE):
        variables = functions[function]["Properties"]["Environment"]["Variables"]
        assert "O2DMS_WS_ENDPOINT" not in variables, function


def test_route_handlers_answer_within_api_gateways_29_seconds(
    stack_template: dict[str, Any],
) -> None:
    functions = _functions(stack_template)

    for function in ROUTES.values():
        assert functions[function]["Properties"]["Timeout"] <= 29, function


# ------------------------------------------------------------------------- the stream


def test_table_streams_new_and_old_images_as_table_json_says(
    stack_template: dict[str, Any], table_id: str
) -> None:
    definition = json.loads((ROOT / "infra" / "table.json").read_text())
    stream = stack_template["Resources"][table_id]["Properties"]["StreamSpecification"]

    assert definition["StreamSpecification"]["StreamEnabled"] is True
    assert stream == {"StreamViewType": definition["StreamSpecification"]["StreamViewType"]}
    assert stream == {"StreamViewType": "NEW_AND_OLD_IMAGES"}  # the handler reads both


def test_table_json_without_a_stream_makes_none_and_an_unknown_view_is_refused() -> None:
    assert table.stream_view({}) is None
    assert table.stream_view({"StreamSpecification": {"StreamEnabled": False}}) is None
    with pytest.raises(ValueError, match="StreamViewType"):
        table.stream_view({"StreamSpecification": {"StreamEnabled": True}})


def test_live_updates_reads_the_tables_stream_not_the_placeholder(
    stack_template: dict[str, Any], stream_event: dict[str, Any], table_id: str
) -> None:
    assert render(stream_event["Stream"]) == f"${{{table_id}.StreamArn}}"
    assert STREAM_ARN_PLACEHOLDER not in json.dumps(stack_template)
    assert stream_event["StartingPosition"] == "LATEST"


def test_a_failing_record_cannot_hold_the_shard_forever(stream_event: dict[str, Any]) -> None:
    assert stream_event["BisectBatchOnFunctionError"] is True
    assert 0 <= stream_event["MaximumRetryAttempts"] <= 10
    assert 60 <= stream_event["MaximumRecordAgeInSeconds"] <= 3600


def _allows(rule: Any, value: Any) -> bool:
    if isinstance(rule, dict):
        return isinstance(value, str) and value.startswith(rule["prefix"])
    return bool(rule == value)


def _matches(pattern: dict[str, Any], record: dict[str, Any]) -> bool:
    """Lambda's event filtering, for the rules the stack uses: nested fields, lists of
    accepted values, and ``prefix``."""
    for key, rule in pattern.items():
        value = record.get(key)
        if isinstance(rule, dict):
            if not isinstance(value, dict) or not _matches(rule, value):
                return False
        elif not any(_allows(r, value) for r in rule):
            return False
    return True


def _record(event: str, pk: str, sk: str) -> dict[str, Any]:
    return {"eventName": event, "dynamodb": {"Keys": {"PK": {"S": pk}, "SK": {"S": sk}}}}


@pytest.mark.parametrize(
    ("record", "invoked"),
    [
        (_record("INSERT", "DEP#d1", "OP#0001"), True),
        (_record("MODIFY", "DEP#d1", "OP#0001"), True),
        (_record("REMOVE", "DEP#d1", "OP#0001"), False),
        (_record("INSERT", "LIVE#d1", "CONN#c1"), True),
        (_record("INSERT", "LIVE#*", "CONN#c1"), True),
        (_record("MODIFY", "LIVE#d1", "CONN#c1"), False),
        (_record("REMOVE", "LIVE#d1", "CONN#c1"), False),
        (_record("INSERT", "CONN#c1", "CONN"), False),
        (_record("MODIFY", "DEP#d1", "REV~"), False),
        (_record("INSERT", "DEP#d1", "REV#0000000001"), False),
        (_record("INSERT", "AUDIT", "2026-01-01T00:00:00Z#a1"), False),
    ],
)
def test_stream_filter_invokes_the_function_only_for_what_it_acts_on(
    stream_event: dict[str, Any], record: dict[str, Any], invoked: bool
) -> None:
    patterns = [json.loads(f["Pattern"]) for f in stream_event["FilterCriteria"]["Filters"]]

    assert any(_matches(p, record) for p in patterns) is invoked


def test_stream_filter_and_follower_partitions_use_the_apps_keys() -> None:
    assert live.OPERATION_SK_PREFIX == dynamodb_stream.OPERATION_SK_PREFIX
    assert live.SUBSCRIPTION_PK_PREFIX == dynamodb_live.SUBSCRIPTION_PK_PREFIX
    assert set(permissions.FOLLOWER_PARTITIONS) == {
        f"{dynamodb_live.CONNECTION_PK_PREFIX}*",
        f"{dynamodb_live.SUBSCRIPTION_PK_PREFIX}*",
    }


# ----------------------------------------------------------------------- permissions


def test_only_posting_functions_manage_connections_and_only_this_stages(
    stack_template: dict[str, Any],
) -> None:
    roles = {
        arn_of(function["Properties"]["Role"]): name
        for name, function in _functions(stack_template).items()
    }
    holders = {
        where.split("/")[0]
        for where, document in policy_documents(stack_template)
        for statement in statements(document)
        if "execute-api:ManageConnections" in as_list(statement["Action"])
    }
    granting = _granting(stack_template, {"execute-api:ManageConnections"})

    assert {roles.get(holder, holder) for holder in holders} == POSTERS
    assert set(granting) == POSTERS
    assert all(on == [CONNECTIONS] for on in granting.values())


def test_only_live_updates_reads_the_stream_and_only_this_tables(
    stack_template: dict[str, Any], table_id: str
) -> None:
    reading = _granting(stack_template, STREAM_READ)
    listing = _granting(stack_template, {"dynamodb:ListStreams"})

    assert reading == {"LiveUpdates": [f"${{{table_id}.StreamArn}}"]}
    assert listing == {"LiveUpdates": [f"${{{table_id}.Arn}}/stream/*"]}


def test_functions_that_do_not_act_on_deployments_write_only_their_own_items(
    stack_template: dict[str, Any], table_id: str
) -> None:
    expected = {
        "WebsocketDisconnect": {
            "dynamodb:BatchWriteItem": ["CONN#*", "LIVE#*"],
            "dynamodb:UpdateItem": ["CONN#*", "LIVE#*"],
        },
        "LiveUpdates": {
            "dynamodb:BatchWriteItem": ["CONN#*", "LIVE#*"],
            "dynamodb:UpdateItem": ["CONN#*", "LIVE#*"],  # a snapshot sent is marked
            "dynamodb:PutItem": ["AUDIT"],  # a refused snapshot is recorded
        },
    }
    for function, writes in expected.items():
        found = _allowed(stack_template, function)
        bounded = {
            action: s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
            for s in found
            for action in as_list(s["Action"])
            if action in WRITES
        }
        actions = {action for s in found for action in as_list(s["Action"])}
        assert bounded == writes, function
        assert all(
            render(s["Resource"]) == f"${{{table_id}.Arn}}"
            for s in found
            if set(as_list(s["Action"])) & WRITES
        ), function
        assert not [a for a in actions if a.startswith(DEPLOYMENT_ONLY)], function
        sealing = [s for s in found if "kms:EncryptionContext:o2dms:table" in json.dumps(s)]
        assert sealing == [], function


def test_websocket_handlers_that_read_deployments_may_settle_them(
    stack_template: dict[str, Any],
) -> None:
    for function in ("WebsocketConnect", "WebsocketMessage"):
        actions = {a for s in _allowed(stack_template, function) for a in as_list(s["Action"])}
        assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "events:PutEvents"} <= actions
        assert "ssm:GetParameter" in actions, function
        assert "states:StartExecution" not in actions, function
    message = _allowed(stack_template, "WebsocketMessage")
    (forgetting,) = [s for s in message if "dynamodb:BatchWriteItem" in as_list(s["Action"])]
    assert forgetting["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["CONN#*", "LIVE#*"]}
    }
    connect = _allowed(stack_template, "WebsocketConnect")
    assert not any("dynamodb:BatchWriteItem" in as_list(s["Action"]) for s in connect)
