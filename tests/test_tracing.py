"""X-Ray subsegments of the long-running functions: the rollout task, and inside it every
helm run, each annotated with what it is about. A recording tracer stands in for
Powertools' (whose X-Ray SDK needs Lambda's daemon)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import tracing
from chalicelib.adapters.gitops.kube import KubeSession
from tests.api_helpers import create_deployment, create_descriptor
from tests.conftest import World


class Segment:
    def __init__(self, name: str) -> None:
        self.name = name
        self.annotations: dict[str, str] = {}

    def put_annotation(self, *, key: str, value: str) -> None:
        self.annotations[key] = value


class Provider:
    def __init__(self) -> None:
        self.segments: list[Segment] = []

    @contextlib.contextmanager
    def in_subsegment(self, name: str) -> Iterator[Segment]:
        segment = Segment(name)
        self.segments.append(segment)
        yield segment


@dataclasses.dataclass
class RecordingTracer:
    provider: Provider = dataclasses.field(default_factory=Provider)


@pytest.fixture
def traced() -> Iterator[RecordingTracer]:
    tracer = RecordingTracer()
    tracing.use(tracer)
    yield tracer
    tracing.use(None)


def test_the_rollout_task_is_a_subsegment_named_by_its_ids(
    client: Any, world: World, traced: RecordingTracer
) -> None:
    create_descriptor(client)
    created = create_deployment(client)
    operation_id = created.headers["X-O2DMS-Operation-Id"]
    event = {"deploymentId": "nginx-prod", "operationId": operation_id}
    client.lambda_.invoke("rollout_follow", event)
    (follow,) = [s for s in traced.provider.segments if s.name == "## rollout_follow"]
    assert follow.annotations == {"deployment_id": "nginx-prod", "operation_id": operation_id}


def test_kubernetes_calls_are_subsegments(traced: RecordingTracer) -> None:
    assert KubeSession._call("read deployment/web", lambda: 7) == 7
    assert [s.name for s in traced.provider.segments] == ["kubernetes read deployment/web"]


def test_nothing_is_traced_unless_started(world: World) -> None:
    tracing.use(None)
    tracing.start(dataclasses.replace(world.deps.settings, tracing=False))
    with tracing.subsegment("anything"):
        pass
    assert tracing._tracer is None
