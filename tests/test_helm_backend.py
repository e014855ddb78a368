"""``HelmBackend`` on a fake runner answering with recorded helm output: which commands each
port method runs, with what stdin, and what it makes of the answers."""

from __future__ import annotations

import json
import logging

import pytest

from chalicelib.adapters.helm import commands
from chalicelib.adapters.helm.backend import HelmBackend
from chalicelib.adapters.helm.commands import HelmSettings
from chalicelib.adapters.helm.errors import HelmRevisionNotFound
from chalicelib.domain.errors import InvalidRequest, ReleaseConflict, ReleaseNotFound
from chalicelib.domain.models import ChartRef
from chalicelib.domain.ports import (
    Action,
    ClusterCredentials,
    DeploymentBackend,
    RolloutPhase,
)
from chalicelib.domain.states import OperationType
from tests.helm_fakes import (
    PASSWORD,
    REF,
    SECRETS,
    FakeRunner,
    StaticCredentials,
    fixture,
    target,
)

DEMO_1 = ChartRef("https://charts.example.com/stable", "demo", "0.1.0")
REVISION_1_VALUES = {"replicaCount": 2}  # what helm-get-values-revision-... recorded for rev 1


def _backend(
    runner: FakeRunner, settings: HelmSettings | None = None
) -> tuple[HelmBackend, StaticCredentials]:
    creds = StaticCredentials()
    return HelmBackend(creds, settings=settings, runner=runner), creds


def test_backend_implements_the_port() -> None:
    backend: DeploymentBackend = _backend(FakeRunner())[0]
    assert backend.kind == "helm"


def test_backend_install_sends_values_on_stdin_and_reports_helms_revision() -> None:
    runner = FakeRunner({"install": fixture("helm-install.json")})
    backend, creds = _backend(runner)
    t = target()

    applied = backend.install(t)

    (call,) = runner.calls
    assert call.argv[:3] == ("helm", "install", "demo")
    assert json.loads(call.stdin or b"") == t.values
    assert call.timeout == 330  # helm's --timeout 300s plus the grace
    assert call.credentials is creds.credentials
    assert creds.asked == ["op-1"]
    assert (applied.backend_ref, applied.app_version) == ("1", "1.16.0")
    assert applied.extensions["helm.chartName"] == "demo"
    assert applied.extensions["helm.chartVersion"] == "0.1.0"
    assert applied.extensions["helm.revision"] == 1


def test_backend_upgrade_runs_upgrade_with_the_whole_snapshot() -> None:
    runner = FakeRunner({"upgrade": fixture("helm-upgrade-chart-0.2.0.json")})
    backend, _ = _backend(runner)
    applied = backend.upgrade(target())
    (call,) = runner.calls
    assert "--reset-values" in call.argv
    assert json.loads(call.stdin or b"") == target().values
    assert (applied.backend_ref, applied.extensions["helm.chartVersion"]) == ("3", "0.2.0")


def test_backend_scale_is_an_upgrade_with_replica_count() -> None:
    runner = FakeRunner({"upgrade": fixture("helm-upgrade.json")})
    backend, _ = _backend(runner)
    backend.scale(target(), replicas=5)
    (call,) = runner.calls
    assert call.subcommand == "upgrade"
    assert json.loads(call.stdin or b"") == {"replicaCount": 5, "auth": {"password": PASSWORD}}


def test_backend_rollback_uses_helm_rollback_when_helm_still_holds_the_revision() -> None:
    runner = FakeRunner(
        {
            "history": [fixture("helm-history.json"), fixture("helm-history-after-failures.json")],
            "get values": json.dumps(REVISION_1_VALUES).encode(),
            "rollback": b"Rollback was a success! Happy Helming!\n",
        }
    )
    backend, _ = _backend(runner)

    applied = backend.rollback(target(chart=DEMO_1, values=REVISION_1_VALUES), to_backend_ref="1")

    assert runner.subcommands() == ["history", "get values", "rollback", "history"]
    rollback = runner.calls[2]
    assert rollback.argv[:4] == ("helm", "rollback", "demo", "1")
    assert rollback.stdin is None
    assert runner.calls[1].argv[-4:] == ("--revision", "1", "--output", "json")
    assert runner.calls[3].argv[-4:] == ("--max", "1", "--output", "json")
    assert applied.backend_ref == "7"  # the newest row of the history after the rollback
    assert applied.extensions["helm.rollbackMethod"] == "rollback"
    assert applied.extensions["helm.rollbackRevision"] == 1


