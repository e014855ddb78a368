"""Where the API keeps its EventBridge Scheduler schedules, and the role Scheduler acts as.

One schedule group per stage (``o2dms-<stage>``), so the API's permissions can name exactly
the schedules it owns. Scheduler assumes the role only on behalf of this account, and the
role may do one thing: invoke the scaling function.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Aws, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from infra.settings import StageSettings

SCHEDULER_SERVICE = "scheduler.amazonaws.com"


def schedules_arn(scope: Construct, group_name: str) -> str:
    """Every schedule in ``group_name``."""
    return Stack.of(scope).format_arn(
        service="scheduler",
        resource="schedule",
        resource_name=f"{group_name}/*",
        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
    )


class ScheduleGroup(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        target_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.group_name = settings.prefix
        self.group = scheduler.CfnScheduleGroup(self, "Group", name=self.group_name)
        self.role = iam.Role(
            self,
            "InvokeRole",
            description="Assumed by EventBridge Scheduler to call the scaling function",
            assumed_by=iam.PrincipalWithConditions(
                iam.ServicePrincipal(SCHEDULER_SERVICE),
                {"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            ),
            inline_policies={
                "InvokeScalingFunction": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            actions=["lambda:InvokeFunction"],
                            resources=[target_arn, f"{target_arn}:*"],
                        )
                    ]
                )
            },
        )
