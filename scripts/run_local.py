"""`make run`: serve the API on this machine, against an AWS emulator, with one command.

A fresh clone has no AWS account to talk to, so this launcher starts the emulator
(`scripts/aws_emulator.py`), creates the table `infra/table.json` describes under the dev
stage's name and the KMS key that seals secret parameter values, then runs `chalice local`
pointed at the emulator with dummy credentials. It owns both processes: Ctrl-C or SIGTERM
stops them and exits 0; if either dies on its own, the other is stopped and the launcher
fails, saying which one died.

It also plays AWS's part for the automation triggers: the emulator fires due EventBridge
Scheduler schedules and turns CloudWatch alarm state changes into EventBridge events, and
invokes the app's Lambda functions for them through Lambda's Invoke API, which the API
process serves (`scripts/aws_behaviour.py`, `scripts/local_lambda.py`). The launcher creates
the stage's schedule group and the EventBridge rule for alarm state changes, as the
deployable stack does.

Ports: O2DMS_API_PORT (default 8080), O2DMS_AWS_PORT (default 5000) and O2DMS_LAMBDA_PORT
(default 8081, the app's Lambda functions).

State survives a restart: the emulator and the simulated cluster keep theirs in
O2DMS_LOCAL_STATE_DIR (default `.local/state`), and the API process follows again the
rollouts the previous run left unfinished. `--reset` (`make run RESET=1`) starts clean. The
children die with the launcher, even when it is killed, and a launcher finds and stops what
a killed one left running before it claims the ports (`scripts/local_state.py`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # run as a script: make `scripts` importable

from scripts.local_state import (  # noqa: E402 - needs the path above when run as a script
    AWS_STATE_FILE,
    CLUSTER_STATE_FILE,
    RunInProgressError,
    die_with_parent,
    remove_run_record,
    reset_state,
    signing_key_file,
    state_dir_from_env,
    stop_stale_run,
    write_run_record,
)

DEFAULT_STATE_DIR = REPO_ROOT / ".local" / "state"
HOST = "127.0.0.1"
STAGE = "dev"
API_BASE_PATH = "/o2dms/v1"
API_PORT_VAR = "O2DMS_API_PORT"
AWS_PORT_VAR = "O2DMS_AWS_PORT"
LAMBDA_PORT_VAR = "O2DMS_LAMBDA_PORT"
DEFAULT_API_PORT = 8080
DEFAULT_AWS_PORT = 5000
DEFAULT_LAMBDA_PORT = 8081
APP_NAME = "o2dms"
ACCOUNT_ID = "123456789012"  # the emulator's account
DEFAULT_REGION = "us-east-1"
DUMMY_CREDENTIAL = "testing"
STARTUP_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 5.0
POLL_SECONDS = 0.2
# Settings that would send the API somewhere other than the emulator, or with other credentials.
_MISDIRECTING_VARS = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
)


class LaunchError(Exception):
    """The local run cannot start or go on; the message tells the user why."""


class ChildExitedError(LaunchError):
    """A process the launcher started exited although nobody asked it to."""


class StopRequestedError(Exception):
    """Not a failure: the user asked the launcher to stop (SIGINT or SIGTERM)."""


@dataclass(frozen=True)
class LocalRun:
    """Everything the launch depends on, read once from the project and the environment."""

    project_dir: Path
    api_port: int
    aws_port: int
    region: str
    table_name: str
    lambda_port: int = DEFAULT_LAMBDA_PORT
    state_dir: Path = DEFAULT_STATE_DIR

    @property
    def aws_state_file(self) -> Path:
        return self.state_dir / AWS_STATE_FILE

    @property
    def cluster_state_file(self) -> Path:
        return self.state_dir / CLUSTER_STATE_FILE

    @property
    def signing_key_file(self) -> Path:
        return signing_key_file(self.state_dir)

    @property
    def lambda_endpoint(self) -> str:
        return f"http://{HOST}:{self.lambda_port}"

    def function_arn(self, name: str) -> str:
        """The ARN the app's function `name` has in the emulator's account."""
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{APP_NAME}-{STAGE}-{name}"

    @property
    def schedule_group(self) -> str:
        return f"{APP_NAME}-{STAGE}"

    @property
    def scheduler_role_arn(self) -> str:
        return f"arn:aws:iam::{ACCOUNT_ID}:role/{APP_NAME}-{STAGE}-scheduler"

    @property
    def aws_endpoint(self) -> str:
        return f"http://{HOST}:{self.aws_port}"

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.api_port}{API_BASE_PATH}"


def port_from_env(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise LaunchError(f"{name}={raw!r} is not a port number (1-65535)")
    return int(raw)


def read_table_name(project_dir: Path) -> str:
    config_path = project_dir / ".chalice" / "config.json"
    try:
        config = json.loads(config_path.read_text())
        return str(config["stages"][STAGE]["environment_variables"]["O2DMS_TABLE_NAME"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LaunchError(
            f"cannot read stages.{STAGE}.environment_variables.O2DMS_TABLE_NAME "
            f"from {config_path}: {exc}"
        ) from exc


def read_table_spec(project_dir: Path) -> dict[str, Any]:
    spec_path = project_dir / "infra" / "table.json"
    try:
        spec: dict[str, Any] = json.loads(spec_path.read_text())
    except (OSError, ValueError) as exc:
        raise LaunchError(f"cannot read the table definition {spec_path}: {exc}") from exc
    return spec


def configure(project_dir: Path, environ: Mapping[str, str]) -> LocalRun:
    run = LocalRun(
        project_dir=project_dir,
        api_port=port_from_env(environ, API_PORT_VAR, DEFAULT_API_PORT),
        aws_port=port_from_env(environ, AWS_PORT_VAR, DEFAULT_AWS_PORT),
        region=environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION,
        table_name=read_table_name(project_dir),
        lambda_port=port_from_env(environ, LAMBDA_PORT_VAR, DEFAULT_LAMBDA_PORT),
        state_dir=state_dir_from_env(environ, DEFAULT_STATE_DIR),
    )
    ports = {
        API_PORT_VAR: run.api_port,
        AWS_PORT_VAR: run.aws_port,
        LAMBDA_PORT_VAR: run.lambda_port,
    }
    if len(set(ports.values())) < len(ports):
        listed = ", ".join(f"{name}={port}" for name, port in ports.items())
        raise LaunchError(f"the ports must differ ({listed})")
    return run


def ensure_port_free(port: int, env_var: str) -> None:
    """Fail now, by name, rather than let a child die later with a bind error."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Same option the servers use, so a port left in TIME_WAIT still counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            raise LaunchError(
                f"port {port} on {HOST} is already in use ({exc.strerror}); "
                f"set {env_var} to a free port"
            ) from exc


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def emulator_argv(run: LocalRun) -> list[str]:
    return [
        sys.executable,
        "-m",
        "scripts.aws_emulator",
        "--host",
        HOST,
        "--port",
        str(run.aws_port),
        "--quiet",
        "--lambda-endpoint",
        run.lambda_endpoint,
        "--region",
        run.region,
        "--state-file",
        str(run.aws_state_file),
        "--stream-table",
        run.table_name,
        "--stream-function",
        run.function_arn(STREAM_FUNCTION),
    ]


