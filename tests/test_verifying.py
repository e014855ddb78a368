"""The verifying stage: a rolled-out workload passes once every required health check has
stayed healthy for the stable window, waits while one is pending, and fails (and is rolled
back, the check named in the reason) once one has been unhealthy three polls in a row."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib import composition
from chalicelib.domain.health import HealthCheck, HealthStatus
from chalicelib.service.verifying import verify
from tests.api_helpers import call
from tests.apm_bodies import V1, my_app
from tests.conftest import World

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def check(name: str, status: HealthStatus, *, required: bool = True) -> HealthCheck:
    return HealthCheck(name, "readiness", status, f"{name} is {status.value}", required=required)


def test_verify_waits_for_the_window_then_passes() -> None:
    healthy = (check("a", HealthStatus.HEALTHY), check("b", HealthStatus.HEALTHY))
    first = verify(
        healthy, healthy_since=None, failures={}, now=NOW, window_seconds=30, threshold=3
    )
    assert (first.passed, first.healthy_since) == (False, NOW)
    assert first.message == "Verifying: all 2 health checks healthy for 0 of 30s"
    later = verify(
        healthy,
        healthy_since=NOW,
        failures={},
        now=NOW + timedelta(seconds=30),
        window_seconds=30,
        threshold=3,
    )
    assert later.passed


def test_verify_restarts_the_window_on_a_pending_check_and_ignores_optional_ones() -> None:
    checks = (
        check("a", HealthStatus.HEALTHY),
        check("endpoints", HealthStatus.PENDING),
        check("optional", HealthStatus.UNHEALTHY, required=False),
    )
    verdict = verify(checks, healthy_since=NOW, failures={}, now=NOW, window_seconds=0, threshold=3)
    assert (verdict.passed, verdict.failure, verdict.healthy_since) == (False, None, None)
    assert "endpoints is pending" in verdict.message


def test_verify_fails_after_the_threshold_of_unhealthy_polls() -> None:
    bad = (check("web-liveness", HealthStatus.UNHEALTHY),)
    counts: dict[str, int] = {}
    for poll in range(3):
        verdict = verify(
            bad, healthy_since=None, failures=counts, now=NOW, window_seconds=0, threshold=3
        )
        counts = verdict.failures
        assert (verdict.failure is None) == (poll < 2)
    assert verdict.failure == (
        "health check web-liveness was unhealthy 3 times in a row: web-liveness is unhealthy"
    )
    healed = verify(
        (check("web-liveness", HealthStatus.HEALTHY),),
        healthy_since=None,
        failures=counts,
        now=NOW,
        window_seconds=0,
        threshold=3,
    )
    assert healed.passed
    assert healed.failures == {}


@pytest.fixture
def stable(world: World) -> World:
    """The world with a 30 s stable window, as in AWS."""
    settings = replace(world.deps.settings, verify_stable_seconds=30)
    world.deps = replace(world.deps, settings=settings)
    world.driver.deps = world.deps
    composition.use(world.deps)
    return world


def test_a_rollout_verifies_for_the_window_before_it_completes(client: Any, stable: World) -> None:
    answer = call(client, "POST", V1, my_app("v1.0.0", replicas=2))
    stable.settle()
    found = call(client, "GET", f"{V1}/{answer.body['id']}").body
    assert found["status"] == "verifying", found
    assert "health checks healthy for" in found["progress"]["current_stage"]
    stable.clock.advance(31)
    stable.driver.poll()
    done = call(client, "GET", f"{V1}/{answer.body['id']}").body
    assert done["status"] == "completed", done
    verifying = next(s for s in done["stages"] if s["name"] == "verifying")
    began = datetime.fromisoformat(verifying["started_at"])
    ended = datetime.fromisoformat(verifying["finished_at"])
    assert (ended - began).total_seconds() >= 30


def test_an_unhealthy_check_while_verifying_rolls_back_naming_it(client: Any, world: World) -> None:
    call(client, "POST", V1, my_app("v1.0.0"))
    world.settle()
    answer = call(client, "POST", V1, my_app("v2.0.0-flaky"))
    for _ in range(4):
        world.settle()
    found = call(client, "GET", f"{V1}/{answer.body['id']}").body
    assert found["status"] == "rolled_back", found
    assert found["reason"].startswith(
        "health check my-app-deployment-liveness was unhealthy 3 times in a row"
    )
    assert "OOMKilled" in found["reason"]
    nf = call(client, "GET", "/o2dms/v1/nfDeployments/my-app-production").body
    assert nf["parameters"]["image"]["tag"] == "v1.0.0"
