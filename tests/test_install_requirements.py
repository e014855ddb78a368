"""``scripts/install_requirements.py``: uv first, pip when uv cannot, pip's settings handed to
uv. The installers are faked (no network): the tests check which commands run, in what
order and with which environment."""

from __future__ import annotations

import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from scripts.install_requirements import (
    UV_VERSION,
    InstallError,
    install,
    main,
    parse_pip_config,
    uv_environment,
)

REQUIREMENTS = Path("requirements-run.txt")


@dataclass
class FakeInstallers:
    """Stands in for pip and uv: records each command; ``pip install uv`` drops a fake uv."""

    bin_dir: Path
    uv_exit: int = 0
    pip_exit: int = 0
    pip_installs_uv: bool = True
    calls: list[tuple[list[str], dict[str, str]]] = field(default_factory=list)

    def __call__(self, argv: Sequence[str], env: Mapping[str, str]) -> int:
        self.calls.append((list(argv), dict(env)))
        if argv[0].endswith("/uv"):
            return self.uv_exit
        if argv[-1] == f"uv=={UV_VERSION}":
            if not self.pip_installs_uv:
                return 1
            uv = self.bin_dir / "uv"
            uv.write_text(f"#!/bin/sh\necho 'uv {UV_VERSION} (fake)'\n")
            uv.chmod(uv.stat().st_mode | stat.S_IXUSR)
            return 0
        return self.pip_exit

    def tools(self) -> list[str]:
        """Which tool each call was: ``uv``, ``pip-uv`` (installing uv), or ``pip``."""
        names = []
        for argv, _ in self.calls:
            if argv[0].endswith("/uv"):
                names.append("uv")
            elif argv[-1] == f"uv=={UV_VERSION}":
                names.append("pip-uv")
            else:
                names.append("pip")
        return names


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    (tmp_path / "bin").mkdir()
    return tmp_path / "bin" / "python"


def _install(
    fake: FakeInstallers,
    python: Path,
    *,
    installer: str = "auto",
    pip_config: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    return install(
        REQUIREMENTS,
        python=str(python),
        editable=Path("."),
        installer=installer,
        environ=environ or {"PATH": "/usr/bin"},
        run=fake,
        pip_config=lambda _python: dict(pip_config or {}),
        log=lambda _line: None,
    )


def test_pip_config_listing_takes_the_value_pip_itself_would_use() -> None:
    listing = "\n".join(
        [
            "global.index-url='https://mirror.example/simple'",
            ":env:.index-url='https://env.example/simple'",
            "install.timeout='60'",
            "global.timeout='15'",
            "global.cert='/etc/ssl/bundle.pem'",
            "garbage line",
            "freeze.index-url='https://ignored.example/simple'",
        ]
    )
    assert parse_pip_config(listing) == {
        "index-url": "https://env.example/simple",
        "timeout": "60",
        "cert": "/etc/ssl/bundle.pem",
    }


def test_uv_gets_pips_index_and_certificates_but_not_its_extra_sources() -> None:
    config = {
        "index-url": "https://mirror.example/simple",
        "cert": "/etc/ssl/bundle.pem",
        "extra-index-url": "file:///srv/extra/simple",
        "find-links": "/srv/wheels",
    }
    env = uv_environment({"PATH": "/usr/bin"}, config)
    assert env["UV_DEFAULT_INDEX"] == "https://mirror.example/simple"
    assert env["SSL_CERT_FILE"] == "/etc/ssl/bundle.pem"
    assert "UV_EXTRA_INDEX_URL" not in env
    assert "UV_FIND_LINKS" not in env


def test_a_uv_setting_the_user_made_is_kept() -> None:
    env = uv_environment(
        {"UV_DEFAULT_INDEX": "https://mine.example/simple"},
        {"index-url": "https://mirror.example/simple"},
    )
    assert env["UV_DEFAULT_INDEX"] == "https://mine.example/simple"


def test_uv_is_installed_once_then_installs_pins_and_project_in_one_command(venv: Path) -> None:
    fake = FakeInstallers(venv.parent)
    assert _install(fake, venv) == "uv"
    assert fake.tools() == ["pip-uv", "uv"]
    uv_argv = fake.calls[1][0]
    assert uv_argv[1:3] == ["pip", "install"]
    assert uv_argv[uv_argv.index("--python") + 1] == str(venv)
    assert uv_argv[-4:] == ["-r", str(REQUIREMENTS), "-e", "."]

    fake.calls.clear()
    assert _install(fake, venv) == "uv"
    assert fake.tools() == ["uv"], "the pinned uv already there is reused"


def test_uv_runs_with_pips_index(venv: Path) -> None:
    fake = FakeInstallers(venv.parent)
    _install(fake, venv, pip_config={"index-url": "https://mirror.example/simple"})
    _, env = fake.calls[-1]
    assert env["UV_DEFAULT_INDEX"] == "https://mirror.example/simple"


def test_pip_takes_over_when_uv_fails(venv: Path) -> None:
    fake = FakeInstallers(venv.parent, uv_exit=2)
    assert _install(fake, venv) == "pip"
    assert fake.tools() == ["pip-uv", "uv", "pip", "pip"]
    pins, project = fake.calls[2][0], fake.calls[3][0]
    assert pins[-2:] == ["-r", str(REQUIREMENTS)]
    assert project[-3:] == ["--no-deps", "-e", "."]


def test_pip_takes_over_when_uv_cannot_be_installed(venv: Path) -> None:
    fake = FakeInstallers(venv.parent, pip_installs_uv=False)
    assert _install(fake, venv) == "pip"
    assert fake.tools() == ["pip-uv", "pip", "pip"]


@pytest.mark.parametrize(
    ("installer", "config"),
    [("pip", {}), ("auto", {"no-index": "true"})],
    ids=["asked-for-pip", "pip-configured-offline"],
)
def test_pip_alone(venv: Path, installer: str, config: dict[str, str]) -> None:
    fake = FakeInstallers(venv.parent)
    assert _install(fake, venv, installer=installer, pip_config=config) == "pip"
    assert fake.tools() == ["pip", "pip"]


def test_uv_only_fails_rather_than_falling_back(venv: Path) -> None:
    fake = FakeInstallers(venv.parent, uv_exit=2)
    with pytest.raises(InstallError, match="uv could not install"):
        _install(fake, venv, installer="uv")
    assert fake.tools() == ["pip-uv", "uv"]


def test_a_pip_failure_is_reported(venv: Path) -> None:
    fake = FakeInstallers(venv.parent, uv_exit=2, pip_exit=1)
    with pytest.raises(InstallError, match=r"pip could not install requirements-run\.txt"):
        _install(fake, venv)


def test_an_unknown_installer_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("O2DMS_INSTALLER", "conda")
    with pytest.raises(SystemExit) as exited:
        main([str(REQUIREMENTS)])
    assert exited.value.code == 2