@pytest.mark.parametrize(
    ("ref", "chart", "values"),
    [
        ("42", DEMO_1, REVISION_1_VALUES),  # pruned from Helm's history
        ("1", ChartRef("https://charts.example.com/stable", "demo", "0.2.0"), REVISION_1_VALUES),
        ("1", DEMO_1, {"replicaCount": 9}),  # same number, other values: a reinstalled release
        (None, DEMO_1, REVISION_1_VALUES),
    ],
    ids=["pruned", "other-chart", "other-values", "no-ref"],
)
def test_backend_rollback_redeploys_the_snapshot_when_helm_cannot_roll_back(
    ref: str | None, chart: ChartRef, values: dict[str, int]
) -> None:
    runner = FakeRunner(
        {
            "history": fixture("helm-history.json"),
            "get values": json.dumps(REVISION_1_VALUES).encode(),
            "upgrade": fixture("helm-upgrade.json"),
        }
    )
    backend, _ = _backend(runner)

    applied = backend.rollback(target(chart=chart, values=values), to_backend_ref=ref)

    assert "rollback" not in runner.subcommands()
    upgrade = runner.calls[-1]
    assert upgrade.subcommand == "upgrade"
    assert f"{chart.version}" in upgrade.argv
    assert json.loads(upgrade.stdin or b"") == values
    assert applied.extensions["helm.rollbackMethod"] == "redeploy"


def test_backend_rollback_falls_back_when_helm_prunes_the_revision_meanwhile() -> None:
    runner = FakeRunner(
        {
            "history": fixture("helm-history.json"),
            "get values": json.dumps(REVISION_1_VALUES).encode(),
            "rollback": HelmRevisionNotFound("release has no 1 version"),
            "upgrade": fixture("helm-upgrade.json"),
        }
    )
    backend, _ = _backend(runner)
    applied = backend.rollback(target(chart=DEMO_1, values=REVISION_1_VALUES), to_backend_ref="1")
    assert runner.subcommands() == ["history", "get values", "rollback", "upgrade"]
    assert applied.extensions["helm.rollbackMethod"] == "redeploy"


def test_backend_uninstall() -> None:
    runner = FakeRunner({"uninstall": b'release "demo" uninstalled\n'})
    backend, creds = _backend(runner, HelmSettings(timeout_seconds=60, grace_seconds=10))
    backend.uninstall(REF)
    (call,) = runner.calls
    assert call.argv == (
        "helm", "uninstall", "demo", "--namespace", "apps", "--timeout", "60s", "--wait=watcher",
    )  # fmt: skip
    assert call.timeout == 70
    assert creds.asked == [None]


def test_backend_uninstall_of_a_missing_release_says_so() -> None:
    runner = FakeRunner({"uninstall": ReleaseNotFound("uninstall: Release not loaded")})
    with pytest.raises(ReleaseNotFound):
        _backend(runner)[0].uninstall(REF)


def test_backend_status_reads_helm_status() -> None:
    runner = FakeRunner({"status": fixture("helm-status-failed.json")})
    backend, _ = _backend(runner, HelmSettings(read_timeout_seconds=12))
    status = backend.status(REF)
    (call,) = runner.calls
    assert call.argv == ("helm", "status", "demo", "--namespace", "apps", "--output", "json")
    assert call.timeout == 12
    assert status.phase is RolloutPhase.FAILED


def test_backend_status_of_a_missing_release_is_absent() -> None:
    runner = FakeRunner({"status": ReleaseNotFound("release: not found")})
    status = _backend(runner)[0].status(REF)
    assert (status.phase, status.progress) == (RolloutPhase.ABSENT, 100)
    assert status.message == 'release "demo" is not installed'


