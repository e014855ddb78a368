"""The lifecycle through the HTTP API, as the seed document's examples drive it."""

from __future__ import annotations

from typing import Any

from tests.api_helpers import call, create_deployment, create_descriptor
from tests.conftest import World


def test_lifecycle_create_rolls_out_to_instantiated(client: Any, world: World) -> None:
    create_descriptor(client)

    created = create_deployment(client)

    assert created.body["status"] == "DEPLOYING"
    assert created.body["version"] == 1
    assert created.headers["Location"] == "/o2dms/v1/nfDeployments/nginx-prod"
    world.clock.advance(2)
    world.driver.poll()
    midway = call(client, "GET", "nfDeployments/nginx-prod/status").body
    assert midway["status"] == "DEPLOYING"
    assert 0 < midway["progress"] < 100
    assert midway["estimatedSecondsRemaining"] == 2  # half done after 2 s
    assert midway["executionId"] == f"manual:{created.body['operationId']}"
    world.settle()
    done = call(client, "GET", "nfDeployments/nginx-prod/status").body
    assert done["status"] == "INSTANTIATED"
    assert done["progress"] == 100
    assert done["estimatedSecondsRemaining"] is None
    assert done["executionId"] is None
    assert {c["type"] for c in done["conditions"]} == {"Available", "Progressing"}
    assert done["extensions"]["local.simulated"] is True


def test_lifecycle_two_upgrades_and_rollback_make_contiguous_history(
    client: Any, world: World
) -> None:
    create_descriptor(client)
    create_deployment(client)
    world.settle()
    first = call(
        client, "PUT", "nfDeployments/nginx-prod", {"parameters": {"image": {"tag": "1.21.0"}}}
    )
    world.settle()
    second = call(client, "PUT", "nfDeployments/nginx-prod", {"parameters": {"replicaCount": 3}})
    world.settle()

    rolled = call(client, "POST", "nfDeployments/nginx-prod/rollback", {"revision": 0})
    world.settle()

    assert (first.status, first.body["version"]) == (200, 2)
    assert (second.status, second.body["version"]) == (200, 3)
    assert rolled.status == 200
    assert rolled.body["version"] == 4
    assert rolled.body["description"] == "Rolled back from revision 3 to revision 2"
    assert rolled.body["extensions"]["helm.previousRevision"] == 3
    assert rolled.body["extensions"]["helm.targetRevision"] == 2
    history = call(client, "GET", "nfDeployments/nginx-prod/history").body
    assert history["currentRevision"] == 4
    assert [r["revision"] for r in history["revisions"]] == [4, 3, 2, 1]
    assert [r["status"] for r in history["revisions"]] == [
        "deployed",
        "superseded",
        "superseded",
        "superseded",
    ]
    deployment = call(client, "GET", "nfDeployments/nginx-prod").body
    assert deployment["parameters"] == {"image": {"tag": "1.21.0"}}
    assert deployment["status"] == "INSTANTIATED"


def test_an_upgrade_description_names_only_what_changed_and_says_how_many_more(
    running: Any, world: World
) -> None:
    same_tag = {"image": {"tag": "1.20.0", "repository": "nginx"}, "replicaCount": 2}
    seven = {f"key{n}": n for n in range(7)}
    descriptions = []
    for parameters in (same_tag, {**same_tag, "image": {"tag": "1.21.0"}}, seven):
        answer = call(running, "PUT", "nfDeployments/nginx-prod", {"parameters": parameters})
        assert answer.status == 200, answer.body
        descriptions.append(answer.body["description"])
        world.settle()

    assert descriptions == [
        "Upgraded nginx-chart-1.2.0 (no parameter changes)",  # the descriptor's own values
        "Upgraded parameters: image.tag",
        "Upgraded parameters: key0, key1, key2, key3, key4 and 2 more",
    ]
