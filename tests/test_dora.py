"""DORA figures: the arithmetic on a history written by hand, then ``GET
/api/v1/metrics/dora`` on rollouts played on the simulated cluster (every answer checked
against the served OpenAPI document by ``call``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain import dora
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.models import AppRollout, Operation, StageEntry
from chalicelib.domain.states import OperationState, OperationType, Stage, Trigger
from chalicelib.service import dora as service
from tests import auth_helpers
from tests.api_helpers import Answer, call
from tests.apm_bodies import V1, my_app
from tests.conftest import World
from tests.openapi_check import model_validator

DORA = "/api/v1/metrics/dora"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
START, END = T0, T0 + timedelta(days=10)  # a 10-day window

S = OperationState
INSTALL, UPGRADE, SCALE, ROLLBACK = (
    OperationType.INSTALL,
    OperationType.UPGRADE,
    OperationType.SCALE,
    OperationType.ROLLBACK,
)


def at(day: float, minutes: float = 0) -> datetime:
    return T0 + timedelta(days=day, minutes=minutes)


def op(
    key: str,
    where: tuple[str, str, str],  # name, environment, platform
    kind: OperationType,
    state: OperationState,
    started: datetime,
    *,
    lasts: float | None = None,  # minutes to its end; None while it runs
    rolls_back_after: float | None = None,  # minutes to its automatic rollback
    trigger: Trigger = Trigger.API,
) -> Operation:
    """One operation as the store reads it, with only what the figures look at."""
    name, environment, platform = where
    stages = [StageEntry(Stage.PREPARING, started)]
    if rolls_back_after is not None:
        stages.append(StageEntry(Stage.ROLLING_BACK, started + timedelta(minutes=rolls_back_after)))
    finished = None if lasts is None else started + timedelta(minutes=lasts)
    if finished is not None:
        good = state in {S.COMPLETED, S.ROLLED_BACK}
        stages.append(StageEntry(Stage.COMPLETED if good else Stage.FAILED, finished))
    return Operation(
        id=f"op-{key}",
        deployment_id=f"{name}-{environment}",
        type=kind,
        state=state,
        stage=stages[-1].stage,
        stages=tuple(stages),
        trigger=trigger,
        actor="tester",
        started_at=started,
        updated_at=finished or started,
        deadline=started + timedelta(hours=1),
        finished_at=finished,
        rollback_revision=9 if rolls_back_after is not None else None,
        app=AppRollout(
            id=key, name=name, environment=environment, platform=platform, namespace=environment
        ),
    )


WEB_PROD = ("web", "production", "kubernetes")
WEB_STAGING = ("web", "staging", "kubernetes")
API_STAGING = ("api", "staging", "helm")
OLD = ("old", "production", "argocd")

HISTORY = (
    # Before the window: counted nowhere, and argocd/production gets no group.
    op("w0", OLD, UPGRADE, S.FAILED, at(-1), lasts=10),
    op("w1", OLD, ROLLBACK, S.COMPLETED, at(-1, 60), lasts=5, trigger=Trigger.ALARM),
    # kubernetes/production
    op("a1", WEB_PROD, INSTALL, S.COMPLETED, at(1), lasts=10),
    # crashes, rolls back at +5 min, back at +8 min: restored in 3 min = 180 s
    op("a2", WEB_PROD, UPGRADE, S.ROLLED_BACK, at(2), lasts=8, rolls_back_after=5),
    op("a3", WEB_PROD, UPGRADE, S.COMPLETED, at(3), lasts=10),
    # an alarm rolls a3 back after it completed: a rollback, not a failed deployment
    op("a4", WEB_PROD, ROLLBACK, S.COMPLETED, at(3, 60), lasts=5, trigger=Trigger.ALARM),
    # a scheduled scale is no deployment
    op("a5", WEB_PROD, SCALE, S.COMPLETED, at(6), lasts=2, trigger=Trigger.SCHEDULE),
    # helm/staging
    op("b1", API_STAGING, INSTALL, S.COMPLETED, at(1, 720), lasts=10),
    # fails at 00:20 (no automatic rollback) ...
    op("b2", API_STAGING, UPGRADE, S.FAILED, at(4), lasts=20),
    # ... and the next rollout, 02:00 to 02:30, restores it: 02:30 - 00:20 = 130 min = 7800 s
    op("b3", API_STAGING, UPGRADE, S.COMPLETED, at(4, 120), lasts=30),
    # crashes, rolls back at 00:05, and that rollback fails too at 00:15 ...
    op("b4", API_STAGING, UPGRADE, S.FAILED, at(5), lasts=15, rolls_back_after=5),
    # ... until a manual rollback, 01:00 to 01:10: 01:10 - 00:05 = 65 min = 3900 s
    op("b5", API_STAGING, ROLLBACK, S.COMPLETED, at(5, 60), lasts=10),
    # kubernetes/staging
    op("c1", WEB_STAGING, INSTALL, S.COMPLETED, at(6), lasts=10),
    op("c2", WEB_STAGING, UPGRADE, S.FAILED, at(7), lasts=30),  # never restored
    op("c3", WEB_STAGING, UPGRADE, S.RUNNING, at(9)),  # still running: not ended
)


def _figures(**given: Any) -> dora.Figures:
    return dora.Figures(**{**given, "rollbacks": dora.Rollbacks(*given["rollbacks"])})


def test_the_figures_of_a_history_written_by_hand() -> None:
    found = dora.report(HISTORY, start=START, end=END)

    assert found.overall == _figures(
        deployments=10,  # a1 a2 a3, b1 b2 b3 b4, c1 c2 c3 (not w0: before; not a5: a scale)
        deployment_frequency_per_day=1.0,  # 10 / 10 days
        completed=5,  # a1 a3 b1 b3 c1
        failed=4,  # a2 (rolled back) b2 b4 c2 (failed)
        change_failure_rate=0.4444,  # 4 / (5 + 4 ended; c3 runs) = 0.44444...
        mean_time_to_restore_seconds=3960.0,  # (180 + 7800 + 3900) / 3 = 11880 / 3
        rollbacks=(2, 1, 1),  # automatic: a2 b4; alarm: a4 (w1 is before); manual: b5
        restores_pending=1,  # c2
    )
    assert [(g.platform, g.environment) for g in found.groups] == [
        ("helm", "staging"),
        ("kubernetes", "production"),
        ("kubernetes", "staging"),
    ]
    helm, production, staging = (g.figures for g in found.groups)
    assert helm == _figures(
        deployments=4,  # b1 b2 b3 b4
        deployment_frequency_per_day=0.4,  # 4 / 10
        completed=2,  # b1 b3
        failed=2,  # b2 b4
        change_failure_rate=0.5,  # 2 / 4
        mean_time_to_restore_seconds=5850.0,  # (7800 + 3900) / 2
        rollbacks=(1, 0, 1),  # b4; b5
        restores_pending=0,
    )
    assert production == _figures(
        deployments=3,  # a1 a2 a3
        deployment_frequency_per_day=0.3,
        completed=2,  # a1 a3
        failed=1,  # a2
        change_failure_rate=0.3333,  # 1 / 3
        mean_time_to_restore_seconds=180.0,  # a2: 00:05 to 00:08
        rollbacks=(1, 1, 0),  # a2; a4
        restores_pending=0,
    )
    assert staging == _figures(
        deployments=3,  # c1 c2 c3
        deployment_frequency_per_day=0.3,
        completed=1,  # c1
        failed=1,  # c2
        change_failure_rate=0.5,  # 1 / (1 + 1 ended)
        mean_time_to_restore_seconds=None,  # c2 is not restored
        rollbacks=(0, 0, 0),
        restores_pending=1,
    )


def test_each_failure_is_restored_by_what_ends_it() -> None:
    a2, b2, b4, c2 = (
        next(o for o in HISTORY if o.id == f"op-{k}") for k in ("a2", "b2", "b4", "c2")
    )
    assert (dora.failed_at(a2), dora.restored_at(a2, HISTORY)) == (at(2, 5), at(2, 8))
    assert (dora.failed_at(b2), dora.restored_at(b2, HISTORY)) == (at(4, 20), at(4, 150))
    assert (dora.failed_at(b4), dora.restored_at(b4, HISTORY)) == (at(5, 5), at(5, 70))
    assert (dora.failed_at(c2), dora.restored_at(c2, HISTORY)) == (at(7, 30), None)


def test_a_rollout_a_rollback_superseded_failed_and_the_rollback_restored_it() -> None:
    history = (
        op("u1", WEB_PROD, INSTALL, S.COMPLETED, at(1), lasts=10),
        # cancelled at +10 min by a rollback, which ends at +14 min: 4 min = 240 s
        op("u2", WEB_PROD, UPGRADE, S.CANCELLED, at(2), lasts=10),
        op("u3", WEB_PROD, ROLLBACK, S.COMPLETED, at(2, 10), lasts=4),
    )

    found = dora.figures(history, start=START, end=END)

    assert found == _figures(
        deployments=2,  # u1 u2
        deployment_frequency_per_day=0.2,  # 2 / 10
        completed=1,
        failed=1,  # u2: seed 002 calls a cancelled rollout failed
        change_failure_rate=0.5,  # 1 / 2
        mean_time_to_restore_seconds=240.0,
        rollbacks=(0, 0, 1),
        restores_pending=0,
    )


def test_no_rollouts_have_no_rates() -> None:
    found = dora.report((), start=START, end=END)

    assert found.overall == _figures(
        deployments=0,
        deployment_frequency_per_day=0.0,
        completed=0,
        failed=0,
        change_failure_rate=None,
        mean_time_to_restore_seconds=None,
        rollbacks=(0, 0, 0),
        restores_pending=0,
    )
    assert found.groups == ()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30d", 30 * 86_400),
        ("7d", 7 * 86_400),
        ("12h", 12 * 3_600),
        ("1d12h", 36 * 3_600),
        ("90m", 5_400),
        ("45s", 45),
        ("365d", 365 * 86_400),
        ("8760h", 365 * 86_400),
    ],
)
def test_windows_are_go_durations_with_days(text: str, seconds: int) -> None:
    assert dora.parse_window(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "text", ["abc", "", "30", "0d", "366d", "400d", "8761h", "1y", "-1d", "12h1d", "1.5d", "d"]
)
def test_other_windows_are_refused(text: str) -> None:
    with pytest.raises(InvalidRequest, match="window"):
        dora.parse_window(text)


# ------------------------------------------------------------------------------ API


def start(client: Any, version: str, **fields: Any) -> dict[str, Any]:
    answer = call(client, "POST", V1, {**my_app(version), **fields})
    assert answer.status == 201, answer.body
    found: dict[str, Any] = answer.body
    return found


def settle(client: Any, world: World, rollout: dict[str, Any], times: int = 1) -> dict[str, Any]:
    for _ in range(times):
        world.settle()
    found: dict[str, Any] = call(client, "GET", f"{V1}/{rollout['id']}").body
    return found


def figures(client: Any, query: str = "window=30d") -> Answer:
    answer = call(client, "GET", f"{DORA}?{query}")
    assert answer.status == 200, answer.body
    return answer


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_the_figures_of_a_played_history(client: Any, world: World) -> None:
    v1 = settle(client, world, start(client, "v1.0.0"))
    world.clock.advance(3600)
    v2 = settle(client, world, start(client, "v2.0.0"))
    world.clock.advance(3600)
    crashed = settle(client, world, start(client, "v3.0.0-crash"), times=6)
    assert crashed["status"] == "rolled_back", crashed
    world.clock.advance(3600)
    body = {"reason": "Performance degradation", "target_version": "v1.0.0"}
    back = call(client, "POST", f"{V1}/{v2['id']}/rollback", body)
    assert back.status == 202, back.body
    assert settle(client, world, back.body)["status"] == "rolled_back"
    assert (v1["status"], v2["status"]) == ("completed", "completed")

    answer = figures(client).body

    now = world.clock.now()
    assert (answer["window"], answer["truncated"]) == ("30d", False)
    assert (instant(answer["from"]), instant(answer["to"])) == (now - timedelta(days=30), now)
    # The crash failed when its automatic rollback began, and was restored when that ended.
    rolling_back = next(s for s in crashed["stages"] if s["name"] == "rolling_back")
    restore = instant(crashed["finished_at"]) - instant(rolling_back["started_at"])
    assert restore > timedelta(0)
    overall = {
        "deployments": 3,  # v1, v2, v3 (the rollback is counted as one)
        "deployment_frequency_per_day": 0.1,  # 3 / 30 days
        "completed": 2,
        "failed": 1,  # v3
        "change_failure_rate": 0.3333,  # 1 / 3
        "mean_time_to_restore_seconds": round(restore.total_seconds(), 1),
        "rollbacks": {"automatic": 1, "alarm": 0, "manual": 1},
        "restores_pending": 0,
    }
    assert answer["overall"] == overall
    assert answer["groups"] == [{"platform": "kubernetes", "environment": "production", **overall}]


def test_the_window_leaves_older_rollouts_out(client: Any, world: World) -> None:
    settle(client, world, start(client, "v1.0.0"))
    settle(client, world, start(client, "v2.0.0"))
    world.clock.advance(2 * 3600)
    settle(client, world, start(client, "v3.0.0"))

    recent = figures(client, "window=1h").body
    assert (recent["overall"]["deployments"], recent["overall"]["completed"]) == (1, 1)
    assert recent["overall"]["deployment_frequency_per_day"] == 24.0  # 1 / (1/24 day)
    assert [g["deployments"] for g in recent["groups"]] == [1]
    assert instant(recent["to"]) - instant(recent["from"]) == timedelta(hours=1)
    assert figures(client, "window=1d").body["overall"]["deployments"] == 3
    # No window: 30 days; an empty value is no value.
    assert figures(client, "").body["window"] == "30d"
    assert figures(client, "window=&environment=&platform=&name=").body["window"] == "30d"


@pytest.mark.parametrize(
    "query",
    [
        "window=abc",
        "window=400d",
        "window=0d",
        "window=30",
        "window=1w",
        "limit=5",
        "since=2026-01-01",
        "platform=openshift",
    ],
)
def test_bad_queries_are_refused(client: Any, query: str) -> None:
    answer = call(client, "GET", f"{DORA}?{query}")

    assert answer.status == 400, answer.body
    assert set(answer.body) == {"error", "message", "code"}
    assert (answer.body["error"], answer.body["code"]) == ("BadRequest", 400)


def test_figures_are_filtered_and_scoped_like_the_list(client: Any, world: World) -> None:
    settle(client, world, start(client, "v1.0.0"))
    settle(client, world, start(client, "v1.0.0", environment="staging"))
    both = figures(client).body
    assert [(g["platform"], g["environment"]) for g in both["groups"]] == [
        ("kubernetes", "production"),
        ("kubernetes", "staging"),
    ]
    assert both["overall"]["deployments"] == 2
    assert [g["environment"] for g in figures(client, "environment=staging").body["groups"]] == [
        "staging"
    ]
    assert figures(client, "platform=helm").body["groups"] == []
    assert figures(client, "name=other").body["overall"]["deployments"] == 0

    auth_helpers.sign_in(client, "o2dms-viewer:staging")
    staging = figures(client).body
    assert [g["environment"] for g in staging["groups"]] == ["staging"]
    assert staging["overall"]["deployments"] == 1
    auth_helpers.sign_in(client, "o2dms-viewer:elsewhere")
    elsewhere = figures(client).body
    assert elsewhere["groups"] == []
    assert elsewhere["overall"]["deployments"] == 0
    # Scoped to two namespaces: each is read on its own, and both count.
    auth_helpers.sign_in(client, "o2dms-viewer:staging", "o2dms-viewer:production")
    assert figures(client).body["overall"]["deployments"] == 2


def test_a_long_history_is_cut_and_says_so(
    client: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for version in ("v1.0.0", "v2.0.0", "v3.0.0"):
        settle(client, world, start(client, version))
    monkeypatch.setattr(service, "PAGE_SIZE", 1)
    monkeypatch.setattr(service, "MAX_PAGES", 2)

    cut = figures(client).body
    assert (cut["truncated"], cut["overall"]["deployments"]) == (True, 2)
    monkeypatch.setattr(service, "MAX_PAGES", 3)
    whole = figures(client).body  # the third page is the last: nothing left unread
    assert (whole["truncated"], whole["overall"]["deployments"]) == (False, 3)


def test_the_route_and_its_answer_are_in_the_document(client: Any) -> None:
    document = json.loads(client.http.get("/o2dms/v1/openapi.json").body)
    operation = document["paths"][DORA]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ApmDoraMetrics"}
    assert {p["name"] for p in operation["parameters"]} == {
        "window",
        "environment",
        "platform",
        "name",
    }
    assert "400" in operation["responses"]

    validator = model_validator("ApmDoraMetrics")
    good = figures(client).body
    assert list(validator.iter_errors(good)) == []
    assert list(validator.iter_errors({k: v for k, v in good.items() if k != "from"}))
    assert list(validator.iter_errors({**good, "overall": {**good["overall"], "failed": "1"}}))
