"""The runner chokepoint: argv, stdin, timeout, the private kubeconfig, env and logs."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chalicelib.adapters.helm.binary import ENV_VAR, locate_helm
from chalicelib.adapters.helm.runner import (
    HelmRunner,
    Spawned,
    helm_env,
    kube_context,
    render_kubeconfig,
)
from chalicelib.domain.errors import (
    BackendFailure,
    BackendTimeout,
    BackendUnavailable,
    ReleaseNotFound,
)
from chalicelib.domain.ports import ClusterCredentials
from tests.helm_fakes import CA_DATA, HELM4, PASSWORD, SECRETS, TOKEN

EKS = ClusterCredentials(
    server="https://eks.example.com", certificate_authority_data=CA_DATA, token=TOKEN
)
GIVEN_KUBECONFIG = f"apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: {TOKEN}\n"
STATUS = ("helm", "status", "demo", "--namespace", "apps", "--output", "json")


@dataclass
class FakeSpawn:
    """Records what the process would have seen, including the kubeconfig file as it was."""

    returncode: int = 0
    stdout: bytes = b"{}"
    stderr: bytes = b""
    raises: BaseException | None = None
    seen: list[dict[str, object]] = field(default_factory=list)

    def __call__(
        self, argv: Sequence[str], *, stdin: bytes | None, timeout: float, env: Mapping[str, str]
    ) -> Spawned:
        record: dict[str, object] = {"argv": list(argv), "stdin": stdin, "timeout": timeout}
        record["env"] = dict(env)
        if "--kubeconfig" in argv:
            path = Path(argv[list(argv).index("--kubeconfig") + 1])
            record["kubeconfig"] = path
            record["mode"] = stat.S_IMODE(path.stat().st_mode)
            record["dir_mode"] = stat.S_IMODE(path.parent.stat().st_mode)
            record["content"] = path.read_text()
        self.seen.append(record)
        if self.raises is not None:
            raise self.raises
        return Spawned(self.returncode, self.stdout, self.stderr)


def _runner(spawn: FakeSpawn, tmp_path: Path, env: Mapping[str, str] | None = None) -> HelmRunner:
    return HelmRunner(
        "/opt/helm/helm", spawn=spawn, env=env or {"PATH": "/usr/bin"}, state_dir=tmp_path / "state"
    )


def test_runner_replaces_helm_with_the_binary_and_adds_a_private_kubeconfig(
    tmp_path: Path,
) -> None:
    spawn = FakeSpawn()

    done = _runner(spawn, tmp_path).run(STATUS, stdin=None, timeout=30, credentials=EKS)

    (seen,) = spawn.seen
    argv = seen["argv"]
    assert isinstance(argv, list)
    assert argv[:-2] == ["/opt/helm/helm", *STATUS[1:]]
    assert argv[-2] == "--kubeconfig"
    assert (seen["mode"], seen["dir_mode"], seen["timeout"], seen["stdin"]) == (
        0o600,
        0o700,
        30,
        None,
    )
    assert done.argv == STATUS
    assert done.stdout == b"{}"


def test_runner_renders_a_json_kubeconfig_from_server_ca_and_token(tmp_path: Path) -> None:
    spawn = FakeSpawn()
    _runner(spawn, tmp_path).run(STATUS, stdin=None, timeout=30, credentials=EKS)

    config = json.loads(str(spawn.seen[0]["content"]))
    assert config["current-context"] == "o2dms"
    assert config["clusters"][0]["cluster"] == {
        "server": "https://eks.example.com",
        "certificate-authority-data": CA_DATA,
    }
    assert config["users"][0]["user"] == {"token": TOKEN}
    assert config["contexts"][0]["context"] == {"cluster": "o2dms", "user": "o2dms"}


def test_runner_writes_a_given_kubeconfig_as_is(tmp_path: Path) -> None:
    spawn = FakeSpawn()
    creds = ClusterCredentials(kubeconfig=GIVEN_KUBECONFIG, context="kind-demo")
    _runner(spawn, tmp_path).run(STATUS, stdin=None, timeout=30, credentials=creds)
    assert spawn.seen[0]["content"] == GIVEN_KUBECONFIG
    assert kube_context(creds) == "kind-demo"
    assert kube_context(EKS) is None  # the rendered kubeconfig has its own current context


def test_runner_refuses_credentials_that_name_no_cluster() -> None:
    with pytest.raises(BackendUnavailable, match="neither a kubeconfig nor a server"):
        render_kubeconfig(ClusterCredentials())


def test_runner_without_credentials_passes_no_kubeconfig(tmp_path: Path) -> None:
    spawn = FakeSpawn()
    _runner(spawn, tmp_path).run(("helm", "version"), stdin=None, timeout=5, credentials=None)
    assert spawn.seen[0]["argv"] == ["/opt/helm/helm", "version"]


@pytest.mark.parametrize(
    "spawn",
    [
        FakeSpawn(),
        FakeSpawn(returncode=1, stderr=b"Error: release: not found\n"),
        FakeSpawn(raises=subprocess.TimeoutExpired(["helm"], 30)),
        FakeSpawn(raises=FileNotFoundError(2, "No such file or directory")),
    ],
    ids=["success", "failure", "timeout", "no-binary"],
)
def test_runner_removes_the_kubeconfig_whatever_happens(spawn: FakeSpawn, tmp_path: Path) -> None:
    with contextlib.suppress(ReleaseNotFound, BackendTimeout, BackendUnavailable):
        _runner(spawn, tmp_path).run(STATUS, stdin=None, timeout=30, credentials=EKS)
    path = spawn.seen[0]["kubeconfig"]
    assert isinstance(path, Path)
    assert not path.exists()
    assert not path.parent.exists()


def test_runner_maps_a_failure_through_the_error_table(tmp_path: Path) -> None:
    stderr = (HELM4 / "helm-status-missing.stderr.txt").read_bytes()
    with pytest.raises(ReleaseNotFound, match="release: not found"):
        _runner(FakeSpawn(returncode=1, stderr=stderr), tmp_path).run(
            STATUS, stdin=None, timeout=30, credentials=EKS
        )
    with pytest.raises(BackendFailure, match="helm status failed with exit code 3"):
        _runner(FakeSpawn(returncode=3), tmp_path).run(
            STATUS, stdin=None, timeout=30, credentials=EKS
        )


def test_runner_timeout_is_a_backend_timeout(tmp_path: Path) -> None:
    spawn = FakeSpawn(raises=subprocess.TimeoutExpired(["helm"], 12, output=b"partial"))
    with pytest.raises(BackendTimeout, match="helm status did not finish within 12s") as caught:
        _runner(spawn, tmp_path).run(STATUS, stdin=None, timeout=12, credentials=EKS)
    assert caught.value.__cause__ is None  # the partial output is not carried along


def test_runner_missing_binary_is_unavailable_and_says_what_to_do(tmp_path: Path) -> None:
    spawn = FakeSpawn(raises=FileNotFoundError(2, "No such file or directory"))
    with pytest.raises(BackendUnavailable, match="make setup"):
        _runner(spawn, tmp_path).run(STATUS, stdin=None, timeout=5, credentials=None)


def test_runner_passes_stdin_through(tmp_path: Path) -> None:
    spawn = FakeSpawn()
    values = json.dumps({"auth": {"password": PASSWORD}}).encode()
    argv = ("helm", "upgrade", "demo", "x.tgz", "--namespace", "apps", "--values", "-")
    _runner(spawn, tmp_path).run(argv, stdin=values, timeout=60, credentials=EKS)
    assert spawn.seen[0]["stdin"] == values


def test_runner_never_puts_secrets_in_argv_or_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ok = FakeSpawn(stdout=json.dumps({"config": {"password": PASSWORD}}).encode())
    failing = FakeSpawn(returncode=1, stderr=b"Error: Unauthorized " + TOKEN.encode())
    values = json.dumps({"password": PASSWORD}).encode()
    argv = ("helm", "upgrade", "demo", "x.tgz", "--values", "-", "--output", "json")
    _runner(ok, tmp_path).run(argv, stdin=values, timeout=60, credentials=EKS)
    with pytest.raises(BackendUnavailable):
        _runner(failing, tmp_path).run(argv, stdin=values, timeout=60, credentials=EKS)

    logged = caplog.text + " ".join(repr(r.__dict__) for r in caplog.records)
    for secret in SECRETS:
        assert secret not in logged
        for seen in ok.seen + failing.seen:
            assert not any(secret in word for word in seen["argv"])  # type: ignore[attr-defined]
    assert any(getattr(r, "helm_argv", None) == list(argv) for r in caplog.records)


def test_runner_env_cannot_point_helm_at_another_cluster(tmp_path: Path) -> None:
    base = {
        "PATH": "/usr/bin",
        "KUBECONFIG": "/home/me/.kube/config",
        "HELM_KUBECONTEXT": "prod",
        "HELM_KUBETOKEN": "t",
        "HELM_NAMESPACE": "other",
        "HELM_DRIVER": "secret",
        "HTTPS_PROXY": "http://proxy:3128",
    }
    env = helm_env(base, tmp_path)
    assert not {"KUBECONFIG", "HELM_KUBECONTEXT", "HELM_KUBETOKEN", "HELM_NAMESPACE"} & set(env)
    assert env["HTTPS_PROXY"] == "http://proxy:3128"
    assert env["HELM_DRIVER"] == "secret"
    assert env["HELM_CACHE_HOME"] == str(tmp_path / "cache")
    assert env["HOME"] == str(tmp_path)


def test_runner_refuses_what_is_not_a_helm_argv(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a helm command"):
        _runner(FakeSpawn(), tmp_path).run(
            ("sh", "-c", "x"), stdin=None, timeout=1, credentials=None
        )


def test_binary_env_wins_then_lambda_layer_then_repo(tmp_path: Path) -> None:
    layer, local = tmp_path / "opt" / "helm", tmp_path / "repo" / "helm"
    assert locate_helm({ENV_VAR: "/custom/helm"}, layer=layer, local=local) == Path("/custom/helm")
    assert locate_helm({}, layer=layer, local=local) == local
    layer.parent.mkdir(parents=True)
    layer.write_bytes(b"")
    assert locate_helm({}, layer=layer, local=local) == layer
    assert locate_helm({ENV_VAR: "  "}, layer=layer, local=local) == layer


def test_binary_default_is_the_repos_local_bin() -> None:
    expected = Path(__file__).resolve().parents[1] / ".local" / "bin" / "helm"
    found = locate_helm({}, layer=Path(os.devnull) / "absent")
    assert found == expected
