"""The scheduler's lease: which of any number of ``feedsvc scheduler`` processes is active.

Every scheduler process (on any machine) is an *instance* with an id of its
own (``host:pid:random``). One row of ``leases`` names the instance that
holds a lease; the holder renews it with a heartbeat (every fifth of
``failover`` seconds), bumping a counter. Standbys poll the row and take the
lease over once they have seen the holder and its counter unchanged for
three quarters of ``failover`` seconds by their own clock, so that clocks
that disagree between machines cannot hand the lease over early. A holder
that could not renew for half of ``failover`` seconds (a database it cannot
reach) stops calling itself active before any standby may take over. A
lease released on a clean stop is taken at the next poll.

Every change is a compare-and-set ``UPDATE`` on the row (its holder and
counter as last seen), so two standbys racing for one lease cannot both win,
on SQLite as on PostgreSQL. SQLAlchemy Core only.

``scheduler_instances`` holds what each instance last recorded (schedule,
next run, last tick), for ``/status`` in any web process; see
``scheduler_status``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from feedsvc.errors import StoreError
from feedsvc.logevents import Event, log_event
from feedsvc.outages import Outage
from feedsvc.store.schema import Database, UTCDateTime, metadata

log = logging.getLogger("feedsvc.store.leases")

SCHEDULER_LEASE = "scheduler"
KEEP_INSTANCES = dt.timedelta(days=7)
"""Instances not seen for this long are forgotten."""
MAX_INSTANCES = 50
"""At most this many instances are remembered (a crash loop makes a new one each time)."""

leases = sa.Table(
    "leases", metadata,
    sa.Column("name", sa.String, primary_key=True),
    # The holding instance's id, or NULL when released.
    sa.Column("holder", sa.String),
    sa.Column("since", UTCDateTime),
    # The holder's clock at its last renewal: shown, never compared across machines.
    sa.Column("renewed", UTCDateTime),
    # Bumped by every renewal: what standbys watch for.
    sa.Column("beat", sa.Integer, nullable=False, default=0),
)

scheduler_instances = sa.Table(
    "scheduler_instances", metadata,
    sa.Column("instance", sa.String, primary_key=True),
    sa.Column("host", sa.String, nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("schedule", sa.String, nullable=False),
    sa.Column("started", UTCDateTime, nullable=False),
    sa.Column("stopped", UTCDateTime),
    sa.Column("seen", UTCDateTime, nullable=False),
    sa.Column("next_run", UTCDateTime),
    sa.Column("ticks", sa.Integer, nullable=False, default=0),
    # {"started", "finished", "outcome"} as JSON, or NULL before the first tick.
    sa.Column("last_tick", sa.Text),
)


def new_instance_id() -> str:
    """``host:pid:random``: unique across machines and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- the lease ----------------------------------------------------------------------


@dataclass(frozen=True)
class LeaseTimes:
    """The lease's rhythm, all derived from ``failover`` (seconds)."""

    failover: float

    @property
    def heartbeat(self) -> float:
        """How often the holder renews and standbys look."""
        return self.failover / 5

    @property
    def takeover_after(self) -> float:
        """How long a standby must see the lease unrenewed before taking it."""
        return self.failover * 0.75

    @property
    def active_for(self) -> float:
        """How long after its last renewal the holder still calls itself active."""
        return self.failover / 2


