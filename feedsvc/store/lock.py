"""The refresh lock: one refresh at a time across processes and machines.

The lock is a lease in the database: its holder writes when it expires, and a
heartbeat thread pushes that back every ``HEARTBEAT_SECONDS`` while the
refresh runs. A holder that dies stops renewing, so another refresh takes
the lock over within ``LEASE_SECONDS``, wherever the holder ran (another
machine, a container whose pid numbers mean nothing here). A holder known
dead sooner (same host, no such process) is taken over at once.

Lease times are the database's clock on PostgreSQL, where the holders may be
machines whose clocks disagree: one running ahead would otherwise take over a
live holder's lock. SQLite lives on one machine, whose clock they share: the
``clock`` of ``hold_refresh_lock`` and ``lock_holder`` (``time.time`` unless a
test passes another).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feedsvc.errors import RefreshInProgressError, StoreError
from feedsvc.store.schema import LOCK_ROW, Database, refresh_lock

LEASE_SECONDS = 60.0
"""A lock not renewed for this long is taken over: its holder is presumed dead."""
HEARTBEAT_SECONDS = 15.0
"""How often a held lock is renewed."""
POLL_SECONDS = 0.05

Clock = Callable[[], float]
"""This machine's clock, in seconds since the epoch (``time.time``)."""


def _now(conn: Connection, clock: Clock) -> float:
    """Seconds since the epoch by the clock every holder shares: the database server's on
    PostgreSQL, this machine's (``clock``) on SQLite."""
    if conn.dialect.name == "postgresql":
        return float(conn.execute(sa.select(
            sa.func.extract("epoch", sa.func.clock_timestamp()))).scalar_one())
    return clock()


@dataclass(frozen=True)
class LockHolder:
    """Who holds the refresh lock."""

    owner: str
    host: str
    pid: int
    acquired: float
    expires: float


@contextmanager
def hold_refresh_lock(
    database: Database, owner: str, *, wait: float = 0, ttl: float | None = None,
    clock: Clock = time.time,
) -> Iterator[RefreshLock]:
    """Hold the refresh lock for the ``with`` block, renewed by a heartbeat.

    Waits up to ``wait`` seconds, then raises RefreshInProgressError naming the
    holder. ``ttl`` is the lease (default ``LEASE_SECONDS``). ``clock`` is this
    machine's clock (default ``time.time``), which times the lease on SQLite
    only: on PostgreSQL the database server's clock does (see the module).
    """
    lock = RefreshLock(database, owner, LEASE_SECONDS if ttl is None else ttl, clock=clock)
    deadline = time.monotonic() + wait
    while not lock.try_acquire():
        if time.monotonic() >= deadline:
            holder = lock_holder(database, clock=clock)
            who = f" ({holder.owner}, pid {holder.pid} on {holder.host})" if holder else ""
            raise RefreshInProgressError(f"a refresh is already running{who}")
        time.sleep(POLL_SECONDS)
    try:
        lock.start_heartbeat()
        yield lock
    finally:
        lock.release()


def lock_holder(database: Database, *, clock: Clock = time.time) -> LockHolder | None:
    """Who holds the refresh lock now, or None (expired locks count as free). ``clock``
    as for ``hold_refresh_lock``."""
    with database.read() as conn:
        row = conn.execute(
            sa.select(refresh_lock).where(refresh_lock.c.id == LOCK_ROW)
        ).mappings().first()
        now = _now(conn, clock)
    if row is None or row["token"] is None or row["expires"] < now:
        return None
    return LockHolder(owner=row["owner"], host=row["host"], pid=row["pid"],
                      acquired=row["acquired"], expires=row["expires"])


class RefreshLock:
    """A held refresh lock (see ``hold_refresh_lock``, and it for ``clock``)."""

    def __init__(self, database: Database, owner: str, ttl: float, *,
                 clock: Clock = time.time) -> None:
        self.owner = owner
        self._database = database
        self._ttl = ttl
        self._clock = clock
        self._token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def try_acquire(self) -> bool:
        with self._database.write() as conn:
            row = conn.execute(
                sa.select(refresh_lock).where(refresh_lock.c.id == LOCK_ROW).with_for_update()
            ).mappings().one()
            now = _now(conn, self._clock)
            if row["token"] is not None and not _is_stale(row, now):
                return False
            conn.execute(refresh_lock.update().where(refresh_lock.c.id == LOCK_ROW).values(
                token=self._token, owner=self.owner, host=socket.gethostname(),
                pid=os.getpid(), acquired=now, expires=now + self._ttl,
            ))
            return True

    def renew(self) -> None:
        """Push the lock's expiry ``ttl`` seconds from now. Raises StoreError if it was lost."""
        with self._database.write() as conn:
            done = conn.execute(refresh_lock.update().where(
                refresh_lock.c.id == LOCK_ROW, refresh_lock.c.token == self._token
            ).values(expires=_now(conn, self._clock) + self._ttl))
            if done.rowcount != 1:
                raise StoreError("the refresh lock was taken over by another refresh")

    def start_heartbeat(self) -> None:
        if self._ttl <= 0:
            return  # a lease that is already over (tests) is not kept alive
        interval = min(HEARTBEAT_SECONDS, self._ttl / 4)
        self._heartbeat = threading.Thread(
            target=self._beat, args=(interval,), name="feedsvc-lock-heartbeat", daemon=True)
        self._heartbeat.start()

    def _beat(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.renew()
            except StoreError:
                # Lost, or the database is unreachable for now: the refresh's own
                # renew() before publishing says so; nothing to do here.
                continue

    def release(self) -> None:
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        with self._database.write() as conn:
            conn.execute(refresh_lock.update().where(
                refresh_lock.c.id == LOCK_ROW, refresh_lock.c.token == self._token
            ).values(token=None, owner=None, host=None, pid=None, acquired=None, expires=None))


def _is_stale(row: sa.RowMapping, now: float) -> bool:
    if row["expires"] is None or row["expires"] < now:
        return True
    return row["host"] == socket.gethostname() and not _process_alive(row["pid"])


def _process_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
