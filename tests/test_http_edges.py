"""The edges of HTTP, as Chalice's gateway and app see them: bodies sent with any declared
media type (the seed's curls send none), deep or huge JSON, methods a path does not offer.
Every error is ``{"error", "message", "code"}`` with a documented status, never a 500."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from chalicelib.api.openapi import document_dict
from tests.api_helpers import BASE, NGINX_DESCRIPTOR, local_server
from tests.auth_helpers import bearer
from tests.openapi_check import check_answer

FORM = "application/x-www-form-urlencoded"  # what `curl -d` declares when told nothing


def send(
    client: Any, method: str, path: str, body: str | bytes | None, headers: dict[str, str]
) -> tuple[int, Any, dict[str, str]]:
    response = client.http.request(method, f"{BASE}/{path}", headers=headers, body=body)
    text = response.body.decode() if response.body else ""
    return response.status_code, json.loads(text) if text else None, response.headers


def check_error_body(body: Any) -> None:
    """``body`` is the document's ErrorBody (for answers no operation declares: 404, 405)."""
    schema = document_dict()["components"]["schemas"]["ErrorBody"]
    problems = [e.message for e in Draft202012Validator(schema).iter_errors(body)]
    assert not problems, f"{body} is not an ErrorBody: {problems}"


def assert_error(status: int, body: Any, code: int, error: str, contains: str = "") -> None:
    assert status == code, body
    check_error_body(body)
    assert (body["error"], body["code"]) == (error, code)
    assert contains in body["message"]


@pytest.mark.parametrize("headers", [{"Content-Type": FORM}, {}, {"Content-Type": "text/plain"}])
def test_seed_curl_without_json_content_type_is_read_as_json(
    running: Any, headers: dict[str, str]
) -> None:
    status, body, _ = send(
        running, "POST", "nfDeployments/nginx-prod/scale", '{"replicas": 5}', headers
    )

    assert status == 204, body


def test_descriptor_created_with_form_content_type(client: Any) -> None:
    status, body, _ = send(
        client,
        "POST",
        "nfDeploymentDescriptors",
        json.dumps(NGINX_DESCRIPTOR),
        {"Content-Type": FORM},
    )

    assert status == 201, body
    check_answer("POST", f"{BASE}/nfDeploymentDescriptors", status, body)


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [(FORM, "replicas=5"), ("text/plain", "five"), ("application/json", "{'replicas': 5}")],
)
def test_body_that_is_not_json_is_400_whatever_its_type(
    running: Any, content_type: str, raw: str
) -> None:
    status, body, _ = send(
        running, "POST", "nfDeployments/nginx-prod/scale", raw, {"Content-Type": content_type}
    )

    assert_error(status, body, 400, "BadRequest", "JSON")


def test_get_with_a_content_type_header_is_answered(running: Any) -> None:
    status, body, _ = send(running, "GET", "nfDeployments/nginx-prod", None, {"Content-Type": FORM})

    assert status == 200, body


@pytest.mark.parametrize("raw", ['{"replicas": NaN}', '{"replicas": Infinity}'])
def test_non_standard_json_constants_are_400(running: Any, raw: str) -> None:
    status, body, _ = send(
        running, "POST", "nfDeployments/nginx-prod/scale", raw, {"Content-Type": "application/json"}
    )

    assert_error(status, body, 400, "BadRequest", raw.rsplit(maxsplit=1)[-1].rstrip("}"))


def test_body_that_is_not_utf8_is_400(running: Any) -> None:
    status, body, _ = send(
        running,
        "POST",
        "nfDeployments/nginx-prod/scale",
        b'{"replicas": "\xff"}',
        {"Content-Type": "application/json"},
    )

    assert_error(status, body, 400, "BadRequest")


def nested(depth: int) -> Any:
    """An object ``depth`` levels deep: {"a": {"a": ... {"a": 1}}}."""
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize("depth", [500, 10_000])
def test_deeply_nested_parameters_are_400_not_500(running: Any, depth: int) -> None:
    raw = json.dumps({"parameters": nested(depth)}) if depth < 900 else None
    if raw is None:  # json.dumps itself recurses; write the text directly
        raw = '{"parameters": ' + '{"a": ' * depth + "1" + "}" * depth + "}"

    status, body, _ = send(
        running,
        "PUT",
        "nfDeployments/nginx-prod?dryRun=true",
        raw,
        {"Content-Type": "application/json"},
    )

    assert_error(status, body, 400, "BadRequest", "nested")


def test_deeply_nested_arrays_are_400_not_500(running: Any) -> None:
    raw = '{"parameters": {"x": ' + "[" * 50_000 + "]" * 50_000 + "}}"

    status, body, _ = send(
        running, "PUT", "nfDeployments/nginx-prod", raw, {"Content-Type": "application/json"}
    )

    assert_error(status, body, 400, "BadRequest", "nested")


def test_nesting_up_to_the_limit_is_accepted(running: Any) -> None:
    from chalicelib.api.http import MAX_JSON_DEPTH

    # The body itself is one level, "parameters" another.
    raw = json.dumps({"parameters": nested(MAX_JSON_DEPTH - 2)})

    status, body, _ = send(
        running,
        "PUT",
        "nfDeployments/nginx-prod?dryRun=true",
        raw,
        {"Content-Type": "application/json"},
    )

    assert status == 200, body
    check_answer("PUT", f"{BASE}/nfDeployments/nginx-prod", status, body)


