"""The local AWS emulator must serialise DynamoDB writes the way AWS does.

The product's promise that exactly one of many concurrent upgrades wins rests on DynamoDB
conditional writes; moto alone can let two of them pass. These tests pin the middleware
that prevents it, first against a fake inner app, then against the real emulator process.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from scripts.aws_emulator import SerialDynamoDB, is_dynamodb_request

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
CONTENDERS = 20
LOST_RACE_CODES = {"ConditionalCheckFailedException", "TransactionCanceledException"}


# --- the middleware, against a fake inner app -------------------------------------------


class OverlapRecorder:
    """Inner WSGI app that holds each request briefly and records the most seen at once."""

    def __init__(self, *, hold_seconds: float) -> None:
        self._hold_seconds = hold_seconds
        self._guard = threading.Lock()
        self._inside = 0
        self.most_inside = 0

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        with self._guard:
            self._inside += 1
            self.most_inside = max(self.most_inside, self._inside)
        try:
            time.sleep(self._hold_seconds)
        finally:
            with self._guard:
                self._inside -= 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]


class Rendezvous:
    """Inner WSGI app that answers only once `parties` requests are inside it together."""

    def __init__(self, parties: int) -> None:
        self._barrier = threading.Barrier(parties)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        self._barrier.wait(timeout=5)
        start_response("200 OK", [])
        return [b"met"]


def call(app: WSGIApplication, target: str | None) -> tuple[str, bytes]:
    environ: WSGIEnvironment = {"REQUEST_METHOD": "POST", "PATH_INFO": "/"}
    if target is not None:
        environ["HTTP_X_AMZ_TARGET"] = target
    statuses: list[str] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        statuses.append(status)
        return lambda data: None

    body = b"".join(app(environ, start_response))
    return statuses[0], body


def call_concurrently(app: WSGIApplication, targets: list[str | None]) -> list[tuple[str, bytes]]:
    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        return list(pool.map(lambda target: call(app, target), targets))


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("DynamoDB_20120810.PutItem", True),
        ("DynamoDB_20120810.TransactWriteItems", True),
        ("DynamoDBStreams_20120810.GetRecords", False),
        ("AWSStepFunctions.StartExecution", False),
        (None, False),
    ],
)
def test_is_dynamodb_request_reads_the_target_header(target: str | None, expected: bool) -> None:
    environ: WSGIEnvironment = {} if target is None else {"HTTP_X_AMZ_TARGET": target}

    assert is_dynamodb_request(environ) is expected


def test_serial_dynamodb_never_overlaps_dynamodb_requests() -> None:
    # Given an inner app that would notice two requests inside it at once
    inner = OverlapRecorder(hold_seconds=0.02)
    app = SerialDynamoDB(inner)

    # When eight DynamoDB requests arrive together
    results = call_concurrently(app, ["DynamoDB_20120810.TransactWriteItems"] * 8)

    # Then all are answered, one after the other
    assert results == [("200 OK", b"ok")] * 8
    assert inner.most_inside == 1


def test_serial_dynamodb_leaves_other_services_concurrent() -> None:
    # Given an inner app that answers only when all six requests are inside it together
    targets: list[str | None] = ["AWSStepFunctions.StartExecution"] * 3 + [None] * 3
    app = SerialDynamoDB(Rendezvous(len(targets)))

    # When they arrive together, Then none waits for another to finish
    assert call_concurrently(app, targets) == [("200 OK", b"met")] * len(targets)


def test_serial_dynamodb_produces_lazy_bodies_under_the_lock() -> None:
    # Given an inner app whose body is computed only when read
    lock = threading.Lock()

    def lazy_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"locked" if lock.locked() else b"unlocked"

    # When a DynamoDB request goes through the middleware
    status, body = call(SerialDynamoDB(lazy_app, lock=lock), "DynamoDB_20120810.GetItem")

    # Then the body was produced inside the critical section, which is now released
    assert (status, body) == ("200 OK", b"locked")
    assert not lock.locked()


# --- the emulator process, driven through boto3 -----------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the emulator exited with code {process.returncode}"
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"the emulator did not listen on port {port} within {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def emulator_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One emulator process for this module's integration tests, stopped however they end."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("emulator") / "emulator.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "scripts.aws_emulator", "--host", HOST, "--port", str(port)],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, process, timeout=30)
        yield f"http://{HOST}:{port}"
    finally:
        stop(process)


@pytest.fixture
def emulator_dynamodb(emulator_endpoint: str) -> DynamoDBClient:
    return boto3.client(
        "dynamodb",
        endpoint_url=emulator_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(max_pool_connections=CONTENDERS),
    )


def create_table(client: DynamoDBClient, name: str) -> None:
    spec: dict[str, Any] = json.loads((REPO_ROOT / "infra" / "table.json").read_text())
    client.create_table(TableName=name, **spec)


def race(attempt: Callable[[int], object], contenders: int = CONTENDERS) -> list[bool]:
    """Start every attempt at the same instant; True for each one that went through."""
    start_line = threading.Barrier(contenders)

    def contend(contender: int) -> bool:
        start_line.wait(timeout=10)
        try:
            attempt(contender)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in LOST_RACE_CODES:
                return False
            raise
        return True

    with ThreadPoolExecutor(max_workers=contenders) as pool:
        return list(pool.map(contend, range(contenders)))


def test_emulator_lets_one_of_twenty_conditional_puts_win(
    emulator_dynamodb: DynamoDBClient,
) -> None:
    # Given a table made from infra/table.json
    create_table(emulator_dynamodb, "race-put")

    # When twenty clients create the same item at once, each only if it does not exist
    def put(contender: int) -> object:
        return emulator_dynamodb.put_item(
            TableName="race-put",
            Item={"PK": {"S": "DEP#1"}, "SK": {"S": "REV~"}, "owner": {"N": str(contender)}},
            ConditionExpression="attribute_not_exists(PK)",
        )

    outcomes = race(put)

    # Then exactly one succeeds, and the item is the winner's
    assert outcomes.count(True) == 1
    item = emulator_dynamodb.get_item(
        TableName="race-put", Key={"PK": {"S": "DEP#1"}, "SK": {"S": "REV~"}}
    )
    assert item["Item"]["owner"] == {"N": str(outcomes.index(True))}


def record_upgrade(client: DynamoDBClient, key: dict[str, Any], contender: int) -> object:
    """Move a deployment from revision 0 to 1 and record the revision, as one transaction."""
    return client.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": "race-transact",
                    "Key": key,
                    "UpdateExpression": "SET revision = :next",
                    "ConditionExpression": "revision = :current",
                    "ExpressionAttributeValues": {":next": {"N": "1"}, ":current": {"N": "0"}},
                }
            },
            {
                "Put": {
                    "TableName": "race-transact",
                    "Item": {"PK": key["PK"], "SK": {"S": f"REV#{contender:010d}"}},
                }
            },
        ]
    )


def test_emulator_lets_one_of_twenty_transactions_win(emulator_dynamodb: DynamoDBClient) -> None:
    # Given a table made from infra/table.json (moto alone lets two such transactions win at times)
    create_table(emulator_dynamodb, "race-transact")
    for round_number in range(5):
        key: dict[str, Any] = {"PK": {"S": f"DEP#{round_number}"}, "SK": {"S": "REV~"}}
        emulator_dynamodb.put_item(TableName="race-transact", Item={**key, "revision": {"N": "0"}})

        # When twenty upgrades of one deployment race from revision 0
        outcomes = race(partial(record_upgrade, emulator_dynamodb, key))

        # Then exactly one wins, and exactly one revision is recorded
        assert outcomes.count(True) == 1
        revisions = emulator_dynamodb.query(
            TableName="race-transact",
            KeyConditionExpression="PK = :pk AND begins_with(SK, :rev)",
            ExpressionAttributeValues={":pk": key["PK"], ":rev": {"S": "REV#"}},
        )
        assert revisions["Count"] == 1
