"""`make run` must work from a fresh clone and clean up after itself.

The launcher is what a newcomer runs first, so these tests drive it the way they would: as a
process, on its own ports, stopped with Ctrl-C. The argv and environment it hands to
`chalice local` are checked without starting anything.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
import requests

from chalicelib.adapters import local_tokens
from scripts.local_state import signing_key_file
from scripts.run_local import (
    LaunchError,
    LocalRun,
    chalice_argv,
    chalice_environment,
    claim_state_dir,
    cluster_registration,
    configure,
    emulator_argv,
    parse_args,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
STARTUP_SECONDS = 60
SHUTDOWN_SECONDS = 15

Launcher = Callable[..., subprocess.Popen[bytes]]


def free_ports(count: int) -> list[int]:
    """Distinct ports nothing listens on (all held at once so the kernel cannot repeat one)."""
    probes = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for probe in probes:
            probe.bind((HOST, 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
        return True


def dev_table_name() -> str:
    config = json.loads((REPO_ROOT / ".chalice" / "config.json").read_text())
    return str(config["stages"]["dev"]["environment_variables"]["O2DMS_TABLE_NAME"])


def output_of(log_path: Path) -> str:
    return log_path.read_text(errors="replace")


@pytest.fixture
def launch(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Launcher]:
    """Start `scripts/run_local.py` with the given ports; whatever happens, stop it after."""
    started: list[subprocess.Popen[bytes]] = []

    def start(
        *,
        api_port: int,
        aws_port: int,
        lambda_port: int | None = None,
        extra_args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "O2DMS_LOCAL_STATE_DIR": str(tmp_path / "state"),
            **(env or {}),
            "O2DMS_API_PORT": str(api_port),
            "O2DMS_AWS_PORT": str(aws_port),
            "O2DMS_LAMBDA_PORT": str(lambda_port or free_ports(1)[0]),
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        with (tmp_path / "run_local.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, str(REPO_ROOT / "scripts" / "run_local.py"), *extra_args],
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()  # the launcher stops its children on SIGTERM
        try:
            process.wait(timeout=SHUTDOWN_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def credentials(state_dir: Path) -> dict[str, str]:
    """An admin's bearer token from the local run's issuer (what `make token` prints)."""
    key = local_tokens.read_key(signing_key_file(state_dir))
    token = local_tokens.mint(key, subject="tester", groups=["o2dms-admin"])
    return {"Authorization": f"Bearer {token}"}


def wait_for_ok(url: str, launcher: subprocess.Popen[bytes], log_path: Path) -> None:
    """Until ``url`` answers 200 to an admin of the run whose log and state are in
    ``log_path``'s folder (the `launch` fixture's)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if launcher.poll() is not None:
            pytest.fail(f"run_local exited with {launcher.returncode}:\n{output_of(log_path)}")
        try:
            headers = credentials(log_path.parent / "state")
            if requests.get(url, headers=headers, timeout=2).status_code == 200:
                return
        except (requests.RequestException, FileNotFoundError):
            pass
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer 200 within {STARTUP_SECONDS} s:\n{output_of(log_path)}")


def test_run_local_serves_the_api_on_the_emulator_and_stops_on_ctrl_c(
    launch: Launcher, tmp_path: Path
) -> None:
    # Given the launcher started on free ports
    api_port, aws_port = free_ports(2)
    launcher = launch(api_port=api_port, aws_port=aws_port)

    # When the API answers
    wait_for_ok(
        f"http://{HOST}:{api_port}/o2dms/v1/nfDeploymentDescriptors",
        launcher,
        tmp_path / "run_local.log",
    )

    # Then it asks for credentials, and the local issuer's key stays private to its owner
    refused = requests.get(f"http://{HOST}:{api_port}/o2dms/v1/nfDeployments", timeout=10)
    assert refused.status_code == 401
    assert refused.json()["error"] == "Unauthorized"
    assert (signing_key_file(tmp_path / "state").stat().st_mode & 0o777) == 0o600

    # And the dev table exists in the emulator
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=f"http://{HOST}:{aws_port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    table = dynamodb.describe_table(TableName=dev_table_name())["Table"]
    assert table.get("TableStatus") == "ACTIVE"

    # And Ctrl-C stops everything, cleanly and promptly
    launcher.send_signal(signal.SIGINT)
    assert launcher.wait(timeout=SHUTDOWN_SECONDS) == 0, output_of(tmp_path / "run_local.log")
    assert port_is_free(api_port)
    assert port_is_free(aws_port)


def test_run_local_refuses_a_busy_port_naming_the_variable(
    launch: Launcher, tmp_path: Path
) -> None:
    # Given something already listening on the AWS port
    api_port, aws_port = free_ports(2)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind((HOST, aws_port))
        squatter.listen()

        # When the launcher starts
        launcher = launch(api_port=api_port, aws_port=aws_port)

        # Then it fails at once, saying which port and which variable
        assert launcher.wait(timeout=SHUTDOWN_SECONDS) == 1
    output = output_of(tmp_path / "run_local.log")
    assert f"port {aws_port}" in output
    assert "O2DMS_AWS_PORT" in output
    assert port_is_free(api_port)


