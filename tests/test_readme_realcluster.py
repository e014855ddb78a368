"""The README's "Try it" block, run as written against ``make run`` with
``O2DMS_KUBECONFIG`` aimed at a real API server (the session's cluster, see
``tests/kit.py``), then the README's ``crash`` upgrade that rolls back by itself.

Each command of the block runs unchanged in bash, with only ``API`` aimed at the test's
port; ``curl`` is wrapped to report the HTTP status as well. As the README says, the next
change waits until ``/status`` has left ``DEPLOYING``. A trailing comment that starts with a
status code, or quotes a text, is what the command must answer. The deployment lands in
the namespace ``production`` of that cluster, and is terminated at the end."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.real_cluster import Kube
from tests.shell_steps import Step, run_step, split_commands
from tests.test_local_run import REPO_ROOT
from tests.test_local_run_acceptance import Api, local_run

pytestmark = pytest.mark.realcluster
README = REPO_ROOT / "README.md"
STATUS_CODE = re.compile(r"^(?P<code>[1-5]\d\d)\b")
QUOTED = re.compile(r'"([^"]+)"')


def try_it_block() -> tuple[str, str, list[Step]]:
    """The API line, the credentials line and the commands of the README's first bash block
    under "Try it"."""
    text = README.read_text()
    section = text[text.index("\n## Try it\n") :]
    block = section[section.index("```bash\n") + len("```bash\n") :]
    block = block[: block.index("```")]
    api_line, auth_line, *lines = (line for line in block.splitlines() if not line.startswith("#"))
    assert api_line.startswith("API="), api_line
    assert auth_line.startswith("AUTH="), auth_line
    return api_line, auth_line, split_commands(lines)


def credentials(auth_line: str, api: Api) -> str:
    """``AUTH`` as the README's line sets it (``make -s token`` in the project, for the local
    run whose state is ``api``'s)."""
    done = subprocess.run(
        ["bash", "-c", f'{auth_line}\nprintf %s "$AUTH"'],
        cwd=REPO_ROOT,
        env={**os.environ, "O2DMS_LOCAL_STATE_DIR": str(api.state_dir)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def run(step: Step, api: Api, auth: str) -> tuple[int, str]:
    """The step's command in bash, as the README has it; its HTTP status and output."""
    return run_step(step, {"API": api.base, "AUTH": auth})


def body_of(out: str) -> Any:
    """The JSON body of a curl answer (after the headers, with ``-i``), if any."""
    body = out.split("\r\n\r\n", 1)[-1].strip()
    return json.loads(body) if body.startswith("{") else None


@pytest.fixture
def readme_api(real_kubeconfig: str, tmp_path: Any) -> Iterator[Api]:
    kube = Kube(real_kubeconfig)
    settings = {"O2DMS_KUBECONFIG": real_kubeconfig, "O2DMS_ROLLOUT_POLL_SECONDS": "0.5"}
    try:
        with local_run(tmp_path / "run_local.log", **settings) as api:
            yield api
            api("DELETE", "nfDeployments/nginx-prod")
            for _ in range(120):  # until terminated: NOT_INSTANTIATED
                if api("GET", "nfDeployments/nginx-prod").json()["status"] == "NOT_INSTANTIATED":
                    break
                time.sleep(0.5)
    finally:
        kube.drop_namespace("production")


def test_readme_try_it_runs_as_written_on_a_real_api_server(
    readme_api: Api, real_kubeconfig: str
) -> None:
    api, kube = readme_api, Kube(real_kubeconfig)
    api_line, auth_line, steps = try_it_block()
    assert api_line == "API=http://127.0.0.1:8080/o2dms/v1"
    assert len(steps) >= 8
    auth = credentials(auth_line, api)
    assert auth.startswith("Authorization: Bearer ey"), auth

    for step in steps:
        code, out = run(step, api, auth)
        assert 200 <= code < 300, f"{step.command}\nanswered {code}: {out}"
        expected = STATUS_CODE.match(step.says)
        if expected:
            assert code == int(expected.group("code")), f"{step.command}\nanswered {code}"
        for quoted in QUOTED.findall(step.says):
            assert quoted in out, f"{step.command}\nanswered {out}\nwithout {quoted!r}"
        if re.search(r"-X (POST|PUT|DELETE) \$API/nfDeployments\b", step.command):
            assert api.settle("nginx-prod", timeout=120)["status"] == "INSTANTIATED"

    history = api("GET", "nfDeployments/nginx-prod/history").json()["revisions"]
    assert [r["revision"] for r in history] == [4, 3, 2, 1]
    workload = kube.get("deployment", "nginx-prod", "production")
    assert workload is not None
    container = workload["spec"]["template"]["spec"]["containers"][0]
    assert (workload["spec"]["replicas"], container["image"]) == (5, "nginx:1.20.0")
    assert workload["status"]["readyReplicas"] == 5

    # "To see a failure: upgrade to an image tag containing crash ..."
    crash = {"parameters": {"image": {"tag": "crash"}}}
    assert api("PUT", "nfDeployments/nginx-prod", crash).status_code == 200
    seen = set()
    status: dict[str, Any] = {}
    for _ in range(240):
        status = api("GET", "nfDeployments/nginx-prod/status").json()
        seen.add(status["status"])
        if status["status"] == "INSTANTIATED" and status["operationId"] is None:
            break
        time.sleep(0.25)
    assert {"DEPLOYING", "ROLLING_BACK", "INSTANTIATED"} <= seen, seen
    assert status["revision"] == 6
    history = api("GET", "nfDeployments/nginx-prod/history").json()["revisions"]
    assert [(r["revision"], r["status"]) for r in history[:2]] == [(6, "deployed"), (5, "failed")]
    assert history[0]["description"].startswith("Rolled back from revision 5 to revision 4")
    operation = api("GET", "nfDeployments/nginx-prod/operations").json()["operations"][0]
    assert operation["state"] == "ROLLED_BACK"
    assert "CrashLoopBackOff" in operation["error"]["message"]
    workload = kube.get("deployment", "nginx-prod", "production")
    assert workload is not None
    assert workload["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.20.0"
