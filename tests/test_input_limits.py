"""Input limits (issue "Security", item 5): a body of at most 256 KiB (413
``PayloadTooLarge`` past it, in the API and behind the local server), JSON nested at most 32
levels (400 past it), chart sources helm could read as a flag refused at creation, and
DynamoDB's own refusals of a request answered 400 or 413, never 503."""

from __future__ import annotations

import dataclasses
import http.client
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib import composition
from chalicelib.adapters.dynamodb_store import DynamoDBStore, translate_errors
from chalicelib.api.http import MAX_BODY_BYTES, MAX_JSON_DEPTH, read_json
from chalicelib.domain.errors import InvalidRequest, PayloadTooLarge
from tests.api_helpers import BASE, NGINX_DESCRIPTOR, call, local_server
from tests.auth_helpers import bearer
from tests.conftest import TABLE, World

KIB = 1024
SECRET_VALUE = "hunter2-do-not-echo"


def send(client: Any, method: str, path: str, raw: str) -> tuple[int, Any]:
    """A raw body, without the document check of ``call`` (which does not declare 413)."""
    response = client.http.request(
        method, f"{BASE}/{path}", headers={"Content-Type": "application/json"}, body=raw
    )
    return response.status_code, json.loads(response.body.decode()) if response.body else None


def exactly(document: dict[str, Any], size: int) -> str:
    """``document`` as JSON padded with trailing spaces (still the same JSON) to ``size``
    bytes."""
    text = json.dumps(document)
    assert len(text.encode()) <= size
    return text + " " * (size - len(text.encode()))


def nested(levels: int) -> Any:
    """``levels`` objects, one inside the next."""
    value: Any = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def assert_payload_too_large(status: int, body: Any) -> None:
    assert status == 413, body
    assert set(body) == {"error", "message", "code"}
    assert (body["error"], body["code"]) == ("PayloadTooLarge", 413)
    assert body["message"]


# ------------------------------------------------------------------------- body size


def test_input_limits_are_256_kib_and_32_levels() -> None:
    assert (MAX_BODY_BYTES, MAX_JSON_DEPTH) == (256 * KIB, 32)


def test_input_limits_body_of_exactly_256_kib_is_accepted(client: Any) -> None:
    raw = exactly({**NGINX_DESCRIPTOR, "descriptorId": "at-limit"}, 256 * KIB)

    status, body = send(client, "POST", "nfDeploymentDescriptors", raw)

    assert status == 201, body


def test_input_limits_body_one_byte_over_256_kib_is_413_and_stores_nothing(client: Any) -> None:
    raw = exactly({**NGINX_DESCRIPTOR, "descriptorId": "past-limit"}, 256 * KIB + 1)

    status, body = send(client, "POST", "nfDeploymentDescriptors", raw)

    assert_payload_too_large(status, body)
    assert str(256 * KIB) in body["message"]
    assert call(client, "GET", "nfDeploymentDescriptors/past-limit").status == 404


def test_input_limits_a_large_body_of_spaces_is_413_not_an_empty_body(client: Any) -> None:
    status, body = send(client, "POST", "nfDeploymentDescriptors", " " * (256 * KIB + 1))

    assert_payload_too_large(status, body)


def test_input_limits_every_body_taking_route_answers_413(running: Any) -> None:
    raw = exactly({"parameters": {"blob": "x" * (300 * KIB)}}, 301 * KIB)

    answers = [
        send(running, method, path, raw)
        for method, path in (
            ("PUT", "nfDeployments/nginx-prod"),
            ("POST", "nfDeployments"),
            ("POST", "nfDeployments/nginx-prod/scale"),
            ("POST", "deploymentManagers"),
        )
    ]

    for status, body in answers:
        assert_payload_too_large(status, body)


def test_input_limits_parameters_over_64_kib_in_a_small_body_are_still_422(running: Any) -> None:
    raw = json.dumps({"parameters": {"blob": "x" * (100 * KIB)}})
    assert len(raw) < MAX_BODY_BYTES

    status, body = send(running, "PUT", "nfDeployments/nginx-prod", raw)

    assert status == 422, body
    assert body["error"] == "ValidationError"


def test_input_limits_read_json_raises_payload_too_large_past_the_limit() -> None:
    with pytest.raises(PayloadTooLarge):
        read_json(b"{}" + b" " * MAX_BODY_BYTES)

    assert read_json(b"{}" + b" " * (MAX_BODY_BYTES - 2)) == {}


@pytest.fixture
def served(client: Any) -> Iterator[tuple[str, int]]:
    """The app behind the local server's request handler (``make run``), on a free port."""
    with local_server() as address:
        yield address


