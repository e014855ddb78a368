"""A store that accepts connections and never answers must not hold a request for minutes:
the wiring's AWS clients give up after bounded timeouts and retries, and the API answers
503 in the documented shape well inside API Gateway's 29 s."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from chalicelib import composition
from chalicelib.config import Settings
from tests import auth_helpers
from tests.api_helpers import call

API_GATEWAY_LIMIT = 29.0


@pytest.fixture
def hung_endpoint() -> Iterator[str]:
    """An HTTP endpoint on loopback that accepts every connection and answers nothing."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in held:
            connection.close()
        listener.close()


def test_a_hung_store_answers_503_within_its_timeouts(hung_endpoint: str) -> None:
    settings = auth_helpers.local_auth(
        Settings(
            table_name="o2dms-test",
            endpoint_url=hung_endpoint,
            aws_connect_timeout_seconds=0.5,
            aws_read_timeout_seconds=0.5,
            aws_max_attempts=2,
        )
    )
    composition.use(composition.build(settings))
    from chalice.test import Client

    from app import app

    try:
        with Client(app) as signed_out:
            client = auth_helpers.sign_in(signed_out, "viewer")
            began = time.monotonic()
            answer = call(client, "GET", "nfDeployments/nginx-prod/status")
            took = time.monotonic() - began
    finally:
        composition.use(None)

    assert answer.status == 503, answer.body
    assert answer.body["error"] == "ServiceUnavailable"
    assert took < 5, f"held for {took:.1f} s"


def test_the_default_limits_end_well_inside_api_gateways_29_seconds() -> None:
    settings = Settings()
    attempts = settings.aws_max_attempts
    # botocore's standard retry mode sleeps at most 2**n seconds (jittered) before retry n+1
    backoff = sum(2**n for n in range(attempts - 1))
    worst = (
        attempts * (settings.aws_connect_timeout_seconds + settings.aws_read_timeout_seconds)
        + backoff
    )
    assert worst < API_GATEWAY_LIMIT - 4, worst
    assert Settings.from_env({"O2DMS_AWS_READ_TIMEOUT": "3"}).aws_read_timeout_seconds == 3


@pytest.mark.parametrize("value", ["ture", "enabled", "2"])
def test_a_flag_that_is_neither_true_nor_false_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="O2DMS_HELM_ATOMIC"):
        Settings.from_env({"O2DMS_HELM_ATOMIC": value})
    assert Settings.from_env({"O2DMS_HELM_ATOMIC": "off"}).helm_atomic is False
    assert Settings.from_env({"O2DMS_HELM_ATOMIC": " Yes "}).helm_atomic is True
