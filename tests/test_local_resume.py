"""A restarted local API follows again the operations its previous process left running.

The thread driver's followers die with their process; ``composition.resume_rollouts`` hands
every operation still holding a lease to the new process's driver, and the usual follow
logic ends it. Here the "restart" is a fresh driver on the same store and cluster."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chalicelib.composition import resume_rollouts
from chalicelib.service.context import Deps
from tests.api_helpers import call, create_deployment, create_descriptor
from tests.conftest import World
from tests.fakes import ManualDriver


def restarted(world: World) -> tuple[Deps, ManualDriver]:
    """The wiring of a new API process: same store and cluster, a driver following nothing."""
    driver = ManualDriver()
    deps = replace(world.deps, driver=driver)
    driver.deps = deps
    return deps, driver


def test_resume_rollouts_follows_an_upgrade_left_running_to_its_end(
    running: Any, world: World
) -> None:
    # Given an upgrade whose follower died with its process
    upgrade = call(running, "PUT", "nfDeployments/nginx-prod", {"parameters": {"replicaCount": 3}})
    operation_id = upgrade.body["operationId"]
    deps, driver = restarted(world)

    # When the new process starts
    resumed = resume_rollouts(deps)

    # Then it follows that operation, which ends without waiting for the lease to expire
    assert resumed == [("nginx-prod", operation_id)]
    assert driver.started == [("nginx-prod", operation_id)]
    world.clock.advance(5)
    driver.poll()
    assert driver.pending() == 0
    assert world.store.get_operation("nginx-prod", operation_id).state.value == "COMPLETED"
    status = call(running, "GET", "nfDeployments/nginx-prod/status").body
    assert (status["status"], status["revision"]) == ("INSTANTIATED", 2)


def test_resume_rollouts_rolls_back_a_failed_upgrade_found_past_its_deadline(
    running: Any, world: World
) -> None:
    # Given a crashing upgrade left unfollowed until after its deadline
    upgrade = call(
        running, "PUT", "nfDeployments/nginx-prod", {"parameters": {"image": {"tag": "crash"}}}
    )
    operation_id = upgrade.body["operationId"]
    world.clock.advance(world.deps.settings.operation_timeout_seconds + 1)
    deps, driver = restarted(world)

    # When the new process resumes it and follows it to its end
    resume_rollouts(deps)
    for _ in range(10):
        world.clock.advance(1)
        driver.poll()

    # Then the normal follow logic judged it: rolled back to the previous revision
    assert driver.pending() == 0
    operation = call(running, "GET", f"nfDeployments/nginx-prod/operations/{operation_id}").body
    assert operation["state"] == "ROLLED_BACK"
    assert call(running, "GET", "nfDeployments/nginx-prod/status").body["status"] == "INSTANTIATED"


def test_resume_rollouts_leaves_settled_deployments_alone(client: Any, world: World) -> None:
    # Given deployments whose operations have all ended
    create_descriptor(client)
    for n in range(3):
        create_deployment(client, name=f"nf-{n}")
    world.settle()
    deps, driver = restarted(world)

    # When the new process starts, then there is nothing to follow
    assert resume_rollouts(deps) == []
    assert driver.started == []