def chalice_argv(run: LocalRun) -> list[str]:
    """chalice local's own server, with a backlog that survives bursts (see serve_api.py)."""
    return [
        sys.executable,
        str(Path(__file__).with_name("serve_api.py")),
        "--project-dir",
        str(run.project_dir),
        "--host",
        HOST,
        "--port",
        str(run.api_port),
        "--stage",
        STAGE,
    ]


# The README's example repository, served offline from the packaged example chart
# (examples/charts, packaged by make setup) unless O2DMS_CHART_MIRRORS says otherwise.
EXAMPLE_REPOSITORY = "https://charts.bitnami.com/bitnami"
EXAMPLE_CHARTS = REPO_ROOT / ".local" / "charts"
MIRRORS_VAR = "O2DMS_CHART_MIRRORS"


def example_mirror() -> str:
    return f"{EXAMPLE_REPOSITORY}=file://{EXAMPLE_CHARTS}"


def chalice_environment(
    environ: Mapping[str, str], run: LocalRun, *, secrets_key_arn: str | None = None
) -> dict[str, str]:
    """The user's environment (O2DMS_* included), with every AWS call aimed at the emulator,
    and the emulator's KMS key to seal secret parameters with."""
    env = {
        name: value
        for name, value in environ.items()
        if name not in _MISDIRECTING_VARS and not name.startswith("AWS_ENDPOINT_URL_")
    }
    env.update(
        AWS_ENDPOINT_URL=run.aws_endpoint,
        AWS_ACCESS_KEY_ID=DUMMY_CREDENTIAL,
        AWS_SECRET_ACCESS_KEY=DUMMY_CREDENTIAL,
        AWS_DEFAULT_REGION=run.region,
        MOTO_PORT=str(run.aws_port),
        O2DMS_LOCAL_RUN="1",
        O2DMS_LAMBDA_PORT=str(run.lambda_port),
        O2DMS_SCHEDULE_GROUP=run.schedule_group,
        O2DMS_SCHEDULE_TARGET_ARN=run.function_arn(SCALE_FUNCTION),
        O2DMS_SCHEDULER_ROLE_ARN=run.scheduler_role_arn,
        O2DMS_LOCAL_CLUSTER_STATE=str(run.cluster_state_file),
        # Live progress: the local server plays API Gateway's @connections API too.
        O2DMS_WS_ENDPOINT=f"http://{HOST}:{run.api_port}",
        # Authentication is on locally too: the app checks bearer tokens against the key
        # `ensure_signing_key` made (`make token` prints one).
        O2DMS_AUTH="local",
        O2DMS_AUTH_SIGNING_KEY_FILE=str(run.signing_key_file),
        PYTHONUNBUFFERED="1",
    )
    if secrets_key_arn is not None:
        env["O2DMS_SECRETS_KEY_ARN"] = secrets_key_arn
    env.setdefault(MIRRORS_VAR, example_mirror())
    return env


