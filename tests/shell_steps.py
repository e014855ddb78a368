"""Shell commands taken from documents (the README, the seeds) and run as written: split into
commands (continuation lines and multi-line quoted bodies joined, trailing comments kept as
what the command promises), then run in bash with ``curl`` wrapped to report its status."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

CURL_WITH_STATUS = "curl() { command curl -w '\\n@@%{http_code}' \"$@\"; }\n"
COMMENT = re.compile(r"\s+#\s+(?P<says>.*)$")


@dataclass(frozen=True)
class Step:
    command: str
    says: str  # the trailing comment: what the document promises it answers


def split_commands(lines: Iterable[str]) -> list[Step]:
    """The commands in ``lines`` (comment-only and blank lines between commands dropped)."""
    steps, pending = [], ""
    for line in lines:
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending = f"{pending}\n{line}" if pending else line
        if pending.count("'") % 2 == 0 and not pending.rstrip().endswith("\\"):
            comment = COMMENT.search(pending.splitlines()[-1])
            says = comment.group("says") if comment else ""
            command = pending[: len(pending) - len(comment.group(0))] if comment else pending
            steps.append(Step(command, says))
            pending = ""
    return steps


def run_step(step: Step, env: Mapping[str, str] | None = None) -> tuple[int, str]:
    """The step's command in bash, unchanged; its HTTP status and output."""
    done = subprocess.run(
        ["bash", "-c", CURL_WITH_STATUS + step.command],
        env={"PATH": os.environ["PATH"], **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"{step.command}\n{done.stderr}"
    out, _, code = done.stdout.rpartition("\n@@")
    return int(code), out
