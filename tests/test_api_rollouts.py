"""Rollout outcomes and the operation lease: failures, preemption by rollback, expired leases,
termination and re-creation, dry runs."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chalicelib import composition
from tests.api_helpers import call, create_deployment, create_descriptor
from tests.auth_helpers import bearer
from tests.conftest import World


def _without_rollback_on_failure(world: World) -> None:
    settings = replace(world.deps.settings, helm_atomic=False)
    world.deps = replace(world.deps, settings=settings)
    world.driver.deps = world.deps
    composition.use(world.deps)


def test_rollout_of_crashing_image_rolls_back_by_itself(running: Any, world: World) -> None:
    upgrade = call(
        running, "PUT", "nfDeployments/nginx-prod", {"parameters": {"image": {"tag": "crash"}}}
    )
    world.settle(4)
    midway = call(running, "GET", "nfDeployments/nginx-prod/status").body

    world.settle(5)

    assert midway["status"] == "ROLLING_BACK"
    assert "CrashLoopBackOff" in midway["message"]
    status = call(running, "GET", "nfDeployments/nginx-prod/status").body
    assert status["status"] == "INSTANTIATED"
    assert status["revision"] == 3
    assert status["operationId"] is None
    operation_id = upgrade.body["operationId"]
    operation = call(running, "GET", f"nfDeployments/nginx-prod/operations/{operation_id}").body
    assert operation["state"] == "ROLLED_BACK"
    assert "CrashLoopBackOff" in operation["error"]["message"]
    assert [s["stage"] for s in operation["stages"]][-2:] == ["rolling-back", "completed"]
    history = call(running, "GET", "nfDeployments/nginx-prod/history").body["revisions"]
    assert [(r["revision"], r["status"]) for r in history] == [
        (3, "deployed"),
        (2, "failed"),
        (1, "superseded"),
    ]
    assert history[0]["description"].startswith("Rolled back from revision 2 to revision 1")
    assert history[0]["appVersion"] == "1.20.0"
    assert (operation_id, "upgrade", "ROLLED_BACK") in world.events.ended


def test_rollout_of_crashing_image_without_rollback_on_failure_ends_failed(
    running: Any, world: World
) -> None:
    _without_rollback_on_failure(world)
    upgrade = call(
        running, "PUT", "nfDeployments/nginx-prod", {"parameters": {"image": {"tag": "crash"}}}
    )

    world.settle(8)

    status = call(running, "GET", "nfDeployments/nginx-prod/status").body
    assert status["status"] == "FAILED"
    assert "CrashLoopBackOff" in status["message"]
    assert status["operationId"] is None
    operation_id = upgrade.body["operationId"]
    operation = call(running, "GET", f"nfDeployments/nginx-prod/operations/{operation_id}").body
    assert operation["state"] == "FAILED"
    assert operation["error"]["error"] == "RolloutFailed"
    history = call(running, "GET", "nfDeployments/nginx-prod/history").body["revisions"]
    assert [(r["revision"], r["status"]) for r in history] == [(2, "failed"), (1, "deployed")]
    fixed = call(running, "POST", "nfDeployments/nginx-prod/rollback", {"revision": 0})
    world.settle()
    assert fixed.body["description"] == "Rolled back from revision 2 to revision 1"
    assert call(running, "GET", "nfDeployments/nginx-prod/status").body["status"] == "INSTANTIATED"


def test_failed_install_has_nothing_to_roll_back_to(client: Any, world: World) -> None:
    create_descriptor(client)
    create_deployment(client, parameters={"image": {"tag": "crash"}})

    world.settle(8)

    status = call(client, "GET", "nfDeployments/nginx-prod/status").body
    assert status["status"] == "FAILED"
    assert status["operationId"] is None


def test_timed_out_rollout_rolls_back_with_its_own_time_budget(running: Any, world: World) -> None:
    world.cluster.rollout_seconds = 50  # the upgrade needs 50 s of a 60 s budget: fine
    call(running, "POST", "nfDeployments/nginx-prod/scale", {"replicas": 4})
    world.settle(40)
    assert call(running, "GET", "nfDeployments/nginx-prod/status").body["status"] == "DEPLOYING"
    world.cluster.rollout_seconds = 10_000  # from now on it will never be ready
    world.settle(21)  # past the 60 s deadline: rollback starts, with a fresh 60 s
    rolling = call(running, "GET", "nfDeployments/nginx-prod/status").body
    world.cluster.rollout_seconds = 50  # the rollback needs 50 s: more than the upgrade had left

    world.settle(55)

    assert rolling["status"] == "ROLLING_BACK"
    assert "rolling back after: timed out after 60s" in rolling["message"]
    status = call(running, "GET", "nfDeployments/nginx-prod/status").body
    assert status["status"] == "INSTANTIATED"
    operations = call(running, "GET", "nfDeployments/nginx-prod/operations").body["operations"]
    assert operations[0]["state"] == "ROLLED_BACK"


def test_rollback_that_fails_too_ends_failed_and_releases_the_lease(
    running: Any, world: World
) -> None:
    call(running, "PUT", "nfDeployments/nginx-prod", {"parameters": {"image": {"tag": "crash"}}})
    world.settle(4)
    assert call(running, "GET", "nfDeployments/nginx-prod/status").body["status"] == "ROLLING_BACK"
    world.cluster.rollout_seconds = 10_000

    world.settle(61)

    status = call(running, "GET", "nfDeployments/nginx-prod/status").body
    assert status["status"] == "FAILED"
    assert status["operationId"] is None
    assert status["message"].startswith("automatic rollback failed: timed out")
    operation = call(running, "GET", "nfDeployments/nginx-prod/operations").body["operations"][0]
    assert operation["state"] == "FAILED"
    history = call(running, "GET", "nfDeployments/nginx-prod/history").body["revisions"]
    assert [(r["revision"], r["status"]) for r in history] == [
        (3, "failed"),
        (2, "failed"),
        (1, "deployed"),
    ]
    assert call(running, "POST", "nfDeployments/nginx-prod/scale", {"replicas": 1}).status == 204


def test_rollout_that_never_becomes_ready_times_out(running: Any, world: World) -> None:
    _without_rollback_on_failure(world)
    world.cluster.rollout_seconds = 10_000
    call(running, "POST", "nfDeployments/nginx-prod/scale", {"replicas": 4})

    world.settle(61)

    status = call(running, "GET", "nfDeployments/nginx-prod/status").body
    assert status["status"] == "FAILED"
    assert status["message"].startswith("timed out after 60s")


def test_rollback_preempts_a_running_upgrade(running: Any, world: World) -> None:
    upgrade = call(
        running, "PUT", "nfDeployments/nginx-prod", {"parameters": {"image": {"tag": "slow"}}}
    )

    rollback = call(running, "POST", "nfDeployments/nginx-prod/rollback", {"revision": 0})
    world.settle()

    assert rollback.status == 200
    assert rollback.body["description"] == "Rolled back from revision 2 to revision 1"
    cancelled = call(
        running, "GET", f"nfDeployments/nginx-prod/operations/{upgrade.body['operationId']}"
    ).body
    assert cancelled["state"] == "CANCELLED"
    history = call(running, "GET", "nfDeployments/nginx-prod/history").body["revisions"]
    assert [(r["revision"], r["status"]) for r in history] == [
        (3, "deployed"),
        (2, "failed"),
        (1, "superseded"),
    ]
    assert call(running, "GET", "nfDeployments/nginx-prod/status").body["status"] == "INSTANTIATED"


def test_expired_lease_is_reconciled_on_read_and_can_be_taken_over(
    running: Any, world: World
) -> None:
    world.cluster.rollout_seconds = 10_000
    call(running, "POST", "nfDeployments/nginx-prod/scale", {"replicas": 3})
    world.driver.started.clear()  # the follower dies
    world.clock.advance(60 + 30 + 1)  # deadline and lease grace have passed

    status = call(running, "GET", "nfDeployments/nginx-prod/status").body
    again = call(running, "POST", "nfDeployments/nginx-prod/scale", {"replicas": 2})

    assert status["status"] == "FAILED"
    assert status["operationId"] is None
    assert again.status == 204
    operations = call(running, "GET", "nfDeployments/nginx-prod/operations").body["operations"]
    assert [o["state"] for o in operations] == ["RUNNING", "FAILED", "COMPLETED"]


def test_expired_lease_taken_over_by_next_operation_without_a_read(
    running: Any, world: World
) -> None:
    world.cluster.rollout_seconds = 10_000
    call(running, "POST", "nfDeployments/nginx-prod/scale", {"replicas": 3})
    world.driver.started.clear()
    world.clock.advance(60 + 30 + 1)
    world.cluster.rollout_seconds = 4

    again = call(running, "POST", "nfDeployments/nginx-prod/scale", {"replicas": 2})
    world.settle()

    assert again.status == 204
    operations = call(running, "GET", "nfDeployments/nginx-prod/operations").body["operations"]
    assert [(o["type"], o["state"]) for o in operations] == [
        ("scale", "COMPLETED"),
        ("scale", "FAILED"),
        ("install", "COMPLETED"),
    ]
    assert "lease expired" in operations[1]["error"]["message"]
    history = call(running, "GET", "nfDeployments/nginx-prod/history").body["revisions"]
    assert [(r["revision"], r["status"]) for r in history] == [
        (3, "deployed"),
        (2, "failed"),
        (1, "superseded"),
    ]


def test_terminate_keeps_history_and_recreate_continues_numbering(
    running: Any, world: World
) -> None:
    deleted = call(running, "DELETE", "nfDeployments/nginx-prod")
    deleting = call(running, "GET", "nfDeployments/nginx-prod/status").body["status"]
    world.settle()

    assert deleted.status == 202
    assert deleting == "DELETING"
    terminated = call(running, "GET", "nfDeployments/nginx-prod")
    assert terminated.status == 200
    assert terminated.body["status"] == "NOT_INSTANTIATED"
    assert call(running, "GET", "nfDeployments/nginx-prod/status").body["status"] == (
        "NOT_INSTANTIATED"
    )
    listed = call(running, "GET", "nfDeployments?status=NOT_INSTANTIATED").body["nfDeployments"]
    assert [d["deploymentId"] for d in listed] == ["nginx-prod"]
    assert call(running, "GET", "nfDeployments?status=INSTANTIATED").body["nfDeployments"] == []
    for method, path, body in (
        ("PUT", "nfDeployments/nginx-prod", {"parameters": {"replicaCount": 3}}),
        ("POST", "nfDeployments/nginx-prod/scale", {"replicas": 3}),
        ("POST", "nfDeployments/nginx-prod/rollback", {"revision": 0}),
        ("DELETE", "nfDeployments/nginx-prod", None),
    ):
        refused = call(running, method, path, body)
        assert refused.status == 409, refused.body
        assert "NOT_INSTANTIATED" in refused.body["message"]
    history = call(running, "GET", "nfDeployments/nginx-prod/history").body["revisions"]
    assert [(r["revision"], r["status"]) for r in history] == [(1, "uninstalled")]
    create_deployment(running)
    world.settle()
    history = call(running, "GET", "nfDeployments/nginx-prod/history").body["revisions"]
    assert [(r["revision"], r["status"]) for r in history] == [(2, "deployed"), (1, "uninstalled")]


def test_dry_run_plans_without_changing_anything(running: Any, world: World) -> None:
    upgrade = call(
        running, "PUT", "nfDeployments/nginx-prod?dryRun=true", {"parameters": {"replicaCount": 9}}
    )
    scale = call(running, "POST", "nfDeployments/nginx-prod/scale?dryRun=true", {"replicas": 0})
    delete = call(running, "DELETE", "nfDeployments/nginx-prod?dryRun=true")

    assert upgrade.status == 200
    assert upgrade.body["dryRun"] is True
    assert upgrade.body["revision"] == 2
    assert upgrade.body["plan"][0]["command"][:3] == ["helm", "upgrade", "nginx-prod"]
    assert "9" not in upgrade.body["plan"][0]["command"]
    assert scale.body["type"] == "scale"
    assert delete.body["plan"][0]["command"][:2] == ["helm", "uninstall"]
    history = call(running, "GET", "nfDeployments/nginx-prod/history").body["revisions"]
    assert len(history) == 1
    assert call(running, "GET", "nfDeployments/nginx-prod/status").body["status"] == "INSTANTIATED"


def test_history_and_operations_paginate_newest_first(running: Any, world: World) -> None:
    for replicas in range(1, 6):
        call(running, "POST", "nfDeployments/nginx-prod/scale", {"replicas": replicas})
        world.settle()

    seen: list[int] = []
    token = ""
    while True:
        page = call(running, "GET", f"nfDeployments/nginx-prod/history?limit=2{token}").body
        seen += [r["revision"] for r in page["revisions"]]
        assert page["currentRevision"] == 6
        if page["nextToken"] is None:
            break
        token = f"&nextToken={page['nextToken']}"
    operations = call(running, "GET", "nfDeployments/nginx-prod/operations?limit=3").body

    assert seen == [6, 5, 4, 3, 2, 1]
    assert [o["revision"] for o in operations["operations"]] == [6, 5, 4]
    assert operations["nextToken"] is not None
    detail = call(running, "GET", "nfDeployments/nginx-prod/history/3").body
    assert detail["values"]["replicaCount"] == 2
    assert detail["parameters"] == {"replicaCount": 2}


def test_operation_records_actor_reason_and_stages(running: Any, world: World) -> None:
    # The actor is the token's principal; a client's own actor header names nobody.
    response = running.http.request(
        "POST",
        "/o2dms/v1/nfDeployments/nginx-prod/scale",
        headers={
            "Content-Type": "application/json",
            "X-O2DMS-Actor": "mallory",
            **bearer("operator", subject="smo-1"),
        },
        body='{"replicas": 3, "reason": "busy hour"}',
    )
    world.settle()

    operation_id = response.headers["X-O2DMS-Operation-Id"]
    operation = call(running, "GET", f"nfDeployments/nginx-prod/operations/{operation_id}").body
    assert response.status_code == 204
    assert (operation["actor"], operation["reason"], operation["trigger"]) == (
        "smo-1",
        "busy hour",
        "api",
    )
    assert [s["stage"] for s in operation["stages"]] == [
        "preparing",
        "deploying",
        "verifying",
        "completed",
    ]
    status = call(running, "GET", "nfDeployments/nginx-prod/status").body
    assert status["message"] == "Deployment scaled to 3 replicas"


def test_list_filters_by_status_and_namespace(running: Any, world: World) -> None:
    create_deployment(running, "edge-1", namespace="edge", parameters={"image": {"tag": "crash"}})
    world.settle(8)

    failed = call(running, "GET", "nfDeployments?status=FAILED").body["nfDeployments"]
    production = call(running, "GET", "nfDeployments?namespace=production").body["nfDeployments"]
    everything = call(running, "GET", "nfDeployments?limit=1").body

    assert [d["deploymentId"] for d in failed] == ["edge-1"]
    assert [d["deploymentId"] for d in production] == ["nginx-prod"]
    assert len(everything["nfDeployments"]) == 1
    assert everything["nextToken"] is not None


def test_rollback_that_cannot_be_applied_ends_failed_and_releases_the_lease(
    running: Any, world: World
) -> None:
    call(running, "PUT", "nfDeployments/nginx-prod", {"parameters": {"image": {"tag": "crash"}}})
    world.cluster.set_reachable(False)  # status polls fail, then the rollback cannot be applied

    world.settle(61)

    status = call(running, "GET", "nfDeployments/nginx-prod/status").body
    assert status["status"] == "FAILED"
    assert status["operationId"] is None
    assert status["message"].startswith("automatic rollback failed: local cluster is unreachable")
    history = call(running, "GET", "nfDeployments/nginx-prod/history").body["revisions"]
    assert [(r["revision"], r["status"]) for r in history] == [
        (3, "failed"),
        (2, "failed"),
        (1, "deployed"),
    ]


def test_scaling_to_the_current_count_changes_nothing_and_says_so(
    running: Any, world: World
) -> None:
    answer = call(running, "POST", "nfDeployments/nginx-prod/scale", {"replicas": 2})

    assert answer.status == 200, answer.body
    assert answer.body["message"] == "nginx-prod already runs 2 replicas; nothing changed"
    assert answer.body["status"] == "INSTANTIATED"
    assert "X-O2DMS-Operation-Id" not in answer.headers
    history = call(running, "GET", "nfDeployments/nginx-prod/history").body["revisions"]
    assert [r["revision"] for r in history] == [1]
    operations = call(running, "GET", "nfDeployments/nginx-prod/operations").body["operations"]
    assert [o["type"] for o in operations] == ["install"]


def test_status_shows_the_stage_and_get_shows_the_current_revisions_description(
    client: Any, world: World
) -> None:
    from tests.api_helpers import create_deployment, create_descriptor

    create_descriptor(client)
    create_deployment(client)
    deploying = call(client, "GET", "nfDeployments/nginx-prod/status").body
    world.settle()
    done = call(client, "GET", "nfDeployments/nginx-prod/status").body
    found = call(client, "GET", "nfDeployments/nginx-prod").body

    assert (deploying["status"], deploying["stage"]) == ("DEPLOYING", "deploying")
    assert (done["status"], done["stage"]) == ("INSTANTIATED", "completed")
    assert found["description"] == "Installed nginx-chart-1.2.0"

    call(client, "PUT", "nfDeployments/nginx-prod", {"parameters": {"image": {"tag": "crash"}}})
    world.settle(seconds=120)
    after = call(client, "GET", "nfDeployments/nginx-prod").body
    assert after["description"].startswith("Rolled back from revision 2 to revision 1")
    assert call(client, "GET", "nfDeployments/nginx-prod/status").body["stage"] == "completed"