class Lease:
    """One instance's side of a named lease; see the module's docstring.

    ``step()`` does one round (renew when held, else watch or take over) and
    says whether this instance is active; ``start()`` runs it on a heartbeat
    thread until ``stop()``, which releases the lease. ``on_acquired`` is
    called (on that thread) each time the lease is taken. ``clock`` is
    monotonic seconds, for tests.
    """

    def __init__(
        self, database: Database, instance: str, failover: float, *,
        name: str = SCHEDULER_LEASE,
        on_acquired: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.instance = instance
        self.name = name
        self.times = LeaseTimes(failover)
        self._db = database
        self._on_acquired = on_acquired
        self._clock = clock
        # (held, monotonic time of the last renewal): one tuple, read without a lock.
        self._state: tuple[bool, float] = (False, -float("inf"))
        self._seen: tuple[str | None, int] | None = None
        self._seen_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # A database that is away fails every heartbeat: one warning for all of them.
        self._outage = Outage(log, "scheduler lease")

    def is_active(self) -> bool:
        """Whether this instance holds the lease and renewed it recently enough."""
        held, renewed_at = self._state
        return held and self._clock() - renewed_at < self.times.active_for

    def step(self) -> bool:
        """Renew the lease when held, else watch it and take it once it is free or
        expired. Returns ``is_active()``. Store errors are logged, not raised."""
        acquired = False
        try:
            with self._lock:
                acquired = self._step()
        except StoreError as exc:
            self._outage.failed(exc)
        else:
            self._outage.succeeded()
        if acquired:
            log_event(log, Event.LEASE_ACQUIRED, "scheduler active instance=%s", self.instance,
                      instance=self.instance)
            if self._on_acquired is not None:
                self._on_acquired()
        return self.is_active()

    def _step(self) -> bool:
        now = self._clock()
        if self._state[0]:
            if self._renew():
                self._state = (True, now)
                return False
            self._state = (False, now)
            log_event(log, Event.LEASE_LOST,
                      "scheduler lease lost instance=%s: another scheduler took it over",
                      self.instance, instance=self.instance)
        row = self._read()
        if row is None:
            taken = self._insert()
        elif row["holder"] is None or row["holder"] == self.instance:
            taken = self._take(row["holder"], row["beat"])
        else:
            observed = (row["holder"], row["beat"])
            if observed != self._seen:
                self._seen, self._seen_at = observed, now
                return False
            if now - self._seen_at < self.times.takeover_after:
                return False
            log_event(log, Event.LEASE_TAKEN_OVER,
                      "scheduler lease expired holder=%s: taking it over", row["holder"],
                      holder=row["holder"])
            taken = self._take(row["holder"], row["beat"])
        if taken:
            self._state, self._seen = (True, now), None
        return taken

    def _read(self) -> sa.RowMapping | None:
        with self._db.read() as conn:
            return conn.execute(sa.select(leases).where(leases.c.name == self.name)
                                ).mappings().first()

    def _insert(self) -> bool:
        now = _utcnow()
        try:
            with self._db.write() as conn:
                conn.execute(leases.insert().values(name=self.name, holder=self.instance,
                                                    since=now, renewed=now, beat=0))
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                return False  # another instance made the row first; next round
            raise
        return True

    def _take(self, holder: str | None, beat: int) -> bool:
        """Compare-and-set: the lease as last read (``holder``, ``beat``) becomes ours."""
        now = _utcnow()
        same = leases.c.holder.is_(None) if holder is None else leases.c.holder == holder
        with self._db.write() as conn:
            done = conn.execute(leases.update().where(
                leases.c.name == self.name, same, leases.c.beat == beat,
            ).values(holder=self.instance, since=now, renewed=now, beat=beat + 1))
            return done.rowcount == 1

    def _renew(self) -> bool:
        """Push the lease on; False when another instance holds it now."""
        with self._db.write() as conn:
            done = conn.execute(leases.update().where(
                leases.c.name == self.name, leases.c.holder == self.instance,
            ).values(renewed=_utcnow(), beat=leases.c.beat + 1))
            return done.rowcount == 1

    def start(self) -> None:
        """One ``step()`` now, then one per heartbeat on a daemon thread."""
        self.step()
        self._thread = threading.Thread(target=self._run, name="feedsvc-scheduler-lease",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.times.heartbeat):
            self.step()

    def stop(self) -> None:
        """Stop the heartbeat and release the lease if held, so a standby takes it at once."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self.release()

    def release(self) -> None:
        """Give the lease up if held (a step under way on the heartbeat thread is waited
        for briefly: this may run in a signal handler)."""
        got = self._lock.acquire(timeout=2)
        try:
            held = self._state[0]
            self._state = (False, self._clock())
        finally:
            if got:
                self._lock.release()
        if not held:
            return
        try:
            with self._db.write() as conn:
                conn.execute(leases.update().where(
                    leases.c.name == self.name, leases.c.holder == self.instance,
                ).values(holder=None))
            log_event(log, Event.LEASE_RELEASED, "scheduler lease released instance=%s",
                      self.instance, instance=self.instance)
        except StoreError as exc:
            log.warning("cannot release the scheduler lease: %s", exc)


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds a lease: ``instance`` since ``since``, last renewed at ``renewed``."""

    instance: str
    since: dt.datetime
    renewed: dt.datetime


def lease_holder(conn: Connection, name: str = SCHEDULER_LEASE) -> LeaseHolder | None:
    """The lease's holder as recorded, or None when released or never taken. Whether
    it still lives is the reader's call (see ``scheduler_status``)."""
    row = conn.execute(sa.select(leases).where(leases.c.name == name)).mappings().first()
    if row is None or row["holder"] is None:
        return None
    return LeaseHolder(instance=row["holder"], since=row["since"], renewed=row["renewed"])


# --- what each instance records -------------------------------------------------------


@dataclass(frozen=True)
class InstanceState:
    """What a scheduler instance last recorded about itself."""

    instance: str
    host: str
    pid: int
    schedule: str
    started: dt.datetime
    stopped: dt.datetime | None
    seen: dt.datetime
    next_run: dt.datetime | None
    ticks: int
    last_tick: Mapping[str, Any] | None


def record_instance(conn: Connection, state: InstanceState) -> None:
    """Write ``state`` as its instance's row (made on first use); forget instances not
    seen for ``KEEP_INSTANCES``, and all but the ``MAX_INSTANCES`` seen last."""
    values = {
        "host": state.host, "pid": state.pid, "schedule": state.schedule,
        "started": state.started, "stopped": state.stopped, "seen": state.seen,
        "next_run": state.next_run, "ticks": state.ticks,
        "last_tick": None if state.last_tick is None else json.dumps(dict(state.last_tick),
                                                                     sort_keys=True),
    }
    table = scheduler_instances
    done = conn.execute(table.update().where(table.c.instance == state.instance).values(values))
    if done.rowcount == 0:
        conn.execute(table.insert().values(instance=state.instance, **values))
        conn.execute(table.delete().where(table.c.seen < state.seen - KEEP_INSTANCES))
        oldest_kept = conn.execute(sa.select(table.c.seen).order_by(table.c.seen.desc())
                                   .offset(MAX_INSTANCES - 1).limit(1)).scalar()
        if oldest_kept is not None:
            conn.execute(table.delete().where(table.c.seen < oldest_kept))


def instance_states(conn: Connection) -> list[InstanceState]:
    """Every remembered instance, most recently seen first."""
    rows = conn.execute(sa.select(scheduler_instances)
                        .order_by(scheduler_instances.c.seen.desc())).mappings().all()
    return [InstanceState(
        instance=row["instance"], host=row["host"], pid=row["pid"], schedule=row["schedule"],
        started=row["started"], stopped=row["stopped"], seen=row["seen"],
        next_run=row["next_run"], ticks=row["ticks"],
        last_tick=json.loads(row["last_tick"]) if row["last_tick"] else None,
    ) for row in rows]
