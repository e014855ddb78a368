"""The service's logs: JSON lines in Lambda (Powertools' formatter), with the keys that tie
a line to what it is about (``request_id``, ``deployment_id``, ``operation_id``,
``trigger``, ``connection_id``), at the level ``O2DMS_LOG_LEVEL`` says (INFO by default).

Every module logs through ``logging.getLogger(__name__)``; ``setup`` puts one JSON handler
on the ``chalicelib`` logger they all descend from, so modules loaded later are covered too.
Outside Lambda (the local run, the tests) logs stay plain, unless ``json_logs`` is set.

Powertools' formatter is built when the first line is written (``_FirstLineFormatter``):
a request that logs nothing, such as a cold ``GET .../status``, never loads Powertools.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable
from typing import Any

from chalicelib.config import Settings

ROOT = "chalicelib"
SERVICE = "o2dms"
_lock = threading.Lock()
_formatter: _FirstLineFormatter | None = None


def setup(settings: Settings) -> None:
    """Once per process: JSON lines for ``chalicelib.*`` when ``settings.json_logs``."""
    global _formatter  # noqa: PLW0603 - one handler per process
    if not settings.json_logs:
        return
    with _lock:
        if _formatter is not None:
            return
        _formatter = _FirstLineFormatter()
        handler = _Stdout()
        handler.setFormatter(_formatter)
        parent = logging.getLogger(ROOT)
        parent.handlers = [handler]
        parent.setLevel(settings.log_level)
        parent.propagate = False


class _FirstLineFormatter(logging.Formatter):
    """Powertools' ``LambdaPowertoolsFormatter``, built on the first line it formats; the
    keys bound before then are kept here, in order, and handed to it as it is built."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._keys: dict[str, str] = {}
        self._built: Any = None

    def format(self, record: logging.LogRecord) -> str:
        text: str = self._powertools().format(record)
        return text

    def append_keys(self, **keys: str) -> None:
        with self._lock:
            if self._built is None:
                self._keys.update(keys)
            else:
                self._built.append_keys(**keys)

    def remove_keys(self, names: Iterable[str]) -> None:
        with self._lock:
            if self._built is None:
                for name in names:
                    self._keys.pop(name, None)
            else:
                self._built.remove_keys(names)

    def _powertools(self) -> Any:
        with self._lock:
            if self._built is None:
                from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

                built = LambdaPowertoolsFormatter(service=SERVICE)
                if self._keys:
                    built.append_keys(**self._keys)
                self._built = built
            return self._built


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
