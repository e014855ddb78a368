"""The rollout state machine, from ``infra/rollout.asl.json``: the very definition the tests
execute in moto, with the task ARNs filled in by Step Functions' DefinitionSubstitutions.

Its name is fixed (``o2dms-<stage>-rollout``) so every function can be told its ARN without
a reference: the definition refers to the rollout tasks, and the tasks' wiring requires the
ARN too, which a reference would turn into a dependency cycle.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.settings import StageSettings

DEFINITION_FILE = Path(__file__).resolve().parent / "rollout.asl.json"
FOLLOW_ARN = "RolloutFollowFunctionArn"
ABORT_ARN = "RolloutAbortFunctionArn"


def state_machine_name(settings: StageSettings) -> str:
    return f"{settings.prefix}-rollout"


def state_machine_arn(scope: Construct, settings: StageSettings) -> str:
    return Stack.of(scope).format_arn(
        service="states",
        resource="stateMachine",
        resource_name=state_machine_name(settings),
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


class RolloutStateMachine(Construct):
    """Standard workflow, X-Ray tracing, errors logged with their execution data."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        follow: lambda_.IFunction,
        abort: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/vendedlogs/states/{state_machine_name(settings)}",
            retention=settings.log_retention,
            removal_policy=settings.logs_removal,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=state_machine_name(settings),
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(DEFINITION_FILE.read_text()),
            definition_substitutions={
                FOLLOW_ARN: follow.function_arn,
                ABORT_ARN: abort.function_arn,
            },
            logs=sfn.LogOptions(
                destination=self.log_group,
                level=sfn.LogLevel.ERROR,
                include_execution_data=True,
            ),
            tracing_enabled=True,
        )
        follow.grant_invoke(self.state_machine)
        abort.grant_invoke(self.state_machine)