def test_body_over_the_size_limit_is_413(running: Any) -> None:
    from chalicelib.api.http import MAX_BODY_BYTES

    raw = json.dumps({"parameters": {"blob": "x" * MAX_BODY_BYTES}})

    status, body, _ = send(
        running, "PUT", "nfDeployments/nginx-prod", raw, {"Content-Type": "application/json"}
    )

    assert_error(status, body, 413, "PayloadTooLarge", "too large")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", "nfDeployments", "GET, POST"),
        ("POST", "nfDeployments/nginx-prod", "DELETE, GET, PUT"),
        ("DELETE", "openapi.json", "GET"),
    ],
)
def test_method_a_path_does_not_offer_is_405_in_the_documented_shape(
    running: Any, method: str, path: str, allowed: str
) -> None:
    status, body, headers = send(running, method, path, "{}", {"Content-Type": "application/json"})

    assert_error(status, body, 405, "MethodNotAllowed", method)
    assert sorted(headers["Allow"].split(", ")) == allowed.split(", ")


def test_every_route_accepts_any_media_type() -> None:
    from app import app

    for path, methods in app.routes.items():
        for method, entry in methods.items():
            assert entry.content_types == ["*/*"], f"{method} {path}"


@pytest.fixture
def served(running: Any) -> Iterator[tuple[str, int]]:
    """The app behind the local server's request handler (``make run``), on a free port."""
    with local_server() as address:
        yield address


def over_http(
    address: tuple[str, int],
    method: str,
    path: str,
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    """One request to the served app, as an admin unless ``headers`` has its own
    ``Authorization``."""
    connection = http.client.HTTPConnection(*address, timeout=10)
    sent = {**bearer("admin"), **(headers or {})}
    try:
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        text = response.read().decode()
        return response.status, json.loads(text) if text else None, dict(response.headers)
    finally:
        connection.close()


@pytest.mark.parametrize("path", ["/nfDeployment/x", "/o2dms/v2", "/", "/o2dms/v1/nope?a=1"])
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_local_server_unknown_path_is_404_not_found(
    served: tuple[str, int], method: str, path: str
) -> None:
    status, body, headers = over_http(served, method, path, "{}" if method == "POST" else None)

    assert_error(status, body, 404, "NotFound", path.split("?", maxsplit=1)[0])
    assert headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("method", ["TRACE", "QUERY", "CONNECT", "PATCH", "BREW"])
def test_local_server_other_methods_are_405_in_the_documented_shape(
    served: tuple[str, int], method: str
) -> None:
    status, body, headers = over_http(served, method, f"{BASE}/nfDeployments")

    assert_error(status, body, 405, "MethodNotAllowed", method)
    assert sorted(headers["Allow"].split(", ")) == ["GET", "POST"]


def test_local_server_serves_the_seed_curl_as_written(served: tuple[str, int]) -> None:
    status, body, headers = over_http(
        served,
        "POST",
        f"{BASE}/nfDeployments/nginx-prod/scale",
        '{"replicas": 3}',
        {"Content-Type": FORM},
    )

    assert status == 204, body
    assert "Content-Type" not in headers  # no content, so no JSON content type either


def test_local_server_unparsable_request_is_json_400(served: tuple[str, int]) -> None:
    with socket.create_connection(served, timeout=10) as raw:
        raw.sendall(b"GET /o2dms/v1/health HTTP/1.1\r\nX-Long: " + b"x" * 70_000 + b"\r\n\r\n")
        answer = raw.makefile("rb").read()

    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), head
    assert_error(400, json.loads(payload), 400, "BadRequest")


def test_a_lone_surrogate_is_400_and_leaves_the_listing_readable(running: Any) -> None:
    raw = '{"parameters": {"note": "\\ud800"}}'  # JSON allows the escape; UTF-8 cannot carry it

    answer = running.http.request(
        "PUT",
        f"{BASE}/nfDeployments/nginx-prod",
        headers={"Content-Type": "application/json"},
        body=raw,
    )
    listing = running.http.get(f"{BASE}/nfDeployments")
    paired = running.http.request(
        "PUT",
        f"{BASE}/nfDeployments/nginx-prod?dryRun=true",
        headers={"Content-Type": "application/json"},
        body='{"parameters": {"note": "\\ud83d\\ude00"}}',  # a pair is a character
    )

    assert answer.status_code == 400
    assert json.loads(answer.body)["message"].startswith("The request body holds a lone surrogate")
    assert listing.status_code == 200
    assert paired.status_code == 200


def test_local_server_keeps_each_threads_request_apart() -> None:
    """chalice local serves requests on threads; each must see its own request."""
    from chalice.app import Chalice, Request

    from scripts.local_gateway import per_thread_requests

    app = Chalice("apart")
    per_thread_requests(app)
    mine = Request(
        {
            "multiValueQueryStringParameters": None,
            "headers": {},
            "pathParameters": None,
            "requestContext": {"httpMethod": "GET", "resourcePath": "/"},
            "stageVariables": None,
            "body": None,
            "isBase64Encoded": False,
        }
    )
    app.current_request = mine
    seen: list[Any] = []
    worker = threading.Thread(target=lambda: seen.append(app.current_request))
    worker.start()
    worker.join()

    assert seen == [None]
    assert app.current_request is mine
    assert isinstance(app, Chalice)
