"""Where the service is and who is asking: flags, then the environment (``O2DMS_API_URL``,
``O2DMS_TOKEN``, ``O2DMS_WS_URL``, ``O2DMS_PROFILE``), then a profile of
``~/.config/o2dms/config.toml`` (``$XDG_CONFIG_HOME/o2dms/config.toml``)::

    default_profile = "local"

    [profiles.local]
    api_url = "http://127.0.0.1:8080"
    token_command = "make -s -C ~/src/o2dms token ROLE=operator"

    [profiles.prod]
    api_url = "https://abc123.execute-api.eu-west-3.amazonaws.com/api"
    ws_url = "wss://def456.execute-api.eu-west-3.amazonaws.com/api"
    token = "eyJ..."

``api_url`` is the service's root (``/api/v1`` and ``/o2dms/v1`` are under it). ``ws_url``
is the live-progress endpoint; by default the API's own ``/ws/deployments`` (as ``make run``
serves it). ``token_command`` prints a token when one is needed (tokens expire).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from o2dms_cli.errors import USAGE, CliError

DEFAULT_API_URL = "http://127.0.0.1:8080"
WS_PATH = "/ws/deployments"


@dataclass(frozen=True, slots=True)
class Target:
    api_url: str
    token: str | None
    ws_url: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def config_path(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "o2dms" / "config.toml"


def _profile(environ: Mapping[str, str], name: str | None) -> dict[str, Any]:
    path = config_path(environ)
    if not path.is_file():
        if name:
            raise CliError(f"profile {name!r}: there is no {path}", USAGE)
        return {}
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}", USAGE) from exc
    profiles = document.get("profiles") or {}
    chosen = name or document.get("default_profile")
    if not chosen:
        return {}
    if chosen not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        raise CliError(f"no profile {chosen!r} in {path} (profiles: {known})", USAGE)
    found: dict[str, Any] = profiles[chosen]
    return found


def _token_from(command: str) -> str:
    try:
        done = subprocess.run(
            shlex.split(command), capture_output=True, text=True, timeout=60, check=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise CliError(f"token_command {command!r} failed: {exc}", USAGE) from exc
    return done.stdout.strip()


def resolve(
    *,
    api_url: str | None = None,
    token: str | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Target:
    env = os.environ if environ is None else environ
    chosen = _profile(env, profile or env.get("O2DMS_PROFILE") or None)
    url = (api_url or env.get("O2DMS_API_URL") or chosen.get("api_url") or DEFAULT_API_URL).rstrip(
        "/"
    )
    if not url.startswith(("http://", "https://")):
        raise CliError(f"the API URL must start with http:// or https:// (got {url!r})", USAGE)
    secret = token or env.get("O2DMS_TOKEN") or chosen.get("token")
    if not secret and chosen.get("token_command"):
        secret = _token_from(str(chosen["token_command"]))
    ws = env.get("O2DMS_WS_URL") or chosen.get("ws_url") or _ws_url(url)
    return Target(api_url=url, token=secret or None, ws_url=str(ws).rstrip("/"))


def _ws_url(api_url: str) -> str:
    scheme, rest = api_url.split("://", 1)
    host = rest.split("/", 1)[0]
    return f"{'wss' if scheme == 'https' else 'ws'}://{host}{WS_PATH}"
