"""Follows rollouts with a Step Functions execution (AWS): API Gateway gives a request 29
seconds, a rollout can take minutes, so the API starts the state machine in
``infra/rollout.asl.json`` and returns. The execution is named after the operation, so a
retried start can never follow the same operation twice."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.lazy import Lazy

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

logger = logging.getLogger(__name__)


class StepFunctionsDriver:
    """Builds its client on the first start: reads never pay for it on a cold start."""

    def __init__(
        self, client: Callable[[], SFNClient], state_machine_arn: str, *, poll_seconds: int
    ) -> None:
        self._client = Lazy(client)
        self._arn = state_machine_arn
        self._poll_seconds = poll_seconds

    def start(self, *, deployment_id: str, operation_id: str) -> str | None:
        payload = {
            "deploymentId": deployment_id,
            "operationId": operation_id,
            "pollSeconds": self._poll_seconds,
        }
        client = self._client()
        try:
            answer = client.start_execution(
                stateMachineArn=self._arn, name=operation_id, input=json.dumps(payload)
            )
        except client.exceptions.ExecutionAlreadyExists:
            logger.info("rollout execution already started", extra={"operation": operation_id})
            return self.execution_id(operation_id)
        except (ClientError, BotoCoreError):
            # The operation keeps its lease; once the lease expires the next read or
            # change of the deployment ends it, so nothing stays stuck.
            logger.exception("rollout execution not started", extra={"operation": operation_id})
            return None
        return answer["executionArn"]

    def execution_id(self, operation_id: str) -> str:
        """The execution's ARN: the state machine's, with the execution named after the
        operation."""
        return self._arn.replace(":stateMachine:", ":execution:") + f":{operation_id}"