def create_table(run: LocalRun, spec: Mapping[str, Any]) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    client = _client(run, "dynamodb")
    try:
        client.create_table(TableName=run.table_name, **spec)
    except client.exceptions.ResourceInUseException:
        # It already exists: keep it and its items; one saved before the stream existed
        # gets it now (live progress reads it).
        table = client.describe_table(TableName=run.table_name)["Table"]
        stream = spec.get("StreamSpecification")
        if stream and not table.get("StreamSpecification", {}).get("StreamEnabled"):
            client.update_table(TableName=run.table_name, StreamSpecification=stream)
    except (BotoCoreError, ClientError) as exc:
        raise LaunchError(f"cannot create table {run.table_name} in the emulator: {exc}") from exc


SECRETS_KEY_ALIAS = f"alias/{APP_NAME}-{STAGE}-secrets"


def ensure_secrets_key(run: LocalRun) -> str:
    """The ARN of the emulator's KMS key that seals secret parameter values (the stack uses
    the table's key): the one an earlier start made, kept in the saved state with the items
    it sealed, or a new one."""
    from botocore.exceptions import BotoCoreError, ClientError

    kms = _client(run, "kms")
    try:
        with contextlib.suppress(kms.exceptions.NotFoundException):
            return str(kms.describe_key(KeyId=SECRETS_KEY_ALIAS)["KeyMetadata"]["Arn"])
        created = kms.create_key(Description=f"{APP_NAME}-{STAGE} secret parameters")
        arn = str(created["KeyMetadata"]["Arn"])
        kms.create_alias(AliasName=SECRETS_KEY_ALIAS, TargetKeyId=arn)
    except (BotoCoreError, ClientError) as exc:
        raise LaunchError(f"cannot prepare the KMS key for secret parameters: {exc}") from exc
    return arn


