"""Install a pinned requirements file into this virtualenv, with uv when it can, else pip.

The first `make run` on a fresh clone spends most of its wait installing packages. pip
downloads, unpacks and byte-compiles them one at a time: about a minute for the local run's
hundred packages on a 2-core machine with an empty cache, nearly two with the dev toolchain.
uv (a pip-compatible installer, itself a wheel on the package registry) downloads in
parallel and installs the same pins in about a quarter of the time, the few seconds it takes
to install uv itself included. So the Makefile calls this script with the virtualenv's
Python, and it:

1. installs the pinned uv into the virtualenv with pip (once; a few seconds),
2. installs the requirements file (and, with ``--editable``, the project itself) with
   ``uv pip install``,
3. falls back to plain pip when uv cannot be had or fails, so a machine uv does not support,
   or an index uv cannot reach, still ends up with the same pins, only slower.

uv does not read pip's configuration files, so the settings that decide where pip fetches
from and how (``index-url``, ``cert``, ``trusted-host``, ``proxy``, ``timeout``) are handed
to uv through its own environment variables, unless the user set those already. Settings
that only add sources (``extra-index-url``, ``find-links``) are left out: every pin is on the
main index, and uv would otherwise prefer an extra index's copy of a package even when it
lacks the pinned version. With ``no-index`` set, pip is used directly.

``O2DMS_INSTALLER=pip`` (or ``--installer pip``) skips uv altogether.

Needs only the standard library (and pip, which every virtualenv has).
"""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# The uv release the installs are made with; a newer one is taken only by changing this pin.
UV_VERSION = "0.13.9"
INSTALLER_VAR = "O2DMS_INSTALLER"
INSTALLERS = ("auto", "uv", "pip")
_PIP_QUIET = ("--quiet", "--disable-pip-version-check")
# A pip setting -> the environment variables through which uv takes the same setting.
_UV_EQUIVALENTS: Mapping[str, Sequence[str]] = {
    "index-url": ("UV_DEFAULT_INDEX",),
    "cert": ("SSL_CERT_FILE",),
    "trusted-host": ("UV_INSECURE_HOST",),
    "proxy": ("HTTPS_PROXY", "HTTP_PROXY"),
    "timeout": ("UV_HTTP_TIMEOUT",),
    "default-timeout": ("UV_HTTP_TIMEOUT",),
}
# Sections of pip's configuration that apply to `pip install`, lowest precedence first.
_SECTIONS = ("global", "install", ":env:")

Runner = Callable[[Sequence[str], Mapping[str, str]], int]


class InstallError(Exception):
    """Neither installer could install the requirements; the message says what failed."""


def _run(argv: Sequence[str], env: Mapping[str, str]) -> int:
    return subprocess.run(list(argv), env=dict(env), check=False).returncode


def parse_pip_config(listing: str) -> dict[str, str]:
    """The effective values of ``pip config list`` output (``section.key='value'`` lines).

    A key set in several sections takes the value of the one pip itself ranks highest:
    ``:env:`` (the PIP_* variables) over ``install`` over ``global``.
    """
    ranked: dict[str, tuple[int, str]] = {}
    for line in listing.splitlines():
        name, sep, raw = line.partition("=")
        section, dot, key = name.rpartition(".")
        if not sep or not dot or section not in _SECTIONS:
            continue
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            continue
        rank = _SECTIONS.index(section)
        if key not in ranked or rank >= ranked[key][0]:
            ranked[key] = (rank, str(value))
    return {key: value for key, (_, value) in ranked.items()}


