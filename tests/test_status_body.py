"""The status answer written without pydantic (``api.status_body``) is the model's, byte for
byte: the same fields in the same order, the same spelling of every value, and the model
itself writing (or refusing) whatever the plain writer does not know."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic_core import PydanticSerializationError

from chalicelib.api import render, status_body
from chalicelib.api import schemas as s
from chalicelib.domain.health import HealthCheck, HealthStatus
from chalicelib.domain.models import ChartRef, Condition, Deployment, Lease
from chalicelib.domain.states import Adapter, DeploymentStatus, OperationType, Stage

AT = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
LEASE = Lease("op-0190000000001a2b3c4d", OperationType.UPGRADE, AT, execution_id="arn:exec:1")
CHECK = HealthCheck("web-readiness", "readiness", HealthStatus.HEALTHY, "3 of 3 pods healthy")


def deployment(**changes: Any) -> Deployment:
    base = Deployment(
        id="nginx-prod",
        namespace="production",
        adapter=Adapter.HELM,
        deployment_manager_id="local",
        descriptor_id="nginx-chart-1.2.0",
        chart=ChartRef("https://charts.example.com/stable", "nginx", "1.2.0"),
        parameters={"replicaCount": 2},
        status=DeploymentStatus.INSTANTIATED,
        revision=3,
        last_revision=3,
        deployed_revision=3,
        created_at=AT,
        updated_at=AT,
        message="All 2 replicas ready",
        progress=100,
    )
    return dataclasses.replace(base, **changes)


def by_model(d: Deployment) -> str:
    return render.status(d).model_dump_json(by_alias=True)


PLAIN = {
    "settled": deployment(),
    "leased": deployment(
        status=DeploymentStatus.DEPLOYING, lease=LEASE, eta_seconds=42, stage=Stage.VERIFYING
    ),
    "no execution id": deployment(lease=dataclasses.replace(LEASE, execution_id=None)),
    "conditions": deployment(
        conditions=(
            Condition("Available", "True", "MinimumReplicasAvailable", "ok"),
            Condition("Progressing", "False"),
        )
    ),
    "health checks": deployment(
        health_checks=(
            CHECK,
            dataclasses.replace(
                CHECK,
                status=HealthStatus.UNHEALTHY,
                since=datetime(2026, 3, 4, 5, 6, 7, 37370, tzinfo=UTC),
                component="web",
                pod="web-7d9f-abcde",
                required=False,
                failure_threshold=3,
            ),
        )
    ),
    "offsets": deployment(
        updated_at=datetime(2026, 7, 1, 12, 0, tzinfo=ZoneInfo("Europe/Paris")),
        health_checks=(
            dataclasses.replace(CHECK, since=datetime(2026, 1, 1, 1, 2, 3, 1)),
            dataclasses.replace(
                CHECK, since=datetime(9, 1, 1, tzinfo=timezone(timedelta(hours=-9, minutes=-30)))
            ),
        ),
    ),
    "extensions": deployment(
        adapter=Adapter.ARGOCD,
        extensions={
            "argocd.app": "nginx-prod",
            "argocd.synced": True,
            "argocd.none": None,
            "nested": {"list": [1, -2, "three", [], {}], "big": 2**62, "small": -(2**63)},
            "argocd.revision": 9,  # the model's own key comes first, with this value
        },
    ),
    "text": deployment(
        message='quote " backslash \\ slash / tab \t newline \n nul \x00 \x1f del \x7f',
        extensions={"é ü 中 🚀": "\u2028 \u2029 \ufeff \U0001f600"},
    ),
}


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_the_plain_writer_writes_the_models_bytes(name: str) -> None:
    d = PLAIN[name]
    status_body.fields(d)  # plain: written here, not by the model

    assert status_body.status(d) == by_model(d)


def test_the_plain_writer_has_the_models_fields_in_its_order() -> None:
    def aliases(model: type[s._Wire]) -> list[str]:
        return [f.alias or name for name, f in model.model_fields.items()]

    written = status_body.fields(PLAIN["health checks"])
    condition = status_body.fields(PLAIN["conditions"])["conditions"][0]

    assert list(written) == aliases(s.StatusOut)
    assert list(written["healthChecks"][0]) == aliases(s.HealthCheckOut)
    assert list(condition) == aliases(s.ConditionOut)


NOT_PLAIN = {
    "a float": deployment(extensions={"ratio": 0.1, "tiny": 1e-7, "huge": 1e16}),
    "a tuple": deployment(extensions={"pair": (1, 2)}),
    "an integer past 64 bits": deployment(extensions={"big": 2**70}),
    "an offset with seconds": deployment(
        updated_at=datetime(2026, 1, 1, tzinfo=timezone(timedelta(seconds=30)))
    ),
    "a string subclass": deployment(message=Stage.COMPLETED),
    "a bool for an int": deployment(progress=True),
}


@pytest.mark.parametrize("name", sorted(NOT_PLAIN))
def test_values_the_plain_writer_does_not_know_are_written_by_the_model(name: str) -> None:
    d = NOT_PLAIN[name]
    with pytest.raises(status_body.NotPlain):
        status_body.fields(d)

    assert status_body.status(d) == by_model(d)


def test_a_lone_surrogate_is_refused_as_the_model_refuses_it() -> None:
    d = deployment(message="\ud800")

    with pytest.raises(PydanticSerializationError, match="surrogates not allowed"):
        by_model(d)
    with pytest.raises(PydanticSerializationError, match="surrogates not allowed"):
        status_body.status(d)


def _value(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["str", "int", "bool", "none"] + (["list", "dict"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "str":  # ASCII (control characters too) and the rest of the BMP, no surrogate
        return "".join(
            chr(rng.choice([rng.randrange(0, 0x80), rng.randrange(0x80, 0xD800)]))
            for _ in range(rng.randrange(0, 8))
        )
    if kind == "int":
        return rng.randrange(-(2**63), 2**63)
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "none":
        return None
    if kind == "list":
        return [_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {_value_key(rng): _value(rng, depth + 1) for _ in range(rng.randrange(0, 4))}


def _value_key(rng: random.Random) -> str:
    return "".join(chr(rng.randrange(0, 0x3000)) for _ in range(rng.randrange(0, 6)))


def test_random_plain_values_are_written_alike() -> None:
    rng = random.Random(20260304)
    for _ in range(300):
        d = deployment(
            message=_value_key(rng),
            extensions={_value_key(rng): _value(rng) for _ in range(rng.randrange(0, 5))},
            updated_at=AT + timedelta(microseconds=rng.randrange(0, 10**12)),
        )
        assert status_body.status(d) == by_model(d)