def ensure_signing_key(run: LocalRun) -> bytes:
    """The local token issuer's key: the one an earlier start made, or a new one."""
    from chalicelib.adapters import local_tokens

    path = run.signing_key_file
    try:
        return local_tokens.ensure_key(path)
    except ValueError as exc:
        raise LaunchError(
            f"{path} is not a signing key ({exc}); delete it to make a new one"
        ) from exc


def admin_token(run: LocalRun) -> str:
    """A short-lived admin token for the launcher's own calls to the API."""
    from chalicelib.adapters import local_tokens

    key = local_tokens.read_key(run.signing_key_file)
    return local_tokens.mint(key, subject="run_local", groups=["o2dms-admin"], ttl_seconds=600)


SCALE_FUNCTION = "scheduled_scale"
STREAM_FUNCTION = "live_updates"
ALARM_FUNCTION = "alarm_rollback"


def prepare_automation(run: LocalRun) -> None:
    """What the deployable stack creates for the triggers: the stage's schedule group and
    the EventBridge rule that sends alarm state changes to the alarm handler."""
    from botocore.exceptions import BotoCoreError, ClientError

    from chalicelib.events.automation import ALARM_EVENT_PATTERN

    rule = f"{APP_NAME}-{STAGE}-{ALARM_FUNCTION}"
    try:
        scheduler = _client(run, "scheduler")
        with contextlib.suppress(scheduler.exceptions.ConflictException):  # an earlier start's
            scheduler.create_schedule_group(Name=run.schedule_group)
        events = _client(run, "events")
        events.put_rule(Name=rule, EventPattern=json.dumps(ALARM_EVENT_PATTERN), State="ENABLED")
        events.put_targets(
            Rule=rule, Targets=[{"Id": ALARM_FUNCTION, "Arn": run.function_arn(ALARM_FUNCTION)}]
        )
    except (BotoCoreError, ClientError) as exc:
        raise LaunchError(
            f"cannot prepare schedules and alarm events in the emulator: {exc}"
        ) from exc


