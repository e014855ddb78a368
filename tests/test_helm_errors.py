"""helm's stderr becomes the right domain error: every recorded stderr, plus the messages of
an unreachable or unauthenticated cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.adapters.helm.errors import HelmRevisionNotFound, error_for, final_message
from chalicelib.api.errors import status_for
from chalicelib.domain.errors import (
    BackendError,
    BackendFailure,
    BackendForbidden,
    BackendRejected,
    BackendTimeout,
    BackendUnavailable,
    ReleaseConflict,
    ReleaseNotFound,
)
from tests.helm_fakes import HELM4

# One line per recorded stderr; a new fixture without a line here fails the test below.
EXPECTED: dict[str, type[BackendError]] = {
    "helm-get-values-missing.stderr.txt": ReleaseNotFound,
    "helm-history-missing.stderr.txt": ReleaseNotFound,
    "helm-install-exists.stderr.txt": ReleaseConflict,
    "helm-install-rollback-on-failure.stderr.txt": BackendTimeout,
    "helm-rollback-missing-revision.stderr.txt": HelmRevisionNotFound,
    "helm-status-after-failed-install.stderr.txt": ReleaseNotFound,
    "helm-status-missing.stderr.txt": ReleaseNotFound,
    "helm-uninstall-missing.stderr.txt": ReleaseNotFound,
    "helm-upgrade-missing-release.stderr.txt": ReleaseNotFound,
    "helm-upgrade-rollback-on-failure.stderr.txt": BackendTimeout,
    "helm-upgrade-wait-timeout.stderr.txt": BackendTimeout,
    "helm-upgrade-while-pending.stderr.txt": ReleaseConflict,
}
RECORDED = sorted(HELM4.glob("*.stderr.txt"))


def test_errors_fixtures_are_there() -> None:
    assert len(RECORDED) >= len(EXPECTED), f"no recorded stderr found under {HELM4}"


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.name)
def test_errors_every_recorded_stderr_maps_to_its_error(path: Path) -> None:
    assert path.name in EXPECTED, f"new fixture {path.name}: add its expected error to EXPECTED"
    stderr = path.read_text()

    error = error_for(stderr, exit_code=1, subcommand="upgrade")

    assert type(error) is EXPECTED[path.name]
    last_error_line = next(line for line in reversed(stderr.splitlines()) if "Error: " in line)
    assert last_error_line.removeprefix("Error: ") in error.message
    assert "level=" not in error.message


def test_errors_message_keeps_continuation_lines_and_drops_slog_lines() -> None:
    stderr = (HELM4 / "helm-upgrade-wait-timeout.stderr.txt").read_text()
    assert final_message(stderr) == (
        "UPGRADE FAILED: resource Deployment/apps/demo not ready. status: InProgress, "
        "message: Pending termination: 1\ncontext deadline exceeded"
    )


def test_errors_revision_not_found_is_a_backend_failure_not_a_404() -> None:
    error = error_for("Error: release has no 7 version\n", exit_code=1, subcommand="rollback")
    assert isinstance(error, HelmRevisionNotFound)
    assert isinstance(error, BackendFailure)


@pytest.mark.parametrize(
    "stderr",
    [
        'Error: Kubernetes cluster unreachable: Get "https://10.0.0.1:6443/version": dial tcp '
        "10.0.0.1:6443: connect: connection refused",
        'Error: Kubernetes cluster unreachable: Get "https://ABC.gr7.us-east-1.eks.amazonaws.com/'
        'version": dial tcp: lookup ABC.gr7.us-east-1.eks.amazonaws.com: no such host',
        "Error: list: failed to list: Unauthorized",
        "Error: query: failed to query with labels: the server has asked for the client to "
        "provide credentials (get secrets)",
        'Error: Get "https://10.0.0.1:6443/api": dial tcp 10.0.0.1:6443: i/o timeout',
        "Error: tls: failed to verify certificate: x509: certificate signed by unknown authority",
    ],
)
def test_errors_unreachable_or_unauthenticated_cluster_is_unavailable(stderr: str) -> None:
    assert type(error_for(stderr, exit_code=1, subcommand="status")) is BackendUnavailable


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        ("Error: INSTALLATION FAILED: cannot re-use a name that is still in use", ReleaseConflict),
        (
            "Error: INSTALLATION FAILED: rendered manifests contain a resource that already "
            'exists. Unable to continue with install: Service "demo" in namespace "apps" exists',
            ReleaseConflict,
        ),
        ("Error: timed out waiting for the condition", BackendTimeout),
    ],
)
def test_errors_other_known_messages(stderr: str, expected: type[BackendError]) -> None:
    assert type(error_for(stderr, exit_code=1, subcommand="install")) is expected


def test_errors_anything_else_is_a_failure_with_helms_last_error() -> None:
    stderr = (
        'level=WARN msg="something odd"\n'
        "Error: INSTALLATION FAILED: execution error at (demo/templates/x.yaml:3:4): bad value\n"
    )
    error = error_for(stderr, exit_code=1, subcommand="install")
    assert type(error) is BackendFailure
    assert error.message == (
        "INSTALLATION FAILED: execution error at (demo/templates/x.yaml:3:4): bad value"
    )


def test_errors_empty_stderr_says_which_command_failed() -> None:
    error = error_for("", exit_code=2, subcommand="get values")
    assert type(error) is BackendFailure
    assert error.message == "helm get values failed with exit code 2"


def test_errors_stderr_without_error_line_keeps_its_last_lines() -> None:
    stderr = 'level=ERROR msg="x"\npanic: runtime error\ngoroutine 1 [running]:\n'
    assert final_message(stderr) == "panic: runtime error\ngoroutine 1 [running]:"


OURS = Path(__file__).resolve().parent / "fixtures" / "helm4"


def test_errors_an_object_the_api_server_refuses_is_a_422_that_says_what_to_change() -> None:
    stderr = (OURS / "helm-upgrade-invalid-strategy.stderr.txt").read_text()

    error = error_for(stderr, exit_code=1, subcommand="upgrade")

    assert type(error) is BackendRejected
    assert status_for(error) == (422, "ValidationError")
    assert error.message.startswith(
        'The cluster\'s API server refused the change: Deployment.apps "web" is invalid:'
        " spec.strategy.rollingUpdate: Forbidden:"
    )
    assert "server-side apply failed" not in error.message
    assert '{"strategy": {"type": "Recreate", "rollingUpdate": null}}' in error.message


def test_errors_another_invalid_object_gets_the_general_advice() -> None:
    stderr = (
        "Error: UPGRADE FAILED: server-side apply failed for object ns/web /v1, Kind=Service:"
        ' Service "web" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1'
        " and 65535, inclusive\n"
    )

    error = error_for(stderr, exit_code=1, subcommand="upgrade")

    assert type(error) is BackendRejected
    assert 'Service "web" is invalid: spec.ports[0].port' in error.message
    assert "Change the parameters" in error.message
    assert "Recreate" not in error.message


@pytest.mark.parametrize(
    "name",
    ["helm-install-forbidden-secrets.stderr.txt", "helm-install-forbidden-namespace.stderr.txt"],
)
def test_errors_a_permission_the_credentials_lack_is_a_503_naming_the_identity(name: str) -> None:
    stderr = (OURS / name).read_text()

    error = error_for(stderr, exit_code=1, subcommand="install")

    assert type(error) is BackendForbidden
    assert status_for(error) == (503, "ServiceUnavailable")
    assert 'User "system:serviceaccount:cap:r" cannot' in error.message
    assert error.message.startswith("The deployment manager's credentials lack a permission")
    assert "RoleBinding" in error.message
