"""Translate a failed helm command's stderr into the domain's error types.

helm exits 1 for every failure, so the message is all there is to go on. stderr may open
with structured log lines (``level=WARN msg=...``) before the final ``Error: ...``, and that
message may run over several lines (``...\\ncontext deadline exceeded``). The patterns come
from real helm v4.3.1 output (``shared/fixtures/helm4/*.stderr.txt``); the first that
matches wins, so the more specific ones come first:

    BackendError
    ├── BackendRejected      the API server's "<Kind> ... is invalid: <field>: ..." (its 422)
    ├── BackendForbidden     the API server's "... is forbidden: User ... cannot ..." (its 403)
    ├── ReleaseConflict      another operation in progress; the name is in use / exists
    ├── ReleaseNotFound      "release: not found"; upgrade with "no deployed releases"
    ├── BackendFailure
    │   └── HelmRevisionNotFound   "release has no N version" (helm pruned that revision)
    ├── BackendUnavailable   unreachable API server, DNS, TLS, missing/refused credentials
    ├── BackendTimeout       "context deadline exceeded", "timed out waiting ..."
    └── BackendFailure       anything else, with helm's own message

An invalid object's message also holds "Forbidden:" (a field that may not be set), so the
invalid rule comes before the permission one. Both are reworded to say what to do, since
the API server's words name neither the parameters nor the credentials they come from.

``HelmRevisionNotFound`` is a ``BackendFailure`` rather than the domain's
``RevisionNotFound`` (a 404 about *our* revisions): our revision exists, Helm merely
pruned its copy, and the backend answers that by redeploying our snapshot.
"""

from __future__ import annotations

import re

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


class HelmRevisionNotFound(BackendFailure):
    """Helm no longer has (or never had) the revision a command named."""


_RULES: tuple[tuple[re.Pattern[str], type[BackendError]], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), error)
    for pattern, error in (
        (r"\bis invalid: ", BackendRejected),
        (r"\bis forbidden: ", BackendForbidden),
        (r"another operation \(install/upgrade/rollback\) is in progress", ReleaseConflict),
        (r"cannot re-?use a name that is still in use", ReleaseConflict),
        (r"\balready exists\b", ReleaseConflict),
        (r"release has no \d+ version", HelmRevisionNotFound),
        (r"release: not found", ReleaseNotFound),
        (r"has no deployed releases", ReleaseNotFound),
        (r"kubernetes cluster unreachable", BackendUnavailable),
        (r"connection refused|no such host|i/o timeout|network is unreachable", BackendUnavailable),
        (r"connection reset by peer|tls handshake timeout|x509: ", BackendUnavailable),
        (r"\bunauthorized\b", BackendUnavailable),
        (r"the server has asked for the client to provide credentials", BackendUnavailable),
        (r"context deadline exceeded|timed out waiting|\btimed out\b", BackendTimeout),
    )
)
_SLOG_LINE = re.compile(r"^(time=\S+\s+)?level=[A-Z]+\s")
_ERROR_PREFIX = "Error: "


def final_message(stderr: str) -> str:
    """helm's last ``Error: ...`` message, with its continuation lines, without the prefix.

    Falls back to the last non-log lines when there is no ``Error:`` line.
    """
    lines = [line.rstrip() for line in stderr.strip().splitlines()]
    starts = [i for i, line in enumerate(lines) if line.startswith(_ERROR_PREFIX)]
    if starts:
        tail = lines[starts[-1] :]
        tail[0] = tail[0].removeprefix(_ERROR_PREFIX)
    else:
        tail = [line for line in lines if line and not _SLOG_LINE.match(line)][-3:]
    return "\n".join(line for line in tail if line).strip()


# "server-side apply failed for object ns/name apps/v1, Kind=Deployment: " before the reason
_APPLY_PREFIX = re.compile(r"server-side apply failed for object \S+ \S+ Kind=\w+: ")
_RECREATE_WITH_ROLLING_UPDATE = re.compile(
    r"(\S*)strategy\.rollingUpdate: Forbidden: may not be specified when strategy `type` is "
    r"'Recreate'"
)


def _reason(message: str) -> str:
    """The API server's own sentence, without helm's "UPGRADE FAILED: ... apply failed" lead."""
    found = _APPLY_PREFIX.search(message)
    return message[found.end() :] if found else message


def _rejected(message: str) -> BackendRejected:
    reason = _reason(message)
    hint = (
        "Change the parameters so that the chart renders objects Kubernetes accepts (in an"
        " upgrade, null removes a key). Nothing was rolled out; the change is recorded as a"
        " failed revision."
    )
    if _RECREATE_WITH_ROLLING_UPDATE.search(reason):
        hint = (
            "To switch to Recreate, remove the rolling-update settings in the same change:"
            ' {"strategy": {"type": "Recreate", "rollingUpdate": null}} (null removes a key).'
            " Nothing was rolled out; the change is recorded as a failed revision."
        )
    return BackendRejected(f"The cluster's API server refused the change: {reason}. {hint}")


def _forbidden(message: str) -> BackendForbidden:
    return BackendForbidden(
        "The deployment manager's credentials lack a permission on the cluster:"
        f" {_reason(message)}. Grant that identity the right to manage the release's objects"
        " in its namespace (for example a RoleBinding to the ClusterRole admin, or on EKS an"
        " access entry with an admin access policy)."
    )


def error_for(stderr: str, *, exit_code: int, subcommand: str) -> BackendError:
    """The domain error for a helm command that exited ``exit_code`` with ``stderr``."""
    message = final_message(stderr) or f"helm {subcommand} failed with exit code {exit_code}"
    for pattern, error in _RULES:
        if not pattern.search(message):
            continue
        if error is BackendRejected:
            return _rejected(message)
        if error is BackendForbidden:
            return _forbidden(message)
        return error(message)
    return BackendFailure(message)