def test_backend_history_oldest_first() -> None:
    runner = FakeRunner({"history": fixture("helm-history-after-failures.json")})
    revisions = _backend(runner)[0].history(REF)
    assert [r.backend_ref for r in revisions] == [str(n) for n in range(1, 8)]
    assert [r.status for r in revisions][-3:] == ["failed", "failed", "deployed"]
    assert revisions[2].chart_version == "0.2.0"
    assert revisions[6].description == "Rollback to 4"
    assert revisions[0].updated_at is not None


def test_backend_passes_the_kubeconfigs_context() -> None:
    runner = FakeRunner({"status": fixture("helm-status.json")})
    creds = StaticCredentials(ClusterCredentials(kubeconfig="apiVersion: v1\n", context="kind-x"))
    HelmBackend(creds, runner=runner).status(REF)
    assert runner.calls[0].argv[3:7] == ("--namespace", "apps", "--kube-context", "kind-x")


def test_backend_errors_pass_through_typed() -> None:
    runner = FakeRunner({"upgrade": ReleaseConflict("another operation is in progress")})
    with pytest.raises(ReleaseConflict):
        _backend(runner)[0].upgrade(target())


def test_backend_local_chart_refused_before_anything_runs() -> None:
    runner = FakeRunner()
    with pytest.raises(InvalidRequest):
        _backend(runner)[0].install(target(chart=ChartRef("file:///charts", "demo", "0.1.0")))
    assert runner.calls == []


def test_backend_plan_is_the_argv_it_would_run_with_values_described() -> None:
    runner = FakeRunner({"history": fixture("helm-history.json")})
    backend, _ = _backend(runner)
    t = target()

    install = backend.plan(Action(OperationType.INSTALL, t))
    upgrade = backend.plan(Action(OperationType.UPGRADE, t))
    scale = backend.plan(Action(OperationType.SCALE, t, replicas=4))
    terminate = backend.plan(Action(OperationType.TERMINATE, t))
    pruned = backend.plan(Action(OperationType.ROLLBACK, t, rollback_to_ref="42"))

    settings = backend.settings
    assert install[0].command == commands.install(t, settings=settings)
    assert upgrade[0].command == commands.upgrade(t, settings=settings)
    assert scale[0].command == commands.upgrade(t, settings=settings)
    assert terminate[0].command == commands.uninstall(REF, settings=settings)
    assert pruned[0].command == commands.upgrade(t, settings=settings)
    assert "scale to 4" in scale[0].description
    assert "auth, replicaCount" in install[0].description
    assert "no longer holds" in pruned[0].description
    for step in (*install, *upgrade, *scale, *terminate, *pruned):
        assert step.body is None
        assert not any(secret in " ".join(step.command) + step.description for secret in SECRETS)
    # Only the rollback plan had to look at the cluster (to choose rollback or redeploy).
    assert runner.subcommands() == ["history"]


def test_backend_plan_rollback_kept_revision() -> None:
    runner = FakeRunner(
        {
            "history": fixture("helm-history.json"),
            "get values": json.dumps(REVISION_1_VALUES).encode(),
        }
    )
    t = target(chart=DEMO_1, values=REVISION_1_VALUES)
    (step,) = _backend(runner)[0].plan(Action(OperationType.ROLLBACK, t, rollback_to_ref="1"))
    assert step.command[:4] == ("helm", "rollback", "demo", "1")
    assert "Helm revision 1" in step.description


def test_backend_plan_scale_needs_a_count() -> None:
    with pytest.raises(InvalidRequest):
        _backend(FakeRunner())[0].plan(Action(OperationType.SCALE, target()))


def test_backend_logs_name_the_release_but_hold_no_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    runner = FakeRunner({"install": fixture("helm-install.json")})
    _backend(runner)[0].install(target())
    records = [r for r in caplog.records if r.name.startswith("chalicelib.adapters.helm")]
    assert records
    dumped = caplog.text + " ".join(repr(r.__dict__) for r in records)
    assert "demo" in dumped
    assert not any(secret in dumped for secret in SECRETS)
