"""``helm status -o json`` (recorded, or recorded objects recombined) becomes the follower's
verdict: phase, progress, message, conditions, replicas and ``helm.*`` extensions."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from chalicelib.adapters.helm.models import parse_release
from chalicelib.adapters.helm.status import backend_status
from chalicelib.adapters.helm.workloads import daemon_set, job, stateful_set
from chalicelib.domain.models import Condition
from chalicelib.domain.ports import BackendStatus, Replicas, RolloutPhase
from tests.helm_fakes import HELM4, K8S


def _status_doc(name: str = "helm-status.json") -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((HELM4 / name).read_text())
    return loaded


def _k8s(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((K8S / name).read_text())
    return loaded


def _judge(doc: dict[str, Any], *, wait: bool = True, wait_for_jobs: bool = True) -> BackendStatus:
    return backend_status(parse_release(json.dumps(doc)), wait=wait, wait_for_jobs=wait_for_jobs)


def _with_deployment(
    deployment: dict[str, Any], pods: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    doc = _status_doc()
    doc["info"]["resources"]["v1/Deployment"] = [deployment]
    if pods is not None:
        doc["info"]["resources"]["v1/Pod(related)"] = [
            {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": pods}
        ]
    return doc


def _ready_doc() -> dict[str, Any]:
    """Recorded status of revision 4 with the Deployment as the API server later reported it,
    rolled out (``kubectl get deployment`` after recovery)."""
    return _with_deployment(_k8s("deployment-available-final.json"), pods=[])


def test_status_deployed_and_rolled_out_is_ready() -> None:
    status = _judge(_ready_doc())

    assert status.phase is RolloutPhase.READY
    assert (status.progress, status.message) == (100, "All 2 replicas ready")
    assert status.replicas == Replicas(desired=2, updated=2, ready=2, available=2)
    assert status.conditions == (
        Condition(
            "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."
        ),
        Condition(
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            'ReplicaSet "demo-fd8b6c858" has successfully progressed.',
        ),
    )
    assert status.backend_ref == "4"
    assert status.extensions["helm.revision"] == 4
    assert status.extensions["helm.status"] == "deployed"
    assert str(status.extensions["helm.notes"]).startswith("1. Get the application URL")


def test_status_recorded_deployed_release_still_rolling_out_is_progressing() -> None:
    # helm-status.json was taken right after `helm rollback` (no --wait): helm says deployed,
    # but the Deployment has 1 of 2 new replicas and its new pod is Pending.
    status = _judge(_status_doc())

    assert status.phase is RolloutPhase.PROGRESSING
    assert status.progress == 25
    assert status.message == (
        'Waiting for deployment "demo" rollout to finish: '
        "1 out of 2 new replicas have been updated..."
    )
    # the 2 ready pods are the old ReplicaSet's; the one new pod is still Pending
    assert status.replicas == Replicas(desired=2, updated=1, ready=0, available=0)
    assert status.extensions["helm.status"] == "deployed"


def test_status_without_wait_deployed_is_ready_at_once() -> None:
    status = _judge(_status_doc(), wait=False)
    assert status.phase is RolloutPhase.READY
    assert status.message == 'Release "demo" revision 4 deployed'


def test_status_pending_upgrade_is_progressing() -> None:
    status = _judge(_status_doc("helm-status-pending-upgrade.json"))

    assert status.phase is RolloutPhase.PROGRESSING
    assert status.progress == 50
    assert status.message.startswith('Release "demo" revision 8 is pending-upgrade: ')
    assert "1 old replicas are pending termination" in status.message
    assert status.extensions["helm.status"] == "pending-upgrade"
    assert status.backend_ref == "8"


def test_status_failed_release_is_failed_with_helms_description_and_the_crash() -> None:
    status = _judge(_status_doc("helm-status-failed.json"))

    assert status.phase is RolloutPhase.FAILED
    assert status.message.startswith(
        'Upgrade "demo" failed: resource Deployment/apps/demo not ready'
    )
    crash = status.conditions[-1]
    assert (crash.type, crash.status, crash.reason) == (
        "ContainersReady",
        "False",
        "CrashLoopBackOff",
    )
    assert crash.message.endswith("restartCount=2")


def test_status_crash_looping_rollout_says_why_it_waits() -> None:
    doc = _with_deployment(
        _k8s("deployment-progressing-crash.json"), pods=[_k8s("pod-crashloopbackoff.json")]
    )
    status = _judge(doc)

    assert status.phase is RolloutPhase.PROGRESSING
    assert status.message.endswith("(pod demo-5b8c6d6cbc-bth4q: CrashLoopBackOff (2 restarts))")
    assert any(c.reason == "CrashLoopBackOff" for c in status.conditions)


def test_status_crash_looping_past_the_limit_fails_without_waiting_for_the_timeout() -> None:
    pod = _k8s("pod-crashloopbackoff.json")
    pod["status"]["containerStatuses"][0]["restartCount"] = 3
    doc = _with_deployment(_k8s("deployment-progressing-crash.json"), pods=[pod])

    status = _judge(doc)
    patient = backend_status(
        parse_release(json.dumps(doc)), wait=True, wait_for_jobs=True, crash_loop_restarts=0
    )

    assert status.phase is RolloutPhase.FAILED
    assert status.message.endswith(
        "pod demo-5b8c6d6cbc-bth4q: CrashLoopBackOff (3 restarts); the new pods keep crashing"
    )
    assert patient.phase is RolloutPhase.PROGRESSING


def test_status_progress_deadline_exceeded_is_failed() -> None:
    deployment = _k8s("deployment-progressing-crash.json")
    progressing = deployment["status"]["conditions"][1]
    progressing.update(status="False", reason="ProgressDeadlineExceeded")

    status = _judge(_with_deployment(deployment))

    assert status.phase is RolloutPhase.FAILED
    assert status.message == 'deployment "demo" exceeded its progress deadline'


def test_status_unobserved_spec_is_progressing() -> None:
    deployment = _k8s("deployment-available-final.json")
    deployment["metadata"]["generation"] = 9
    status = _judge(_with_deployment(deployment, pods=[]))
    assert status.phase is RolloutPhase.PROGRESSING
    assert status.message == 'Waiting for deployment "demo" spec update to be observed...'


def test_status_scaled_to_zero_is_ready() -> None:
    deployment = _k8s("deployment-available-final.json")
    deployment["spec"]["replicas"] = 0
    deployment["status"] = {"observedGeneration": 8, "conditions": []}
    status = _judge(_with_deployment(deployment, pods=[]))
    assert (status.phase, status.message) == (RolloutPhase.READY, "Scaled to 0 replicas")


def _job(conditions: list[dict[str, str]], succeeded: int = 0) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "demo-migrate", "generation": 1},
        "spec": {"completions": 1},
        "status": {"succeeded": succeeded, "conditions": conditions},
    }


def test_status_waits_for_jobs_only_with_wait_for_jobs() -> None:
    doc = _ready_doc()
    doc["info"]["resources"]["v1/Job"] = [_job([])]

    waiting = _judge(doc)
    ignored = _judge(doc, wait_for_jobs=False)

    assert waiting.phase is RolloutPhase.PROGRESSING
    assert waiting.message == 'Waiting for job "demo-migrate" to complete: 0 of 1 succeeded...'
    assert waiting.progress == 50  # the Deployment is done, the Job not
    assert ignored.phase is RolloutPhase.READY


def test_status_failed_job_fails_the_rollout() -> None:
    doc = _ready_doc()
    failed = {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "x"}
    doc["info"]["resources"]["v1/Job"] = [_job([failed])]

    status = _judge(doc)

    assert status.phase is RolloutPhase.FAILED
    assert status.message == 'job "demo-migrate" failed: BackoffLimitExceeded: x'


def test_status_completed_job_with_ready_deployment_is_ready() -> None:
    doc = _ready_doc()
    complete = {"type": "Complete", "status": "True", "reason": "", "message": ""}
    doc["info"]["resources"]["v1/Job"] = [_job([complete], succeeded=1)]
    status = _judge(doc)
    assert status.phase is RolloutPhase.READY
    assert [c.message.split(":")[0] for c in status.conditions][:1] == ["Deployment demo"]


@pytest.mark.parametrize(
    ("word", "phase"),
    [
        ("uninstalling", RolloutPhase.PROGRESSING),
        ("uninstalled", RolloutPhase.ABSENT),
        ("pending-install", RolloutPhase.PROGRESSING),
        ("pending-rollback", RolloutPhase.PROGRESSING),
    ],
)
def test_status_helms_word_decides_before_the_workloads(word: str, phase: RolloutPhase) -> None:
    doc = copy.deepcopy(_ready_doc())
    doc["info"]["status"] = word
    status = _judge(doc)
    assert status.phase is phase
    assert status.extensions["helm.status"] == word
    if phase is RolloutPhase.PROGRESSING:
        assert status.progress <= 99


def test_workloads_stateful_set_rules() -> None:
    base = {
        "metadata": {"name": "cu", "generation": 2},
        "spec": {"replicas": 3, "updateStrategy": {"type": "RollingUpdate"}},
        "status": {
            "observedGeneration": 2,
            "readyReplicas": 3,
            "updatedReplicas": 3,
            "currentRevision": "cu-1",
            "updateRevision": "cu-1",
        },
    }
    assert stateful_set(base).done
    rolling = copy.deepcopy(base)
    rolling["status"].update(readyReplicas=2, updateRevision="cu-2", updatedReplicas=1)
    assert stateful_set(rolling).waiting == 'Waiting for 1 pods of statefulset "cu" to be ready...'
    rolling["status"]["readyReplicas"] = 3
    assert (
        stateful_set(rolling).waiting
        == 'Waiting for statefulset "cu" rolling update to complete...'
    )


def test_workloads_daemon_set_rules() -> None:
    ds: dict[str, Any] = {
        "metadata": {"name": "agent", "generation": 1},
        "status": {
            "observedGeneration": 1,
            "desiredNumberScheduled": 2,
            "updatedNumberScheduled": 2,
            "numberAvailable": 1,
            "numberReady": 1,
        },
    }
    assert daemon_set(ds).waiting == (
        'Waiting for daemon set "agent" rollout to finish: 1 of 2 updated pods are available...'
    )
    ds["status"]["numberAvailable"] = 2
    assert daemon_set(ds).done


def test_workloads_job_progress() -> None:
    running = job(
        {"metadata": {"name": "j"}, "spec": {"completions": 4}, "status": {"succeeded": 2}}
    )
    assert (running.done, running.progress) == (False, 50)


def test_the_pods_helm_returns_give_their_probe_checks() -> None:
    checks = _judge(_status_doc()).health_checks
    readiness = {c.pod: c.status.value for c in checks if c.type == "readiness"}
    # as recorded: two pods of the new ReplicaSet Ready, one of the old one going away
    assert readiness["demo-56cdffd545-4x8cg"] == "healthy"
    assert readiness["demo-56cdffd545-9hdz4"] == "healthy"
    assert {c.component for c in checks} == {"demo"}
    assert {c.type for c in checks} >= {"readiness", "startup", "liveness"}
