"""Status fidelity of the Helm adapter on a real API server: what the adapter reports
(phase, progress, conditions, replica counts, crash-loop detection) is compared with the
Deployment, ReplicaSets and Pods read from the cluster at the same moment.

"The same moment" is a bracket: the cluster is read before and after our status is read,
and a comparison counts only when both cluster reads are the same (otherwise it is taken
again, within a deadline). The cluster's truth for the revision being rolled out is its new
ReplicaSet (the one with the Deployment's ``deployment.kubernetes.io/revision``): the
Deployment's own ``readyReplicas`` also counts the pods of old ReplicaSets. The node
simulator makes pods Ready at once, ``slow`` images after 20 s, and ``crash`` images
crash-loop with ``restartCount`` = 1 + seconds/5."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from chalicelib.domain.ports import BackendStatus, Replicas, RolloutPhase, ready_message
from chalicelib.service.managers import backend_for
from chalicelib.service.records import release_ref
from tests.api_helpers import call
from tests.fakes import ManualDriver
from tests.real_cluster import Kube, demo_descriptor, follow_all, manager_for, real_adapters

pytestmark = pytest.mark.realcluster

REVISION = "deployment.kubernetes.io/revision"
CRASH_TIMEOUT = 60  # seconds; the crash loop must be caught well before it
CRASH_RESTARTS = re.compile(r"pod (\S+): CrashLoopBackOff \((\d+) restarts\)")


@dataclass(frozen=True)
class Cluster:
    """One read of the release's Deployment, ReplicaSets and Pods."""

    deployment: dict[str, Any]
    replica_sets: list[dict[str, Any]]
    pods: list[dict[str, Any]]

    @property
    def new_replica_set(self) -> dict[str, Any]:
        revision = self.deployment["metadata"]["annotations"][REVISION]
        found = [r for r in self.replica_sets if r["metadata"]["annotations"][REVISION] == revision]
        assert len(found) == 1, f"no single ReplicaSet of revision {revision}"
        return found[0]

    def new_replicas(self) -> Replicas:
        """What the rollout of the current revision has reached, as the cluster says it."""
        spec, status = self.deployment["spec"], self.deployment["status"]
        new = self.new_replica_set["status"]
        return Replicas(
            desired=spec["replicas"],
            updated=status.get("updatedReplicas", 0),
            ready=new.get("readyReplicas", 0),
            available=new.get("availableReplicas", 0),
        )

    def conditions(self) -> list[tuple[str, str, str, str]]:
        return [
            (c["type"], c["status"], c["reason"], c["message"])
            for c in self.deployment["status"].get("conditions", [])
        ]

    def ready_pods_of(self, replica_set: dict[str, Any]) -> int:
        name = replica_set["metadata"]["name"]
        return sum(
            1
            for pod in self.pods
            if any(o["name"] == name for o in pod["metadata"].get("ownerReferences", []))
            and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in pod["status"].get("conditions", [])
            )
        )

    def container(self, pod_name: str) -> dict[str, Any]:
        pod = next(p for p in self.pods if p["metadata"]["name"] == pod_name)
        found: dict[str, Any] = pod["status"]["containerStatuses"][0]
        return found

    def fingerprint(self) -> str:
        """Everything a status is made of; equal fingerprints mean nothing moved."""
        return json.dumps(
            [
                self.deployment["metadata"]["generation"],
                self.deployment["status"],
                sorted((r["metadata"]["name"], r["status"]) for r in self.replica_sets),
                sorted((p["metadata"]["name"], p["status"]) for p in self.pods),
            ],
            sort_keys=True,
        )


@dataclass(frozen=True)
class Seen:
    """Our status, read between two equal cluster reads."""

    cluster: Cluster
    ours: BackendStatus
    api: dict[str, Any]


