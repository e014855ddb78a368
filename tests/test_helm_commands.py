"""Every argv the Helm adapter can build, word for word (no I/O)."""

from __future__ import annotations

import json

import pytest

from chalicelib.adapters.helm import commands
from chalicelib.adapters.helm.commands import HelmSettings
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.models import ChartRef
from chalicelib.domain.ports import ReleaseRef
from tests.helm_fakes import PASSWORD, REF, target

SEED = HelmSettings()  # timeout 5m, maxHistory 10, atomic, wait, waitForJobs
LOCAL = HelmSettings(allow_local_charts=True)
OCI = ChartRef("oci://registry.example.com/charts/", "demo", "0.2.0")
FILE = ChartRef("file:///srv/charts", "demo", "0.2.0")


def test_commands_install_from_https_repository() -> None:
    assert commands.install(target(), settings=SEED) == (
        "helm", "install", "demo", "demo",
        "--repo", "https://charts.example.com/stable", "--version", "0.1.0",
        "--namespace", "apps", "--create-namespace",
        "--values", "-", "--timeout", "300s", "--wait=hookOnly", "--output", "json",
    )  # fmt: skip


def test_commands_install_from_oci_reference_with_kube_context() -> None:
    argv = commands.install(target(chart=OCI), settings=SEED, kube_context="prod")
    assert argv == (
        "helm", "install", "demo", "oci://registry.example.com/charts/demo", "--version", "0.2.0",
        "--namespace", "apps", "--kube-context", "prod", "--create-namespace",
        "--values", "-", "--timeout", "300s", "--wait=hookOnly", "--output", "json",
    )  # fmt: skip


def test_commands_install_from_local_archive_when_allowed() -> None:
    argv = commands.install(target(chart=FILE), settings=LOCAL)
    assert argv[:4] == ("helm", "install", "demo", "/srv/charts/demo-0.2.0.tgz")
    assert "--version" not in argv  # the archive's name is the version


def test_commands_local_chart_refused_unless_allowed() -> None:
    with pytest.raises(InvalidRequest, match="file://"):
        commands.install(target(chart=FILE), settings=SEED)


def test_commands_a_mirrored_repository_is_fetched_from_its_mirror() -> None:
    mirrors = (
        ("https://charts.example.com/stable", "oci://mirror.example.net/stable"),
        ("https://charts.bitnami.com/bitnami", "file:///srv/mirror"),
    )
    settings = HelmSettings(chart_mirrors=mirrors)  # local charts not allowed for descriptors

    to_oci = commands.upgrade(target(), settings=settings)
    assert to_oci[2:6] == ("demo", "oci://mirror.example.net/stable/demo", "--version", "0.1.0")
    bitnami = ChartRef("https://charts.bitnami.com/bitnami/", "nginx", "1.2.0")
    assert commands.upgrade(target(chart=bitnami), settings=settings)[3] == (
        "/srv/mirror/nginx-1.2.0.tgz"
    )
    assert commands.install(target(chart=OCI), settings=settings)[3] == (
        "oci://registry.example.com/charts/demo"  # no mirror for it: as the descriptor says
    )
    with pytest.raises(InvalidRequest, match="file://"):
        commands.install(target(chart=FILE), settings=settings)


def test_commands_chart_source_for_each_kind() -> None:
    relative = ChartRef("file://charts/", "demo", "0.1.0")
    http = ChartRef("http://charts.example.com", "demo", "0.1.0")
    assert commands.chart_source(relative, allow_local_charts=True) == ("charts/demo-0.1.0.tgz",)
    assert commands.chart_source(http, allow_local_charts=False) == (
        "demo", "--repo", "http://charts.example.com", "--version", "0.1.0",
    )  # fmt: skip
    assert commands.chart_source(OCI, allow_local_charts=False) == (
        "oci://registry.example.com/charts/demo", "--version", "0.2.0",
    )  # fmt: skip


@pytest.mark.parametrize(
    "chart",
    [
        ChartRef("ftp://charts.example.com", "demo", "0.1.0"),
        ChartRef("https://charts.example.com", "--set=x", "0.1.0"),
        ChartRef("https://charts.example.com", "../demo", "0.1.0"),
        ChartRef("https://charts.example.com", "demo", "-1"),
        ChartRef("https://charts.example.com", "demo", "1.0/../../x"),
        ChartRef("file://-rf", "demo", "0.1.0"),
    ],
)
def test_commands_chart_source_refuses_what_helm_could_misread(chart: ChartRef) -> None:
    with pytest.raises(InvalidRequest):
        commands.chart_source(chart, allow_local_charts=True)


