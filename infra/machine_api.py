"""The machine API: the same REST API for SigV4-signed callers (an SMO's IAM role).

An API Gateway method carries one kind of authorization, so IAM callers get a REST API of
their own, ``o2dms-<stage>-iam``, built from the main API's definition with IAM on every
method but the public ones (``auth.with_iam``). It calls the same API handler, has the
same gateway responses and the same throttle (its own budget: each stage counts its own
requests), and a stage named as the main API's. Its endpoint is regional: machine callers
sign for the region anyway, and need no CloudFront edge.

A caller's IAM policy must allow ``execute-api:Invoke`` on it (``execute_arn``); the app
then gives the caller the groups ``iamPrincipals`` maps its role to.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.settings import StageSettings

STAGE_NAME = "api"  # as Chalice names the main API's stage (``api_gateway_stage``)


class MachineApi(Construct):
    """A REST API from ``definition`` (already with IAM authorization) that may invoke
    ``handler_name`` (the API handler's ``Ref``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        definition: dict[str, Any],
        handler_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.api = apigateway.SpecRestApi(
            self,
            "Api",
            rest_api_name=f"{settings.prefix}-iam",
            description=f"O2-DMS ({settings.stage}) for SigV4-signed callers",
            # Any change to the definition makes a new deployment: it is part of the hash.
            api_definition=apigateway.ApiDefinition.from_inline(definition),
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            cloud_watch_role=False,
            deploy_options=apigateway.StageOptions(
                stage_name=STAGE_NAME,
                throttling_rate_limit=settings.throttle_rate,
                throttling_burst_limit=settings.throttle_burst,
                metrics_enabled=True,
            ),
        )
        # The construct's own output has a generated name; the stack outputs the URL by name.
        self.api.node.try_remove_child("Endpoint")
        lambda_.CfnPermission(
            self,
            "InvokePermission",
            action="lambda:InvokeFunction",
            function_name=handler_name,
            principal="apigateway.amazonaws.com",
            source_arn=self.api.arn_for_execute_api(),
        )

    @property
    def url(self) -> str:
        return self.api.url

    @property
    def execute_arn(self) -> str:
        """What a caller's policy allows ``execute-api:Invoke`` on: every method and path."""
        return self.api.arn_for_execute_api(stage=STAGE_NAME)
