"""Live progress in AWS: the WebSocket API Chalice packages from ``app.py``'s ``on_ws_*``
handlers, and the table stream that feeds the live-updates function.

``chalice package`` makes the API (``WebsocketAPI``: routes ``$connect``, ``$default``,
``$disconnect``, their Lambda proxy integrations and invoke permissions, a deployment, the
stage ``WebsocketAPIStage``). The stack only adjusts it: the stage's throttle, and the
functions' settings. API Gateway serves a WebSocket API over TLS only (``wss://``); there is
no ``ws://`` endpoint to switch off.

No route response is configured on ``$connect``. With a Lambda proxy integration, API
Gateway takes the handshake's answer (its status and headers, ``Sec-WebSocket-Protocol``
among them) from the function's response; a route response ("two-way communication") only
matters for messages sent back on an open connection, which ``$connect`` has not got yet.
The API Gateway guide's subprotocol example answers the header from a proxy integration the
same way, and an AWS sample that does so for browsers defines no route response either.

Chalice needs the stream's ARN when the app is packaged, before the table exists, so
``app.py`` names a placeholder and the stack replaces it with the table's stream here, with
a filter so the function runs only for the records it acts on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aws_cdk import ArnFormat, Aws, CfnResource, Fn, Stack
from constructs import Construct

from infra.settings import StageSettings

WEBSOCKET_API = "WebsocketAPI"  # logical ids as ``chalice package`` gives them
WEBSOCKET_STAGE = "WebsocketAPIStage"
# Keys the live-updates function acts on (chalicelib/adapters/dynamodb_stream.py): an
# operation's item, whatever changed in it; a new subscription, owed its snapshot.
OPERATION_SK_PREFIX = "OP#"
SUBSCRIPTION_PK_PREFIX = "LIVE#"
# A record the function keeps failing on must not hold its shard up: the batch is split
# until the bad record is alone, retried twice, and dropped. A progress message older than
# five minutes is not worth sending late either: the follower has had newer ones, and a
# reconnect's snapshot gives the current state.
STREAM_RETRY_ATTEMPTS = 2
STREAM_RECORD_MAX_AGE_SECONDS = 300


@dataclass(frozen=True, slots=True)
class WebSocketApi:
    """The API's id (a ``Ref``) and its stage's name (plain text: a ``Ref`` to the stage
    would make the functions depend on the stage, which depends on them)."""

    api_id: str
    stage_name: str

    def _url(self, scheme: str) -> str:
        return Fn.join(
            "",
            [
                f"{scheme}://",
                self.api_id,
                ".execute-api.",
                Aws.REGION,
                ".",
                Aws.URL_SUFFIX,
                f"/{self.stage_name}",
            ],
        )

    @property
    def url(self) -> str:
        """What clients connect to."""
        return self._url("wss")

    @property
    def management_endpoint(self) -> str:
        """Where ``post_to_connection`` is called (``O2DMS_WS_ENDPOINT``)."""
        return self._url("https")

    def connections_arn(self, scope: Construct) -> str:
        """``execute-api:ManageConnections`` for posting to this stage's connections only."""
        return Stack.of(scope).format_arn(
            service="execute-api",
            resource=self.api_id,
            resource_name=f"{self.stage_name}/POST/@connections/*",
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )


def websocket_api(app: Any, settings: StageSettings) -> WebSocketApi:
    """The Chalice app's WebSocket API (``app``: the Chalice construct), its stage throttled
    as the REST API's is."""
    api: CfnResource = app.get_resource(WEBSOCKET_API)
    stage = app.get_resource(WEBSOCKET_STAGE)
    stage.add_property_override(
        "DefaultRouteSettings",
        {
            "ThrottlingRateLimit": settings.throttle_rate,
            "ThrottlingBurstLimit": settings.throttle_burst,
            "DetailedMetricsEnabled": True,
        },
    )
    return WebSocketApi(api_id=api.ref, stage_name=str(stage.stage_name))


def environment(api: WebSocketApi, *, issuer: str, client_id: str) -> dict[str, str]:
    """What the live functions read besides the common settings: where to post, and the
    user pool whose ID tokens a connection presents (API Gateway checks none here)."""
    return {
        "O2DMS_WS_ENDPOINT": api.management_endpoint,
        "O2DMS_USER_POOL_ISSUER": issuer,
        "O2DMS_USER_POOL_CLIENT_ID": client_id,
    }


def _prefix(value: str) -> dict[str, list[dict[str, str]]]:
    return {"S": [{"prefix": value}]}


def stream_filters() -> dict[str, list[dict[str, str]]]:
    """Lambda event filtering (patterns are OR-ed): changes to operation items, and new
    subscription items. Every other record is dropped before the function is invoked."""
    patterns: list[dict[str, Any]] = [
        {
            "eventName": ["INSERT", "MODIFY"],
            "dynamodb": {"Keys": {"SK": _prefix(OPERATION_SK_PREFIX)}},
        },
        {
            "eventName": ["INSERT"],
            "dynamodb": {"Keys": {"PK": _prefix(SUBSCRIPTION_PK_PREFIX)}},
        },
    ]
    return {"Filters": [{"Pattern": json.dumps(p, separators=(",", ":"))} for p in patterns]}


def read_stream(function: CfnResource, *, logical_id: str, stream_arn: str) -> None:
    """Point the function's DynamoDB event (``<logical id>DynamodbEventSource``, as Chalice
    names it) at ``stream_arn``, filtered, and bounded in how long it retries a record."""
    event = f"Events.{logical_id}DynamodbEventSource.Properties"
    function.add_property_override(f"{event}.Stream", stream_arn)
    function.add_property_override(f"{event}.FilterCriteria", stream_filters())
    function.add_property_override(f"{event}.BisectBatchOnFunctionError", True)
    function.add_property_override(f"{event}.MaximumRetryAttempts", STREAM_RETRY_ATTEMPTS)
    function.add_property_override(
        f"{event}.MaximumRecordAgeInSeconds", STREAM_RECORD_MAX_AGE_SECONDS
    )
