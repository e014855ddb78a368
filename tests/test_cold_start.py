"""Cold start: importing the app must stay cheap, and read paths must not pull in the
Kubernetes client or other heavy modules (each check runs in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.auth_helpers import KEY_HEX

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("kubernetes", "boto3", "botocore", "jsonschema", "moto", "yaml")

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


def _modules_after(code: str) -> set[str]:
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
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


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