def test_run_local_stops_the_emulator_when_chalice_dies(launch: Launcher, tmp_path: Path) -> None:
    # Given a project with the repository's config and table but no app.py to serve
    project = tmp_path / "project"
    (project / ".chalice").mkdir(parents=True)
    shutil.copy(REPO_ROOT / ".chalice" / "config.json", project / ".chalice")
    shutil.copytree(REPO_ROOT / "infra", project / "infra")
    api_port, aws_port = free_ports(2)

    # When the launcher serves it
    launcher = launch(
        api_port=api_port, aws_port=aws_port, extra_args=("--project-dir", str(project))
    )

    # Then it reports that chalice local died, stops the emulator, and fails
    assert launcher.wait(timeout=STARTUP_SECONDS) == 1
    assert "chalice local" in output_of(tmp_path / "run_local.log")
    assert port_is_free(aws_port)


@pytest.mark.parametrize(
    ("user_env", "expected"),
    [
        ({}, (8080, 5000, "us-east-1")),
        (
            {"O2DMS_API_PORT": "9080", "O2DMS_AWS_PORT": "6000", "AWS_DEFAULT_REGION": "eu-west-3"},
            (9080, 6000, "eu-west-3"),
        ),
    ],
)
def test_configure_reads_ports_and_region_from_the_environment(
    user_env: dict[str, str], expected: tuple[int, int, str]
) -> None:
    run = configure(REPO_ROOT, user_env)

    assert (run.api_port, run.aws_port, run.region) == expected
    assert run.table_name == dev_table_name()
    assert run.api_url == f"http://127.0.0.1:{expected[0]}/o2dms/v1"


def test_chalice_argv_serves_the_dev_stage_with_chalice_local_server() -> None:
    run = LocalRun(
        project_dir=Path("/project"),
        api_port=8080,
        aws_port=5000,
        region="us-east-1",
        table_name="o2dms-dev",
    )

    argv = chalice_argv(run)

    assert argv[1].endswith("scripts/serve_api.py")
    assert argv[2:] == [
        "--project-dir",
        "/project",
        "--host",
        "127.0.0.1",
        "--port",
        "8080",
        "--stage",
        "dev",
    ]


