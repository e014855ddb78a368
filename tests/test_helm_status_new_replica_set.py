"""The ready and available replicas the Helm adapter reports during a rollout are those of
the Deployment's new ReplicaSet: a Deployment's own ``readyReplicas`` also counts the pods
of old ReplicaSets, which say nothing about the revision being rolled out. Built from the
recorded objects of a rollout to a crashing image (``../shared/fixtures/k8s``)."""

from __future__ import annotations

import copy
import json
from typing import Any

from chalicelib.adapters.helm.models import parse_release
from chalicelib.adapters.helm.status import backend_status
from chalicelib.adapters.helm.workloads import deployment
from chalicelib.domain.ports import Replicas
from tests.helm_fakes import HELM4, K8S

NEW_REPLICA_SET = "demo-5b8c6d6cbc"  # named by the recorded Progressing condition
OLD_REPLICA_SET = "demo-fd8b6c858"


def _k8s(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((K8S / name).read_text())
    return loaded


def _crashing_pod() -> dict[str, Any]:
    """The recorded pod of the new ReplicaSet: CrashLoopBackOff, not Ready."""
    return _k8s("pod-crashloopbackoff.json")


def _ready_pod(replica_set: str, name: str) -> dict[str, Any]:
    """The recorded pod turned into a Ready one of ``replica_set``."""
    pod = copy.deepcopy(_crashing_pod())
    pod["metadata"]["name"] = name
    pod["metadata"]["ownerReferences"][0]["name"] = replica_set
    container = pod["status"]["containerStatuses"][0]
    container.update(ready=True, restartCount=0, state={"running": {"startedAt": "2026-11-22"}})
    for condition in pod["status"]["conditions"]:
        condition["status"] = "True"
    return pod


def _mid_rollout() -> dict[str, Any]:
    """1 replica desired; 1 updated (crashing) and 1 old (Ready): readyReplicas is 1."""
    found = _k8s("deployment-progressing-crash.json")
    assert found["status"]["readyReplicas"] == 1
    assert (found["status"]["replicas"], found["status"]["updatedReplicas"]) == (2, 1)
    return found


def test_deployment_ready_replicas_leave_out_old_replica_set_pods() -> None:
    pods = (_crashing_pod(), _ready_pod(OLD_REPLICA_SET, "demo-fd8b6c858-cdz74"))

    workload = deployment(_mid_rollout(), pods)

    assert (workload.desired, workload.updated, workload.ready, workload.available) == (1, 1, 0, 0)
    assert workload.progress == 50  # updated, none available
    assert workload.waiting.endswith("1 old replicas are pending termination...")


def test_deployment_ready_replicas_count_ready_pods_of_the_new_replica_set() -> None:
    pods = (
        _ready_pod(NEW_REPLICA_SET, "demo-5b8c6d6cbc-bth4q"),
        _ready_pod(OLD_REPLICA_SET, "demo-fd8b6c858-cdz74"),
    )

    workload = deployment(_mid_rollout(), pods)

    assert (workload.ready, workload.available) == (1, 1)


def test_deployment_terminating_pods_of_the_new_replica_set_are_not_ready() -> None:
    pod = _ready_pod(NEW_REPLICA_SET, "demo-5b8c6d6cbc-bth4q")
    pod["metadata"]["deletionTimestamp"] = "2026-11-22T01:49:45Z"

    assert deployment(_mid_rollout(), (pod,)).ready == 0


def test_deployment_without_a_named_replica_set_reports_what_old_pods_cannot_explain() -> None:
    found = _mid_rollout()
    found["status"]["conditions"][1].update(reason="", message="")
    found["status"].update(readyReplicas=2, availableReplicas=2)  # both pods Ready

    workload = deployment(found, ())

    assert (workload.ready, workload.available) == (1, 1)  # 2 ready, at most 1 of them old


def test_deployment_with_no_old_replicas_reports_its_own_counts() -> None:
    found = _k8s("deployment-available-final.json")

    workload = deployment(found, ())

    assert (workload.desired, workload.updated, workload.ready, workload.available) == (2, 2, 2, 2)


def test_status_of_a_crashing_upgrade_reports_no_new_replica_ready() -> None:
    doc = json.loads((HELM4 / "helm-status.json").read_text())
    doc["info"]["resources"]["v1/Deployment"] = [_mid_rollout()]
    pods = [_crashing_pod(), _ready_pod(OLD_REPLICA_SET, "demo-fd8b6c858-cdz74")]
    doc["info"]["resources"]["v1/Pod(related)"] = [
        {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": pods}
    ]

    status = backend_status(parse_release(json.dumps(doc)), wait=True, wait_for_jobs=False)

    assert status.replicas == Replicas(desired=1, updated=1, ready=0, available=0)