def test_input_limits_local_server_answers_413_in_the_error_shape(
    served: tuple[str, int],
) -> None:
    raw = exactly({**NGINX_DESCRIPTOR, "descriptorId": "past-limit"}, 256 * KIB + 1)
    connection = http.client.HTTPConnection(*served, timeout=10)
    try:
        connection.request(
            "POST",
            f"{BASE}/nfDeploymentDescriptors",
            body=raw,
            headers={"Content-Type": "application/json", **bearer("admin")},
        )
        response = connection.getresponse()
        status, body = response.status, json.loads(response.read())
    finally:
        connection.close()

    assert_payload_too_large(status, body)


# ---------------------------------------------------------------------------- nesting


def test_input_limits_32_levels_of_nesting_are_accepted(client: Any) -> None:
    # The body is one level; its defaultParameters hold the other 31.
    document = {**NGINX_DESCRIPTOR, "descriptorId": "deep", "defaultParameters": nested(31)}

    status, body = send(client, "POST", "nfDeploymentDescriptors", json.dumps(document))

    assert status == 201, body


def test_input_limits_33_levels_of_nesting_are_400(client: Any) -> None:
    document = {**NGINX_DESCRIPTOR, "descriptorId": "deeper", "defaultParameters": nested(32)}

    status, body = send(client, "POST", "nfDeploymentDescriptors", json.dumps(document))

    assert status == 400, body
    assert (body["error"], body["code"]) == ("BadRequest", 400)
    assert "nested too deeply: at most 32 levels" in body["message"]


@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_input_limits_read_json_counts_levels_of_arrays_and_objects(opening: str) -> None:
    closing = "]" if opening == "[" else "}"
    inner = "[]" if opening == "[" else "{}"

    def depth(levels: int) -> str:
        return opening * (levels - 1) + inner + closing * (levels - 1)

    assert read_json(depth(32)) is not None
    with pytest.raises(InvalidRequest, match="nested too deeply") as raised:
        read_json(depth(33))
    assert not isinstance(raised.value, PayloadTooLarge)


def test_input_limits_brackets_inside_strings_are_no_nesting() -> None:
    text = json.dumps({"a": "[{" * 1000, "b": ["]}" * 1000]})

    assert read_json(text) == {"a": "[{" * 1000, "b": ["]}" * 1000]}


# ---------------------------------------------------------------------- chart sources


@pytest.mark.parametrize(
    "url",
    [
        "-https://charts.example.com",
        "--repo=https://charts.example.com",
        "https://charts.example.com --post-renderer=/bin/sh",
        "https://charts.example.com/stable\t--devel",
        "https://charts.example.com/stable\n",
        " https://charts.example.com/stable",
        "oci://registry.example.com/charts --insecure-skip-tls-verify",
        "file://--post-renderer=/bin/sh",
        "file://-x",
        "https://-charts.example.com",
        "https://",
    ],
)
def test_input_limits_chart_source_helm_could_read_as_a_flag_is_400(client: Any, url: str) -> None:
    answer = call(
        client,
        "POST",
        "nfDeploymentDescriptors",
        {**NGINX_DESCRIPTOR, "descriptorId": "flagged", "artifactRepoUrl": url},
    )

    assert answer.status == 400, answer.body
    assert "artifactRepoUrl" in answer.body["message"]
    assert call(client, "GET", "nfDeploymentDescriptors/flagged").status == 404


@pytest.mark.parametrize(
    "url",
    [
        "https://charts.example.com/stable",
        "http://charts.example.com:8080/a-b/c_d/",
        "oci://registry.example.com/ran/charts",
        "https://xn--80akhbyknj4f.example/charts",  # an IDN host holds "--"
        "https://charts.example.com/stable?token=a-b&x=%20",
    ],
)
def test_input_limits_ordinary_chart_sources_are_accepted(client: Any, url: str) -> None:
    answer = call(
        client,
        "POST",
        "nfDeploymentDescriptors",
        {**NGINX_DESCRIPTOR, "descriptorId": "ordinary", "artifactRepoUrl": url},
    )

    assert answer.status == 201, answer.body


# ---------------------------------------------------------- DynamoDB's own refusals


class RefusingClient:
    """The moto-backed client, except that its writes answer with ``refusal``."""

    WRITES = frozenset({"put_item", "update_item", "delete_item", "transact_write_items"})

    def __init__(self, client: Any, refusal: Callable[[str], ClientError]) -> None:
        self._client = client
        self._refusal = refusal

    def __getattr__(self, name: str) -> Any:
        if name not in self.WRITES:
            return getattr(self._client, name)

        def refuse(**_: Any) -> Any:
            raise self._refusal(name)

        return refuse


def validation_exception(message: str) -> Callable[[str], ClientError]:
    def refusal(operation: str) -> ClientError:
        error = {"Error": {"Code": "ValidationException", "Message": message}}
        return ClientError(error, operation)  # type: ignore[arg-type]

    return refusal