@pytest.mark.parametrize(
    ("release", "namespace"),
    [("--dry-run", "apps"), ("Demo", "apps"), ("demo", "-n"), ("d" * 54, "apps"), ("demo", "a/b")],
)
def test_commands_refuse_names_helm_would_reject_or_read_as_flags(
    release: str, namespace: str
) -> None:
    with pytest.raises(InvalidRequest):
        commands.status(ReleaseRef(release=release, namespace=namespace))


def test_commands_upgrade_deploys_the_whole_snapshot_from_stdin() -> None:
    argv = commands.upgrade(target(timeout_seconds=90), settings=HelmSettings(max_history=4))
    assert argv == (
        "helm", "upgrade", "demo", "demo",
        "--repo", "https://charts.example.com/stable", "--version", "0.1.0",
        "--namespace", "apps", "--reset-values", "--values", "-",
        "--history-max", "4", "--timeout", "90s", "--wait=hookOnly", "--output", "json",
    )  # fmt: skip


def test_commands_apply_never_blocks_on_rollout_nor_rolls_back_by_itself() -> None:
    # Given the seed's wait, waitForJobs and atomic all on
    argvs = [
        commands.install(target(), settings=SEED),
        commands.upgrade(target(), settings=SEED),
        commands.rollback(target(), 3, settings=SEED),
    ]
    # Then no apply waits for the rollout: the follower does (see commands.py)
    for argv in argvs:
        assert "--wait=hookOnly" in argv
        assert not {"--wait", "--wait=watcher", "--wait-for-jobs", "--rollback-on-failure"} & set(
            argv
        )
        assert "--atomic" not in argv


def test_commands_scale_values_set_replica_count_and_keep_the_rest() -> None:
    values = {"replicaCount": 2, "image": {"tag": "1.21"}}
    assert commands.scaled_values(values, 5) == {"replicaCount": 5, "image": {"tag": "1.21"}}
    assert values["replicaCount"] == 2
    with pytest.raises(InvalidRequest):
        commands.scaled_values(values, -1)


def test_commands_values_are_json_on_stdin_never_on_argv() -> None:
    t = target()
    encoded = commands.encode_values(t.values)
    assert json.loads(encoded) == t.values
    for argv in (commands.install(t, settings=SEED), commands.upgrade(t, settings=SEED)):
        assert not any(PASSWORD in word for word in argv)
        assert not any(word.startswith("--set") for word in argv)


def test_commands_rollback_names_helms_revision() -> None:
    assert commands.rollback(target(), 4, settings=SEED, kube_context="ctx") == (
        "helm", "rollback", "demo", "4", "--namespace", "apps", "--kube-context", "ctx",
        "--history-max", "10", "--timeout", "300s", "--wait=hookOnly",
    )  # fmt: skip
    with pytest.raises(InvalidRequest):
        commands.rollback(target(), 0, settings=SEED)


def test_commands_uninstall_waits_for_deletion_only_when_wait_is_set() -> None:
    assert commands.uninstall(REF, settings=SEED) == (
        "helm", "uninstall", "demo", "--namespace", "apps", "--timeout", "300s", "--wait=watcher",
    )  # fmt: skip
    no_wait = HelmSettings(wait=False, timeout_seconds=60)
    assert commands.uninstall(REF, settings=no_wait)[-3:] == ("--timeout", "60s", "--wait=hookOnly")


def test_commands_reads() -> None:
    assert commands.status(REF) == (
        "helm", "status", "demo", "--namespace", "apps", "--output", "json",
    )  # fmt: skip
    assert commands.history(REF, kube_context="ctx", max_entries=1) == (
        "helm", "history", "demo", "--namespace", "apps", "--kube-context", "ctx",
        "--max", "1", "--output", "json",
    )  # fmt: skip
    assert commands.get_values(REF, 3) == (
        "helm", "get", "values", "demo", "--namespace", "apps", "--revision", "3",
        "--output", "json",
    )  # fmt: skip


def test_commands_show_chart_and_template_need_no_cluster() -> None:
    assert commands.show_chart(FILE, settings=LOCAL) == (
        "helm", "show", "chart", "/srv/charts/demo-0.2.0.tgz",
    )  # fmt: skip
    assert commands.template(target(chart=FILE), settings=LOCAL) == (
        "helm", "template", "demo", "/srv/charts/demo-0.2.0.tgz",
        "--namespace", "apps", "--values", "-",
    )  # fmt: skip


def test_commands_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="timeouts"):
        HelmSettings(timeout_seconds=0)
    with pytest.raises(ValueError, match="max_history"):
        HelmSettings(max_history=-1)
