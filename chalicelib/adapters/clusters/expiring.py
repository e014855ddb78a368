"""Cluster credentials kept until shortly before their token expires, issued by one caller
at a time.

A GKE or AKS token lives about an hour and costs several calls to get (the secret, the
token endpoint, the cloud's API): every helm call and status poll in between reuses it.
Threads of one process share a provider (the local run, a warm Lambda's rollouts), so one
of them issues while the others wait for its result instead of issuing again. A failed
issue is not kept: the next call tries again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib.domain.ports import ClusterCredentials

if TYPE_CHECKING:
    from chalicelib.domain.ports import Clock

# Fresh credentials, and when their token stops being accepted.
Issue = Callable[[], tuple[ClusterCredentials, datetime]]
SHORTEST_MARGIN = timedelta(minutes=5)
LONGEST_MARGIN = timedelta(minutes=30)


def margin_for(operation_timeout_seconds: float) -> timedelta:
    """How long before its token expires a cached credential stops being handed out. A helm
    call writes the token into its kubeconfig once and may run for the operation's timeout
    (its ``--timeout``), so no call starts with a token that ends sooner (a minute more for
    the call's start); at least five minutes, and at most half an hour so that a token of
    an hour still serves a while."""
    wanted = timedelta(seconds=operation_timeout_seconds + 60)
    return min(max(wanted, SHORTEST_MARGIN), LONGEST_MARGIN)


class ExpiringCredentials:
    """``issue``'s last credentials until ``margin`` before they expire, then new ones."""

    def __init__(self, issue: Issue, *, clock: Clock, margin: timedelta) -> None:
        self._issue = issue
        self._clock = clock
        self._margin = margin
        self._lock = threading.Lock()
        self._cached: tuple[ClusterCredentials, datetime] | None = None

    def get(self) -> ClusterCredentials:
        with self._lock:
            if self._cached is None or self._clock() >= self._cached[1]:
                credentials, expires_at = self._issue()
                self._cached = (credentials, expires_at - self._margin)
            return self._cached[0]

    @property
    def refresh_at(self) -> datetime | None:
        """When the cached credentials stop being handed out (None: none cached)."""
        return None if self._cached is None else self._cached[1]
