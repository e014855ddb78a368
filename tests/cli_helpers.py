"""Running a command of the command line in process against a local run, as a user whose
environment names the run (``O2DMS_API_URL``, ``O2DMS_TOKEN``) and who has no profile."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

import click
from click.testing import CliRunner, Result

from tests.test_local_run_acceptance import Api

Run = Callable[[str], Result]


def runner(command: click.Command, api: Api, home: Path) -> Run:
    env = {
        "O2DMS_API_URL": api.root,
        "O2DMS_TOKEN": api.token,
        "XDG_CONFIG_HOME": str(home),  # no profile of the person running the tests
        "COLUMNS": "80",
    }

    def invoke(line: str) -> Result:
        return CliRunner(env=env).invoke(command, shlex.split(line), catch_exceptions=False)

    return invoke
