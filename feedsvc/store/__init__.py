"""The item store: every item ever seen, each source's health and last text, refresh runs,
every category ever published, the refresh lock, the scheduler's lease and the refresh
requests of the admin trigger.

One ``Store`` over any SQLAlchemy database URL (SQLite by default), made of
modules named after their job: ``schema`` (tables, upgrades), ``decide``
(what a merge changes: pure), ``items``, ``health``, ``runs``, ``categories``,
``hubs`` (the WebSub outbox and hub records), ``lock``, ``leases`` (the scheduler
lease) and ``requests`` (the admin's refresh requests). Merging is
idempotent and never forgets: items absent from a listing stay, an item's
key, guid and id never change, and each source's merge is one transaction,
so a refresh that dies midway leaves the store as it was after the last
source it finished.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from feedsvc.errors import StoreError
from feedsvc.models import ListingItem, StoredItem, Validators
from feedsvc.outcomes import RunSummary
from feedsvc.store import archives as _archives
from feedsvc.store import categories as _categories
from feedsvc.store import health as _health
from feedsvc.store import hubs as _hubs
from feedsvc.store import items as _items
from feedsvc.store import leases as _leases
from feedsvc.store import removals as _removals
from feedsvc.store import requests as _requests
from feedsvc.store import runs as _runs
from feedsvc.store.categories import CategoryRecord
from feedsvc.store.health import MergeCounts, SourceSnapshot, SourceState
from feedsvc.store.hubs import HubState, PendingPing
from feedsvc.store.leases import InstanceState, Lease, LeaseHolder
from feedsvc.store.lock import LockHolder, RefreshLock, hold_refresh_lock, lock_holder
from feedsvc.store.removals import Removed
from feedsvc.store.requests import RefreshRequest
from feedsvc.store.runs import RunRecord
from feedsvc.store.schema import (
    SCHEMA_VERSION,
    Database,
    drop_indexes,
    ensure_indexes,
    open_database,
)
from feedsvc.store.schema import items as items_table

__all__ = [
    "SCHEMA_VERSION", "CategoryRecord", "HubState", "InstanceState", "Lease", "LeaseHolder",
    "LockHolder", "MergeCounts", "PendingPing", "RefreshLock", "RefreshRequest", "Removed",
    "RunRecord", "SourceSnapshot", "SourceState", "Store", "StoredItem",
]


class Store:
    """The item store. Open with ``Store.open(url)``; thread-safe; close when done.
    Every method raises StoreError when the database fails."""

    def __init__(self, database: Database) -> None:
        self._db = database
        # (now, second): merges at ``now`` took every second above ``second``.
        self._handed_below: tuple[dt.datetime | None, dt.datetime | None] = (None, None)

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect to ``url``, create missing tables and upgrade an older store."""
        return cls(open_database(url))

    @property
    def database(self) -> Database:
        """The database the store is in (the publication may be kept there too)."""
        return self._db

    def close(self) -> None:
        self._db.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- items ----------------------------------------------------------------

    def merge(
        self,
        source: str,
        listing: Sequence[ListingItem],
        now: dt.datetime,
        *,
        validators: Validators | None = None,
        warnings: int = 0,
        fingerprint: str | None = None,
        body_digest: str | None = None,
        snapshot: SourceSnapshot | None = None,
        listed_beyond: int = 0,
        keys: Sequence[str] | None = None,
        language: str | None = None,
    ) -> MergeCounts:
        """Merge one source's listing into the store and record the source's success.

        ``listing`` is in listing order (top first). An item is matched by its
        key (date + normalised title) whatever source listed it before; see
        ``feedsvc.store.decide.plan_merge`` for what changes. A new item gets
        ``first_seen = now``. ``updated`` (new or changed items) is a whole
        second, unique across the store: the latest free second at or before
        ``now``, handed out in listing order so the top item is the most recent.
        One transaction.

        Items sharing a key are merged into the first one listed; those that
        differ from it are returned as ``duplicates`` and counted in the
        source's recorded warnings on top of ``warnings`` (the listing's own).
        ``validators``, ``fingerprint`` (of the source's configuration; None
        leaves the stored one) and ``body_digest`` (of the bytes read) are
        recorded with the success; ``snapshot`` replaces the source's kept text
        (None forgets it). ``listed_beyond`` counts items the listing holds
        below ``listing`` that are known unchanged (an incremental read): they
        count as found and are not touched. ``keys`` are the items' keys when the
        caller made them already. ``language`` is the source's (RFC 5646), kept with
        the items it lists first.
        """
        # Whole seconds: these times end up in HTTP dates and feeds, which say no more.
        now = now.replace(microsecond=0)
        below = self._handed_below if self._handed_below[0] == now else (now, None)
        with self._db.write(bulk=True) as conn:
            # First: the driver's copy of a long text is gone before the merge's own data.
            _health.write_snapshot(conn, source, snapshot)
            plan, lowest = _items.merge_listing(conn, source, listing, now, highest=below[1],
                                                keys=keys, language=language)
            counts = MergeCounts(
                found=plan.found + listed_beyond, new=len(plan.new),
                updated=plan.updated_count, duplicates=plan.duplicates,
                touched=plan.touched, touched_slugs=plan.touched_slugs,
                changed_keys=tuple(change.key for change in plan.changes),
            )
            _health.record_success(
                conn, source, now, validators or Validators(), counts,
                warnings + len(plan.duplicates), fingerprint,
                new_links=len(plan.links_new), body_digest=body_digest,
            )
            if plan.touched:
                _items.set_render_pending(conn, True)
        if lowest is not None:
            # Committed: every second from ``now`` down to ``lowest`` is now taken.
            self._handed_below = (now, lowest - dt.timedelta(seconds=1))
        return counts

    @contextmanager
    def bulk_loading(self) -> Iterator[None]:
        """Merges inside the ``with`` block that fill an empty store build its secondary
        indexes once at the end rather than row by row; anywhere else, nothing changes.

        Readers meanwhile find every item by key and id as ever (those indexes
        stay). A process that dies inside leaves the indexes to the next
        ``Store.open``, which builds any that is missing.
        """
        with self._db.write() as conn:
            empty = conn.execute(sa.select(items_table.c.key).limit(1)).first() is None
            if empty:
                drop_indexes(conn)
        try:
            yield
        finally:
            if empty:
                with self._db.write() as conn:
                    ensure_indexes(conn)

    def remove_items(self, item_ids: Sequence[str], now: dt.datetime) -> list[Removed]:
        """Remove the items ``item_ids`` (ids or guids) from the store, and so from the
        feeds at the next publication; recorded. See ``feedsvc.store.removals``."""
        with self._db.write() as conn:
            removed = _removals.remove_items(conn, item_ids, now.replace(microsecond=0))
            if removed:
                _items.set_render_pending(conn, True)
        return removed

    def remove_categories(self, slugs: Sequence[str], now: dt.datetime) -> list[Removed]:
        """Take the categories ``slugs`` off their items and stop publishing their feeds;
        recorded. See ``feedsvc.store.removals``."""
        with self._db.write() as conn:
            removed = _removals.remove_categories(conn, slugs, now.replace(microsecond=0))
            if removed:
                _items.set_render_pending(conn, True)
        return removed

    def find_items(self, item_ids: Sequence[str]) -> list[tuple[str, str, str]]:
        """(key, id, title) of the stored items among ``item_ids`` (ids or guids)."""
        with self._db.read() as conn:
            return _removals.find_items(conn, item_ids)

    def render_pending(self) -> bool:
        """Whether items changed since the last publication that showed them (set by
        ``merge`` in its transaction, cleared by ``clear_render_pending``)."""
        with self._db.read() as conn:
            return _items.render_pending(conn)

    def clear_render_pending(self) -> None:
        with self._db.write() as conn:
            _items.set_render_pending(conn, False)

    def newest_items(self, slug: str | None, limit: int) -> list[StoredItem]:
        """The newest ``limit`` items of category ``slug`` (None: of all items), in feed
        order, read off an index."""
        with self._db.read() as conn:
            return _items.newest_items(conn, slug, limit)

    def item_count(self, slug: str | None = None) -> int:
        with self._db.read() as conn:
            return _items.item_count(conn, slug)

    def newest_selected(
        self, slugs: Sequence[str] | None, sources: Sequence[str] | None, limit: int,
        offset: int = 0,
    ) -> list[StoredItem]:
        """The newest items of the categories ``slugs`` (None: any) listed by one of
        ``sources`` (None or empty: any), skipping the ``offset`` newest, off the
        category index (with ``sources``, joined to the source links)."""
        with self._db.read() as conn:
            return _items.newest_selected(conn, slugs, sources, limit, offset)

    def count_selected(self, slugs: Sequence[str] | None, sources: Sequence[str] | None) -> int:
        with self._db.read() as conn:
            return _items.count_selected(conn, slugs, sources)

    def first_labels(self, slugs: Sequence[str]) -> dict[str, str | None]:
        """Each category's label as its first-seen item gives it (None: no item has it)."""
        with self._db.read() as conn:
            return {slug: _items.first_label(conn, slug) for slug in slugs}

    def category_slugs(self) -> set[str]:
        """Every category slug a stored item has."""
        with self._db.read() as conn:
            return _items.category_slugs(conn)

    def keys_listed_by(self, source: str, keys: Collection[str]) -> set[str]:
        """Which of ``keys`` the source has ever listed."""
        with self._db.read() as conn:
            return _items.keys_listed_by(conn, source, sorted(keys))

    def items_page(
        self, slug: str | Sequence[str] | None, offset: int, limit: int,
    ) -> list[StoredItem]:
        """One page of category ``slug``'s items (None: of all items), newest first, from
        the ``offset``-th, at most ``limit``; read off an index."""
        with self._db.read() as conn:
            return _items.items_page(conn, slug, offset, limit)

    def item_by_id(self, item_id: str) -> StoredItem | None:
        with self._db.read() as conn:
            return _items.item_by_id(conn, item_id)

    # --- archive pages (see feedsvc.archive) --------------------------------------

    def archive_bounds(self, feed_key: str) -> list[int]:
        """The ``last_seq`` of each archive page of the feed ``feed_key``, page 1 first."""
        with self._db.read() as conn:
            return _archives.bounds(conn, feed_key)

    def add_archive_pages(self, feed_key: str, first_page: int, bounds: Sequence[int]) -> None:
        """Record new archive pages of ``feed_key``, numbered from ``first_page``."""
        with self._db.write() as conn:
            _archives.add_pages(conn, feed_key, first_page, bounds)

    def arrivals_after(self, slug: str | Sequence[str] | None, after: int) -> list[int]:
        """The arrival numbers above ``after`` of the items of category ``slug`` (None:
        of all items), in order; off an index."""
        with self._db.read() as conn:
            return _archives.arrivals_after(conn, slug, after)

    def items_arrived(
        self, slug: str | Sequence[str] | None, after: int, upto: int | None,
    ) -> list[StoredItem]:
        """The items of category ``slug`` (None: all) whose arrival number is above
        ``after`` and at most ``upto`` (None: no bound), in feed order; off an index."""
        with self._db.read() as conn:
            return _archives.items_arrived(conn, slug, after, upto)

    def arrival_numbers(self, keys: Sequence[str]) -> list[int]:
        """The arrival numbers of the items ``keys`` (those still stored)."""
        with self._db.read() as conn:
            return _archives.arrival_numbers(conn, keys)

    # --- sources ----------------------------------------------------------------

    def source_state(self, name: str) -> SourceState | None:
        """What is known of the source ``name``, or None if it never ran."""
        with self._db.read() as conn:
            return _health.source_state(conn, name)

    def source_states(self) -> dict[str, SourceState]:
        with self._db.read() as conn:
            return _health.source_states(conn)

    def source_snapshot(self, name: str) -> SourceSnapshot | None:
        """The text the source's listing had when last merged, if kept."""
        with self._db.read() as conn:
            return _health.read_snapshot(conn, name)

    def record_success(
        self, source: str, now: dt.datetime, *, validators: Validators,
        fingerprint: str | None = None,
    ) -> None:
        """Record a success that merged nothing (the source was not modified, or its
        bytes were the same as last time).

        ``validators`` replace the stored ones; ``fingerprint`` (of the source's
        configuration) is stored beside them, so that a later refresh can tell
        whether they still belong to the configuration it reads; None leaves
        the stored fingerprint as it was.
        """
        with self._db.write() as conn:
            _health.record_success(conn, source, now, validators, None, 0, fingerprint)

    def record_failure(
        self, source: str, now: dt.datetime, error: str, *, fingerprint: str | None = None
    ) -> SourceState:
        """Record a failed attempt; the source's items are kept.

        The validators are kept too, unless ``fingerprint`` (of the source's
        configuration) differs from the stored one: then they belonged to the
        old configuration and are dropped, the new fingerprint is stored, and
        the failure count starts again at 1 (the back-off restarts for the
        new configuration; ``failing_since`` still dates from the first
        failure, since the source has had no success since). None leaves the
        stored fingerprint and validators as they were.
        """
        with self._db.write() as conn:
            return _health.record_failure(conn, source, now, error, fingerprint)

    # --- refresh runs -------------------------------------------------------------

    def start_run(self, now: dt.datetime) -> int:
        """Record the start of a refresh; returns the run's id."""
        with self._db.write() as conn:
            return _runs.start_run(conn, now)

    def finish_run(
        self, run_id: int, now: dt.datetime, *, ok: bool, published: bool,
        summary: RunSummary, keep: int | None = None,
    ) -> None:
        """Record the end of a run and its summary; with ``keep``, only the newest ``keep``
        runs stay."""
        with self._db.write() as conn:
            _runs.finish_run(conn, run_id, now, ok=ok, published=published, summary=summary,
                             keep=keep)

    def last_run(self, *, finished: bool = True) -> RunRecord | None:
        """The latest run (the latest finished one when ``finished``), or None: its
        summary read back as the ``RunSummary`` the refresh recorded."""
        with self._db.read() as conn:
            return _runs.last_run(conn, finished=finished)

    def run_count(self) -> int:
        with self._db.read() as conn:
            return _runs.run_count(conn)

    def run_durations(self) -> list[float]:
        """Seconds each finished run took (abandoned ones included), oldest first.

        Runs still going, or that died without being recorded as finished, have
        no duration and are left out. ``feedsvc.metrics`` turns these into the
        ``feedsvc_refresh_duration_seconds`` histogram.
        """
        with self._db.read() as conn:
            return _runs.run_durations(conn)

    # --- categories -------------------------------------------------------------------

    def known_categories(self) -> list[CategoryRecord]:
        """Every category ever remembered (see ``remember_categories``), by slug."""
        with self._db.read() as conn:
            return _categories.known_categories(conn)

    def remember_categories(self, published: Mapping[str, str], now: dt.datetime) -> None:
        """Remember the categories just published (slug -> label shown).

        A category is never forgotten, so its feed keeps being published (empty
        if need be) after its last item moved to another category: subscribers
        keep a working feed. A new slug gets ``first_seen = now``; a known one
        takes the label given. One transaction.
        """
        with self._db.write() as conn:
            _categories.remember_categories(conn, published, now.replace(microsecond=0))

    # --- WebSub hubs ----------------------------------------------------------------

    def queue_pings(self, hubs: Sequence[str], urls: Sequence[str], now: dt.datetime) -> None:
        """Put each feed of ``urls`` in every hub's outbox (see ``feedsvc.store.hubs``)."""
        with self._db.write() as conn:
            _hubs.queue_pings(conn, hubs, urls, now.replace(microsecond=0))

    def pending_pings(self, hubs: Sequence[str]) -> list[PendingPing]:
        with self._db.read() as conn:
            return _hubs.pending_pings(conn, hubs)

    def finish_ping(self, ping: PendingPing, now: dt.datetime, error: str | None) -> None:
        """Record an attempt to deliver ``ping``: accepted (``error`` None) or failed."""
        with self._db.write() as conn:
            _hubs.finish_ping(conn, ping, now.replace(microsecond=0), error)

    def hub_states(self) -> dict[str, HubState]:
        """Every hub ever notified, by address."""
        with self._db.read() as conn:
            return _hubs.hub_states(conn)

    # --- the refresh lock ------------------------------------------------------------

    def refresh_lock(
        self, owner: str, *, wait: float = 0, ttl: float | None = None
    ) -> AbstractContextManager[RefreshLock]:
        """Hold the store-wide refresh lock for the ``with`` block (see ``feedsvc.store.lock``).

        Waits up to ``wait`` seconds for it, then raises RefreshInProgressError
        naming the holder. The lock is a lease in the database renewed by a
        heartbeat, so it excludes refreshes in other processes and machines
        too, and a dead holder's lock is taken over within ``ttl`` seconds
        (default ``feedsvc.store.lock.LEASE_SECONDS``).
        """
        return hold_refresh_lock(self._db, owner, wait=wait, ttl=ttl)

    def lock_holder(self) -> LockHolder | None:
        """Who holds the refresh lock now, or None (expired locks count as free)."""
        return lock_holder(self._db)

    # --- schedulers and refresh requests ------------------------------------------------

    def scheduler_lease(
        self, instance: str, failover: float, *, on_acquired: Callable[[], None] | None = None,
    ) -> Lease:
        """The scheduler lease as ``instance`` sees it (see ``feedsvc.store.leases``)."""
        return Lease(self._db, instance, failover, on_acquired=on_acquired)

    def scheduler_lease_holder(self) -> LeaseHolder | None:
        """Who holds the scheduler lease as recorded (it may have died since)."""
        with self._db.read() as conn:
            return _leases.lease_holder(conn)

    def record_scheduler(self, state: InstanceState) -> None:
        """Record what a scheduler instance says about itself, for /status."""
        with self._db.write() as conn:
            _leases.record_instance(conn, state)

    def scheduler_instances(self) -> list[InstanceState]:
        """Every scheduler instance remembered, most recently seen first."""
        with self._db.read() as conn:
            return _leases.instance_states(conn)

    def request_refresh(self, requested_by: str, now: dt.datetime) -> int | None:
        """Queue a refresh request for the active scheduler; its id, or None when one is
        queued or running already."""
        try:
            with self._db.write() as conn:
                return _requests.add_request(conn, requested_by, now)
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                return None
            raise

    def claim_refresh_request(self, runner: str, now: dt.datetime) -> RefreshRequest | None:
        """The queued request, now marked running for ``runner``; None when none is queued."""
        # Looked for in a read first: the active scheduler asks every few seconds, and
        # most of the time there is nothing to claim (no write lock for nothing).
        with self._db.read() as conn:
            pending = _requests.pending_request(conn)
        if pending is None or pending.state != _requests.QUEUED:
            return None
        with self._db.write() as conn:
            return _requests.claim_request(conn, runner, now)

    def finish_refresh_request(self, request_id: int, now: dt.datetime, *,
                               error: str | None) -> None:
        with self._db.write() as conn:
            _requests.finish_request(conn, request_id, now, error=error)

    def requeue_refresh_request(self, request_id: int) -> None:
        with self._db.write() as conn:
            _requests.requeue_request(conn, request_id)

    def fail_abandoned_requests(self, runner: str, now: dt.datetime) -> list[int]:
        """Requests another runner left running, recorded as failed; their ids."""
        with self._db.write() as conn:
            return _requests.fail_abandoned(conn, runner, now)

    def refresh_requests(self, limit: int = 10) -> list[RefreshRequest]:
        """The newest ``limit`` refresh requests, newest first."""
        with self._db.read() as conn:
            return _requests.recent_requests(conn, limit)
