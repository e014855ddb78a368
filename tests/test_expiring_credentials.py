"""The cache the GKE and AKS providers share: credentials until shortly before they expire,
issued once however many threads ask at the same time, and a failed issue not kept."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest

from chalicelib.adapters.clusters.expiring import ExpiringCredentials, margin_for
from chalicelib.domain.errors import BackendUnavailable
from chalicelib.domain.ports import ClusterCredentials
from tests.fakes import FakeClock


class Issuer:
    """Issues credentials valid for an hour after the clock's now, slowly, counting."""

    def __init__(self, clock: FakeClock, *, fail: bool = False) -> None:
        self.clock = clock
        self.fail = fail
        self.count = 0

    def __call__(self) -> tuple[ClusterCredentials, datetime]:
        self.count += 1
        time.sleep(0.05)  # long enough for the other threads to arrive meanwhile
        if self.fail:
            raise BackendUnavailable("token endpoint down")
        return ClusterCredentials(token=f"token-{self.count}"), self.clock.now() + timedelta(
            hours=1
        )


def test_expiring_credentials_are_issued_once_for_threads_asking_together() -> None:
    clock = FakeClock()
    issuer = Issuer(clock)
    cache = ExpiringCredentials(issuer, clock=clock.now, margin=timedelta(minutes=5))
    found: list[str | None] = []

    threads = [threading.Thread(target=lambda: found.append(cache.get().token)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert issuer.count == 1
    assert found == ["token-1"] * 8
    assert cache.refresh_at == clock.now() + timedelta(minutes=55)


def test_expiring_credentials_are_issued_again_at_the_margin() -> None:
    clock = FakeClock()
    cache = ExpiringCredentials(Issuer(clock), clock=clock.now, margin=timedelta(minutes=5))
    cache.get()

    clock.advance(55 * 60 - 1)
    kept = cache.get().token
    clock.advance(1)

    assert kept == "token-1"
    assert cache.get().token == "token-2"


def test_expiring_credentials_a_failed_issue_is_not_kept() -> None:
    clock = FakeClock()
    issuer = Issuer(clock, fail=True)
    cache = ExpiringCredentials(issuer, clock=clock.now, margin=timedelta(minutes=5))

    with pytest.raises(BackendUnavailable):
        cache.get()
    issuer.fail = False

    assert cache.get().token == "token-2"


@pytest.mark.parametrize(
    ("operation_timeout", "margin"),
    [(0, timedelta(minutes=5)), (300, timedelta(minutes=6)), (7200, timedelta(minutes=30))],
)
def test_expiring_credentials_margin_outlasts_one_helm_call(
    operation_timeout: int, margin: timedelta
) -> None:
    assert margin_for(operation_timeout) == margin
