"""The scheduler lease and the refresh requests, in the store, on SQLite and PostgreSQL.

The lease tests drive two instances' ``step()`` by hand on one database with
a fake clock each, so that expiry is decided by the clocks the test sets, not
by waiting.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator

import pytest

from feedsvc.store import Lease, Store
from feedsvc.store.requests import KEEP_REQUESTS

pytestmark = pytest.mark.both_engines

FAILOVER = 10.0
T0 = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(database_url: Callable[..., str]) -> Iterator[Store]:
    with Store.open(database_url()) as opened:
        yield opened


def lease(store: Store, instance: str, clock: FakeClock, taken: list[str] | None = None) -> Lease:
    return Lease(store.database, instance, FAILOVER, clock=clock,
                 on_acquired=None if taken is None else lambda: taken.append(instance))


def test_the_first_instance_takes_the_lease_and_the_second_waits(store: Store) -> None:
    clock_a, clock_b = FakeClock(), FakeClock()
    taken: list[str] = []
    a, b = lease(store, "a", clock_a, taken), lease(store, "b", clock_b, taken)
    assert a.step() is True
    assert b.step() is False
    holder = store.scheduler_lease_holder()
    assert holder is not None and holder.instance == "a"
    # The holder renews; the standby keeps seeing a live lease however long it waits.
    for _ in range(10):
        clock_a.now += FAILOVER / 5
        clock_b.now += FAILOVER / 5
        assert a.step() is True
        assert b.step() is False
    assert taken == ["a"]


def test_a_standby_takes_over_a_lease_not_renewed_for_three_quarters_of_failover(
    store: Store,
) -> None:
    clock_a, clock_b = FakeClock(), FakeClock()
    taken: list[str] = []
    a, b = lease(store, "a", clock_a, taken), lease(store, "b", clock_b, taken)
    assert a.step()
    since = store.scheduler_lease_holder()
    assert b.step() is False  # first sight of the lease
    # "a" dies: no more renewals. Not yet...
    clock_b.now += FAILOVER * 0.75 - 0.1
    assert b.step() is False
    clock_b.now += 0.2
    assert b.step() is True
    holder = store.scheduler_lease_holder()
    assert holder is not None and holder.instance == "b"
    assert since is not None and holder.since >= since.since
    assert taken == ["a", "b"]
    # "a" was only frozen, not dead: it finds out at its next renewal and stands by.
    clock_a.now += 1
    assert a.step() is False
    assert not a.is_active()
    assert b.step() is True


def test_a_holder_that_cannot_renew_stops_calling_itself_active_before_any_takeover(
    store: Store,
) -> None:
    clock = FakeClock()
    a = lease(store, "a", clock)
    assert a.step()
    clock.now += FAILOVER / 2 - 0.1
    assert a.is_active()
    clock.now += 0.2
    # Half the failover time without a renewal: no longer active, though still the holder.
    assert not a.is_active()


def test_a_released_lease_is_taken_at_the_next_step(store: Store) -> None:
    clock_a, clock_b = FakeClock(), FakeClock()
    a, b = lease(store, "a", clock_a), lease(store, "b", clock_b)
    assert a.step()
    assert b.step() is False
    a.stop()
    assert store.scheduler_lease_holder() is None
    assert b.step() is True


def test_two_standbys_racing_for_an_expired_lease_one_wins(store: Store) -> None:
    clocks = [FakeClock() for _ in range(3)]
    a, b, c = (lease(store, name, clock) for name, clock in zip("abc", clocks, strict=True))
    assert a.step()
    assert not b.step() and not c.step()
    for clock in clocks:
        clock.now += FAILOVER
    results = [b.step(), c.step()]
    assert results.count(True) == 1
    assert b.step() != c.step()


# --- refresh requests ----------------------------------------------------------------------


def test_one_request_pending_at_a_time(store: Store) -> None:
    first = store.request_refresh("192.0.2.1", T0)
    assert first is not None
    assert store.request_refresh("192.0.2.2", T0) is None
    claimed = store.claim_refresh_request("a", T0)
    assert claimed is not None and claimed.id == first and claimed.state == "running"
    assert store.claim_refresh_request("b", T0) is None
    assert store.request_refresh("192.0.2.2", T0) is None  # running counts as pending
    store.finish_refresh_request(first, T0 + dt.timedelta(seconds=5), error=None)
    second = store.request_refresh("192.0.2.2", T0)
    assert second is not None and second > first
    newest, older = store.refresh_requests()
    assert (newest.id, newest.state) == (second, "queued")
    assert (older.state, older.runner, older.finished) == ("done", "a",
                                                           T0 + dt.timedelta(seconds=5))


def test_a_request_that_could_not_start_goes_back_to_the_queue(store: Store) -> None:
    request_id = store.request_refresh("192.0.2.1", T0)
    assert request_id is not None
    claimed = store.claim_refresh_request("a", T0)
    assert claimed is not None
    store.requeue_refresh_request(request_id)
    again = store.claim_refresh_request("b", T0)
    assert again is not None and again.id == request_id and again.runner == "b"


def test_a_request_left_running_by_another_scheduler_is_failed_on_takeover(
    store: Store,
) -> None:
    request_id = store.request_refresh("192.0.2.1", T0)
    assert request_id is not None and store.claim_refresh_request("dead", T0) is not None
    assert store.fail_abandoned_requests("dead", T0) == []  # its own are not abandoned
    assert store.fail_abandoned_requests("new", T0) == [request_id]
    (failed,) = store.refresh_requests()
    assert failed.state == "failed"
    assert failed.error is not None and "dead" in failed.error
    assert store.request_refresh("192.0.2.1", T0) is not None


@pytest.mark.slow
def test_only_the_newest_requests_are_kept(store: Store) -> None:
    for _ in range(KEEP_REQUESTS + 5):
        request_id = store.request_refresh("192.0.2.1", T0)
        assert request_id is not None
        store.claim_refresh_request("a", T0)
        store.finish_refresh_request(request_id, T0, error="failed")
    kept = store.refresh_requests(limit=KEEP_REQUESTS * 2)
    assert len(kept) == KEEP_REQUESTS
    assert kept[0].id == KEEP_REQUESTS + 5


def test_scheduler_instances_are_remembered_within_bounds(store: Store) -> None:
    from feedsvc.store import InstanceState
    from feedsvc.store.leases import MAX_INSTANCES

    for number in range(MAX_INSTANCES + 5):
        seen = T0 + dt.timedelta(minutes=number)
        store.record_scheduler(InstanceState(
            instance=f"host:{number}:x", host="host", pid=number, schedule="every 60s",
            started=seen, stopped=None, seen=seen, next_run=None, ticks=0, last_tick=None))
    remembered = store.scheduler_instances()
    assert len(remembered) == MAX_INSTANCES
    assert remembered[0].instance == f"host:{MAX_INSTANCES + 4}:x"
    # An instance not seen for a week is forgotten when the next one starts.
    store.record_scheduler(dataclasses.replace(remembered[0], instance="late:1:y",
                                               seen=T0 + dt.timedelta(days=8)))
    assert [i.instance for i in store.scheduler_instances()] == ["late:1:y"]
