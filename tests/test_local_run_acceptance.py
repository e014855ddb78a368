"""Acceptance against the real local run (`scripts/run_local.py`, what `make run` starts):
the seed document's examples over HTTP, 20 concurrent upgrades of one deployment, the
automation triggers driven with AWS's own API against the local emulator, and a launcher
killed mid-upgrade then started again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from chalicelib.adapters import local_tokens
from scripts.local_state import signing_key_file
from tests.api_helpers import NGINX_DESCRIPTOR, put_alarm
from tests.test_local_run import REPO_ROOT, free_ports

TRANSIENT = {"DEPLOYING", "ROLLING_BACK", "DELETING"}


class Api:
    def __init__(
        self,
        base: str,
        aws_endpoint: str,
        launcher: subprocess.Popen[bytes] | None = None,
        *,
        state_dir: Path,
    ) -> None:
        self.base = base
        self.aws_endpoint = aws_endpoint
        self.launcher = launcher
        self.state_dir = state_dir
        self.token = self.mint("admin", subject="tester")

    def mint(self, *groups: str, subject: str) -> str:
        """A token of the local run's issuer (the key ``make token`` uses) for ``groups``
        (``admin``, or a group such as ``o2dms-operator:production``)."""
        key = local_tokens.read_key(signing_key_file(self.state_dir))
        named = [g if g.startswith("o2dms-") else f"o2dms-{g}" for g in groups]
        return local_tokens.mint(key, subject=subject, groups=named)

    def aws(self, service: str) -> Any:
        """A boto3 client on the local run's AWS emulator, as a user would make one."""
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.aws_endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def __call__(
        self, method: str, path: str, body: Any = None, *, token: str | None = None
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        # A path from the root ("/api/v1/..."), or one under the O2 base ("nfDeployments").
        url = self.root + path if path.startswith("/") else f"{self.base}/{path}"
        return requests.request(method, url, json=body, headers=headers, timeout=30)

    @property
    def root(self) -> str:
        return self.base.split("/o2dms/", 1)[0]

    def settle(self, deployment: str, timeout: float = 30) -> dict[str, Any]:
        """Wait until the deployment's rollout has ended; its final status."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status: dict[str, Any] = self("GET", f"nfDeployments/{deployment}/status").json()
            if status["status"] not in TRANSIENT:
                return status
            time.sleep(0.2)
        raise AssertionError(f"{deployment} still {status['status']} after {timeout}s")


@contextmanager
def local_run(log_path: Path, **settings: str) -> Iterator[Api]:
    """``scripts/run_local.py`` (what ``make run`` starts) on free ports, keeping its state in
    a new folder beside the log, with ``settings`` added to its environment; stopped with
    Ctrl-C's signal at the end."""
    state_dir = log_path.with_name(f"{log_path.stem}-state")
    with local_run_on(log_path, ports=free_ports(3), state_dir=state_dir, settings=settings) as api:
        yield api


@contextmanager
def local_run_on(
    log_path: Path, *, ports: Sequence[int], state_dir: Path, settings: Mapping[str, str]
) -> Iterator[Api]:
    """``local_run`` on the given ports (API, AWS, Lambda) and state directory, so that a
    test can start it again where it was; not stopped again if the test killed it."""
    api_port, aws_port, lambda_port = ports
    env = {
        **os.environ,
        "O2DMS_API_PORT": str(api_port),
        "O2DMS_AWS_PORT": str(aws_port),
        "O2DMS_LAMBDA_PORT": str(lambda_port),
        "O2DMS_LOCAL_STATE_DIR": str(state_dir),
        **settings,
    }
    with log_path.open("wb") as log:
        launcher = subprocess.Popen(
            [sys.executable, "scripts/run_local.py"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{api_port}/o2dms/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert launcher.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.3)
        yield Api(base, f"http://127.0.0.1:{aws_port}", launcher, state_dir=state_dir)
    finally:
        if launcher.poll() is None:
            launcher.send_signal(signal.SIGINT)
        launcher.wait(timeout=20)


FAST_ROLLOUTS = {"O2DMS_LOCAL_ROLLOUT_SECONDS": "1", "O2DMS_ROLLOUT_POLL_SECONDS": "0.2"}


@contextmanager
def fast_local_run(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Api]:
    """A local run whose simulated rollouts take a second, logging into a folder of its own."""
    with local_run(tmp_path_factory.mktemp(name) / "run_local.log", **FAST_ROLLOUTS) as api:
        yield api


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with fast_local_run(tmp_path_factory, "run") as running:
        yield running


def test_local_run_seed_examples_answer_as_documented(api: Api) -> None:
    assert api("POST", "nfDeploymentDescriptors", NGINX_DESCRIPTOR).status_code == 201
    created = api(
        "POST",
        "nfDeployments",
        {"name": "nginx-prod", "descriptorId": "nginx-chart-1.2.0", "namespace": "production"},
    )
    assert created.status_code == 201
    assert api.settle("nginx-prod")["status"] == "INSTANTIATED"

    for replicas in (5, 1, 0):
        scaled = api("POST", "nfDeployments/nginx-prod/scale", {"replicas": replicas})
        assert (scaled.status_code, scaled.text) == (204, "")
        status = api.settle("nginx-prod")
        assert status["status"] == "INSTANTIATED"
        assert status["progress"] == 100
        plural = "" if replicas == 1 else "s"
        assert status["message"] == f"Deployment scaled to {replicas} replica{plural}"

    image = api("PUT", "nfDeployments/nginx-prod", {"parameters": {"image": {"tag": "1.21.0"}}})
    assert image.status_code == 200
    assert set(image.json()) >= {
        "deploymentId",
        "name",
        "namespace",
        "status",
        "version",
        "description",
        "extensions",
    }
    assert image.json()["extensions"]["helm.appVersion"] == "1.21.0"
    api.settle("nginx-prod")
    chart = api(
        "PUT",
        "nfDeployments/nginx-prod",
        {
            "descriptorId": "nginx-chart-1.2.0",
            "parameters": {"replicaCount": 5, "service": {"type": "LoadBalancer"}},
        },
    )
    assert chart.status_code == 200
    assert chart.json()["description"] == "Upgraded to nginx-chart-1.2.0"
    api.settle("nginx-prod")

    previous = api("POST", "nfDeployments/nginx-prod/rollback", {"revision": 0})
    assert previous.status_code == 200
    assert previous.json()["description"] == "Rolled back from revision 6 to revision 5"
    api.settle("nginx-prod")
    specific = api("POST", "nfDeployments/nginx-prod/rollback", {"revision": 3})
    assert specific.status_code == 200
    assert specific.json()["extensions"]["helm.targetRevision"] == 3
    status = api.settle("nginx-prod")
    assert {c["type"] for c in status["conditions"]} == {"Available", "Progressing"}

    history = api("GET", "nfDeployments/nginx-prod/history").json()
    assert history["currentRevision"] == 8
    assert [r["revision"] for r in history["revisions"]] == [8, 7, 6, 5, 4, 3, 2, 1]
    assert set(history["revisions"][0]) >= {
        "revision",
        "status",
        "chartVersion",
        "appVersion",
        "description",
        "deployedAt",
    }

    negative = api("POST", "nfDeployments/nginx-prod/scale", {"replicas": -1})
    assert negative.json() == {
        "error": "BadRequest",
        "message": "Replica count must be non-negative",
        "code": 400,
    }
    current = api("POST", "nfDeployments/nginx-prod/rollback", {"revision": 8})
    assert (current.status_code, current.json()["error"]) == (409, "Conflict")
    missing = api("POST", "nfDeployments/nginx-prod/rollback", {"revision": 30})
    assert missing.json()["message"] == "Revision 30 not found in deployment history"


def test_local_run_twenty_concurrent_upgrades_exactly_one_wins(api: Api) -> None:
    assert (
        api(
            "POST", "nfDeploymentDescriptors", {**NGINX_DESCRIPTOR, "descriptorId": "race-1.0"}
        ).status_code
        == 201
    )
    assert (
        api("POST", "nfDeployments", {"name": "race", "descriptorId": "race-1.0"}).status_code
        == 201
    )
    api.settle("race")
    before = api("GET", "nfDeployments/race/history").json()["revisions"]
    gate = threading.Barrier(20)
    codes: list[int] = []

    def upgrade(n: int) -> None:
        gate.wait()
        try:
            answer = api("PUT", "nfDeployments/race", {"parameters": {"replicaCount": n}})
        except requests.RequestException as exc:
            codes.append(-1)
            raise AssertionError(f"upgrade {n} got no answer: {exc}") from exc
        codes.append(answer.status_code)

    threads = [threading.Thread(target=upgrade, args=(n,)) for n in range(1, 21)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    api.settle("race")

    after = api("GET", "nfDeployments/race/history").json()["revisions"]
    assert sorted(codes) == [200] + [409] * 19
    assert len(after) == len(before) + 1
    assert [r["revision"] for r in after] == list(range(len(after), 0, -1))


def test_local_run_crashing_upgrade_rolls_back_by_itself(api: Api) -> None:
    body = {**NGINX_DESCRIPTOR, "descriptorId": "crashy-1.0"}
    assert api("POST", "nfDeploymentDescriptors", body).status_code == 201
    assert (
        api("POST", "nfDeployments", {"name": "crashy", "descriptorId": "crashy-1.0"}).status_code
        == 201
    )
    api.settle("crashy")
    upgrade = api("PUT", "nfDeployments/crashy", {"parameters": {"image": {"tag": "crash"}}})
    seen = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = api("GET", "nfDeployments/crashy/status").json()
        seen.add(status["status"])
        if status["status"] not in TRANSIENT:
            break
        time.sleep(0.1)

    assert upgrade.status_code == 200
    assert {"DEPLOYING", "ROLLING_BACK"} <= seen
    assert status["status"] == "INSTANTIATED"
    assert status["revision"] == 3
    history = api("GET", "nfDeployments/crashy/history").json()["revisions"]
    assert [(r["revision"], r["status"]) for r in history] == [
        (3, "deployed"),
        (2, "failed"),
        (1, "superseded"),
    ]
    assert history[0]["description"].startswith("Rolled back from revision 2 to revision 1")
    operation_id = upgrade.json()["operationId"]
    operation = api("GET", f"nfDeployments/crashy/operations/{operation_id}").json()
    assert operation["state"] == "ROLLED_BACK"
    assert "CrashLoopBackOff" in operation["failure"]


def _deploy(api: Api, name: str) -> None:
    body = {**NGINX_DESCRIPTOR, "descriptorId": f"{name}-1.0"}
    assert api("POST", "nfDeploymentDescriptors", body).status_code == 201
    created = api("POST", "nfDeployments", {"name": name, "descriptorId": f"{name}-1.0"})
    assert created.status_code == 201, created.text
    api.settle(name)


def test_local_run_rate_schedule_scales_within_two_minutes(api: Api) -> None:
    _deploy(api, "scheduled")
    created = api(
        "POST",
        "nfDeployments/scheduled/scalingSchedules",
        {"expression": "rate(1 minute)", "replicas": 3},
    )
    assert created.status_code == 201, created.text
    schedule_id = created.json()["scheduleId"]

    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        deployment = api("GET", "nfDeployments/scheduled").json()
        if deployment["replicas"] == 3 and deployment["status"] == "INSTANTIATED":
            break
        time.sleep(1)

    assert deployment["replicas"] == 3, deployment
    newest = api("GET", "nfDeployments/scheduled/operations").json()["operations"][0]
    assert (newest["type"], newest["state"], newest["trigger"]) == (
        "scale",
        "COMPLETED",
        "schedule",
    )
    assert newest["actor"] == f"schedule/{schedule_id}"
    history = api("GET", "nfDeployments/scheduled/history").json()["revisions"]
    assert history[0]["description"] == "Scaled to 3 replicas"
    assert history[0]["operationId"] == newest["operationId"]
    last = api("GET", f"nfDeployments/scheduled/scalingSchedules/{schedule_id}").json()[
        "lastFiring"
    ]
    assert last["outcome"] in {"started", "unchanged"}


def test_local_run_set_alarm_state_rolls_back_a_fresh_upgrade(api: Api) -> None:
    _deploy(api, "alarmed")
    cloudwatch = api.aws("cloudwatch")
    put_alarm(cloudwatch, "alarmed-5xx")
    bound = api("PUT", "nfDeployments/alarmed/rollbackAlarms", {"alarmNames": ["alarmed-5xx"]})
    assert bound.status_code == 200, bound.text
    assert api("PUT", "nfDeployments/alarmed", {"parameters": {"image": {"tag": "1.21.0"}}}).ok
    api.settle("alarmed")

    cloudwatch.set_alarm_state(
        AlarmName="alarmed-5xx", StateValue="ALARM", StateReason="5xx above threshold"
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        history = api("GET", "nfDeployments/alarmed/history").json()["revisions"]
        if len(history) == 3 and history[0]["status"] == "deployed":
            break
        time.sleep(0.5)

    assert [r["revision"] for r in history] == [3, 2, 1]
    assert history[0]["description"] == (
        "Rolled back from revision 2 to revision 1 "
        "(alarm alarmed-5xx in ALARM: 5xx above threshold)"
    )
    rollback_op = history[0]["operationId"]
    operation = api("GET", f"nfDeployments/alarmed/operations/{rollback_op}").json()
    assert (operation["trigger"], operation["actor"]) == ("alarm", "alarm/alarmed-5xx")
