"""``o2dms``: seed 000's walkthrough (README "Try it") through the command line, against the
local run (``make run``), in process through click's runner: the tables people read, the
answers scripts read (``-o json``), and the exit codes of mistakes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from o2dms_cli.o2dms import o2dms
from tests.cli_helpers import Run, runner
from tests.test_local_run_acceptance import Api, fast_local_run

ROOT = Path(__file__).resolve().parent.parent
DESCRIPTOR = (
    "descriptors create --id nginx-chart-1.2.0 --name nginx "
    "--repo https://charts.example.com/stable --chart nginx --version 1.2.0 "
    "--param replicaCount=2 --param image.repository=nginx --param image.tag=1.20.0"
)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with fast_local_run(tmp_path_factory, "o2dms-cli") as running:
        yield running


@pytest.fixture
def run(api: Api, tmp_path: Path) -> Run:
    return runner(o2dms, api, tmp_path)


def ok(result: Result) -> str:
    """The output of a command that must have worked, checked to fit 80 columns."""
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if not line.startswith("more: ")]
    assert max((len(line.rstrip()) for line in lines), default=0) <= 80, result.output
    return result.output


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def json_lines(result: Result) -> list[Any]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def row(output: str, first: str) -> list[str]:
    """The cells of the table row whose first cells are ``first`` (not a line that a folded
    cell of the row above continues on: those start further right)."""
    wanted = first.split()
    for line in output.splitlines():
        if line[:3].strip() and line.split()[: len(wanted)] == wanted:
            return line.split()
    raise AssertionError(f"no row {first!r} in:\n{output}")


def test_seed_000_walkthrough(run: Run, api: Api) -> None:
    created = ok(run(DESCRIPTOR))
    assert "nginx-chart-1.2.0" in created
    assert "tag: 1.20.0" in created
    assert "nginx-chart-1.2.0" in ok(run("descriptors list"))
    descriptor = as_json(run("descriptors get nginx-chart-1.2.0 -o json"))
    assert descriptor["defaultParameters"] == {
        "replicaCount": 2,
        "image": {"repository": "nginx", "tag": "1.20.0"},
    }

    deployed = ok(
        run(
            "deployments create --name nginx-prod --descriptor nginx-chart-1.2.0 "
            "--namespace production --watch"
        )
    )
    assert "Creating nginx-prod: operation op-" in deployed
    assert "(install) COMPLETED" in deployed
    status = ok(run("deployments status nginx-prod"))
    for text in ("INSTANTIATED", "revision 1", "100%", "Available", "nginx-prod-readiness"):
        assert text in status

    scaling = ok(run("deployments scale nginx-prod --replicas 5"))
    assert "Scaling nginx-prod to 5 replicas" in scaling
    busy = run("deployments upgrade nginx-prod --param image.tag=1.21.0")
    assert busy.exit_code == 4, busy.output  # one operation at a time
    assert "in progress" in busy.output
    assert "Traceback" not in busy.output
    followed = run("deployments status nginx-prod --watch -o json")
    assert followed.exit_code == 0, followed.output
    settled = json_lines(followed)[-1]
    assert (settled["status"], settled["message"]) == (
        "INSTANTIATED",
        "Deployment scaled to 5 replicas",
    )

    before = api("GET", "nfDeployments/nginx-prod/history").json()
    planned = ok(run("deployments upgrade nginx-prod --param image.tag=1.21.0 --dry-run"))
    assert "Nothing has changed" in planned
    assert "$ helm upgrade nginx-prod nginx" in planned
    assert api("GET", "nfDeployments/nginx-prod/history").json() == before

    upgraded = run(
        'deployments upgrade nginx-prod --param image.tag=1.21.0 --reason "new tag" --watch -o json'
    )
    assert upgraded.exit_code == 0, upgraded.output
    assert [m["type"] for m in json_lines(upgraded)][-1] == "completed"
    now = as_json(run("deployments get nginx-prod -o json"))
    assert (now["version"], now["appVersion"], now["replicas"]) == (3, "1.21.0", 5)
    assert now["parameters"]["image"] == {"tag": "1.21.0"}

    assert "$ helm rollback nginx-prod 2" in ok(run("deployments rollback nginx-prod --dry-run"))
    back = run('deployments rollback nginx-prod --revision 0 --reason "1.21 is slow" --watch')
    ok(back)
    assert "Rollout rolled back" not in back.output  # it did its job: no failure said
    # seed 002 calls a rollback "rolled_back"; here it did its job, so it succeeded
    assert "(rollback) COMPLETED" in back.output
    assert "Rolled back to revision 2 (now revision 4)" in " ".join(back.output.split())

    history = ok(run("deployments history nginx-prod"))
    assert "nginx-prod: revision 4" in history
    assert row(history, "4 *")[2:5] == ["deployed", "rollback", "1.20.0"]
    assert row(history, "3")[1:4] == ["superseded", "upgrade", "1.21.0"]
    assert row(history, "2")[1:3] == ["superseded", "scale"]
    assert row(history, "1")[1:3] == ["superseded", "install"]
    revisions = as_json(run("deployments history nginx-prod -o json"))["revisions"]
    assert revisions[0]["description"] == "Rolled back from revision 3 to revision 2"
    third = ok(run("deployments history nginx-prod --revision 3"))
    assert "tag: 1.21.0" in third
    assert "Upgraded parameters: image.tag" in third

    operations = ok(run("deployments operations nginx-prod"))
    kinds = ["rollback", "upgrade", "scale", "install"]
    ids = [line.split()[0] for line in operations.splitlines() if line.strip().startswith("op-")]
    assert [row(operations, i)[1:3] for i in ids] == [[k, "COMPLETED"] for k in kinds]
    listed = as_json(run("deployments operations nginx-prod -o json"))["operations"]
    assert [o["operationId"] for o in listed] == ids
    assert (listed[0]["reason"], listed[0]["actor"]) == ("1.21 is slow", "tester")
    one = ok(run(f"deployments operations nginx-prod {ids[0]}"))
    for text in (ids[0], "rollback", "COMPLETED", "1.21 is slow", "3 -> 4", "verifying"):
        assert text in one

    assert "healthy" in ok(run("deployments health nginx-prod"))
    listed_deployments = ok(run("deployments list --namespace production"))
    assert row(listed_deployments, "nginx-prod")[1:5] == ["production", "INSTANTIATED", "4", "5"]
    assert as_json(run("deployments list --status FAILED -o json"))["nfDeployments"] == []

    refused = run("deployments delete nginx-prod")
    assert refused.exit_code == 2, refused.output  # not a terminal: --yes is needed
    assert "needs --yes" in refused.output
    assert api("GET", "nfDeployments/nginx-prod").json()["status"] == "INSTANTIATED"
    gone = run("deployments delete nginx-prod --yes --reason done --watch -o json")
    assert gone.exit_code == 0, gone.output
    ended = as_json(run("deployments get nginx-prod -o json"))
    assert (ended["status"], ended["message"]) == ("NOT_INSTANTIATED", "Deployment terminated")
    assert "terminate" in ok(run("deployments operations nginx-prod --limit 1"))


def test_descriptor_from_a_file_and_a_cluster_by_flags(run: Run, tmp_path: Path) -> None:
    document = tmp_path / "du.yaml"
    document.write_text(
        "descriptorId: du-chart-2.0.0\nname: du\nartifactRepoUrl: https://charts.example.com/ran\n"
        "artifactName: du\nartifactVersion: 2.0.0\ndefaultParameters:\n  replicaCount: 1\n"
    )
    ok(run(f"descriptors create -f {document} --param image.tag=2.0.0"))
    found = as_json(run("descriptors get du-chart-2.0.0 -o json"))
    assert found["defaultParameters"] == {"replicaCount": 1, "image": {"tag": "2.0.0"}}
    assert "Deleted descriptor du-chart-2.0.0." in ok(run("descriptors delete du-chart-2.0.0"))
    assert run("descriptors get du-chart-2.0.0").exit_code == 3

    registered = ok(
        run(
            "managers register --id edge-1 --kind kubeconfig "
            "--kubeconfig-source ssm:/o2dms/edge-1 --namespace ran"
        )
    )
    assert "ssm:/o2dms/edge-1" in registered
    managers = ok(run("managers list"))
    assert row(managers, "local")[:2] == ["local", "*"]  # the default
    assert row(managers, "edge-1")[1:4] == ["kubeconfig", "ssm:/o2dms/edge-1", "ran"]
    assert as_json(run("managers delete edge-1 -o json")) == {
        "deploymentManagerId": "edge-1",
        "deleted": True,
    }
    ok(
        run(
            "managers register --id gke-1 --kind gke --project ran-lab --location europe-west3 "
            "--cluster-name du-1 --credentials-secret o2dms/gke-key"
        )
    )
    assert row(ok(run("managers list")), "gke-1")[1:3] == ["gke", "ran-lab/europe-west3/du-1"]
    ok(run("managers delete gke-1"))
    eks = run("managers register --id edge-2 --kind eks")
    assert eks.exit_code == 2, eks.output  # the service says what an eks manager needs
    assert "clusterName" in eks.output


def test_schedules_and_alarms(run: Run) -> None:
    ok(run(DESCRIPTOR.replace("nginx-chart-1.2.0", "cu-chart-1.2.0")))
    ok(run("deployments create --name cu-up --descriptor cu-chart-1.2.0 --namespace ran"))
    settled = ok(run("deployments status cu-up --watch"))  # redrawn until the install ends
    assert "INSTANTIATED" in settled
    assert "(install) COMPLETED" in settled

    crashed = run("deployments upgrade cu-up --param image.tag=crash --watch -o json")
    assert crashed.exit_code == 1, crashed.output  # it failed, and was rolled back
    assert json_lines(crashed)[-1]["type"] == "rolled_back"
    after = run("deployments status cu-up --watch")
    assert after.exit_code == 1, after.output  # how the latest change ended
    assert "(upgrade) ROLLED_BACK" in after.output
    assert "CrashLoopBackOff" in after.output

    made = as_json(
        run(
            "schedules create cu-up --expression 'rate(1 hour)' --replicas 3 "
            "--timezone Europe/Paris --reason 'busy hours' -o json"
        )
    )
    schedule_id = made["scheduleId"]
    listed = ok(run("schedules list cu-up"))
    assert row(listed, schedule_id)[1:4] == ["rate(1", "hour)", "3"]
    assert "Europe/Paris" in listed
    shown = ok(run(f"schedules get cu-up {schedule_id}"))
    assert "busy hours" in shown
    assert "never" in shown  # not fired yet
    ok(run(f"schedules delete cu-up {schedule_id}"))
    assert "has no scaling schedule" in ok(run("schedules list cu-up"))
    assert run(f"schedules get cu-up {schedule_id}").exit_code == 3

    bound = ok(run("alarms set cu-up --alarm cu-5xx --alarm cu-latency --watch-window 1800"))
    assert "cu-5xx, cu-latency" in bound
    assert "30m00s after each change" in bound
    assert as_json(run("alarms get cu-up -o json"))["alarmNames"] == ["cu-5xx", "cu-latency"]
    assert run("alarms set cu-up").exit_code == 2  # names, or --clear
    assert as_json(run("alarms set cu-up --clear -o json"))["alarmNames"] == []


def test_mistakes_get_the_servers_message_and_an_exit_code_by_class(
    run: Run, tmp_path: Path
) -> None:
    missing = run("deployments get ghost")
    assert missing.exit_code == 3, missing.output
    assert "Deployment ghost not found" in missing.output
    assert "Traceback" not in missing.output
    assert run("deployments scale ghost --replicas 2").exit_code == 3
    assert run("deployments status ghost --watch").exit_code == 3

    bad = run("deployments create --name x --descriptor nginx-chart-1.2.0 --param oops")
    assert bad.exit_code == 2, bad.output
    assert "--param takes key=value" in bad.output
    assert run("deployments upgrade ghost --param =1").exit_code == 2
    assert run("deployments scale ghost --replicas -1").exit_code == 2
    assert run("deployments list --status SIDEWAYS").exit_code == 2
    half = run("descriptors create --id half")
    assert half.exit_code == 2
    assert "without -f, say --name, --repo, --chart, --version" in half.output
    listed = tmp_path / "values.yaml"
    listed.write_text("- a\n- b\n")
    wrong = run(f"deployments upgrade ghost -f {listed}")
    assert wrong.exit_code == 2
    assert "must hold an object" in wrong.output
    assert run(f"deployments upgrade ghost -f {tmp_path / 'absent.yaml'}").exit_code == 2


def test_every_command_explains_itself(run: Run) -> None:
    groups = {
        "descriptors": ["create", "list", "get", "delete"],
        "managers": ["register", "list", "get", "delete"],
        "deployments": [
            "create",
            "list",
            "get",
            "upgrade",
            "scale",
            "rollback",
            "status",
            "health",
            "history",
            "operations",
            "delete",
        ],
        "schedules": ["create", "list", "get", "delete"],
        "alarms": ["set", "get"],
    }
    for group, commands in groups.items():
        listing = ok(run(f"{group} -h"))
        for command in commands:
            line = row(listing.split("Commands:")[1], command)
            assert not line[-1].endswith("..."), listing  # the whole summary fits
            helped = ok(run(f"{group} {command} --help"))
            assert "Exit codes" in helped
            assert "--output" in helped


def test_the_installed_console_script_loads_little_for_help(api: Api, tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "o2dms"
    assert script.exists(), "make setup installs the o2dms console script"
    env = {"XDG_CONFIG_HOME": str(tmp_path)}  # the connection is given by flags here
    connection = ["--api-url", api.root, "--token", api.token]
    listed = subprocess.run(
        [str(script), *connection, "descriptors", "list", "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert "nfDeploymentDescriptors" in json.loads(listed.stdout)
    probe = (
        "import sys; from o2dms_cli.o2dms import o2dms\n"
        "for args in (['--help'], ['deployments', 'status', '--help']):\n"
        "    try:\n        o2dms(args, prog_name='o2dms')\n    except SystemExit:\n        pass\n"
        "heavy = [m for m in ('boto3', 'chalice', 'httpx', 'rich', 'websockets', 'yaml')"
        " if m in sys.modules]\nprint(heavy)"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert loaded.stdout.strip().splitlines()[-1] == "[]"
