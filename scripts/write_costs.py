"""What each change costs in AWS calls, and what a rollback reads, counted on the real wiring.

The app runs as it does in AWS, against moto: the DynamoDB store, the Step Functions rollout
driver, EventBridge, KMS; only the cluster is the built-in local one (it makes no AWS call).
Every call any botocore client sends is counted, so nothing the synchronous part of a
request does is missed. Between changes the rollout is followed to its end directly (Step
Functions would do it in AWS; moto does not run state machines), and those calls are not
counted: they belong to the asynchronous part.

Used by ``tests/test_write_costs.py`` (the limits) and ``scripts/bench_writes.py`` (the
figures of ``make bench``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # run as a script: make `chalicelib` importable

from scripts.bench_table import Row  # noqa: E402
from scripts.status_table import DESCRIPTOR  # noqa: E402 - the benches' one descriptor

TABLE = "o2dms-costs"
STATE_MACHINE = "o2dms-costs-rollout"
SIGNING_KEY_HEX = "c0" * 32
BASE = "/o2dms/v1"
# The changes measured, in order, on one deployment: (name, method, path, body).
CHANGES: tuple[tuple[str, str, str, dict[str, Any] | None], ...] = (
    (
        "create",
        "POST",
        "nfDeployments",
        {"name": "nginx-prod", "descriptorId": "nginx-chart-1.2.0", "namespace": "production"},
    ),
    (
        "upgrade",
        "PUT",
        "nfDeployments/nginx-prod",
        {"parameters": {"image": {"tag": "1.21.0"}}},
    ),
    ("scale", "POST", "nfDeployments/nginx-prod/scale", {"replicas": 3}),
    ("rollback", "POST", "nfDeployments/nginx-prod/rollback", {"revision": 0}),
    ("delete", "DELETE", "nfDeployments/nginx-prod", None),
)
HISTORY = 50  # scales before the rollback: a history longer than one page


@dataclass
class Costs:
    """AWS calls per change ("dynamodb.TransactWriteItems", ...), and DynamoDB items read."""

    calls: dict[str, list[str]] = field(default_factory=dict)
    items_read: dict[str, int] = field(default_factory=dict)


class CallLog:
    """Every API call any botocore client makes while ``recording``, with the items each
    DynamoDB read returned."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.items = 0
        self.recording = False

    @contextmanager
    def installed(self) -> Iterator[None]:
        from botocore.client import BaseClient

        original = BaseClient._make_api_call  # type: ignore[attr-defined]
        log = self

        def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
            answer = original(client, operation, params)
            if log.recording:
                service = client.meta.service_model.service_name
                log.calls.append(f"{service}.{operation}")
                log.items += _items_in(answer)
            return answer

        with mock.patch.object(BaseClient, "_make_api_call", counted):
            yield

    @contextmanager
    def recorded(self) -> Iterator[None]:
        self.calls, self.items, self.recording = [], 0, True
        try:
            yield
        finally:
            self.recording = False


def _items_in(answer: dict[str, Any]) -> int:
    if "Item" in answer:
        return 1
    if "Items" in answer:
        return len(answer["Items"])
    if "Responses" in answer:  # TransactGetItems / BatchGetItem
        responses = answer["Responses"]
        if isinstance(responses, list):
            return sum(1 for r in responses if r.get("Item"))
        return sum(len(items) for items in responses.values())
    return 0


def measure(history: int = HISTORY) -> Costs:
    """Run the changes of ``CHANGES`` and count what each request costs."""
    from moto import mock_aws

    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with mock.patch.dict(os.environ, env), mock_aws():
        return _measure(history)


