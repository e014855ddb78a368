"""The real helm 4.3.1 (``make setup`` puts it in ``.local/bin``) accepts the argv we build
for a ``file://`` chart source: ``show chart`` and ``template`` need no cluster, and their
output matches what was recorded from the same commands by hand."""

from __future__ import annotations

import os

import pytest

from chalicelib.adapters.helm import commands
from chalicelib.adapters.helm.commands import HelmSettings
from chalicelib.adapters.helm.runner import HelmRunner
from chalicelib.domain.errors import BackendFailure
from chalicelib.domain.models import ChartRef
from tests.helm_fakes import HELM4, REPO_HELM, target

pytestmark = pytest.mark.skipif(
    not os.access(REPO_HELM, os.X_OK),
    reason=f"real helm not installed at {REPO_HELM} (run `make setup`)",
)
LOCAL = HelmSettings(allow_local_charts=True)


def _chart(version: str) -> ChartRef:
    return ChartRef(f"file://{HELM4}", "demo", version)


def _runner(tmp_path_factory: pytest.TempPathFactory) -> HelmRunner:
    state = tmp_path_factory.mktemp("helm-state")
    return HelmRunner(REPO_HELM, env={"PATH": os.environ.get("PATH", "")}, state_dir=state)


@pytest.mark.parametrize(
    ("version", "recorded"),
    [("0.1.0", "helm-show-chart.yaml"), ("0.2.0", "helm-show-chart-0.2.0.yaml")],
)
def test_real_helm_show_chart_of_a_local_archive(
    version: str, recorded: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    argv = commands.show_chart(_chart(version), settings=LOCAL)

    done = _runner(tmp_path_factory).run(argv, stdin=None, timeout=30, credentials=None)

    assert done.stdout.decode() == (HELM4 / recorded).read_text()


def test_real_helm_template_with_values_on_stdin(tmp_path_factory: pytest.TempPathFactory) -> None:
    runner = _runner(tmp_path_factory)
    plain = target(chart=_chart("0.1.0"), values={})
    scaled = target(chart=_chart("0.2.0"), values={"replicaCount": 3, "image": {"tag": "1.25"}})

    recorded = runner.run(
        commands.template(plain, settings=LOCAL),
        stdin=commands.encode_values(plain.values),
        timeout=30,
        credentials=None,
    )
    rendered = runner.run(
        commands.template(scaled, settings=LOCAL),
        stdin=commands.encode_values(scaled.values),
        timeout=30,
        credentials=None,
    ).stdout.decode()

    assert recorded.stdout.decode() == (HELM4 / "helm-template.yaml").read_text()
    assert "replicas: 3" in rendered
    assert 'image: "nginx:1.25"' in rendered
    assert "helm.sh/chart: demo-0.2.0" in rendered


def test_real_helm_missing_archive_is_a_backend_failure(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    argv = commands.show_chart(_chart("9.9.9"), settings=LOCAL)
    with pytest.raises(BackendFailure, match=r"demo-9\.9\.9\.tgz"):
        _runner(tmp_path_factory).run(argv, stdin=None, timeout=30, credentials=None)


def test_real_helm_reports_its_pinned_version(tmp_path_factory: pytest.TempPathFactory) -> None:
    argv = ("helm", "version", "--template", "{{.Version}}")
    done = _runner(tmp_path_factory).run(argv, stdin=None, timeout=30, credentials=None)
    assert done.stdout.decode().strip() == "v4.3.1"