def read_pip_config(python: str) -> dict[str, str]:
    """pip's effective settings for this interpreter; empty if pip cannot tell."""
    try:
        done = subprocess.run(
            [python, "-m", "pip", "config", "list", *_PIP_QUIET[1:]],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return parse_pip_config(done.stdout) if done.returncode == 0 else {}


def uv_environment(environ: Mapping[str, str], pip_config: Mapping[str, str]) -> dict[str, str]:
    """``environ`` plus the uv variables that make uv fetch where and as pip would.

    A variable the user already set is kept: it was meant for uv (or for every client).
    """
    env = dict(environ)
    for setting, names in _UV_EQUIVALENTS.items():
        value = pip_config.get(setting)
        if not value:
            continue
        for name in names:
            env.setdefault(name, value)
    return env


def pip_install_command(
    python: str, requirements: Path, *, editable: Path | None = None
) -> list[list[str]]:
    """pip's commands: the pins (resolved together), then the project without its deps."""
    commands = [[python, "-m", "pip", "install", *_PIP_QUIET, "-r", str(requirements)]]
    if editable is not None:
        commands.append(
            [python, "-m", "pip", "install", *_PIP_QUIET, "--no-deps", "-e", str(editable)]
        )
    return commands


def uv_install_command(
    uv: Path, python: str, requirements: Path, *, editable: Path | None = None
) -> list[str]:
    """One uv command for the pins and the project: they download and build together."""
    argv = [str(uv), "pip", "install", "--quiet", "--python", python, "-r", str(requirements)]
    if editable is not None:
        argv += ["-e", str(editable)]
    return argv


def uv_binary(python: str) -> Path:
    """Where pip puts uv's executable in the virtualenv that ``python`` belongs to."""
    return Path(python).parent / ("uv.exe" if os.name == "nt" else "uv")


def installed_uv_version(uv: Path) -> str | None:
    """The version ``uv --version`` reports (``uv 0.13.9 (...)`` -> ``0.13.9``), or None."""
    if not uv.is_file():
        return None
    try:
        done = subprocess.run(
            [str(uv), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    words = done.stdout.split()
    return words[1] if done.returncode == 0 and len(words) > 1 else None


def ensure_uv(python: str, environ: Mapping[str, str], run: Runner = _run) -> Path | None:
    """The pinned uv of this virtualenv, installed with pip if missing; None if pip cannot."""
    uv = uv_binary(python)
    if installed_uv_version(uv) == UV_VERSION:
        return uv
    code = run([python, "-m", "pip", "install", *_PIP_QUIET, f"uv=={UV_VERSION}"], environ)
    return uv if code == 0 and uv.is_file() else None


def install(
    requirements: Path,
    *,
    python: str = sys.executable,
    editable: Path | None = None,
    installer: str = "auto",
    environ: Mapping[str, str] = os.environ,
    run: Runner = _run,
    pip_config: Callable[[str], dict[str, str]] = read_pip_config,
    log: Callable[[str], None] | None = None,
) -> str:
    """Install ``requirements`` (and ``editable``) into ``python``'s environment.

    Returns the installer that did it (``uv`` or ``pip``). Messages go to stderr: an install
    can happen inside ``$(make -s token)``, whose stdout must be the token alone.
    """
    log = log or _to_stderr
    started = time.monotonic()
    config = pip_config(python) if installer != "pip" else {}
    if installer != "pip" and config.get("no-index", "").lower() in ("1", "true", "yes", "on"):
        installer = "pip"  # an offline setup: uv would not see pip's local sources
    if installer != "pip":
        uv = ensure_uv(python, environ, run)
        if uv is None:
            if installer == "uv":
                raise InstallError(f"could not install uv=={UV_VERSION} with pip")
            log(f"install_requirements: uv=={UV_VERSION} is not available; using pip")
        else:
            argv = uv_install_command(uv, python, requirements, editable=editable)
            code = run(argv, uv_environment(environ, config))
            if code == 0:
                log(f"installed {requirements.name} with uv in {_since(started)}")
                return "uv"
            if installer == "uv":
                raise InstallError(f"uv could not install {requirements.name} (exit {code})")
            log(f"install_requirements: uv failed (exit {code}); installing with pip instead")
    for argv in pip_install_command(python, requirements, editable=editable):
        code = run(argv, environ)
        if code != 0:
            raise InstallError(f"pip could not install {requirements.name} (exit {code})")
    log(f"installed {requirements.name} with pip in {_since(started)}")
    return "pip"


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _since(started: float) -> str:
    return f"{time.monotonic() - started:.0f} s"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("requirements", type=Path, help="a pinned requirements file")
    parser.add_argument(
        "--editable", type=Path, help="also install this project, editable, without its deps"
    )
    parser.add_argument(
        "--installer",
        choices=INSTALLERS,
        default=os.environ.get(INSTALLER_VAR) or "auto",
        help=f"auto: uv, pip if uv fails (default; {INSTALLER_VAR} sets it)",
    )
    args = parser.parse_args(argv)
    if args.installer not in INSTALLERS:  # argparse does not check a default against choices
        parser.error(f"{INSTALLER_VAR}={args.installer!r}: expected one of {', '.join(INSTALLERS)}")
    try:
        install(args.requirements, editable=args.editable, installer=args.installer)
    except InstallError as exc:
        print(f"install_requirements: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
