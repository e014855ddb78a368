"""Seed 002's ``/api/v1/deployments`` over the one core, on the simulated cluster: start a
version (the first instantiates ``<name>-<environment>``, later ones upgrade it), read and
list rollouts, automatic rollback after a crash, rollback to a version with a reason, and
its dry run. Every answer is checked against the served OpenAPI document (``call``)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests import auth_helpers
from tests.api_helpers import Answer, call, create_deployment, create_descriptor
from tests.apm_bodies import IMAGE, SEED_START, V1, my_app, spans, two_parts
from tests.conftest import World
from tests.openapi_check import model_validator


def start(client: Any, version: str, **configuration: Any) -> Answer:
    return call(client, "POST", V1, my_app(version, **configuration))


def started(client: Any, world: World, version: str, **configuration: Any) -> dict[str, Any]:
    answer = start(client, version, **configuration)
    assert answer.status == 201, answer.body
    world.settle()
    found: dict[str, Any] = call(client, "GET", f"{V1}/{answer.body['id']}").body
    return found


def test_the_seed_body_starts_a_rollout_seen_through_both_apis(client: Any, world: World) -> None:
    answer = start(client, "v1.0.0")
    assert answer.status == 201, answer.body
    body = answer.body
    assert uuid.UUID(body["id"]).version == 7
    assert answer.headers["Location"] == f"{V1}/{body['id']}"
    assert answer.headers["X-O2DMS-Deployment-Id"] == "my-app-production"
    assert (body["name"], body["version"], body["platform"], body["environment"]) == (
        "my-app",
        "v1.0.0",
        "kubernetes",
        "production",
    )
    assert body["status"] in {"preparing", "deploying"}
    assert body["type"] == "install"
    assert body["previous_version"] is None
    assert body["actor"] == "tester"

    world.settle()
    done = call(client, "GET", f"{V1}/{body['id']}").body
    assert done["status"] == "completed", done
    assert done["progress"]["percentage"] == 100.0
    assert done["progress"]["current_step"] == done["progress"]["total_steps"] == 3
    assert [s["name"] for s in done["stages"]] == ["preparing", "deploying", "verifying"]
    assert all(s["status"] == "completed" for s in done["stages"])
    assert [
        (c["name"], c["version"], c["desired"], c["ready"], c["status"]) for c in done["components"]
    ] == [("my-app-deployment", "v1.0.0", 1, 1, "ready")]
    assert done["duration_seconds"] > 0

    # The same rollout through /o2dms/v1: one NF deployment, its namespace the environment.
    nf = call(client, "GET", "/o2dms/v1/nfDeployments/my-app-production").body
    assert (nf["adapter"], nf["namespace"], nf["status"]) == (
        "kubernetes",
        "production",
        "INSTANTIATED",
    )
    assert nf["parameters"]["deploymentName"] == "my-app-deployment"
    assert nf["parameters"]["image"] == {"repository": IMAGE, "tag": "v1.0.0"}
    where = f"/o2dms/v1/nfDeployments/my-app-production/operations/{done['operation_id']}"
    operation = call(client, "GET", where).body
    assert operation["state"] == "COMPLETED"
    descriptor = call(client, "GET", "/o2dms/v1/nfDeploymentDescriptors/my-app-v1.0.0").body
    assert descriptor["artifactVersion"] == "v1.0.0"


def test_later_versions_upgrade_and_list_newest_first(client: Any, world: World) -> None:
    first = started(client, world, "v1.0.0")
    second = started(client, world, "v2.0.0", replicas=3)
    assert second["type"] == "upgrade"
    assert (second["previous_version"], second["version"]) == ("v1.0.0", "v2.0.0")
    nf = call(client, "GET", "/o2dms/v1/nfDeployments/my-app-production").body
    assert nf["parameters"]["replicaCount"] == 3
    assert nf["parameters"]["image"]["tag"] == "v2.0.0"

    listed = call(client, "GET", V1).body["deployments"]
    assert [d["id"] for d in listed] == [second["id"], first["id"]]
    only = call(client, "GET", f"{V1}?platform=kubernetes&status=completed&limit=1").body
    assert [d["id"] for d in only["deployments"]] == [second["id"]]
    following = call(client, "GET", f"{V1}?limit=1&next_token={only['next_token']}").body
    assert [d["id"] for d in following["deployments"]] == [first["id"]]
    assert call(client, "GET", f"{V1}?environment=staging").body["deployments"] == []
    assert call(client, "GET", f"{V1}?name=my-app&environment=production").body["deployments"]


def test_a_crashing_version_is_rolled_back_automatically(client: Any, world: World) -> None:
    started(client, world, "v1.0.0")
    started(client, world, "v2.0.0")
    answer = start(client, "v3.0.0-crash")
    assert answer.status == 201
    for _ in range(6):
        world.settle()
    found = call(client, "GET", f"{V1}/{answer.body['id']}").body
    assert found["status"] == "rolled_back", found
    assert "crash" in found["reason"].lower(), found
    names = [(s["name"], s["status"]) for s in found["stages"]]
    assert ("rolling_back", "completed") in names
    assert names[-1] == ("rolling_back", "completed")
    assert found["progress"]["total_steps"] == 4
    # What runs now is the version rolled back to, not the one that crashed.
    assert {c["version"] for c in found["components"]} == {"v2.0.0"}, found["components"]
    nf = call(client, "GET", "/o2dms/v1/nfDeployments/my-app-production").body
    assert nf["parameters"]["image"]["tag"] == "v2.0.0"  # back where it was
    history = call(client, "GET", "/o2dms/v1/nfDeployments/my-app-production/history").body
    statuses = [(r["revision"], r["status"], r.get("rollbackTo")) for r in history["revisions"]]
    assert statuses[:2] == [(4, "deployed", 2), (3, "failed", None)]


def test_rollback_to_a_version_with_a_reason(client: Any, world: World) -> None:
    first = started(client, world, "v1.0.0")
    second = started(client, world, "v2.0.0")
    body = {"reason": "Performance degradation", "target_version": "v1.0.0"}
    answer = call(client, "POST", f"{V1}/{second['id']}/rollback", body)
    assert answer.status == 202, answer.body
    back = answer.body
    assert back["id"] not in {first["id"], second["id"]}
    assert answer.headers["Location"] == f"{V1}/{back['id']}"
    assert (back["type"], back["status"]) == ("rollback", "rolling_back")
    assert back["rolled_back_from"] == second["id"]
    assert (back["target_version"], back["version"]) == ("v1.0.0", "v1.0.0")
    assert back["previous_version"] == "v2.0.0"
    assert back["reason"] == "Performance degradation"
    world.settle()
    done = call(client, "GET", f"{V1}/{back['id']}").body
    assert done["status"] == "rolled_back", done
    history = call(client, "GET", "/o2dms/v1/nfDeployments/my-app-production/history").body
    newest = history["revisions"][0]
    assert (newest["revision"], newest["rollbackTo"]) == (3, 1)
    audit = call(client, "GET", "/o2dms/v1/audit?deploymentId=my-app-production").body
    assert any(
        r["action"] == "rollback" and r["reason"] == "Performance degradation"
        for r in audit["records"]
    )
    # Without a target: the newest good version before the rollout's own.
    again = call(client, "POST", f"{V1}/{second['id']}/rollback", {"reason": "again"})
    assert again.status == 409, again.body  # v1.0.0 (revision 1) is current now, as revision 3


def test_rollback_refusals(client: Any, world: World) -> None:
    first = started(client, world, "v1.0.0")
    started(client, world, "v2.0.0")
    crashed = start(client, "v3.0.0-crash").body
    for _ in range(6):
        world.settle()
    one = f"{V1}/{first['id']}/rollback"
    missing = call(client, "POST", one, {"target_version": "v1.0.0"})
    assert missing.status == 400
    assert "reason" in missing.body["message"]
    assert call(client, "POST", one).status == 400
    never = call(client, "POST", one, {"reason": "x", "target_version": "v9.9.9"})
    assert never.status == 404
    assert "never deployed" in never.body["message"]
    failed = call(client, "POST", one, {"reason": "x", "target_version": "v3.0.0-crash"})
    assert failed.status == 409, failed.body
    assert "force" in failed.body["message"]
    forced = call(
        client, "POST", one, {"reason": "x", "target_version": "v3.0.0-crash", "force": True}
    )
    assert forced.status == 202, forced.body
    assert forced.body["rolled_back_from"] == first["id"]
    assert crashed["id"] != forced.body["id"]
    assert call(client, "POST", f"{V1}/not-a-uuid/rollback", {"reason": "x"}).status == 400
    unknown = call(client, "POST", f"{V1}/{uuid.uuid4()}/rollback", {"reason": "x"})
    assert unknown.status == 404


def test_dry_run_rollback_changes_nothing(client: Any, world: World) -> None:
    started(client, world, "v1.0.0")
    second = started(client, world, "v2.0.0", replicas=4)
    operations = call(client, "GET", "/o2dms/v1/nfDeployments/my-app-production/operations")
    answer = call(
        client,
        "POST",
        f"{V1}/{second['id']}/rollback?dry_run=true",
        {"target_version": "v1.0.0"},
    )
    assert answer.status == 200, answer.body
    plan = answer.body
    assert (plan["current_version"], plan["target_version"], plan["target_revision"]) == (
        "v2.0.0",
        "v1.0.0",
        1,
    )
    assert plan["commands"]
    assert plan["commands"][0]["component"] == "my-app-deployment"
    assert plan["commands"][0]["command"] == [
        "kubectl",
        "rollout",
        "undo",
        "deployment/my-app-deployment",
        "--to-revision=1",
        "-n",
        "production",
    ]
    diff = {d["field"]: (d["current"], d["target"]) for d in plan["diff"]}
    assert diff["image.tag"] == ("v2.0.0", "v1.0.0")
    assert diff["labels.version"] == ("v2.0.0", "v1.0.0")
    assert diff["replicaCount"] == (4, None)
    outside = [r["message"] for r in plan["risks"] if r["flag"] == "changes_outside_pod_template"]
    assert outside == ["the rollback also changes replicaCount"]  # the version's tag is inside
    # No body at all is a dry run of the default target.
    assert call(client, "POST", f"{V1}/{second['id']}/rollback?dry_run=true").status == 200
    after = call(client, "GET", "/o2dms/v1/nfDeployments/my-app-production/operations")
    assert after.body == operations.body


def test_bad_starts_are_clear_errors(client: Any) -> None:
    docker = call(client, "POST", V1, {**SEED_START, "platform": "docker"})
    assert docker.status == 400
    assert "kubernetes, helm, argocd, flux" in docker.body["message"]
    helm = call(client, "POST", V1, {**SEED_START, "platform": "helm"})
    assert helm.status == 400
    assert "configuration.chart" in helm.body["message"]
    unknown = call(client, "POST", V1, {**SEED_START, "colour": "blue"})
    assert unknown.status == 400
    assert "colour" in unknown.body["message"]
    upper = call(client, "POST", V1, {**SEED_START, "environment": "Production"})
    assert upper.status == 400
    assert call(client, "GET", f"{V1}?status=done").status == 400
    assert call(client, "GET", f"{V1}?platform=docker").status == 400
    assert call(client, "GET", f"{V1}/{uuid.uuid4()}").status == 404
    assert call(client, "GET", f"{V1}/nginx-prod").status == 400


def test_a_later_version_stays_where_the_first_went(client: Any, world: World) -> None:
    started(client, world, "v1.0.0")
    moved = start(client, "v2.0.0", namespace="elsewhere")
    assert moved.status == 409
    assert "namespace production" in moved.body["message"]
    renamed = start(client, "v2.0.0", deployment_name="other")
    assert renamed.status == 409


def test_o2dms_operations_read_as_rollouts(running: Any, world: World) -> None:
    listed = call(running, "GET", V1).body["deployments"]
    assert len(listed) == 1
    found = listed[0]
    assert (found["name"], found["environment"], found["platform"], found["version"]) == (
        "nginx-prod",
        "production",
        "helm",
        "1.2.0",
    )
    assert found["status"] == "completed"
    assert found["nf_deployment_id"] == "nginx-prod"


def test_roles_apply_to_the_v1_view(client: Any, world: World) -> None:
    started(client, world, "v1.0.0")
    auth_helpers.sign_in(client, "viewer")
    assert start(client, "v2.0.0").status == 403
    assert call(client, "GET", V1).status == 200
    auth_helpers.sign_in(client, "o2dms-operator:staging")
    assert start(client, "v2.0.0").status == 403
    assert call(client, "GET", V1).body["deployments"] == []


def test_seed_examples_validate_against_the_document() -> None:
    def valid(name: str, example: dict[str, Any]) -> list[str]:
        return [e.message for e in model_validator(name).iter_errors(example)]

    assert valid("ApmDeploymentStart", SEED_START) == []
    assert valid("ApmRollbackRequest", {"reason": "x", "target_version": "v1.9.0"}) == []
    seed_answer = {
        "id": "550e8400-e29b-41d4-a716-446655440000",
        "name": "my-app",
        "version": "v2.0.0",
        "status": "deploying",
        "progress": {
            "percentage": 66.7,
            "current_step": 2,
            "total_steps": 3,
            "current_stage": "Waiting for pods to be ready",
        },
        "health_checks": [
            {
                "name": "pod-abc123-readiness",
                "type": "readiness",
                "status": "healthy",
                "message": "Pod is ready",
            }
        ],
    }
    problems = valid("ApmDeployment", seed_answer)
    # Our answers carry more than the seed's example; the example's own fields are valid.
    assert all("is a required property" in p for p in problems), problems


@pytest.mark.parametrize("status", ["pending", "rolling_back", "rolled_back"])
def test_every_status_word_is_a_filter(client: Any, status: str) -> None:
    assert call(client, "GET", f"{V1}?status={status}").status == 200


def test_an_o2dms_rollback_is_listed_with_its_target(running: Any, world: World) -> None:
    create_descriptor(running, descriptorId="nginx-chart-1.3.0", artifactVersion="1.3.0")
    call(running, "PUT", "nfDeployments/nginx-prod", {"descriptorId": "nginx-chart-1.3.0"})
    world.settle()
    call(running, "POST", "nfDeployments/nginx-prod/rollback", {"revision": 1})
    world.settle()
    newest = call(running, "GET", V1).body["deployments"][0]
    assert (newest["type"], newest["status"], newest["target_version"]) == (
        "rollback",
        "rolled_back",
        "1.2.0",
    )
    assert newest["previous_version"] == "1.3.0"
    _ = create_deployment  # the running fixture made nginx-prod with it


def settled(client: Any, world: World, body: dict[str, Any], path: str = V1) -> dict[str, Any]:
    answer = call(client, "POST", path, body)
    assert answer.status in {201, 202}, answer.body
    for _ in range(4):
        world.settle()
    found: dict[str, Any] = call(client, "GET", f"{V1}/{answer.body['id']}").body
    return found


def test_components_roll_out_in_dependency_order_and_back_in_reverse(
    client: Any, world: World
) -> None:
    first = settled(client, world, two_parts("v1.0.0"))
    assert first["status"] == "completed", first
    parts = {c["name"]: c for c in first["components"]}
    assert parts["api"]["depends_on"] == ["db"]
    assert {c["status"] for c in parts.values()} == {"ready"}
    db, api = spans(first)["db"], spans(first)["api"]
    assert db[1] <= api[0], (db, api)  # api began once db was ready

    second = settled(client, world, two_parts("v2.0.0"))
    assert second["status"] == "completed", second
    assert second["previous_version"] == "v1.0.0"

    plan = call(
        client,
        "POST",
        f"{V1}/{second['id']}/rollback?dry_run=true",
        {"target_version": "v1.0.0"},
    ).body
    assert [c["component"] for c in plan["commands"]] == ["api", "api", "db", "db"]
    assert plan["commands"][0]["command"][:4] == ["kubectl", "set", "image", "deployment/api"]
    assert {d["field"] for d in plan["diff"]} >= {
        "version",
        "components.api.image.tag",
        "components.db.image.tag",
    }

    back = settled(
        client,
        world,
        {"reason": "Performance degradation", "target_version": "v1.0.0"},
        f"{V1}/{second['id']}/rollback",
    )
    assert back["status"] == "rolled_back", back
    db, api = spans(back)["db"], spans(back)["api"]
    assert api[1] <= db[0], (api, db)  # db went back once api had
    assert {c["version"] for c in back["components"]} == {"v1.0.0"}


def test_a_crashing_component_stops_the_ones_after_it(client: Any, world: World) -> None:
    settled(client, world, two_parts("v1.0.0"))
    body = two_parts("v2.0.0")
    body["configuration"]["components"][1]["version"] = "v2.0.0-crash"  # db
    crashed = settled(client, world, body)
    assert crashed["status"] == "rolled_back", crashed
    assert "component db" in crashed["reason"], crashed


def test_component_mistakes_are_refused(client: Any, world: World) -> None:
    def refused(body: dict[str, Any], code: int = 400) -> str:
        answer = call(client, "POST", V1, body)
        assert answer.status == code, answer.body
        message: str = answer.body["message"]
        return message

    cycle = two_parts("v1.0.0")
    cycle["configuration"]["components"][1]["depends_on"] = ["api"]
    assert "cycle" in refused(cycle)
    unknown = two_parts("v1.0.0", api={"depends_on": ["cache"]})
    assert "cache, which is not a component" in refused(unknown)
    itself = two_parts("v1.0.0", api={"depends_on": ["api"]})
    assert "itself" in refused(itself)
    twice = two_parts("v1.0.0", api={"name": "db"})
    assert "unique" in refused(twice)
    single = two_parts("v1.0.0")
    single["configuration"]["image"] = IMAGE
    assert "per component" in refused(single)
    helm = {**two_parts("v1.0.0"), "platform": "helm"}
    helm["configuration"]["chart"] = {"repository": "https://charts.example.com", "name": "shop"}
    assert "kubernetes platform" in refused(helm)
    settled(client, world, two_parts("v1.0.0"))
    one = {**SEED_START, "name": "shop", "environment": "staging"}
    one["configuration"] = {**SEED_START["configuration"], "image": IMAGE}
    assert "several components" in refused(one, 409)


def test_a_stage_that_overruns_its_timeout_fails_the_rollout(client: Any, world: World) -> None:
    started(client, world, "v1.0.0")
    world.cluster.rollout_seconds = 600  # pods that take ten minutes to be ready
    answer = start(client, "v2.0.0", timeouts={"deploying": 30})
    assert answer.status == 201, answer.body
    world.clock.advance(5)
    world.driver.poll()
    assert call(client, "GET", f"{V1}/{answer.body['id']}").body["status"] == "deploying"
    world.clock.advance(30)
    world.driver.poll()
    world.cluster.rollout_seconds = 4
    world.settle()
    found = call(client, "GET", f"{V1}/{answer.body['id']}").body
    assert found["status"] == "rolled_back", found
    assert "deploying stage took longer than its 30s timeout" in found["reason"]
    too_short = start(client, "v3.0.0", timeouts={"verifying": 5})
    assert too_short.status == 400
    unknown = start(client, "v3.0.0", timeouts={"preparing": 60})
    assert unknown.status == 400
