"""`make run` killed mid-upgrade and started again: the data is still there, the rollout it
left running ends by itself, and nothing of the killed run holds the ports."""

from __future__ import annotations

import time
from pathlib import Path

from tests.api_helpers import NGINX_DESCRIPTOR
from tests.test_local_run import free_ports, port_is_free
from tests.test_local_run_acceptance import local_run_on

FAST = {"O2DMS_LOCAL_ROLLOUT_SECONDS": "3", "O2DMS_ROLLOUT_POLL_SECONDS": "0.2"}
CHILDREN_EXIT_SECONDS = 15


def wait_for_free_ports(ports: tuple[int, int, int]) -> bool:
    deadline = time.monotonic() + CHILDREN_EXIT_SECONDS
    while time.monotonic() < deadline:
        if all(port_is_free(port) for port in ports):
            return True
        time.sleep(0.2)
    return False


def test_local_run_killed_mid_upgrade_restarts_with_its_data_and_ends_the_rollout(
    tmp_path: Path,
) -> None:
    api_port, aws_port, lambda_port = free_ports(3)
    ports = (api_port, aws_port, lambda_port)
    state_dir = tmp_path / "state"

    # Given a local run with a deployment whose upgrade is rolling out
    first = tmp_path / "first.log"
    with local_run_on(first, ports=ports, state_dir=state_dir, settings=FAST) as api:
        assert api("POST", "nfDeploymentDescriptors", NGINX_DESCRIPTOR).status_code == 201
        created = api(
            "POST",
            "nfDeployments",
            {  # with a secret: sealed with the emulator's KMS key, which must survive too
                "name": "nginx-prod",
                "descriptorId": "nginx-chart-1.2.0",
                "parameters": {"dbPassword": "restart-Pa55word"},
            },
        )
        assert created.status_code == 201, created.text
        api.settle("nginx-prod")
        upgrade = api("PUT", "nfDeployments/nginx-prod", {"parameters": {"replicaCount": 3}})
        assert upgrade.status_code == 200, upgrade.text
        assert api("GET", "nfDeployments/nginx-prod/status").json()["status"] == "DEPLOYING"

        # When the launcher alone is killed with SIGKILL
        assert api.launcher is not None
        api.launcher.kill()
        api.launcher.wait(timeout=10)

        # Then its children die with it: every port is free again
        assert wait_for_free_ports(ports), first.read_text()

    # When it starts again on the same ports and state directory
    second = tmp_path / "second.log"
    with local_run_on(second, ports=ports, state_dir=state_dir, settings=FAST) as api:
        # Then the data is there
        descriptor = api("GET", "nfDeploymentDescriptors/nginx-chart-1.2.0")
        assert descriptor.status_code == 200, descriptor.text
        # And the upgrade's rollout ends by itself, well before its lease would expire
        status = api.settle("nginx-prod", timeout=60)
        operation_id = upgrade.json()["operationId"]
        operation = api("GET", f"nfDeployments/nginx-prod/operations/{operation_id}").json()
        assert operation["state"] in {"COMPLETED", "ROLLED_BACK"}, operation
        assert status["status"] == "INSTANTIATED", status
        history = api("GET", "nfDeployments/nginx-prod/history").json()["revisions"]
        assert [r["revision"] for r in history][-2:] == [2, 1]
        # And the deployment takes changes again (its secret unsealed by the kept KMS key)
        scaled = api("POST", "nfDeployments/nginx-prod/scale", {"replicas": 2})
        assert scaled.status_code == 204, scaled.text
