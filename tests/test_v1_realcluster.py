"""Seed 002's acceptance through ``/api/v1/deployments`` against a real kube-apiserver and
kube-controller-manager (``tests/kit.py``; nodesim makes pods Ready, and lets ``crash``
images crash-loop): start v1.0.0 (creating the Deployment and the Service), v2.0.0, then
v3.0.0-crash (rolled back by itself, the reason naming CrashLoopBackOff); plan a rollback to
v1.0.0 (the kubectl command and the diff, the Deployment's generation untouched), then make
it with a reason: the pod template is revision 1's again and ``kubectl rollout history``
agrees with our history."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api_helpers import call
from tests.apm_bodies import IMAGE, V1, my_app, spans, two_parts
from tests.real_cluster import Kube, follow_all, manager_for, real_adapters

pytestmark = pytest.mark.realcluster
REVISION = "deployment.kubernetes.io/revision"


def _start(client: Any, driver: Any, namespace: str, version: str) -> dict[str, Any]:
    body = my_app(version, namespace=namespace, replicas=2)
    answer = call(client, "POST", V1, body)
    assert answer.status == 201, answer.body
    return _ended(client, driver, answer.body["id"])


def _ended(client: Any, driver: Any, rollout_id: str) -> dict[str, Any]:
    follow_all(driver, timeout=120, interval=1)
    found: dict[str, Any] = call(client, "GET", f"{V1}/{rollout_id}").body
    return found


def _template(kube: Kube, namespace: str) -> dict[str, Any]:
    deployment = kube.get("deployment", "my-app-deployment", namespace)
    assert deployment is not None
    template: dict[str, Any] = deployment["spec"]["template"]
    return template


def _rollout_history(kube: Kube, namespace: str) -> list[str]:
    """The revisions ``kubectl rollout history`` lists, oldest first."""
    out = kube.kubectl("rollout", "history", "deployment/my-app-deployment", "-n", namespace)
    rows = [line.split() for line in out.splitlines()]
    return [row[0] for row in rows if row and row[0].isdigit()]


def test_realcluster_seed_002_rollouts_and_rollback_by_version(kube: Kube) -> None:
    namespace = kube.new_namespace()
    try:
        with real_adapters(operation_timeout_seconds=60) as (client, driver):
            manager = manager_for(kube.kubeconfig, namespace)
            assert call(client, "POST", "deploymentManagers", manager).status == 201

            first = _start(client, driver, namespace, "v1.0.0")
            assert first["status"] == "completed", first
            template_v1 = _template(kube, namespace)
            assert template_v1["spec"]["containers"][0]["image"] == f"{IMAGE}:v1.0.0"
            service = kube.get("service", "my-app-service", namespace)
            assert service is not None
            assert first["components"][0]["name"] == "my-app-deployment"
            assert first["components"][0]["ready"] == 2

            second = _start(client, driver, namespace, "v2.0.0")
            assert (second["status"], second["previous_version"]) == ("completed", "v1.0.0")

            crashed = _start(client, driver, namespace, "v3.0.0-crash")
            assert crashed["status"] == "rolled_back", crashed
            assert "CrashLoopBackOff" in crashed["reason"], crashed
            assert _template(kube, namespace)["spec"]["containers"][0]["image"] == (
                f"{IMAGE}:v2.0.0"
            )

            before = kube.get("deployment", "my-app-deployment", namespace)
            assert before is not None
            plan = call(
                client,
                "POST",
                f"{V1}/{second['id']}/rollback?dry_run=true",
                {"target_version": "v1.0.0"},
            )
            assert plan.status == 200, plan.body
            commands = [c["command"] for c in plan.body["commands"] if c["command"]]
            assert [
                "kubectl",
                "rollout",
                "undo",
                "deployment/my-app-deployment",
                "--to-revision=1",
                "-n",
                namespace,
            ] in commands
            diff = {d["field"]: (d["current"], d["target"]) for d in plan.body["diff"]}
            assert diff["image.tag"] == ("v2.0.0", "v1.0.0")
            after = kube.get("deployment", "my-app-deployment", namespace)
            assert after is not None
            assert after["metadata"]["generation"] == before["metadata"]["generation"]

            answer = call(
                client,
                "POST",
                f"{V1}/{second['id']}/rollback",
                {"reason": "Performance degradation", "target_version": "v1.0.0"},
            )
            assert answer.status == 202, answer.body
            back = _ended(client, driver, answer.body["id"])
            assert back["status"] == "rolled_back", back
            assert (back["rolled_back_from"], back["target_version"]) == (second["id"], "v1.0.0")
            assert _template(kube, namespace) == template_v1

            history = call(client, "GET", "/o2dms/v1/nfDeployments/my-app-production/history").body[
                "revisions"
            ]
            ours = sorted(int(r["backendRef"]) for r in history if r.get("backendRef"))
            kept = [int(n) for n in _rollout_history(kube, namespace)]
            assert set(kept) <= set(ours), (kept, ours)
            assert max(kept) == max(ours) == 5
            live = kube.get("deployment", "my-app-deployment", namespace)
            assert live is not None
            assert live["metadata"]["annotations"][REVISION] == "5"
    finally:
        kube.drop_namespace(namespace)


def _two_parts(namespace: str, version: str) -> dict[str, Any]:
    body = two_parts(version, api={"replicas": 2}, namespace=namespace)
    body["configuration"]["components"][1]["service_name"] = "db"
    return body


def test_realcluster_components_roll_out_in_dependency_order(kube: Kube) -> None:
    namespace = kube.new_namespace()
    try:
        with real_adapters(operation_timeout_seconds=90) as (client, driver):
            manager = manager_for(kube.kubeconfig, namespace)
            assert call(client, "POST", "deploymentManagers", manager).status == 201

            answer = call(client, "POST", V1, _two_parts(namespace, "v1.0.0"))
            assert answer.status == 201, answer.body
            first = _ended(client, driver, answer.body["id"])
            assert first["status"] == "completed", first
            db, api = spans(first)["db"], spans(first)["api"]
            assert db[0] < api[0], (db, api)  # api was resumed at a later poll
            assert db[1] <= api[0], (db, api)  # once db was rolled out
            for name, image in (
                ("api", f"{IMAGE}-api:v1.0.0"),
                ("db", "registry.example.com/shop/db:v1.0.0"),
            ):
                live = kube.get("deployment", name, namespace)
                assert live is not None
                assert live["spec"]["template"]["spec"]["containers"][0]["image"] == image
                assert live["spec"].get("paused") is not True
            assert kube.get("service", "db", namespace) is not None

            answer = call(client, "POST", V1, _two_parts(namespace, "v2.0.0"))
            second = _ended(client, driver, answer.body["id"])
            assert second["status"] == "completed", second

            answer = call(
                client,
                "POST",
                f"{V1}/{second['id']}/rollback",
                {"reason": "Schema migration broke the API", "target_version": "v1.0.0"},
            )
            assert answer.status == 202, answer.body
            back = _ended(client, driver, answer.body["id"])
            assert back["status"] == "rolled_back", back
            db, api = spans(back)["db"], spans(back)["api"]
            assert api[0] < db[0], (api, db)
            assert api[1] <= db[0], (api, db)  # db went back once api had
            for name in ("api", "db"):
                live = kube.get("deployment", name, namespace)
                assert live is not None
                assert live["spec"]["template"]["spec"]["containers"][0]["image"].endswith(
                    ":v1.0.0"
                )
    finally:
        kube.drop_namespace(namespace)
