"""Exit codes by class of failure, and the one error type the commands raise."""

from __future__ import annotations

import click

OK = 0
ROLLOUT_FAILED = 1  # watched to the end: failed, or rolled back
USAGE = 2  # a bad command line, or a request the service refused as bad (400, 422)
NOT_FOUND = 3
CONFLICT = 4
SERVER = 5  # the service failed (5xx), or could not be reached
NOT_ALLOWED = 6  # not signed in (401), or not allowed (403)
INTERRUPTED = 130  # Ctrl-C: the rollout goes on

EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 the watched rollout failed or was rolled back; 2 usage or bad "
    "request; 3 not found; 4 conflict (another operation runs, or the change is refused); "
    "5 server error or service unreachable; 6 not signed in or not allowed; 130 stopped "
    "watching (Ctrl-C), the rollout goes on."
)

_BY_STATUS = {400: USAGE, 401: NOT_ALLOWED, 403: NOT_ALLOWED, 404: NOT_FOUND, 409: CONFLICT}


class CliError(click.ClickException):
    """A failure to report in one line (no traceback), with the exit code of its class."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        vars(self)["exit_code"] = exit_code  # click declares it per class; ours is per error


def for_status(status: int) -> int:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status == 422:
        return USAGE
    return SERVER if status >= 500 else USAGE
