"""The rollout state machine, executed for real: moto runs ``infra/rollout.asl.json`` and its
Lambda tasks are routed to the app's own task handlers, so the code that runs in AWS runs
here. Each path ends with the lease released."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend

import app as application
from chalicelib import composition
from chalicelib.adapters.dynamodb_store import DynamoDBStore
from chalicelib.adapters.local_cluster import LocalCluster
from chalicelib.adapters.rollout_stepfunctions import StepFunctionsDriver
from chalicelib.config import Settings
from chalicelib.domain.models import Deployment, DeploymentManager
from chalicelib.domain.ports import DeploymentBackend
from chalicelib.service.context import Deps
from tests import auth_helpers
from tests.api_helpers import call, create_deployment, create_descriptor
from tests.conftest import TABLE, create_table
from tests.fakes import RecordingEvents, automation_fields, kms_sealer

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
TASKS = {"o2dms-dev-rollout_follow": "rollout_follow", "o2dms-dev-rollout_abort": "rollout_abort"}


@dataclass
class LambdaRouter:
    """Answers moto's Lambda invocations with the app's own handlers, as Lambda would:
    an exception becomes a function error with ``errorType`` and ``errorMessage``."""

    calls: list[str] = field(default_factory=list)
    faults: dict[str, list[Exception]] = field(default_factory=dict)

    def invoke(
        self, function_name: str, body: str | None, response_headers: dict[str, str]
    ) -> bytes:
        name = function_name.rsplit(":", 1)[-1]
        self.calls.append(name)
        handler = getattr(application, TASKS[name])
        try:
            if self.faults.get(name):
                raise self.faults[name].pop(0)
            return json.dumps(handler(json.loads(body or "{}"), None)).encode()
        except Exception as exc:  # what Lambda does with an unhandled error
            response_headers["x-amz-function-error"] = "Unhandled"
            error = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
            return json.dumps(error).encode()


@dataclass
class Machine:
    client: Any
    sfn: Any
    cluster: LocalCluster
    router: LambdaRouter
    store: DynamoDBStore

    def deployment(self) -> Deployment:
        return self.store.get_deployment("nginx-prod")

    def wait_for(self, predicate: Callable[[Deployment], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.deployment()):
            assert time.monotonic() < deadline, f"gave up waiting: {self.deployment()}"
            time.sleep(0.05)

    def execution(self, operation_id: str, timeout: float = 40) -> dict[str, Any]:
        """The finished execution named after the operation."""
        arn = self.sfn.list_executions(stateMachineArn=self._arn())["executions"]
        execution_arn = next(e["executionArn"] for e in arn if e["name"] == operation_id)
        deadline = time.monotonic() + timeout
        while True:
            described: dict[str, Any] = self.sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return described
            assert time.monotonic() < deadline, "execution still running"
            time.sleep(0.1)

    def history_events(self, execution_arn: str) -> list[str]:
        events = self.sfn.get_execution_history(executionArn=execution_arn)["events"]
        return [e["type"] for e in events]

    def _arn(self) -> str:
        return str(self.sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"])


def _lambda_functions(role: str) -> dict[str, str]:
    client = boto3.client("lambda", region_name=REGION)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("app.py", "")
    arns = {}
    for function_name in TASKS:
        created = client.create_function(
            FunctionName=function_name,
            Runtime="python3.11",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": archive.getvalue()},
        )
        arns[function_name] = created["FunctionArn"]
    return arns


def _state_machine(role: str, arns: dict[str, str]) -> tuple[Any, str]:
    definition = (ROOT / "infra" / "rollout.asl.json").read_text()
    substitutions = {
        "RolloutFollowFunctionArn": arns["o2dms-dev-rollout_follow"],
        "RolloutAbortFunctionArn": arns["o2dms-dev-rollout_abort"],
    }
    for name, value in substitutions.items():  # as Step Functions' DefinitionSubstitutions do
        definition = definition.replace("${" + name + "}", value)
    assert "${" not in definition
    sfn = boto3.client("stepfunctions", region_name=REGION)
    created = sfn.create_state_machine(name="o2dms-rollout", definition=definition, roleArn=role)
    return sfn, created["stateMachineArn"]


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[Machine]:
    router = LambdaRouter()

    def invoke(  # noqa: PLR0917 - moto's signature
        self: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response: Any
    ) -> bytes:
        return router.invoke(function_name, body, response)

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
    config: Any = {
        "stepfunctions": {"execute_state_machine": True},
        "lambda": {"use_docker": False},
    }
    with mock_aws(config=config):
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_table(dynamodb, TABLE)
        role = boto3.client("iam", region_name=REGION).create_role(
            RoleName="rollout", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        sfn, arn = _state_machine(role, _lambda_functions(role))
        cluster = LocalCluster(rollout_seconds=0.5)
        store = DynamoDBStore(dynamodb, TABLE)

        def backends(*, adapter: str, manager: DeploymentManager) -> DeploymentBackend:
            return cluster.backend(adapter)

        settings = auth_helpers.local_auth(
            Settings(
                table_name=TABLE,
                operation_timeout_seconds=2,
                lease_grace_seconds=30,
                verify_stable_seconds=0,
            )
        )
        composition.use(
            Deps(
                store=store,
                backends=backends,
                driver=StepFunctionsDriver(lambda: sfn, arn, poll_seconds=1),
                events=RecordingEvents(),
                settings=settings,
                **automation_fields(settings, dynamodb),
                sealer=kms_sealer(TABLE)[0],
            )
        )
        from chalice.test import Client

        with Client(application.app) as signed_out:
            client = auth_helpers.sign_in(signed_out, "admin")
            create_descriptor(client)
            created = create_deployment(client)
            yielded = Machine(client, sfn, cluster, router, store)
            assert yielded.execution(created.body["operationId"])["status"] == "SUCCEEDED"
            yield yielded
        composition.use(None)


def _upgrade(machine: Machine, tag: str) -> str:
    answer = call(
        machine.client, "PUT", "nfDeployments/nginx-prod", {"parameters": {"image": {"tag": tag}}}
    )
    assert answer.status == 200
    return str(answer.body["operationId"])


def _operation(machine: Machine, operation_id: str) -> dict[str, Any]:
    answer = call(machine.client, "GET", f"nfDeployments/nginx-prod/operations/{operation_id}")
    return dict(answer.body)


def test_state_machine_success_path_completes(machine: Machine) -> None:
    operation_id = _upgrade(machine, "1.21.0")

    execution = machine.execution(operation_id)

    assert execution["status"] == "SUCCEEDED"
    assert _operation(machine, operation_id)["state"] == "COMPLETED"
    assert _operation(machine, operation_id)["executionId"] == execution["executionArn"]
    deployment = machine.deployment()
    assert (deployment.status.value, deployment.revision, deployment.lease) == (
        "INSTANTIATED",
        2,
        None,
    )


def test_state_machine_failure_rolls_back_to_rolled_back(machine: Machine) -> None:
    operation_id = _upgrade(machine, "crash")

    execution = machine.execution(operation_id)

    assert execution["status"] == "SUCCEEDED"
    operation = _operation(machine, operation_id)
    assert operation["state"] == "ROLLED_BACK"
    assert "CrashLoopBackOff" in operation["error"]["message"]
    deployment = machine.deployment()
    assert (deployment.status.value, deployment.revision, deployment.lease) == (
        "INSTANTIATED",
        3,
        None,
    )


def test_state_machine_timeout_rolls_back_with_its_own_budget(machine: Machine) -> None:
    machine.cluster.rollout_seconds = 1000
    operation_id = _upgrade(machine, "1.22.0")
    machine.wait_for(lambda d: d.status.value == "ROLLING_BACK")
    machine.cluster.rollout_seconds = 0.5

    execution = machine.execution(operation_id)

    assert execution["status"] == "SUCCEEDED"
    operation = _operation(machine, operation_id)
    assert operation["state"] == "ROLLED_BACK"
    assert operation["error"]["message"].startswith("timed out after 2s")
    assert machine.deployment().lease is None


def test_state_machine_rollback_that_fails_ends_failed_and_releases_lease(machine: Machine) -> None:
    operation_id = _upgrade(machine, "crash")
    machine.wait_for(lambda d: d.status.value == "ROLLING_BACK" and d.revision == 3)
    machine.cluster.set_reachable(False)

    execution = machine.execution(operation_id)

    assert execution["status"] == "SUCCEEDED"
    assert _operation(machine, operation_id)["state"] == "FAILED"
    deployment = machine.deployment()
    assert deployment.status.value == "FAILED"
    assert deployment.message.startswith("automatic rollback failed")
    assert deployment.lease is None


def test_state_machine_retries_a_task_that_raises_once(machine: Machine) -> None:
    machine.router.faults["o2dms-dev-rollout_follow"] = [RuntimeError("task crashed once")]
    operation_id = _upgrade(machine, "1.21.0")

    execution = machine.execution(operation_id)

    assert execution["status"] == "SUCCEEDED"
    assert "TaskFailed" in machine.history_events(execution["executionArn"])
    assert _operation(machine, operation_id)["state"] == "COMPLETED"
    assert machine.deployment().lease is None


def test_state_machine_aborts_when_the_task_keeps_failing(machine: Machine) -> None:
    machine.router.faults["o2dms-dev-rollout_follow"] = [RuntimeError("broken")] * 4
    operation_id = _upgrade(machine, "1.21.0")

    execution = machine.execution(operation_id)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "RolloutFollowerFailed"
    operation = _operation(machine, operation_id)
    assert operation["state"] == "FAILED"
    assert "the rollout follower failed" in operation["error"]["message"]
    assert machine.deployment().lease is None
