"""The process-wide wiring as a cold Lambda function builds it, in a fresh interpreter: the
live ports first (the WebSocket and stream functions ask for them before anything else),
and the wiring itself with the cyclic garbage collector left as it found it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {
    "PATH": "/usr/bin:/bin",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # nothing is called: the ports are only built
    "O2DMS_TABLE_NAME": "o2dms",
    "O2DMS_AUTH": "gateway",
    "O2DMS_WS_ENDPOINT": "http://127.0.0.1:9",
}


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,  # a deadlock fails the test instead of hanging it
        check=True,
    )
    return done.stdout.strip()


def test_the_live_ports_can_be_the_first_thing_a_cold_process_builds() -> None:
    code = (
        "from chalicelib import composition\n"
        "subscriptions, _ = composition.live_ports()\n"
        "print(type(subscriptions).__name__, composition.deps().settings.table_name)"
    )

    assert _run(code) == "DynamoDBSubscriptions o2dms"


def test_building_the_wiring_leaves_the_garbage_collector_as_it_was() -> None:
    code = (
        "import gc\n"
        "from chalicelib import composition\n"
        "composition.deps()\n"
        "on = gc.isenabled()\n"
        "composition.use(None)\n"
        "gc.disable()\n"
        "composition.deps()\n"
        "print(on, gc.isenabled(), gc.get_freeze_count() > 0)"
    )

    assert _run(code) == "True False True"
