"""The service's logs: JSON lines in Lambda (Powertools' formatter), with the keys that tie
a line to what it is about (``request_id``, ``deployment_id``, ``operation_id``,
``trigger``, ``connection_id``), at the level ``O2DMS_LOG_LEVEL`` says (INFO by default).

Every module logs through ``logging.getLogger(__name__)``; ``setup`` puts one JSON handler
on the ``chalicelib`` logger they all descend from, so modules loaded later are covered too.
Outside Lambda (the local run, the tests) logs stay plain, unless ``json_logs`` is set.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

from chalicelib.config import Settings

ROOT = "chalicelib"
_lock = threading.Lock()
_formatter: Any = None


def setup(settings: Settings) -> None:
    """Once per process: JSON lines for ``chalicelib.*`` when ``settings.json_logs``."""
    global _formatter  # noqa: PLW0603 - one handler per process
    if not settings.json_logs:
        return
    with _lock:
        if _formatter is not None:
            return
        from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

        _formatter = LambdaPowertoolsFormatter(service="o2dms")
        handler = _Stdout()
        handler.setFormatter(_formatter)
        parent = logging.getLogger(ROOT)
        parent.handlers = [handler]
        parent.setLevel(settings.log_level)
        parent.propagate = False


class _Stdout(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` is when a line is logged (a test may swap it)."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def bind(**keys: str | None) -> None:
    """Keys every following line carries (None removes one); nothing before ``setup``."""
    formatter = _formatter
    if formatter is None:
        return
    present = {k: v for k, v in keys.items() if v is not None}
    absent = [k for k, v in keys.items() if v is None]
    if present:
        formatter.append_keys(**present)
    if absent:
        formatter.remove_keys(absent)


def forget() -> None:
    """A new invocation or request: no key of the previous one stays."""
    bind(request_id=None, deployment_id=None, operation_id=None, trigger=None, connection_id=None)


def reset() -> None:
    """Back to plain logs (tests)."""
    global _formatter  # noqa: PLW0603
    with _lock:
        _formatter = None
        parent = logging.getLogger(ROOT)
        parent.handlers = []
        parent.propagate = True
        parent.setLevel(logging.NOTSET)