def test_chalice_environment_aims_at_the_emulator_and_keeps_the_users_settings() -> None:
    # Given a user environment with a region, an O2DMS setting and a real AWS profile
    run = LocalRun(
        project_dir=Path("/project"),
        api_port=8080,
        aws_port=5123,
        region="eu-west-3",
        table_name="o2dms-dev",
    )
    user_env = {
        "PATH": "/usr/bin",
        "O2DMS_KUBECONFIG": "/home/me/.kube/config",
        "AWS_PROFILE": "production",
        "AWS_ENDPOINT_URL_DYNAMODB": "https://dynamodb.eu-west-3.amazonaws.com",
    }

    # When the launcher builds the environment for chalice local
    env = chalice_environment(user_env, run)

    # Then every AWS call goes to the emulator with dummy credentials, the rest passes through
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5123"
    assert env["AWS_ACCESS_KEY_ID"] == env["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert env["AWS_DEFAULT_REGION"] == "eu-west-3"
    assert env["MOTO_PORT"] == "5123"
    assert env["O2DMS_LOCAL_RUN"] == "1"
    assert env["O2DMS_KUBECONFIG"] == "/home/me/.kube/config"
    assert env["PATH"] == "/usr/bin"
    assert "AWS_PROFILE" not in env
    assert "AWS_ENDPOINT_URL_DYNAMODB" not in env
    # and the README's example repository is read from the packaged example chart
    repository, _, mirror = env["O2DMS_CHART_MIRRORS"].partition("=")
    assert repository == "https://charts.bitnami.com/bitnami"
    assert mirror.endswith("/.local/charts")
    assert chalice_environment({"O2DMS_CHART_MIRRORS": ""}, run)["O2DMS_CHART_MIRRORS"] == ""


def test_cluster_registration_makes_the_kubeconfig_the_default(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("{}")

    body = cluster_registration(str(kubeconfig), "kind-o2dms")

    assert body == {
        "deploymentManagerId": "kubeconfig",
        "kind": "kubeconfig",
        "name": "cluster of config",
        "kubeconfigSource": f"file:{kubeconfig}",
        "default": True,
        "context": "kind-o2dms",
    }


def test_cluster_registration_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LaunchError, match="no such file"):
        cluster_registration(str(tmp_path / "missing"), None)


def test_run_local_with_a_kubeconfig_registers_it_as_the_default(
    launch: Launcher, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kubeconfig.json"
    kubeconfig.write_text('{"apiVersion": "v1", "clusters": [], "contexts": []}')
    api_port, aws_port = free_ports(2)
    launcher = launch(
        api_port=api_port, aws_port=aws_port, env={"O2DMS_KUBECONFIG": str(kubeconfig)}
    )
    log_path = tmp_path / "run_local.log"
    base = f"http://{HOST}:{api_port}/o2dms/v1"
    wait_for_ok(f"{base}/nfDeploymentDescriptors", launcher, log_path)

    deadline = time.monotonic() + STARTUP_SECONDS
    while "deployments go to the cluster" not in output_of(log_path):
        assert time.monotonic() < deadline, output_of(log_path)
        time.sleep(0.2)
    managers = requests.get(
        f"{base}/deploymentManagers", headers=credentials(tmp_path / "state"), timeout=10
    ).json()["deploymentManagers"]

    assert [(m["deploymentManagerId"], m["default"]) for m in managers] == [
        ("local", False),
        ("kubeconfig", True),
    ]
    assert managers[1]["kubeconfigSource"] == f"file:{kubeconfig}"


def test_run_local_restarted_keeps_the_kubeconfig_registration_of_the_saved_state(
    launch: Launcher, tmp_path: Path
) -> None:
    # Given a run that registered a kubeconfig, stopped with Ctrl-C (its state kept)
    kubeconfig = tmp_path / "kubeconfig.json"
    kubeconfig.write_text('{"apiVersion": "v1", "clusters": [], "contexts": []}')
    log_path = tmp_path / "run_local.log"
    api_port, aws_port = free_ports(2)
    env = {"O2DMS_KUBECONFIG": str(kubeconfig)}
    base = f"http://{HOST}:{api_port}/o2dms/v1"
    first = launch(api_port=api_port, aws_port=aws_port, env=env)
    wait_for_ok(f"{base}/nfDeploymentDescriptors", first, log_path)
    deadline = time.monotonic() + STARTUP_SECONDS
    while "deployments go to the cluster" not in output_of(log_path):
        assert time.monotonic() < deadline, output_of(log_path)
        time.sleep(0.2)
    first.send_signal(signal.SIGINT)
    assert first.wait(timeout=SHUTDOWN_SECONDS) == 0, output_of(log_path)

    # When it starts again with the same kubeconfig
    second = launch(api_port=api_port, aws_port=aws_port, env=env)
    wait_for_ok(f"{base}/nfDeploymentDescriptors", second, log_path)
    deadline = time.monotonic() + STARTUP_SECONDS
    while "deployments go to the cluster" not in output_of(log_path):
        assert second.poll() is None, output_of(log_path)
        assert time.monotonic() < deadline, output_of(log_path)
        time.sleep(0.2)

    # Then the registration is the one kept from the first run, still the default
    managers = requests.get(
        f"{base}/deploymentManagers", headers=credentials(tmp_path / "state"), timeout=10
    ).json()["deploymentManagers"]
    assert [(m["deploymentManagerId"], m["default"]) for m in managers] == [
        ("local", False),
        ("kubeconfig", True),
    ]


def test_claim_state_dir_with_reset_forgets_only_the_saved_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given saved state from an earlier run
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    for name in ("aws.pickle", "cluster.json", "keep.txt"):
        (state_dir / name).write_text("x")
    run = LocalRun(
        project_dir=REPO_ROOT,
        api_port=8080,
        aws_port=5000,
        region="us-east-1",
        table_name="o2dms-dev",
        state_dir=state_dir,
    )

    # When the launcher claims the directory with --reset (make run RESET=1)
    claim_state_dir(run, reset=True)

    # Then the saved state is gone, and the user is told
    assert [p.name for p in state_dir.iterdir()] == ["keep.txt"]
    assert "starting clean (2 saved state file(s) removed" in capsys.readouterr().out
    assert parse_args(["--reset"]).reset is True
    assert parse_args([]).reset is False


def test_local_run_children_are_told_where_to_keep_their_state(tmp_path: Path) -> None:
    run = configure(REPO_ROOT, {"O2DMS_LOCAL_STATE_DIR": str(tmp_path)})

    argv = emulator_argv(run)
    env = chalice_environment({}, run)

    assert argv[argv.index("--state-file") + 1] == str(tmp_path / "aws.pickle")
    assert env["O2DMS_LOCAL_CLUSTER_STATE"] == str(tmp_path / "cluster.json")
    assert "O2DMS_SECRETS_KEY_ARN" not in env
    key = "arn:aws:kms:us-east-1:123456789012:key/k"
    assert chalice_environment({}, run, secrets_key_arn=key)["O2DMS_SECRETS_KEY_ARN"] == key
    assert configure(REPO_ROOT, {}).state_dir == REPO_ROOT / ".local" / "state"