def cancelled_with(client: Any, *reasons: dict[str, str]) -> Callable[[str], ClientError]:
    """A TransactionCanceledException as DynamoDB raises it, with these reasons."""

    def refusal(operation: str) -> ClientError:
        response = {
            "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
            "CancellationReasons": list(reasons),
        }
        error: ClientError = client.exceptions.TransactionCanceledException(response, operation)
        return error

    return refusal


def refusing_store(world: World, dynamodb: Any, refusal: Callable[[str], ClientError]) -> None:
    store = DynamoDBStore(RefusingClient(dynamodb, refusal), TABLE)  # type: ignore[arg-type]
    composition.use(dataclasses.replace(world.deps, store=store))


TOO_LARGE = "Item size has exceeded the maximum allowed size"
UPDATE_TOO_LARGE = "Item size to update has exceeded the maximum allowed size"
OTHER = f"One or more parameter values were invalid: {SECRET_VALUE} is not a number"


@pytest.mark.parametrize("message", [TOO_LARGE, UPDATE_TOO_LARGE])
def test_input_limits_an_item_dynamodb_finds_too_large_is_413(
    client: Any, world: World, dynamodb: Any, message: str
) -> None:
    refusing_store(world, dynamodb, validation_exception(message))

    status, body = send(client, "POST", "nfDeploymentDescriptors", json.dumps({**NGINX_DESCRIPTOR}))

    assert_payload_too_large(status, body)
    assert "400 KB" in body["message"]


def test_input_limits_another_validation_exception_is_400_without_its_values(
    client: Any, world: World, dynamodb: Any, caplog: pytest.LogCaptureFixture
) -> None:
    refusing_store(world, dynamodb, validation_exception(OTHER))

    status, body = send(client, "POST", "nfDeploymentDescriptors", json.dumps({**NGINX_DESCRIPTOR}))

    assert status == 400, body
    assert (body["error"], body["code"]) == ("BadRequest", 400)
    assert SECRET_VALUE not in body["message"]
    assert any(getattr(r, "code", None) == "ValidationException" for r in caplog.records)


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ({"Code": "ValidationError", "Message": TOO_LARGE}, 413),
        ({"Code": "ValidationError", "Message": OTHER}, 400),
    ],
)
def test_input_limits_a_transaction_cancelled_for_a_validation_error_is_not_503(
    running: Any, world: World, dynamodb: Any, reason: dict[str, str], code: int
) -> None:
    refusing_store(world, dynamodb, cancelled_with(dynamodb, {"Code": "None"}, reason))

    status, body = send(running, "POST", "nfDeployments/nginx-prod/scale", '{"replicas": 3}')

    assert status == code, body
    assert set(body) == {"error", "message", "code"}
    assert SECRET_VALUE not in body["message"]


def test_input_limits_a_lost_race_is_still_a_conflict_not_a_validation_error(
    running: Any, world: World, dynamodb: Any
) -> None:
    refusing_store(world, dynamodb, cancelled_with(dynamodb, {"Code": "ConditionalCheckFailed"}))

    status, body = send(running, "POST", "nfDeployments/nginx-prod/scale", '{"replicas": 3}')

    assert status == 409, body


def test_input_limits_translate_errors_maps_real_moto_refusals(dynamodb: Any) -> None:
    key = {"PK": {"S": "big"}, "SK": {"S": "x"}}

    @translate_errors
    def put(item: dict[str, Any]) -> None:
        dynamodb.put_item(TableName=TABLE, Item=item)

    @translate_errors
    def grow(padding: str) -> None:
        dynamodb.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET padding = :p",
            ExpressionAttributeValues={":p": {"S": padding}},
        )

    with pytest.raises(PayloadTooLarge, match="400 KB"):
        put({**key, "padding": {"S": "x" * (401 * KIB)}})
    put({**key, "padding": {"S": "x"}})
    with pytest.raises(PayloadTooLarge, match="400 KB"):
        grow("x" * (401 * KIB))
    with pytest.raises(InvalidRequest) as refused:
        put({"PK": {"S": SECRET_VALUE}})  # no sort key: DynamoDB refuses the item
    assert not isinstance(refused.value, PayloadTooLarge)
    assert SECRET_VALUE not in refused.value.message


def test_input_limits_translate_errors_reads_a_cancelled_transactions_reasons(
    dynamodb: Any,
) -> None:
    @translate_errors
    def commit(reason: dict[str, str]) -> None:
        raise cancelled_with(dynamodb, {"Code": "None"}, reason)("TransactWriteItems")

    with pytest.raises(PayloadTooLarge):
        commit({"Code": "ValidationError", "Message": TOO_LARGE})
    with pytest.raises(InvalidRequest):
        commit({"Code": "ValidationError", "Message": OTHER})
