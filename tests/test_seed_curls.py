"""Seed 000's curl examples, run exactly as printed (only the host aimed at the test's port)
against the local run, in the order the seed gives them, after creating the descriptor and
the deployment they assume. None may fail for being a curl example: none answers 5xx, 415
or 403, every error is in the documented shape, and every example whose target exists in
the seed's story succeeds."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api_helpers import NGINX_DESCRIPTOR
from tests.shell_steps import Step, run_step, split_commands
from tests.test_local_run_acceptance import Api, fast_local_run

SEED = next((Path(__file__).resolve().parents[2] / "shared" / "seeds").glob("000_*.txt"), None)
HOST = "http://localhost:8080"
CHANGE = re.compile(
    r"-X (POST|PUT|DELETE) \"" + re.escape(HOST) + r"/o2dms/v1/nfDeployments/?([a-z0-9-]*)"
)
# Examples about things the seed's story never creates: they must fail cleanly (404).
ABSENT = ("nginx-prod-blue", "nginx-chart-1.0.0")

pytestmark = pytest.mark.skipif(SEED is None, reason="seed 000 is not beside the project")


def seed_examples() -> list[Step]:
    """Every curl of the seed's bash blocks that calls the API."""
    assert SEED is not None
    blocks = re.findall(r"```bash\n(.*?)```", SEED.read_text(), re.S)
    steps = [step for block in blocks for step in split_commands(block.splitlines())]
    return [s for s in steps if s.command.startswith("curl") and f"{HOST}/o2dms/" in s.command]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with fast_local_run(tmp_path_factory, "seed") as running:
        yield running


def _body(out: str) -> Any:
    text = out.split("\r\n\r\n", 1)[-1].strip()
    return json.loads(text) if text.startswith("{") else None


def curl_home(folder: Path, token: str) -> dict[str, str]:
    """An environment in which curl sends ``token`` with every request (``.curlrc``), so the
    seed's examples run exactly as printed with authentication on."""
    (folder / ".curlrc").write_text(f'header = "Authorization: Bearer {token}"\n')
    return {"CURL_HOME": str(folder)}


def test_seed_000_curl_examples_work_as_printed(api: Api, tmp_path: Path) -> None:
    assert api("POST", "nfDeploymentDescriptors", NGINX_DESCRIPTOR).status_code == 201
    create = {"name": "nginx-prod", "descriptorId": "nginx-chart-1.2.0", "namespace": "production"}
    assert api("POST", "nfDeployments", create).status_code == 201
    api.settle("nginx-prod")
    base = api.base.removesuffix("/o2dms/v1")

    examples = seed_examples()
    assert len(examples) >= 25
    env = curl_home(tmp_path, api.mint("admin", subject="smo"))
    answered = []
    for step in examples:
        command = step.command.replace(HOST, base)
        code, out = run_step(Step(command, step.says), env)
        answered.append(code)
        body = _body(out)
        where = f"{step.command}\nanswered {code}: {out[:300]}"
        assert code < 500, where
        assert code not in (403, 405, 415), where
        if code >= 400:
            assert body is not None, where
            assert set(body) == {"error", "message", "code"}, where
            assert body["code"] == code, where
            assert any(name in step.command for name in ABSENT), where
        changed = CHANGE.search(step.command)
        if changed and code < 400:
            target = (
                changed.group(2)
                or json.loads(
                    re.search(r"-d '(.*)'", command, re.S).group(1)  # type: ignore[union-attr]
                )["name"]
            )
            api.settle(target, timeout=60)
    assert sum(code < 300 for code in answered) >= len(examples) - len(ABSENT)
