"""An ECS service on moto, moved on by the ECS stand-in (``scripts/local_ecs.py``) on the
test's clock, and the ``ecs`` backend wired into a ``World`` with every request it sends
recorded as it goes on the wire (botocore's ``before-call`` event: the JSON body)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import boto3
from moto.ecs.models import ecs_backends

from chalicelib import composition
from chalicelib.adapters.ecs.backend import EcsBackend
from chalicelib.domain.models import DeploymentManager
from chalicelib.domain.ports import DeploymentBackend
from scripts.local_ecs import EcsScheduler
from tests.conftest import World

CLUSTER = "apps"
SERVICE = "my-app"
FAMILY = "my-app"
REPOSITORY = "registry.example.com/my-app"
ACCOUNT = "123456789012"
REGION = "us-east-1"


def task_definition_arn(revision: int, family: str = FAMILY) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:{revision}"


def create_service(
    ecs: Any,
    *,
    breaker: bool,
    rollback: bool = True,
    desired: int = 2,
    cluster: str = CLUSTER,
    service: str = SERVICE,
) -> None:
    """The service a team already runs: revision 1 of its task definition (image ``v0``),
    its deployment circuit breaker as asked (set with UpdateService: moto's CreateService
    drops ``deploymentConfiguration``)."""
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(
        family=FAMILY,
        taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/my-app-task",
        executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/my-app-execution",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[
            {
                "name": "web",
                "image": f"{REPOSITORY}:v0",
                "essential": True,
                "portMappings": [{"containerPort": 8080}],
                "environment": [{"name": "LOG_LEVEL", "value": "info"}],
            }
        ],
    )
    ecs.create_service(
        cluster=cluster, serviceName=service, taskDefinition=f"{FAMILY}:1", desiredCount=desired
    )
    if breaker:
        ecs.update_service(
            cluster=cluster,
            service=service,
            deploymentConfiguration={
                "deploymentCircuitBreaker": {"enable": True, "rollback": rollback},
                "maximumPercent": 200,
                "minimumHealthyPercent": 100,
            },
        )


@dataclass
class EcsRig:
    """The world, the ECS client the backend calls, the stand-in, and what was sent."""

    world: World
    ecs: Any
    scheduler: EcsScheduler
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def settle(self, seconds: float = 4.0, polls: int = 4) -> None:
        """Let time pass: ECS moves the service on, then every rollout is followed."""
        for _ in range(polls):
            self.world.clock.advance(seconds / polls)
            self.scheduler.tick()
            self.world.driver.poll()

    def steady(self) -> None:
        """Run the service's own first deployment to its end before the test begins."""
        for _ in range(8):
            self.world.clock.advance(1)
            self.scheduler.tick()

    def service(self) -> dict[str, Any]:
        found: dict[str, Any] = self.ecs.describe_services(cluster=CLUSTER, services=[SERVICE])[
            "services"
        ][0]
        return found

    def requests(self, operation: str) -> list[dict[str, Any]]:
        return [body for name, body in self.sent if name == operation]

    def image_of(self, arn: str) -> str:
        found = self.ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        return str(found["containerDefinitions"][0]["image"])


def ecs_rig(world: World) -> EcsRig:
    """``world`` with the ``ecs`` adapter served by the real backend on moto."""
    ours = boto3.client("ecs", region_name=REGION)  # the test's own, not recorded
    rig = EcsRig(world, ours, EcsScheduler(ecs_backends, clock=world.clock.seconds))
    ecs = boto3.client("ecs", region_name=REGION)

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        rig.sent.append((model.name, json.loads(params["body"] or b"{}")))

    ecs.meta.events.register("before-call.ecs", record)
    backend = EcsBackend(lambda **_: ecs)
    others = world.deps.backends

    def backends(*, adapter: str, manager: DeploymentManager) -> DeploymentBackend:
        if adapter == "ecs":
            return backend
        return others(adapter=adapter, manager=manager)

    deps = replace(world.deps, backends=backends)
    world.deps = deps
    world.driver.deps = deps
    composition.use(deps)
    return rig