def _cluster(kube: Kube, namespace: str) -> Cluster:
    found = kube.json("kubectl", "get", "deploy,rs,pods", "-n", namespace, "-o", "json")
    items: list[dict[str, Any]] = found["items"]
    deployments = [i for i in items if i["kind"] == "Deployment"]
    assert len(deployments) == 1, [i["metadata"]["name"] for i in deployments]
    return Cluster(
        deployment=deployments[0],
        replica_sets=[i for i in items if i["kind"] == "ReplicaSet"],
        pods=[i for i in items if i["kind"] == "Pod"],
    )


def _backend_status(driver: ManualDriver) -> BackendStatus:
    """The Helm adapter's status, asked the way the rollout follower asks it."""
    deps = driver.deps
    assert deps is not None
    current = deps.store.get_deployment("demo")
    return backend_for(deps, current).status(release_ref(current))


def _seen(
    kube: Kube,
    namespace: str,
    client: Any,
    driver: ManualDriver,
    *,
    until: Callable[[Seen], bool] = lambda _: True,
    timeout: float = 30,
) -> Seen:
    """Our status (the adapter's, then the API's after one follower poll) bracketed by two
    equal cluster reads, once ``until`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        before = _cluster(kube, namespace)
        ours = _backend_status(driver)
        driver.poll()
        api: dict[str, Any] = call(client, "GET", "nfDeployments/demo/status").body
        after = _cluster(kube, namespace)
        if before.fingerprint() == after.fingerprint():
            seen = Seen(after, ours, api)
            if until(seen):
                return seen
        assert time.monotonic() < deadline, "the cluster never held still for one read"
        time.sleep(0.3)


def _expected_progress(replicas: Replicas) -> int:
    """Half for new replicas updated, half for new replicas available (never 100 before
    the rollout is done)."""
    desired = replicas.desired
    steps = min(replicas.updated, desired) + min(replicas.available, desired)
    return min(99, steps * 100 // (2 * desired))


def _setup(client: Any, kube: Kube, namespace: str) -> None:
    manager = manager_for(kube.kubeconfig, namespace)
    assert call(client, "POST", "deploymentManagers", manager).status == 201
    for version in ("0.1.0", "0.2.0"):
        answer = call(client, "POST", "nfDeploymentDescriptors", demo_descriptor(version))
        assert answer.status == 201, answer.body


def _create(client: Any, driver: ManualDriver, replicas: int) -> None:
    body = {"name": "demo", "descriptorId": "demo-0.1.0", "parameters": {"replicaCount": replicas}}
    answer = call(client, "POST", "nfDeployments", body)
    assert answer.status == 201, answer.body
    follow_all(driver, timeout=60, interval=0.5)


def _operation(client: Any) -> dict[str, Any]:
    found: dict[str, Any] = call(client, "GET", "nfDeployments/demo/operations").body["operations"][
        0
    ]
    return found


def _assert_ready_agrees(seen: Seen) -> None:
    """Settled: every count, the conditions and the message agree exactly."""
    cluster, ours, api = seen.cluster, seen.ours, seen.api
    status = cluster.deployment["status"]
    assert ours.phase is RolloutPhase.READY, ours.message
    assert ours.replicas == cluster.new_replicas()
    assert ours.replicas == Replicas(
        desired=cluster.deployment["spec"]["replicas"],
        updated=status.get("updatedReplicas", 0),
        ready=status.get("readyReplicas", 0),
        available=status.get("availableReplicas", 0),
    )
    assert status.get("replicas", 0) == ours.replicas.desired  # no old pod left
    assert [(c.type, c.status, c.reason, c.message) for c in ours.conditions] == (
        cluster.conditions()
    )
    assert (api["status"], api["progress"], api["operationId"]) == ("INSTANTIATED", 100, None)
    assert [(c["type"], c["status"], c["reason"], c["message"]) for c in api["conditions"]] == (
        cluster.conditions()
    )


def test_realcluster_status_of_a_slow_rollout_agrees_with_the_deployment(
    kube: Kube, namespace: str
) -> None:
    with real_adapters(operation_timeout_seconds=120) as (client, driver):
        _setup(client, kube, namespace)
        _create(client, driver, replicas=0)

        # Given an upgrade to 3 replicas of an image that becomes Ready only after 20 s
        slow = {"parameters": {"replicaCount": 3, "image": {"tag": "1.16.0-slow"}}}
        assert call(client, "PUT", "nfDeployments/demo", slow).status == 200

        # When the rollout has created its pods but none is Ready yet
        seen = _seen(
            kube,
            namespace,
            client,
            driver,
            until=lambda s: s.cluster.new_replicas().updated == 3,
        )

        # Then ours agrees with the Deployment, its new ReplicaSet and its pods
        cluster, ours, api = seen.cluster, seen.ours, seen.api
        new = cluster.new_replicas()
        assert new == Replicas(desired=3, updated=3, ready=0, available=0)
        assert ours.replicas == new
        assert cluster.ready_pods_of(cluster.new_replica_set) == ours.replicas.ready
        assert ours.phase is RolloutPhase.PROGRESSING
        assert ours.progress == _expected_progress(new) == 50
        assert ours.message == (
            'Waiting for deployment "demo" rollout to finish: '
            "0 of 3 updated replicas are available..."
        )
        assert [(c.type, c.status, c.reason, c.message) for c in ours.conditions] == (
            cluster.conditions()
        )
        available = next(c for c in ours.conditions if c.type == "Available")
        assert (available.status, available.reason) == ("False", "MinimumReplicasUnavailable")
        assert api["status"] == "DEPLOYING"
        assert api["operationId"] is not None
        assert (api["progress"], api["message"]) == (ours.progress, ours.message)
        assert [(c["type"], c["status"], c["reason"], c["message"]) for c in api["conditions"]] == (
            cluster.conditions()
        )

        # And once the pods are Ready, exact agreement
        follow_all(driver, timeout=60, interval=0.5)
        done = _seen(kube, namespace, client, driver)
        _assert_ready_agrees(done)
        assert done.ours.replicas == Replicas(desired=3, updated=3, ready=3, available=3)
        assert done.ours.message == "All 3 replicas ready"
        progressing = next(c for c in done.ours.conditions if c.type == "Progressing")
        assert progressing.reason == "NewReplicaSetAvailable"
        assert _operation(client)["state"] == "COMPLETED"


def test_realcluster_status_catches_a_crash_loop_early_and_rolls_back(
    kube: Kube, namespace: str
) -> None:
    with real_adapters(operation_timeout_seconds=CRASH_TIMEOUT) as (client, driver):
        _setup(client, kube, namespace)
        _create(client, driver, replicas=2)
        image = _cluster(kube, namespace).deployment["spec"]["template"]["spec"]["containers"][0][
            "image"
        ]

        # Given an upgrade to an image that crash-loops
        started = time.monotonic()
        crash = {"parameters": {"image": {"tag": "1.16.0-crash"}}}
        assert call(client, "PUT", "nfDeployments/demo", crash).status == 200

        # While it crashes below the limit, the old pods serve but none of them counts
        waiting = _seen(
            kube,
            namespace,
            client,
            driver,
            until=lambda s: s.cluster.new_replicas().updated == 1,
        )
        assert waiting.ours.phase is RolloutPhase.PROGRESSING, waiting.ours.message
        assert waiting.cluster.deployment["status"]["readyReplicas"] == 2  # the old ReplicaSet's
        assert waiting.ours.replicas == waiting.cluster.new_replicas()
        assert waiting.ours.replicas == Replicas(desired=2, updated=1, ready=0, available=0)

        # When the adapter reports the crash loop (the follower is not polled meanwhile)
        deadline = started + CRASH_TIMEOUT / 2
        while True:
            before = _cluster(kube, namespace)
            ours = _backend_status(driver)
            after = _cluster(kube, namespace)
            if ours.phase is not RolloutPhase.PROGRESSING:
                break
            assert time.monotonic() < deadline, f"no crash loop reported: {ours.message}"
            time.sleep(0.5)
        detected = time.monotonic() - started

        # Then it is FAILED with the reason, well before the timeout, as the cluster shows it
        assert ours.phase is RolloutPhase.FAILED, ours.message
        assert detected < CRASH_TIMEOUT / 2
        assert ours.message.endswith("; the new pods keep crashing")
        found = CRASH_RESTARTS.search(ours.message)
        assert found is not None, ours.message
        pod, restarts = found.group(1), int(found.group(2))
        for cluster in (before, after):
            container = cluster.container(pod)
            assert container["state"]["waiting"]["reason"] == "CrashLoopBackOff"
            assert container["ready"] is False
        assert before.container(pod)["restartCount"] <= restarts
        assert restarts <= after.container(pod)["restartCount"]
        assert restarts >= 3  # the adapter's crash_loop_restarts
        assert pod.startswith(after.new_replica_set["metadata"]["name"] + "-")
        crash_condition = ours.conditions[-1]
        assert (crash_condition.type, crash_condition.status, crash_condition.reason) == (
            "ContainersReady",
            "False",
            "CrashLoopBackOff",
        )
        assert ours.replicas == Replicas(desired=2, updated=1, ready=0, available=0)

        # And the follower rolls back (atomic by default): ROLLED_BACK with that reason
        driver.poll()
        rolling_back = _operation(client)
        failure = rolling_back["failure"]
        assert rolling_back["rollbackRevision"] == 3
        assert CRASH_RESTARTS.sub("", failure) == CRASH_RESTARTS.sub("", ours.message)
        follow_all(driver, timeout=60, interval=0.5)
        operation = _operation(client)
        assert operation["state"] == "ROLLED_BACK"
        assert operation["error"]["message"] == failure
        history = call(client, "GET", "nfDeployments/demo/history").body["revisions"]
        assert [(r["revision"], r["status"]) for r in history] == [
            (3, "deployed"),
            (2, "failed"),
            (1, "superseded"),
        ]

        settled = _seen(kube, namespace, client, driver)
        _assert_ready_agrees(settled)
        deployed = settled.cluster.deployment["spec"]["template"]["spec"]["containers"][0]
        assert deployed["image"] == image
        assert settled.ours.replicas == Replicas(desired=2, updated=2, ready=2, available=2)

        helm = kube.json("helm", "history", "demo", "-n", namespace, "-o", "json")
        by_ref = {str(entry["revision"]): entry for entry in helm}
        assert helm[-1]["status"] == "deployed"
        assert helm[-1]["description"] == f"Rollback to {history[2]['backendRef']}"
        assert by_ref[history[0]["backendRef"]] is helm[-1]
        failed_values = kube.json(
            "helm",
            "get",
            "values",
            "demo",
            "-n",
            namespace,
            "--revision",
            history[1]["backendRef"],
            "-o",
            "json",
        )
        assert failed_values["image"]["tag"] == "1.16.0-crash"


def test_realcluster_status_after_scaling_matches_the_deployment(
    kube: Kube, namespace: str
) -> None:
    with real_adapters(operation_timeout_seconds=60) as (client, driver):
        _setup(client, kube, namespace)
        _create(client, driver, replicas=2)

        for replicas in (4, 1, 0, 2):  # up, down, to zero, up from zero
            answer = call(client, "POST", "nfDeployments/demo/scale", {"replicas": replicas})
            assert answer.status == 204, answer.body
            follow_all(driver, timeout=60, interval=0.5)

            seen = _seen(kube, namespace, client, driver)
            _assert_ready_agrees(seen)
            assert seen.ours.replicas == Replicas(replicas, replicas, replicas, replicas)
            assert seen.cluster.deployment["spec"]["replicas"] == replicas
            assert seen.cluster.ready_pods_of(seen.cluster.new_replica_set) == replicas
            plural = "" if replicas == 1 else "s"
            assert seen.api["message"] == f"Deployment scaled to {replicas} replica{plural}"
            expected = ready_message(replicas)
            assert seen.ours.message == expected
