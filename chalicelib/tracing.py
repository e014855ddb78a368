"""X-Ray subsegments for the functions that do long work: the rollout tasks, the stream
handler, the schedule and alarm triggers, and inside them every Kubernetes API call and helm
run (and, through Powertools' patching, every AWS call).

Powertools' Tracer costs about 300 ms to start (it loads the X-Ray SDK and patches boto3),
which the API handler cannot afford on a cold start, so only the handlers above call
``start``; elsewhere ``subsegment`` costs nothing. Lambda's own segment (the stack turns
active tracing on) still covers every invocation of every function.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from chalicelib.config import Settings

_lock = threading.Lock()
_tracer: Any = None


def start(settings: Settings) -> None:
    """Trace this process from now on (once), when ``settings.tracing``."""
    global _tracer  # noqa: PLW0603 - one tracer per process
    if not settings.tracing or _tracer is not None:
        return
    with _lock:
        if _tracer is None:
            from aws_lambda_powertools import Tracer

            _tracer = Tracer(service="o2dms")


def use(tracer: Any) -> None:
    """Trace with ``tracer`` (tests: a recording one), or stop tracing with None."""
    global _tracer  # noqa: PLW0603
    _tracer = tracer


@contextlib.contextmanager
def subsegment(name: str, **annotations: str) -> Iterator[None]:
    """A subsegment named ``name`` around the block, annotated; nothing when not tracing."""
    tracer = _tracer
    if tracer is None:
        yield
        return
    with tracer.provider.in_subsegment(name[:200]) as segment:
        for key, value in annotations.items():
            segment.put_annotation(key=key, value=value)
        yield