def _client(run: LocalRun, service: str) -> Any:
    """A client on the emulator, with the dummy credentials and short timeouts."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=run.aws_endpoint,
        region_name=run.region,
        aws_access_key_id=DUMMY_CREDENTIAL,
        aws_secret_access_key=DUMMY_CREDENTIAL,
        config=Config(connect_timeout=5, read_timeout=15, retries={"max_attempts": 3}),
    )


def banner(run: LocalRun) -> str:
    return "\n".join(
        [
            "",
            f"O2-DMS is running locally (stage {STAGE}).",
            f"  API base URL:  {run.api_url}",
            f"  Live progress: ws://{HOST}:{run.api_port}/ws/deployments?deployment_id=<id> "
            "(Authorization: Bearer <token>)",
            '  Credentials:   AUTH="Authorization: Bearer $(make -s token ROLE=admin)" '
            '(or ROLE=viewer, operator), then curl -H "$AUTH" ...',
            f"  Command line:  export O2DMS_API_URL=http://{HOST}:{run.api_port} "
            'O2DMS_TOKEN="$(make -s token ROLE=operator)"; .venv/bin/apm deploy list',
            f"  AWS endpoint:  {run.aws_endpoint}  (region {run.region}, table {run.table_name})",
            "  Look inside:   "
            f"AWS_ACCESS_KEY_ID={DUMMY_CREDENTIAL} AWS_SECRET_ACCESS_KEY={DUMMY_CREDENTIAL} "
            f"aws --endpoint-url {run.aws_endpoint} --region {run.region} "
            f"dynamodb scan --table-name {run.table_name}",
            f"  Schedules:     fired from group {run.schedule_group} about every minute",
            "  Alarms:        aws cloudwatch set-alarm-state (same endpoint) on an alarm bound "
            "with PUT .../rollbackAlarms",
            f"  State:         kept in {run.state_dir} across restarts "
            "(make run RESET=1 starts clean)",
            "Ctrl-C stops everything.",
            "",
        ]
    )


class Supervisor:
    """Starts child processes, notices when one dies or a stop is asked for, and stops them all."""

    def __init__(self, *, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        self._grace_seconds = grace_seconds
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._stop_requested = False

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGINT, self._request_stop)
        signal.signal(signal.SIGTERM, self._request_stop)

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stop_requested = True

    def start(self, name: str, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> None:
        # A session of its own: the terminal's Ctrl-C reaches only us, and we stop the child;
        # and it dies with us if we are killed (where the system allows).
        self._children[name] = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent(),  # noqa: PLW1509 - one thread: safe
        )

    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self._children.items()}

    def check(self) -> None:
        if self._stop_requested:
            raise StopRequestedError
        for name, process in self._children.items():
            code = process.poll()
            if code is not None:
                raise ChildExitedError(
                    f"{name} (pid {process.pid}) exited on its own with code {code}; "
                    "stopping the rest"
                )

    def wait_until(self, ready: Callable[[], bool], *, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.check()
            if ready():
                return
            if time.monotonic() > deadline:
                raise LaunchError(f"{what} was not ready after {timeout:.0f} s")
            time.sleep(POLL_SECONDS)

    def watch(self) -> None:
        """Block until a stop is requested or a child dies (both raise)."""
        while True:
            self.check()
            time.sleep(POLL_SECONDS)

    def stop_all(self) -> None:
        """Terminate every live child, give them a grace period together, then kill."""
        running = [process for process in self._children.values() if process.poll() is None]
        for process in running:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + self._grace_seconds
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    """Signal the child's whole process group (it leads one), reaching any helper it forked."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def claim_state_dir(run: LocalRun, *, reset: bool) -> None:
    """Stop what a killed earlier run left behind; with `reset`, forget the saved state."""
    try:
        stopped = stop_stale_run(run.state_dir)
    except RunInProgressError as exc:
        raise LaunchError(str(exc)) from exc
    if stopped:
        print(
            f"run_local: stopped what a killed earlier run left running: {', '.join(stopped)}",
            flush=True,
        )
    if reset:
        removed = reset_state(run.state_dir)
        print(
            f"run_local: starting clean ({len(removed)} saved state file(s) removed "
            f"from {run.state_dir})",
            flush=True,
        )


def launch(
    run: LocalRun, supervisor: Supervisor, environ: Mapping[str, str], *, reset: bool = False
) -> None:
    claim_state_dir(run, reset=reset)
    ensure_port_free(run.aws_port, AWS_PORT_VAR)
    ensure_port_free(run.api_port, API_PORT_VAR)
    ensure_port_free(run.lambda_port, LAMBDA_PORT_VAR)
    spec = read_table_spec(run.project_dir)
    emulator_env = {**environ, "PYTHONUNBUFFERED": "1"}
    supervisor.start("the AWS emulator", emulator_argv(run), cwd=REPO_ROOT, env=emulator_env)
    write_run_record(run.state_dir, supervisor.pids())
    supervisor.wait_until(
        lambda: port_accepts(run.aws_port),
        what=f"the AWS emulator on port {run.aws_port}",
        timeout=STARTUP_TIMEOUT_SECONDS,
    )
    create_table(run, spec)
    prepare_automation(run)
    secrets_key_arn = ensure_secrets_key(run)
    ensure_signing_key(run)
    chalice_env = chalice_environment(environ, run, secrets_key_arn=secrets_key_arn)
    supervisor.start("chalice local", chalice_argv(run), cwd=run.project_dir, env=chalice_env)
    write_run_record(run.state_dir, supervisor.pids())
    supervisor.wait_until(
        lambda: port_accepts(run.api_port),
        what=f"chalice local on port {run.api_port}",
        timeout=STARTUP_TIMEOUT_SECONDS,
    )
    kubeconfig = environ.get(KUBECONFIG_VAR)
    if kubeconfig:
        register_cluster(run, kubeconfig, environ.get(KUBE_CONTEXT_VAR) or None, environ)


