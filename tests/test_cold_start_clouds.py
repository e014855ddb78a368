"""Cold start: google-auth, azure-identity and msal are imported only when a GKE or AKS
cluster is reached. Importing the app, serving a status request, and even registering and
listing GKE and AKS clusters (which reaches neither cloud) load none of them. Each check
runs in a fresh interpreter."""

from __future__ import annotations

import json

from tests.test_cold_start import printed_lines

CLOUD_LIBRARIES = {"google", "azure", "msal", "msal_extensions"}

SERVE = """
import json, sys
from moto import mock_aws
with mock_aws():
    import boto3
    from tests.conftest import create_table
    create_table(boto3.client("dynamodb", region_name="us-east-1"), "o2dms-dev")
    from chalice.test import Client
    import app
    from tests.auth_helpers import bearer
    from tests.test_api_cloud_managers import AKS, GKE
    with Client(app.app) as client:
        status = client.http.get("/o2dms/v1/nfDeployments/x/status", headers=bearer("viewer"))
        assert status.status_code == 404, status.body
        print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
        admin = {**bearer("admin"), "Content-Type": "application/json"}
        for body in (GKE, AKS):
            made = client.http.post("/o2dms/v1/deploymentManagers", headers=admin,
                                    body=json.dumps(body))
            assert made.status_code == 201, made.body
        listed = client.http.get("/o2dms/v1/deploymentManagers", headers=bearer("viewer"))
        assert listed.status_code == 200, listed.body
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def _modules_after(code: str) -> list[set[str]]:
    """The top-level modules loaded at each point where ``code`` prints them."""
    return [set(json.loads(line)) for line in printed_lines(code)]


def test_cold_start_status_and_cloud_registrations_load_no_cloud_library() -> None:
    after_status, after_registrations = _modules_after(SERVE)

    assert "chalicelib" in after_status
    assert "boto3" in after_status  # the store was really used
    assert not after_status & CLOUD_LIBRARIES
    assert not after_registrations & CLOUD_LIBRARIES


def test_cold_start_reaching_a_gke_or_aks_cluster_is_what_loads_them() -> None:
    code = (
        "import json, sys\n"
        "from chalicelib.adapters.clusters import aks, gke\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )

    [loaded] = _modules_after(code)

    assert {"google", "azure", "msal"} <= loaded  # the check above can see them