def _measure(history: int) -> Costs:
    import boto3
    from chalice.test import Client

    import app as application
    from chalicelib import composition
    from chalicelib.adapters import local_tokens
    from chalicelib.config import Settings
    from chalicelib.service.rollouts import follow

    dynamodb = boto3.client("dynamodb")
    definition = json.loads((REPO_ROOT / "infra" / "table.json").read_text())
    definition.pop("StreamSpecification", None)
    dynamodb.create_table(TableName=TABLE, **definition)
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=STATE_MACHINE,
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/o2dms-costs",
    )["stateMachineArn"]
    key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    settings = Settings(
        table_name=TABLE,
        rollout_driver="stepfunctions",
        state_machine_arn=machine,
        local_rollout_seconds=0,
        verify_stable_seconds=0,
        auth_mode="local",
        auth_signing_key=SIGNING_KEY_HEX,
        secrets_key_arn=key,
        allow_local_charts=True,
    )
    deps = composition.build(settings)
    composition.use(deps)
    token = local_tokens.mint(
        bytes.fromhex(SIGNING_KEY_HEX), subject="bench", groups=["o2dms-admin"], ttl_seconds=3600
    )
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    log = CallLog()
    costs = Costs()
    try:
        with log.installed(), Client(application.app) as client:

            def send(method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
                payload = json.dumps(body).encode() if body is not None else b""
                answer = client.http.request(
                    method, f"{BASE}/{path}", headers=headers, body=payload
                )
                decoded: dict[str, Any] = json.loads(answer.body) if answer.body else {}
                if answer.status_code >= 300:
                    raise RuntimeError(f"{method} {path}: {answer.status_code} {decoded}")
                return decoded

            settle = _settler(deps, follow)
            send("POST", "nfDeploymentDescriptors", DESCRIPTOR)
            for name, method, path, body in CHANGES:
                if name == "rollback":
                    for replicas in range(history):
                        send("POST", "nfDeployments/nginx-prod/scale", {"replicas": replicas + 1})
                        settle()
                    with log.recorded():
                        send("POST", f"{path}?dryRun=true", body)
                    costs.items_read["rollback dry run"] = log.items
                with log.recorded():
                    send(method, path, body)
                costs.calls[name] = list(log.calls)
                if name == "rollback":
                    costs.items_read["rollback"] = log.items
                settle()
    finally:
        composition.use(None)
    return costs


def _settler(deps: Any, follow: Callable[..., bool]) -> Callable[[], None]:
    """Follow every running operation to its end, as the state machine would."""

    def settle() -> None:
        for _ in range(50):
            running = [
                (d.id, d.lease.operation_id)
                for d in deps.store.list_deployments(
                    filters=_no_filter(), limit=100, token=None
                ).items
                if d.lease is not None
            ]
            if not running:
                return
            for deployment_id, operation_id in running:
                follow(deps, deployment_id, operation_id)
        raise RuntimeError("a rollout did not end")

    return settle


def _no_filter() -> Any:
    from chalicelib.domain.ports import DeploymentFilter

    return DeploymentFilter()


CALL_LIMIT = 5
ROLLBACK_READ_LIMIT = 4


def rows(runs: int = 1) -> list[Row]:
    """``make bench``'s rows: the counts are exact, so one run says it (``runs`` is taken
    for the common signature only)."""
    costs = measure()
    counts = [len(calls) for calls in costs.calls.values()]
    reads = costs.items_read
    return [
        Row(
            "AWS calls in the synchronous part of " + " / ".join(costs.calls),
            " / ".join(str(c) for c in counts),
            f"<= {CALL_LIMIT} each",
            max(counts) <= CALL_LIMIT,
        ),
        Row(
            f"items read by POST rollback {{revision: 0}} (its dry run), {HISTORY} revisions",
            f"{reads['rollback']} ({reads['rollback dry run']})",
            f"<= {ROLLBACK_READ_LIMIT}",
            max(reads.values()) <= ROLLBACK_READ_LIMIT,
        ),
    ]


if __name__ == "__main__":
    result = measure()
    for change, calls in result.calls.items():
        print(f"{change:<10} {len(calls):>3}  {', '.join(calls)}")
    for what, count in result.items_read.items():
        print(f"{what}: {count} items read")
