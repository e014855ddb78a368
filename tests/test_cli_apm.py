"""``apm``: seed 002's CLI section, run as written against the local run (``make run``), in
process through click's runner, and once as the installed console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from o2dms_cli.apm import apm
from tests.cli_helpers import Run, runner
from tests.test_local_run_acceptance import Api, fast_local_run

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with fast_local_run(tmp_path_factory, "cli") as running:
        yield running


@pytest.fixture
def run(api: Api, tmp_path: Path) -> Run:
    return runner(apm, api, tmp_path)


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_the_seed_commands_as_written(run: Any, api: Api) -> None:
    started = run(
        "deploy start --name my-app --version v2.0.0 --platform kubernetes --environment production"
    )
    assert started.exit_code == 0, started.output
    assert "Started my-app v2.0.0 on kubernetes/production" in started.output
    first = started.output.split("id ", 1)[1].split()[0]
    conflict = run("deploy start --name my-app --version v2.0.1")
    assert conflict.exit_code == 4, conflict.output  # one change at a time
    assert "in progress" in conflict.output
    assert run(f"deploy status {first} --watch -o json").exit_code == 0

    watched = run("deploy start --name my-app --version v2.1.0 --watch --output json")
    assert watched.exit_code == 0, watched.output
    lines = [json.loads(line) for line in watched.output.splitlines()]
    assert lines[0]["type"] == "snapshot"
    assert lines[-1]["type"] == "completed"
    second = lines[-1]["data"]
    assert (second["version"], second["environment"]) == ("v2.1.0", "production")

    shown = run(f"deploy status {second['id']}")
    assert shown.exit_code == 0, shown.output
    for text in ("my-app", "v2.1.0", "completed", "verifying", "readiness", second["id"]):
        assert text in shown.output
    assert max(len(line) for line in shown.output.splitlines()) <= 80

    listed = run("deploy list --platform kubernetes --status completed --limit 10")
    assert listed.exit_code == 0, listed.output
    assert second["id"] in listed.output
    assert max(len(line) for line in listed.output.splitlines()) <= 80
    page = as_json(run("deploy list --platform kubernetes --status completed --limit 1 -o json"))
    assert [d["id"] for d in page["deployments"]] == [second["id"]]
    assert as_json(run("deploy list --platform helm -o json"))["deployments"] == []

    before = api("GET", "nfDeployments/my-app-production/history").json()
    planned = run(f"deploy rollback {second['id']} --dry-run")
    assert planned.exit_code == 0, planned.output
    assert "kubectl rollout undo deployment/my-app" in planned.output
    assert "v2.1.0 -> v2.0.0" in planned.output
    assert "image.tag" in planned.output
    assert api("GET", "nfDeployments/my-app-production/history").json() == before

    back = run(f'deploy rollback {second["id"]} --reason "Performance degradation"')
    assert back.exit_code == 0, back.output
    assert "Rolling my-app back from v2.1.0 to v2.0.0" in back.output
    rollback_id = back.output.split("id ", 1)[1].split()[0]
    assert rollback_id not in {first, second["id"]}
    followed = run(f"deploy status {rollback_id} --watch -o json")
    assert followed.exit_code == 1, followed.output  # a rollback ends rolled_back
    ended = json.loads(followed.output.splitlines()[-1])
    assert ended["data"]["status"] == "rolled_back"
    assert ended["data"]["reason"] == "Performance degradation"

    # Watched from the command that asked for it, a rollback that rolled back did its job.
    again = run(
        f'deploy rollback {rollback_id} --target-version v2.1.0 --reason "Fixed" --watch -o json'
    )
    assert again.exit_code == 0, again.output
    assert json.loads(again.output.splitlines()[-1])["data"]["status"] == "rolled_back"


def test_a_crashing_version_is_watched_to_its_rollback(run: Any) -> None:
    first = run("deploy start --name shop --version v1 --environment qa -o json")
    assert run(f"deploy status {as_json(first)['id']} --watch -o json").exit_code == 0
    watched = run("deploy start --name shop --version v2-crash --watch -o json")
    assert watched.exit_code == 1, watched.output
    kinds = [json.loads(line)["type"] for line in watched.output.splitlines()]
    assert kinds[0] == "snapshot"
    assert kinds.index("failed") < kinds.index("rollback_started") < kinds.index("rolled_back")
    assert kinds[-1] == "rolled_back"


def test_mistakes_get_the_servers_message_and_an_exit_code_by_class(run: Any) -> None:
    missing = run("deploy status 01890000-0000-7000-8000-000000000000")
    assert missing.exit_code == 3
    assert "not found" in missing.output.lower()
    assert "Traceback" not in missing.output
    assert run("deploy status not-a-uuid").exit_code == 2
    refused = run("deploy rollback 01890000-0000-7000-8000-000000000000")
    assert refused.exit_code == 2
    assert "needs --reason" in refused.output
    assert run("deploy start --name never-seen --version v1").exit_code == 2
    assert run("deploy list --status sideways").exit_code == 2
    assert run("deploy start --name x --version v1 --environment qa --config oops").exit_code == 2


def test_credentials_from_a_profile(api: Api, tmp_path: Path) -> None:
    folder = tmp_path / "o2dms"
    folder.mkdir()
    token_file = tmp_path / "token"
    token_file.write_text(api.mint("viewer", subject="profiled"))
    (folder / "config.toml").write_text(
        'default_profile = "local"\n'
        "[profiles.local]\n"
        f'api_url = "{api.root}"\n'
        f'token_command = "cat {token_file}"\n'
    )
    env = {"XDG_CONFIG_HOME": str(tmp_path), "O2DMS_API_URL": "", "O2DMS_TOKEN": ""}
    runner = CliRunner(env=env)
    listed = runner.invoke(apm, ["deploy", "list", "-o", "json"])
    assert listed.exit_code == 0, listed.output
    denied = runner.invoke(
        apm, ["deploy", "start", "--name", "p", "--version", "v1", "--environment", "qa"]
    )
    assert denied.exit_code == 6, denied.output  # a viewer may not deploy
    unknown = runner.invoke(apm, ["--profile", "prod", "deploy", "list"])
    assert unknown.exit_code == 2
    assert "no profile 'prod'" in unknown.output


def test_the_installed_console_script(api: Api) -> None:
    script = shutil.which("apm", path=str(Path(sys.executable).parent))
    assert script is not None, "make setup installs the apm console script"
    env = {**os.environ, "O2DMS_API_URL": api.root, "O2DMS_TOKEN": api.token}
    helped = subprocess.run(
        [script, "deploy", "--help"], capture_output=True, text=True, env=env, check=False
    )
    assert helped.returncode == 0
    assert "Exit codes" in helped.stdout
    listed = subprocess.run(
        [script, "deploy", "list", "--limit", "1", "-o", "json"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert "deployments" in json.loads(listed.stdout)
    # What apm loads to print its help: no AWS or Chalice, no HTTP or terminal library.
    probe = (
        "import sys; from o2dms_cli.apm import apm\n"
        "try:\n    apm(['--help'], prog_name='apm')\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('boto3', 'chalice', 'httpx', 'rich', 'websockets')"
        " if m in sys.modules]\nprint(heavy)"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert loaded.stdout.strip().splitlines()[-1] == "[]"
