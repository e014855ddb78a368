"""What a change costs: at most five AWS calls in the synchronous part of each change, and a
rollback to the previous good revision reads four items, however long the history.

The costs come from ``scripts/write_costs.py``: the app on its AWS wiring (Step Functions
driver included) against moto, every botocore call counted. The rest checks what the
savings rest on: the execution id recorded when the operation begins, writes that build on
what this process stored (and re-read when someone else wrote meanwhile), a first look at
history that may need more.
"""

from __future__ import annotations

from typing import Any

import pytest

from scripts import write_costs
from tests.api_helpers import call, create_deployment, create_descriptor
from tests.conftest import TABLE, World


@pytest.fixture(scope="module")
def costs() -> write_costs.Costs:
    return write_costs.measure(history=12)


def test_each_change_costs_at_most_five_aws_calls(costs: write_costs.Costs) -> None:
    assert costs.calls == {
        "create": [
            "dynamodb.BatchGetItem",  # the name, the descriptor, the default manager
            "dynamodb.TransactWriteItems",  # begin: lease, operation, revision, execution id
            "dynamodb.TransactWriteItems",  # applied
            "stepfunctions.StartExecution",
        ],
        "upgrade": [
            "dynamodb.GetItem",
            "dynamodb.GetItem",  # the descriptor, named by the deployment
            "dynamodb.TransactWriteItems",
            "dynamodb.TransactWriteItems",
            "stepfunctions.StartExecution",
        ],
        "scale": [
            "dynamodb.GetItem",
            "dynamodb.GetItem",
            "dynamodb.TransactWriteItems",
            "dynamodb.TransactWriteItems",
            "stepfunctions.StartExecution",
        ],
        "rollback": [
            "dynamodb.Query",  # the deployment and its newest revisions
            "dynamodb.TransactWriteItems",
            "dynamodb.TransactWriteItems",
            "stepfunctions.StartExecution",
        ],
        "delete": [
            "dynamodb.Query",  # the deployment and its schedules
            "dynamodb.GetItem",  # its alarm binding
            "dynamodb.TransactWriteItems",  # begin, the automation items deleted with it
            "dynamodb.TransactWriteItems",
            "stepfunctions.StartExecution",
        ],
    }


def test_rollback_to_previous_reads_four_items(costs: write_costs.Costs) -> None:
    assert costs.items_read == {"rollback dry run": 4, "rollback": 4}


def test_execution_id_is_stored_when_the_operation_begins(client: Any, world: World) -> None:
    create_descriptor(client)
    started = create_deployment(client)
    stored = world.store.get_operation("nginx-prod", started.body["operationId"])

    assert stored.execution_id == f"manual:{stored.id}"
    lease = world.store.get_deployment("nginx-prod").lease
    assert lease is not None
    assert lease.execution_id == stored.execution_id


def test_a_follower_that_did_not_start_leaves_no_execution_id(
    client: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_descriptor(client)
    monkeypatch.setattr(world.driver, "start", lambda **_: None)

    started = create_deployment(client)

    stored = world.store.get_operation("nginx-prod", started.body["operationId"])
    assert stored.execution_id is None
    lease = world.store.get_deployment("nginx-prod").lease
    assert lease is not None
    assert lease.execution_id is None


def test_a_write_meanwhile_makes_the_applied_record_read_again(
    client: Any, world: World, dynamodb: Any
) -> None:
    """Someone else changes the deployment item while the backend applies: the record of
    the apply, built on the copy this process stored, loses its conditional write, reads
    again and lands on top of the other write."""
    create_descriptor(client)
    create_deployment(client)
    world.settle()
    backend = world.cluster.backend("helm")
    original = type(backend).upgrade

    writes: list[int] = []

    def upgrade_while_someone_writes(self: Any, target: Any) -> Any:
        writes.append(1)
        dynamodb.update_item(
            TableName=TABLE,
            Key={"PK": {"S": "DEP#nginx-prod"}, "SK": {"S": "REV~"}},
            UpdateExpression="SET recordVersion = recordVersion + :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
        return original(self, target)

    type(backend).upgrade = upgrade_while_someone_writes  # type: ignore[method-assign]
    try:
        answer = call(
            client, "PUT", "nfDeployments/nginx-prod", {"parameters": {"replicaCount": 3}}
        )
    finally:
        type(backend).upgrade = original  # type: ignore[method-assign]
    world.settle()

    assert writes == [1]
    assert answer.status == 200, answer.body
    operation = call(
        client, "GET", f"nfDeployments/nginx-prod/operations/{answer.body['operationId']}"
    ).body
    assert operation["state"] == "COMPLETED"
    assert call(client, "GET", "nfDeployments/nginx-prod/status").body["status"] == "INSTANTIATED"
    history = call(client, "GET", "nfDeployments/nginx-prod/history").body["revisions"]
    assert [(r["revision"], r["status"]) for r in history] == [(2, "deployed"), (1, "superseded")]


def test_previous_good_revision_past_the_first_look(client: Any, world: World) -> None:
    """Four failed upgrades after the current revision: the first look (three revisions)
    finds none good, the next page does."""
    create_descriptor(client)
    create_deployment(client)
    world.settle()
    call(client, "POST", "nfDeployments/nginx-prod/scale", {"replicas": 3})
    world.settle()
    world.cluster.set_reachable(False)
    for tag in ("a", "b", "c", "d"):
        failed = call(
            client, "PUT", "nfDeployments/nginx-prod", {"parameters": {"image": {"tag": tag}}}
        )
        assert failed.status == 503, failed.body
    world.cluster.set_reachable(True)

    planned = call(client, "POST", "nfDeployments/nginx-prod/rollback?dryRun=true", {"revision": 0})
    rollback = call(client, "POST", "nfDeployments/nginx-prod/rollback", {"revision": 0})
    world.settle()

    assert planned.status == 200, planned.body
    assert rollback.body["description"] == "Rolled back from revision 2 to revision 1"
    history = call(client, "GET", "nfDeployments/nginx-prod/history").body["revisions"]
    assert [(r["revision"], r["status"]) for r in history][:2] == [(7, "deployed"), (6, "failed")]


def test_a_store_outage_while_recording_the_apply_is_ridden_out(
    client: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backend has applied the change: the record of it is asked again rather than
    lost, which would leave the operation holding its lease, unfollowed."""
    from chalicelib.domain.errors import StoreUnavailable
    from chalicelib.service import applying

    create_descriptor(client)
    create_deployment(client)
    world.settle()
    monkeypatch.setattr(applying, "RECORD_RETRY_PAUSES", (0.0, 0.0))
    original = world.store.commit
    failures: list[int] = []

    def commit_failing_once_after_the_begin(change: Any) -> Any:
        if change.operations and change.operations[-1].stage.value == "deploying" and not failures:
            failures.append(1)
            raise StoreUnavailable("The deployment store is unavailable (test)")
        return original(change)

    monkeypatch.setattr(world.store, "commit", commit_failing_once_after_the_begin)
    answer = call(client, "POST", "nfDeployments/nginx-prod/scale", {"replicas": 3})
    world.settle()

    assert failures == [1]
    assert answer.status == 204, answer.body
    status = call(client, "GET", "nfDeployments/nginx-prod/status").body
    assert status["status"] == "INSTANTIATED"
    assert call(client, "GET", "nfDeployments/nginx-prod").body["replicas"] == 3