KUBECONFIG_VAR = "O2DMS_KUBECONFIG"
KUBE_CONTEXT_VAR = "O2DMS_KUBE_CONTEXT"
CLUSTER_ID = "kubeconfig"


def cluster_registration(path: str, context: str | None) -> dict[str, Any]:
    """The deployment manager that makes the cluster in ``path`` the default target."""
    kubeconfig = Path(path).expanduser().resolve()
    if not kubeconfig.is_file():
        raise LaunchError(f"{KUBECONFIG_VAR}={path}: no such file")
    body: dict[str, Any] = {
        "deploymentManagerId": CLUSTER_ID,
        "kind": "kubeconfig",
        "name": f"cluster of {kubeconfig.name}",
        "kubeconfigSource": f"file:{kubeconfig}",
        "default": True,
    }
    if context:
        body["context"] = context
    return body


def register_cluster(
    run: LocalRun, path: str, context: str | None, environ: Mapping[str, str]
) -> None:
    """Register the user's cluster as the default deployment manager: new deployments go
    there through the Helm adapter (or the adapter they name) instead of the simulation.

    The saved state of an earlier run may hold the registration already: kept if it names
    the same kubeconfig and context, replaced otherwise (while no deployment uses it)."""
    body = cluster_registration(path, context)
    managers = f"{run.api_url}/deploymentManagers"
    token = admin_token(run)
    status, answer = api_call("POST", managers, body, token=token)
    if status == 409:
        status, existing = api_call("GET", f"{managers}/{CLUSTER_ID}", token=token)
        if status == 200 and _same_registration(existing, body):
            status = 201
        else:
            status, answer = api_call("DELETE", f"{managers}/{CLUSTER_ID}", token=token)
            if status == 204:
                status, answer = api_call("POST", managers, body, token=token)
    if status != 201:
        raise LaunchError(
            f"could not register the cluster in {path}: {answer} "
            "(make run RESET=1 forgets the earlier registration)"
        )
    print(
        f"run_local: deployments go to the cluster in {path} (deployment manager "
        f"{CLUSTER_ID!r}); the simulated cluster stays available as 'local'",
        flush=True,
    )
    if MIRRORS_VAR not in environ:
        print(
            f"run_local: charts of {EXAMPLE_REPOSITORY} come from the example chart in "
            f"examples/charts ({MIRRORS_VAR} changes that)",
            flush=True,
        )


def api_call(
    method: str, url: str, body: Mapping[str, Any] | None = None, *, token: str
) -> tuple[int, Any]:
    """One call to the local API with ``token``: its status code and its decoded answer
    (None if empty)."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            status, text = answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read()
    try:
        return status, json.loads(text) if text.strip() else None
    except ValueError:
        return status, text.decode(errors="replace")


def _same_registration(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    fields = ("kind", "kubeconfigSource", "context", "default")
    return all(existing.get(name) == wanted.get(name) for name in fields)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Serve the O2-DMS API locally against an AWS emulator; Ctrl-C stops it."
    )
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=REPO_ROOT,
        help="Chalice project to serve (default: this repository)",
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="forget the state saved by earlier runs (tables, schedules, alarms, the "
        "simulated cluster) and start clean",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    supervisor = Supervisor()
    supervisor.install_signal_handlers()
    run: LocalRun | None = None
    try:
        run = configure(args.project_dir.resolve(), os.environ)
        launch(run, supervisor, os.environ, reset=args.reset)
        print(banner(run), flush=True)
        supervisor.watch()
    except StopRequestedError:
        print("run_local: stopping", flush=True)
    except LaunchError as exc:
        print(f"run_local: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        supervisor.stop_all()
        if run is not None and supervisor.pids():
            remove_run_record(run.state_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
