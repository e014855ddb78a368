"""Cold start: importing the app must stay cheap, and read paths must not pull in the
Kubernetes client or other heavy modules (each check runs in a fresh interpreter).

The status read is held tighter: served the way Lambda serves it (``app.app(event,
context)``, ``scripts/status_probe.py``) against a moto server in its own process, it loads
neither pydantic nor Powertools nor any other library only some routes need, and builds no
backend. A read that does answer with a model builds that one, and no request body's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from scripts.status_table import seeded_table
from tests.auth_helpers import KEY_HEX

if TYPE_CHECKING:
    from scripts.status_probe import Report

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("kubernetes", "boto3", "botocore", "jsonschema", "moto", "yaml")
# Off the status path: what only bodies, other routes, triggers or tracing need.
NOT_FOR_STATUS = (
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "aws_lambda_powertools",
    "aws_xray_sdk",
    "jsonschema",
    "yaml",
    "kubernetes",
    "prometheus_client",
    "joserfc",
    "cryptography",
    "moto",
)
NOT_FOR_STATUS_HERE = (
    "chalicelib.api.schemas",  # the wire models (pydantic)
    "chalicelib.api.app_schemas",
    "chalicelib.api.render",
    "chalicelib.api.openapi",
    "chalicelib.adapters.backends",  # no deployment is changed: no backend, no cluster
    "chalicelib.adapters.local_cluster",
    "chalicelib.adapters.helm",
)

READS = """
import json, sys
from moto import mock_aws
before = set(sys.modules)
with mock_aws():
    import boto3
    from tests.conftest import create_table
    create_table(boto3.client("dynamodb", region_name="us-east-1"), "o2dms-dev")
    from chalice.test import Client
    import app
    from tests.auth_helpers import bearer
    with Client(app.app) as client:
        for path in ("/o2dms/v1/nfDeployments", "/o2dms/v1/nfDeployments/x/status",
                     "/o2dms/v1/nfDeployments/x/history", "/o2dms/v1/nfDeploymentDescriptors"):
            answer = client.http.get(path, headers=bearer("viewer"))
            assert answer.status_code in (200, 404), (path, answer.body)
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def _printed_last(code: str) -> Any:
    """The JSON of the last line ``code`` prints in a fresh interpreter."""
    return json.loads(printed_lines(code)[-1])


def printed_lines(code: str) -> list[str]:
    """What ``code`` prints in a fresh interpreter with the app's local settings: nothing
    this process has imported can hide what ``code`` loads."""
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "O2DMS_TABLE_NAME": "o2dms",
        "O2DMS_AUTH": "local",
        "O2DMS_AUTH_SIGNING_KEY": KEY_HEX,
    }
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip().splitlines()


def _modules_after(code: str) -> set[str]:
    return set(_printed_last(code))


def test_cold_start_import_app_loads_no_aws_or_kubernetes_client() -> None:
    loaded = _modules_after(
        "import json, sys, app; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )

    assert "chalicelib" in loaded
    assert not loaded & set(HEAVY)


def test_cold_start_read_endpoints_do_not_import_kubernetes_or_jsonschema() -> None:
    loaded = _modules_after(READS)

    assert "boto3" in loaded  # the store was really used
    assert "kubernetes" not in loaded
    assert "jsonschema" not in loaded


REQUEST_BODIES = (
    "DescriptorCreate",
    "DeploymentCreate",
    "DeploymentUpgrade",
    "ScaleRequest",
    "RollbackRequest",
    "TerminateRequest",
    "ScheduleCreate",
    "AlarmBindingIn",
    "ManagerCreate",
)
BODY_MODELS = """
import json, sys
from moto import mock_aws
with mock_aws():
    import boto3
    from tests.conftest import create_table
    create_table(boto3.client("dynamodb", region_name="us-east-1"), "o2dms-dev")
    from chalice.test import Client
    import app
    from tests.auth_helpers import bearer
    with Client(app.app) as client:
        answer = client.http.get("/o2dms/v1/nfDeployments", headers=bearer("viewer"))
        assert answer.status_code == 200, answer.body
    from chalicelib.api import schemas
    built = sorted(
        name for name, model in vars(schemas).items()
        if isinstance(model, type) and issubclass(model, schemas._Wire)
        and model.__pydantic_complete__
    )
    print(json.dumps({"built": built, "modules": sorted(sys.modules)}))
"""


@pytest.fixture(scope="module")
def cold_status() -> Iterator[Report]:
    """One cold ``GET .../status`` through the Lambda entry point, in a fresh process."""
    with seeded_table() as seeded:
        yield seeded.probe("app", package=ROOT)


def test_a_cold_status_read_answers_through_the_lambda_entry_point(cold_status: Report) -> None:
    assert cold_status["status"] == 200
    body = json.loads(cold_status["body"])
    assert (body["deploymentId"], body["status"]) == ("status-probe", "INSTANTIATED")


def test_a_cold_status_read_loads_no_pydantic_powertools_or_other_heavy_library(
    cold_status: Report,
) -> None:
    modules = set(cold_status["modules"])
    loaded = {m.split(".")[0] for m in modules}

    assert "botocore" in loaded  # the store was really used
    assert not loaded & set(NOT_FOR_STATUS)
    assert not {m for m in modules if m.startswith(NOT_FOR_STATUS_HERE)}


def test_a_read_builds_the_model_of_its_answer_and_no_request_bodies() -> None:
    found = _printed_last(BODY_MODELS)

    assert "DeploymentList" in found["built"]  # the answer's model, built on first use
    assert not set(REQUEST_BODIES) & set(found["built"])
    assert "chalicelib.api.app_schemas" not in found["modules"]
