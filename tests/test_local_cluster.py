"""The simulated cluster behaves like Helm on a real cluster, in time given by a fake clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.local_cluster import LocalCluster
from chalicelib.domain.errors import (
    BackendFailure,
    BackendUnavailable,
    InvalidRequest,
    ReleaseConflict,
    ReleaseNotFound,
)
from chalicelib.domain.models import ChartRef, Condition, JsonObject
from chalicelib.domain.ports import (
    Action,
    BackendStatus,
    DeploymentBackend,
    ReleaseRef,
    ReleaseTarget,
    RolloutPhase,
)
from chalicelib.domain.states import OperationType

CHART = ChartRef(repo_url="https://charts.example.com", name="demo", version="0.1.0")
REF = ReleaseRef(release="demo", namespace="apps")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def target(
    *, replicas: int = 3, tag: str = "1.0", revision: int = 1, chart: ChartRef = CHART
) -> ReleaseTarget:
    values: JsonObject = {"replicaCount": replicas, "image": {"tag": tag}}
    return ReleaseTarget(
        release="demo",
        namespace="apps",
        chart=chart,
        values=values,
        revision=revision,
        operation_id=f"op-{revision}",
        timeout_seconds=300,
    )


def condition(status: BackendStatus, kind: str) -> Condition:
    return next(c for c in status.conditions if c.type == kind)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cluster(clock: FakeClock) -> LocalCluster:
    return LocalCluster(rollout_seconds=4.0, clock=clock)


@pytest.fixture
def helm(cluster: LocalCluster) -> DeploymentBackend:
    return cluster.backend("helm")


def test_local_cluster_install_returns_the_first_revision(helm: DeploymentBackend) -> None:
    # When
    applied = helm.install(target(tag="1.25"))

    # Then
    assert helm.kind == "local"
    assert applied.backend_ref == "1"
    assert applied.app_version == "1.25"
    assert applied.extensions == {
        "helm.chartName": "demo",
        "helm.chartVersion": "0.1.0",
        "helm.appVersion": "1.25",
        "helm.revision": 1,
        "local.simulated": True,
    }


def test_local_cluster_app_version_falls_back_to_the_chart_version(
    helm: DeploymentBackend,
) -> None:
    # Given values without an image tag
    bare = ReleaseTarget("demo", "apps", CHART, {}, 1, "op-1", 300)

    # When
    applied = helm.install(bare)

    # Then
    assert applied.app_version == "0.1.0"


def test_local_cluster_install_progresses_then_is_ready(
    helm: DeploymentBackend, clock: FakeClock
) -> None:
    # Given
    helm.install(target(replicas=3))

    # When the rollout starts
    first = helm.status(REF)

    # Then nothing is available yet: it is a first install
    assert (first.phase, first.progress) == (RolloutPhase.PROGRESSING, 0)
    assert condition(first, "Available").reason == "MinimumReplicasUnavailable"
    assert condition(first, "Progressing").reason == "ReplicaSetUpdated"
    assert first.extensions["helm.status"] == "pending-install"

    # When time passes, progress and replicas rise
    clock.advance(1)
    quarter = helm.status(REF)
    clock.advance(1)
    half = helm.status(REF)
    assert (quarter.progress, half.progress) == (25, 50)
    assert quarter.message == (
        "Waiting for rollout to finish: 1 out of 3 new replicas have been updated..."
    )
    assert half.message == "Waiting for rollout to finish: 1 of 3 updated replicas are available..."
    assert half.replicas is not None
    assert (half.replicas.updated, half.replicas.ready) == (3, 1)

    # When the rollout time is over
    clock.advance(2)
    done = helm.status(REF)

    # Then
    assert (done.phase, done.progress, done.message) == (
        RolloutPhase.READY,
        100,
        "All 3 replicas ready",
    )
    assert done.replicas is not None
    assert (done.replicas.desired, done.replicas.ready, done.replicas.available) == (3, 3, 3)
    assert condition(done, "Available") == Condition(
        "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."
    )
    progressing = condition(done, "Progressing")
    assert (progressing.status, progressing.reason) == ("True", "NewReplicaSetAvailable")
    assert progressing.message.startswith('ReplicaSet "demo-')
    assert progressing.message.endswith('" has successfully progressed.')
    assert done.backend_ref == "1"
    assert done.extensions == {
        "helm.revision": 1,
        "helm.status": "deployed",
        "local.simulated": True,
        "local.cluster": "in-memory",
    }


def test_local_cluster_crashing_image_fails_with_crash_loop_back_off(
    helm: DeploymentBackend, clock: FakeClock
) -> None:
    # Given a ready release upgraded to a crashing image
    helm.install(target(replicas=2))
    clock.advance(4)
    helm.upgrade(target(replicas=2, tag="crash", revision=2))

    # When the rollout is under way
    clock.advance(3)
    rolling = helm.status(REF)

    # Then it is stuck at half way, still served by the old pods
    assert (rolling.phase, rolling.progress) == (RolloutPhase.PROGRESSING, 50)
    assert condition(rolling, "Available").status == "True"
    assert rolling.extensions["helm.status"] == "pending-upgrade"

    # When the rollout time is over
    clock.advance(1)
    failed = helm.status(REF)

    # Then
    assert failed.phase is RolloutPhase.FAILED
    assert failed.progress <= 50
    assert "CrashLoopBackOff" in failed.message
    assert "4 restarts" in failed.message
    assert failed.replicas is not None
    assert failed.replicas.ready == 0
    crash = condition(failed, "ContainersReady")
    assert (crash.status, crash.reason) == ("False", "CrashLoopBackOff")
    assert "restartCount=4" in crash.message
    assert condition(failed, "Progressing").reason == "ProgressDeadlineExceeded"
    assert failed.extensions["helm.status"] == "failed"


def test_local_cluster_crashing_first_install_is_never_available(
    helm: DeploymentBackend, clock: FakeClock
) -> None:
    # Given
    helm.install(target(replicas=1, tag="crash-1"))

    # When
    clock.advance(10)
    status = helm.status(REF)

    # Then
    assert status.phase is RolloutPhase.FAILED
    assert condition(status, "Available").status == "False"


def test_local_cluster_scale_to_zero_is_ready_at_once(helm: DeploymentBackend) -> None:
    # Given
    helm.install(target(replicas=3))

    # When
    applied = helm.scale(target(replicas=3, revision=2), replicas=0)
    status = helm.status(REF)

    # Then
    assert applied.backend_ref == "2"
    assert (status.phase, status.progress) == (RolloutPhase.READY, 100)
    assert status.replicas is not None
    assert status.replicas.desired == 0


def test_local_cluster_scale_rolls_out_the_new_replica_count(
    helm: DeploymentBackend, clock: FakeClock
) -> None:
    # Given
    helm.install(target(replicas=1))
    clock.advance(4)

    # When
    helm.scale(target(replicas=1, revision=2), replicas=5)
    clock.advance(4)
    status = helm.status(REF)

    # Then
    assert status.message == "All 5 replicas ready"


def test_local_cluster_rollback_to_a_kept_revision_copies_it(
    helm: DeploymentBackend, clock: FakeClock
) -> None:
    # Given two revisions
    helm.install(target(tag="1.0"))
    clock.advance(4)
    helm.upgrade(target(tag="2.0", revision=2))
    clock.advance(4)

    # When rolling back to the first, whatever the snapshot says
    applied = helm.rollback(target(tag="ignored", revision=1), to_backend_ref="1")

    # Then
    assert applied.backend_ref == "3"
    assert applied.app_version == "1.0"
    assert applied.extensions["helm.rollbackMethod"] == "rollback"
    history = helm.history(REF)
    assert [(h.backend_ref, h.status) for h in history] == [
        ("1", "superseded"),
        ("2", "superseded"),
        ("3", "pending-rollback"),
    ]
    assert history[2].description == "Rollback to 1"


def test_local_cluster_rollback_after_pruning_redeploys_the_snapshot(clock: FakeClock) -> None:
    # Given a history that keeps two revisions, so "1" is gone
    helm = LocalCluster(rollout_seconds=4.0, max_history=2, clock=clock).backend("helm")
    helm.install(target(tag="1.0"))
    helm.upgrade(target(tag="2.0", revision=2))
    helm.upgrade(target(tag="3.0", revision=3))
    assert [h.backend_ref for h in helm.history(REF)] == ["2", "3"]

    # When
    applied = helm.rollback(target(tag="1.0", replicas=2, revision=1), to_backend_ref="1")

    # Then the stored snapshot is applied as a new revision
    assert applied.backend_ref == "4"
    assert applied.app_version == "1.0"
    assert applied.extensions["helm.rollbackMethod"] == "redeploy"
    assert [h.backend_ref for h in helm.history(REF)] == ["3", "4"]
    clock.advance(4)
    assert helm.status(REF).message == "All 2 replicas ready"


def test_local_cluster_rollback_without_a_backend_ref_redeploys(helm: DeploymentBackend) -> None:
    # Given
    helm.install(target(tag="1.0"))

    # When
    applied = helm.rollback(target(tag="0.9", revision=1), to_backend_ref=None)

    # Then
    assert applied.extensions["helm.rollbackMethod"] == "redeploy"
    assert applied.app_version == "0.9"


def test_local_cluster_uninstall_is_absent_after_half_the_rollout_time(
    helm: DeploymentBackend, clock: FakeClock
) -> None:
    # Given
    helm.install(target())
    clock.advance(4)

    # When
    helm.uninstall(REF)
    clock.advance(1)
    leaving = helm.status(REF)

    # Then
    assert leaving.phase is RolloutPhase.PROGRESSING
    assert leaving.extensions["helm.status"] == "uninstalling"
    assert helm.history(REF)[-1].status == "uninstalling"
    clock.advance(1)
    assert helm.status(REF).phase is RolloutPhase.ABSENT
    with pytest.raises(ReleaseNotFound):
        helm.history(REF)


def test_local_cluster_install_after_uninstall_starts_over(
    helm: DeploymentBackend, clock: FakeClock
) -> None:
    # Given
    helm.install(target())
    helm.upgrade(target(revision=2))
    helm.uninstall(REF)

    # When the name is still in use, then it cannot be reused
    with pytest.raises(ReleaseConflict):
        helm.install(target())

    # When it is gone
    clock.advance(2)
    applied = helm.install(target())

    # Then
    assert applied.backend_ref == "1"


def test_local_cluster_install_of_an_existing_release_conflicts(helm: DeploymentBackend) -> None:
    # Given
    helm.install(target())

    # When / Then
    with pytest.raises(ReleaseConflict, match="still in use"):
        helm.install(target())


def test_local_cluster_upgrade_while_uninstalling_conflicts(helm: DeploymentBackend) -> None:
    # Given
    helm.install(target())
    helm.uninstall(REF)

    # When / Then
    with pytest.raises(ReleaseConflict, match="being uninstalled"):
        helm.upgrade(target(revision=2))


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda b: b.upgrade(target()), id="upgrade"),
        pytest.param(lambda b: b.scale(target(), replicas=1), id="scale"),
        pytest.param(lambda b: b.rollback(target(), to_backend_ref="1"), id="rollback"),
        pytest.param(lambda b: b.uninstall(REF), id="uninstall"),
        pytest.param(lambda b: b.history(REF), id="history"),
    ],
)
def test_local_cluster_missing_release_is_not_found(
    helm: DeploymentBackend, call: Callable[[DeploymentBackend], Any]
) -> None:
    with pytest.raises(ReleaseNotFound, match='"demo" not found'):
        call(helm)


def test_local_cluster_status_of_a_missing_release_is_absent(helm: DeploymentBackend) -> None:
    assert helm.status(REF).phase is RolloutPhase.ABSENT


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda b: b.install(target()), id="install"),
        pytest.param(lambda b: b.upgrade(target()), id="upgrade"),
        pytest.param(lambda b: b.scale(target(), replicas=1), id="scale"),
        pytest.param(lambda b: b.rollback(target(), to_backend_ref="1"), id="rollback"),
        pytest.param(lambda b: b.uninstall(REF), id="uninstall"),
        pytest.param(lambda b: b.status(REF), id="status"),
        pytest.param(lambda b: b.history(REF), id="history"),
        pytest.param(lambda b: b.plan(Action(OperationType.UPGRADE, target())), id="plan"),
    ],
)
def test_local_cluster_unreachable_raises_backend_unavailable(
    cluster: LocalCluster, helm: DeploymentBackend, call: Callable[[DeploymentBackend], Any]
) -> None:
    # Given
    helm.install(target())
    cluster.set_reachable(False)

    # When / Then
    with pytest.raises(BackendUnavailable, match="local cluster is unreachable"):
        call(helm)


def test_local_cluster_reachable_again_serves_calls(
    cluster: LocalCluster, helm: DeploymentBackend
) -> None:
    # Given
    helm.install(target())
    cluster.set_reachable(False)

    # When
    cluster.set_reachable(True)

    # Then
    assert helm.status(REF).backend_ref == "1"


@pytest.mark.parametrize("bad", [-1, "3", 2.5, True])
def test_local_cluster_bad_replica_count_is_a_backend_failure(
    helm: DeploymentBackend, bad: object
) -> None:
    # Given
    broken = ReleaseTarget("demo", "apps", CHART, {"replicaCount": bad}, 1, "op-1", 300)

    # When / Then nothing is installed
    with pytest.raises(BackendFailure, match="replicaCount"):
        helm.install(broken)
    assert helm.status(REF).phase is RolloutPhase.ABSENT


def test_local_cluster_views_share_one_cluster(cluster: LocalCluster) -> None:
    # Given
    cluster.backend("helm").install(target())

    # When
    status = cluster.backend("argocd").status(REF)

    # Then
    assert status.extensions["argocd.revision"] == 1
    with pytest.raises(ReleaseConflict):
        cluster.backend("flux").install(target())


def test_local_cluster_unknown_adapter_is_refused(cluster: LocalCluster) -> None:
    with pytest.raises(ValueError, match="kubectl"):
        cluster.backend("kubectl")


def test_local_cluster_history_keeps_a_failed_revision_failed(
    helm: DeploymentBackend, clock: FakeClock
) -> None:
    # Given a crashing upgrade that failed, then a fix
    helm.install(target())
    clock.advance(4)
    helm.upgrade(target(tag="crash", revision=2))
    clock.advance(4)
    helm.upgrade(target(tag="1.1", revision=3))

    # When
    history = helm.history(REF)

    # Then
    assert [(h.status, h.app_version) for h in history] == [
        ("superseded", "1.0"),
        ("failed", "crash"),
        ("pending-upgrade", "1.1"),
    ]
    assert history[0].description == "Install complete"
    assert "CrashLoopBackOff" in history[1].description
    assert history[2].description == "Preparing upgrade"


# ---------------------------------------------------------------------------- plan

SECRET = "s3cr3t-value"


def secret_target(revision: int = 1) -> ReleaseTarget:
    values: JsonObject = {"replicaCount": 2, "auth": {"password": SECRET}}
    return ReleaseTarget("demo", "apps", CHART, values, revision, "op-1", 300)


def test_local_cluster_plan_upgrade_builds_the_helm_argv(helm: DeploymentBackend) -> None:
    # When
    steps = helm.plan(Action(OperationType.UPGRADE, secret_target()))

    # Then
    assert [s.command for s in steps] == [
        (
            "helm",
            "upgrade",
            "demo",
            "demo",
            "--repo",
            "https://charts.example.com",
            "--namespace",
            "apps",
            "--version",
            "0.1.0",
            "--values",
            "-",
        )
    ]
    assert "stdin" in steps[0].description


def test_local_cluster_plan_install_from_an_oci_registry(helm: DeploymentBackend) -> None:
    # Given
    oci = ChartRef("oci://registry.example.com/charts", "demo", "0.2.0")

    # When
    (step,) = helm.plan(Action(OperationType.INSTALL, target(chart=oci)))

    # Then
    assert step.command == (
        "helm",
        "install",
        "demo",
        "oci://registry.example.com/charts/demo",
        "--namespace",
        "apps",
        "--create-namespace",
        "--version",
        "0.2.0",
        "--values",
        "-",
    )


@pytest.mark.parametrize(
    ("action", "subcommand"),
    [
        (Action(OperationType.INSTALL, secret_target()), "install"),
        (Action(OperationType.UPGRADE, secret_target()), "upgrade"),
        (Action(OperationType.SCALE, secret_target(), replicas=4), "upgrade"),
        (Action(OperationType.ROLLBACK, secret_target(), rollback_to_ref="1"), "rollback"),
        (Action(OperationType.ROLLBACK, secret_target(), rollback_to_ref="9"), "upgrade"),
        (Action(OperationType.ROLLBACK, secret_target(), rollback_to_ref=None), "upgrade"),
        (Action(OperationType.TERMINATE, secret_target()), "uninstall"),
    ],
)
def test_local_cluster_plan_names_the_helm_subcommand_and_keeps_values_off_argv(
    helm: DeploymentBackend, action: Action, subcommand: str
) -> None:
    # Given a release whose revision "1" is still kept
    helm.install(target())

    # When
    steps = helm.plan(action)

    # Then
    assert [s.command[:3] for s in steps] == [("helm", subcommand, "demo")]
    argv = " ".join(arg for s in steps for arg in s.command)
    assert SECRET not in argv
    assert "password" not in argv
    assert "replicaCount" not in argv
    if "--values" in steps[0].command:
        assert "stdin" in steps[0].description


def test_local_cluster_plan_changes_nothing(helm: DeploymentBackend) -> None:
    # When
    helm.plan(Action(OperationType.INSTALL, target()))

    # Then
    assert helm.status(REF).phase is RolloutPhase.ABSENT


def test_local_cluster_plan_scale_needs_a_replica_count(helm: DeploymentBackend) -> None:
    with pytest.raises(InvalidRequest):
        helm.plan(Action(OperationType.SCALE, target()))


# --- the state file of the local run ---------------------------------------------------


def test_local_cluster_state_file_carries_releases_and_rollout_time_to_a_new_process(
    tmp_path: Path,
) -> None:
    # Given a cluster kept in a state file, with a crashed revision and an upgrade rolling out
    state = tmp_path / "cluster.json"
    before_clock, before_wall = FakeClock(), FakeClock()
    before_wall.now = 1_700_000_000.0
    first = LocalCluster(
        rollout_seconds=4.0, clock=before_clock, wall_clock=before_wall, state_file=state
    )
    helm = first.backend("helm")
    helm.install(target(tag="1.0"))
    before_clock.advance(5)
    helm.upgrade(target(tag="crash", revision=2))
    before_clock.advance(5)
    helm.upgrade(target(tag="1.1", revision=3, replicas=4))
    before_clock.advance(1)
    history_before = helm.history(REF)

    # When a new process, whose monotonic clock starts elsewhere, reads the file 3 s (by the
    # wall clock) after the last upgrade
    after_clock, after_wall = FakeClock(), FakeClock()
    after_clock.now = 50.0
    after_wall.now = before_wall.now + 3
    second = LocalCluster(
        rollout_seconds=4.0, clock=after_clock, wall_clock=after_wall, state_file=state
    )
    status = second.backend("helm").status(REF)

    # Then the releases and their history are the same, and the rollout has moved on
    assert second.backend("helm").history(REF) == history_before
    assert (status.backend_ref, status.phase, status.progress) == (
        "3",
        RolloutPhase.PROGRESSING,
        75,
    )
    after_clock.advance(1)
    done = second.backend("helm").status(REF)
    assert (done.phase, done.message) == (RolloutPhase.READY, "All 4 replicas ready")


def test_local_cluster_state_file_keeps_an_uninstall_going(tmp_path: Path) -> None:
    # Given an uninstall started just before a restart
    state = tmp_path / "cluster.json"
    clock = FakeClock()
    helm = LocalCluster(rollout_seconds=4.0, clock=clock, state_file=state).backend("helm")
    helm.install(target())
    helm.uninstall(REF)

    # When a new cluster reads the state after the uninstall time has passed
    later = FakeClock()
    restarted = LocalCluster(
        rollout_seconds=4.0, clock=later, wall_clock=lambda: time.time() + 3, state_file=state
    )

    # Then the release is gone, and the name may be installed again
    assert restarted.backend("helm").status(REF).phase is RolloutPhase.ABSENT
    assert restarted.backend("helm").install(target()).backend_ref == "1"


def test_local_cluster_without_a_state_file_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    helm = LocalCluster().backend("helm")

    helm.install(target())

    assert list(tmp_path.iterdir()) == []


def test_local_cluster_unreadable_state_file_says_how_to_start_clean(tmp_path: Path) -> None:
    state = tmp_path / "cluster.json"
    state.write_text('{"format": 1, "releases": [{"name": "demo"}]}')

    with pytest.raises(ValueError, match=r"cluster\.json.*RESET=1"):
        LocalCluster(state_file=state)


def test_a_ready_message_counts_its_replicas_in_good_english() -> None:
    from chalicelib.domain.ports import ready_message

    assert [ready_message(n) for n in (0, 1, 2)] == [
        "Scaled to 0 replicas",
        "The 1 replica is ready",
        "All 2 replicas ready",
    ]
