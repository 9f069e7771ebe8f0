"""The item store against a real SQLite file and a real PostgreSQL database: merging,
history, source health, runs, the lock."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from stored_items import every_item

from feedsvc.errors import RefreshInProgressError, StoreError
from feedsvc.identity import guid_for_key, item_key
from feedsvc.models import ListingItem, Validators
from feedsvc.outcomes import RunSummary, SourceReport, SourceStatus
from feedsvc.settings import settings_from_mapping
from feedsvc.store import SCHEMA_VERSION, MergeCounts, Store
from feedsvc.store.lock import LEASE_SECONDS, hold_refresh_lock, lock_holder
from feedsvc.store.schema import drop_indexes, ensure_indexes, open_database

T0 = dt.datetime(2026, 11, 22, 6, 0, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(minutes=30)
T2 = T0 + dt.timedelta(hours=1)

ALPHA = ListingItem(title="Alpha report published", date=dt.date(2024, 3, 12),
                    category="Press release", credit=None, summary="First summary.")
BETA = ListingItem(title="Beta meeting opens", date=dt.date(2024, 3, 12),
                   category="Statement", credit="A. Photographer", summary=None)
GAMMA = ListingItem(title="Gamma survey results", date=dt.date(2024, 3, 1),
                    category=None, credit=None, summary="Numbers.")


pytestmark = pytest.mark.both_engines


@pytest.fixture
def store_url(database_url: Callable[..., str]) -> str:
    return database_url()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store.open(store_url) as opened:
        yield opened


def titles(store: Store) -> list[str]:
    return [item.title for item in every_item(store)]


def sources_of(url: str, key: str) -> tuple[str, ...]:
    """The sources that listed the item ``key``, by name, read from the database itself."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT source FROM item_sources WHERE item_key = :key ORDER BY source"),
                {"key": key}).all()
    finally:
        engine.dispose()
    return tuple(source for (source,) in rows)


def test_open_creates_the_directory_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "store.sqlite3"
    Store.open(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


def test_a_version_1_store_is_upgraded_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    with Store.open(f"sqlite:///{path}") as first:
        first.merge("a", [ALPHA], T0, validators=Validators(etag='"v1"'))
    # What feedsvc's first schema looked like: no fingerprint, no failure
    # total, no categories.
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE sources DROP COLUMN config_fingerprint")
        conn.execute("ALTER TABLE sources DROP COLUMN failures_total")
        conn.execute("DROP TABLE categories")
        conn.execute("DELETE FROM schema_version")
        conn.execute("INSERT INTO schema_version VALUES (1)")
    with Store.open(f"sqlite:///{path}") as upgraded:
        assert titles(upgraded) == [ALPHA.title]
        state = upgraded.source_state("a")
        assert state is not None
        assert (state.validators, state.config_fingerprint) == (Validators(etag='"v1"'), None)
        upgraded.merge("a", [ALPHA], T1, fingerprint="f1")
        assert upgraded.source_state("a").config_fingerprint == "f1"  # type: ignore[union-attr]
        assert upgraded.known_categories() == []
        upgraded.record_failure("a", T2, "boom")
        assert upgraded.source_state("a").failures_total == 1  # type: ignore[union-attr]
    with sqlite3.connect(path) as conn:
        version = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        assert version == (SCHEMA_VERSION,)


def test_reopening_keeps_everything(store_url: str) -> None:
    url = store_url
    with Store.open(url) as first:
        first.merge("a", [ALPHA], T0)
    with Store.open(url) as second:
        assert titles(second) == [ALPHA.title]


def test_a_store_newer_than_the_code_is_refused(store_url: str) -> None:
    Store.open(store_url).close()
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO schema_version VALUES (:v)"), {"v": SCHEMA_VERSION + 1})
    engine.dispose()
    with pytest.raises(StoreError, match=f"version {SCHEMA_VERSION + 1} is newer"):
        Store.open(store_url)


OPEN_TOGETHER = """
    import sys
    from feedsvc.store import Store

    sys.stdin.read()  # start together
    with Store.open(sys.argv[1]) as store:
        print(store.item_count(), flush=True)
"""


def open_together(url: str, count: int) -> list[tuple[int, str, str]]:
    """Open the store at ``url`` from ``count`` processes at once; each one's exit status,
    output (its item count) and errors."""
    opening = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(OPEN_TOGETHER), url],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(count)]
    for child in opening:
        assert child.stdin is not None
        child.stdin.close()
    outcomes = []
    for child in opening:
        with child:
            assert child.stdout is not None and child.stderr is not None
            out, err = child.stdout.read(), child.stderr.read()
            outcomes.append((child.wait(timeout=120), out, err))
    return outcomes


@pytest.mark.slow
def test_processes_opening_a_new_store_at_once_create_it_once(store_url: str) -> None:
    assert open_together(store_url, 4) == [(0, "0\n", "")] * 4
    with Store.open(store_url) as store:
        assert store.item_count() == 0
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version FROM schema_version")).scalars().all() == [
            SCHEMA_VERSION]
    engine.dispose()


def test_an_unopenable_store_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StoreError):
        Store.open(f"sqlite:///{tmp_path}/file/store.sqlite3")


def test_merge_counts_and_first_seen(store: Store) -> None:
    assert store.merge("a", [ALPHA, BETA], T0) == MergeCounts(found=2, new=2, updated=0)
    assert store.merge("a", [ALPHA, BETA, GAMMA], T1) == MergeCounts(found=3, new=1, updated=0)
    by_title = {item.title: item for item in every_item(store)}
    assert by_title[ALPHA.title].first_seen == T0 == by_title[ALPHA.title].updated
    assert by_title[GAMMA.title].first_seen == T1


def test_items_absent_from_the_listing_are_kept(store: Store) -> None:
    store.merge("a", [ALPHA, BETA, GAMMA], T0)
    store.merge("a", [GAMMA], T1)
    assert sorted(titles(store)) == sorted([ALPHA.title, BETA.title, GAMMA.title])


def test_a_repeated_item_in_one_listing_counts_once(store: Store) -> None:
    counts = store.merge("a", [ALPHA, replace(ALPHA, line=9), BETA], T0)
    assert counts.found == 2
    assert counts.duplicates == ()  # the same item shown twice is no news


def test_different_items_sharing_a_key_are_kept_once_and_reported(store: Store) -> None:
    respelled = replace(ALPHA, title="ALPHA REPORT PUBLISHED", summary="Another item.", line=7)
    counts = store.merge("a", [ALPHA, BETA, respelled], T0, warnings=1)
    assert (counts.found, counts.new, counts.duplicates) == (2, 2, (respelled,))
    assert titles(store) == [ALPHA.title, BETA.title]
    assert every_item(store)[0].summary == ALPHA.summary
    assert store.source_state("a").last_warnings == 2  # type: ignore[union-attr]


def test_same_item_from_two_sources_is_one_item(store: Store, store_url: str) -> None:
    store.merge("all-news", [ALPHA, BETA], T0)
    assert store.merge("press", [ALPHA], T0) == MergeCounts(found=1, new=0, updated=0)
    items = every_item(store)
    assert len(items) == 2
    alpha = next(item for item in items if item.title == ALPHA.title)
    assert sources_of(store_url, alpha.key) == ("all-news", "press")


def test_an_edit_updates_in_place_and_keeps_the_id(store: Store) -> None:
    store.merge("a", [ALPHA], T0)
    before = every_item(store)[0]
    edited = replace(ALPHA, summary="Second summary.", category="Statement", credit="B")
    assert store.merge("a", [edited], T1) == MergeCounts(found=1, new=0, updated=1)
    after = every_item(store)[0]
    assert (after.guid, after.item_id, after.first_seen) == (
        before.guid, before.item_id, before.first_seen)
    assert (after.summary, after.category, after.credit) == ("Second summary.", "Statement", "B")
    assert after.updated == T1
    assert after.guid == guid_for_key(item_key(ALPHA.date, ALPHA.title))


def test_a_respelled_title_is_the_same_item_with_the_new_spelling(store: Store) -> None:
    store.merge("a", [ALPHA], T0)
    respelled = replace(ALPHA, title="ALPHA report published.")
    assert store.merge("a", [respelled], T1) == MergeCounts(found=1, new=0, updated=1)
    assert titles(store) == ["ALPHA report published."]


def test_an_unchanged_listing_changes_nothing(store: Store) -> None:
    store.merge("a", [ALPHA, BETA], T0)
    before = every_item(store)
    assert store.merge("a", [ALPHA, BETA], T1).updated == 0
    assert every_item(store) == before


def test_a_listing_that_omits_a_field_does_not_erase_it(store: Store) -> None:
    store.merge("all-news", [ALPHA], T0)
    store.merge("press", [replace(ALPHA, summary=None)], T1)
    assert every_item(store)[0].summary == ALPHA.summary


def test_two_listings_that_disagree_do_not_flip_the_item_each_time(store: Store) -> None:
    short = replace(ALPHA, summary="Short.")
    store.merge("all-news", [ALPHA], T0)
    store.merge("press", [short], T0)
    settled = every_item(store)
    for later in (T1, T2):
        assert store.merge("all-news", [ALPHA], later).updated == 0
        assert store.merge("press", [short], later).updated == 0
    assert every_item(store) == settled


def test_listing_rank_follows_the_latest_listing(store: Store) -> None:
    store.merge("a", [ALPHA, BETA], T0)
    assert titles(store) == [ALPHA.title, BETA.title]
    times = {item.key: item.updated for item in every_item(store)}
    store.merge("a", [BETA, ALPHA], T1)
    assert titles(store) == [BETA.title, ALPHA.title]
    assert {item.key: item.updated for item in every_item(store)} == times


def test_updated_times_are_unique_whole_seconds_top_item_latest(store: Store) -> None:
    listing = [replace(ALPHA, title=f"Item number {n}") for n in range(30)]
    store.merge("a", listing[:10], T0)
    # A second source merged in the same refresh, and a later one within
    # seconds, must not reuse times the first batch took.
    store.merge("b", listing[10:20], T0)
    store.merge("c", listing[20:], T0 + dt.timedelta(seconds=5))
    by_title = {item.title: item.updated for item in every_item(store)}
    assert len(set(by_title.values())) == 30
    assert by_title["Item number 0"] == T0
    assert by_title["Item number 1"] == T0 - dt.timedelta(seconds=1)
    assert by_title["Item number 10"] == T0 - dt.timedelta(seconds=10)
    assert by_title["Item number 20"] == T0 + dt.timedelta(seconds=5)
    assert all(moment.microsecond == 0 for moment in by_title.values())


def test_an_edit_moves_the_edited_items_time_only(store: Store) -> None:
    store.merge("a", [ALPHA, BETA, GAMMA], T0)
    before = {item.title: item.updated for item in every_item(store)}
    store.merge("a", [ALPHA, replace(BETA, summary="Now with a summary."), GAMMA], T1)
    after = {item.title: item.updated for item in every_item(store)}
    assert after[BETA.title] == T1
    assert {t: after[t] for t in (ALPHA.title, GAMMA.title)} == {
        t: before[t] for t in (ALPHA.title, GAMMA.title)}


def test_merge_stores_whole_seconds(store: Store) -> None:
    store.merge("a", [ALPHA], T0.replace(microsecond=123456))
    assert every_item(store)[0].first_seen == T0


def test_merge_rejects_naive_times(store: Store) -> None:
    with pytest.raises(StoreError):
        store.merge("a", [ALPHA], T0.replace(tzinfo=None))
    assert every_item(store) == []


def test_a_failed_merge_writes_nothing(store: Store) -> None:
    store.merge("a", [ALPHA], T0)
    # Fails inside the transaction, after BETA was written.
    broken = replace(GAMMA, summary=object())  # type: ignore[arg-type]
    with pytest.raises(Exception):  # noqa: B017 - whatever the item's fault, nothing is kept
        store.merge("a", [BETA, broken], T1)
    assert titles(store) == [ALPHA.title]
    assert store.source_state("a").last_found == 1  # type: ignore[union-attr]


def test_source_success_and_failure_are_recorded(store: Store) -> None:
    assert store.source_state("a") is None
    store.merge("a", [ALPHA, BETA], T0, validators=Validators(etag='"v1"'), warnings=2)
    state = store.source_state("a")
    assert state is not None
    assert (state.item_count, state.last_found, state.last_new, state.last_warnings) == (2, 2, 2, 2)
    assert state.validators == Validators(etag='"v1"')
    assert state.last_success == T0

    store.record_failure("a", T1, "file not found")
    failed = store.record_failure("a", T2, "file not found again")
    assert failed.consecutive_failures == 2
    assert failed.failing_since == T1
    assert failed.last_error == "file not found again"
    assert failed.last_error_at == T2
    assert failed.item_count == 2
    assert failed.validators == Validators(etag='"v1"')

    store.record_success("a", T2 + dt.timedelta(hours=1), validators=Validators(etag='"v1"'))
    healed = store.source_state("a")
    assert healed is not None
    assert (healed.consecutive_failures, healed.failing_since) == (0, None)
    assert healed.last_error == "file not found again"  # kept for /status
    assert list(store.source_states()) == ["a"]


@pytest.mark.parametrize(
    ("stored", "given", "validators", "failures", "fingerprint"),
    [
        # Same configuration: validators kept, failures count up.
        ("f1", "f1", Validators(etag='"v1"'), 2, "f1"),
        # Not told: as the same configuration.
        ("f1", None, Validators(etag='"v1"'), 2, "f1"),
        # Another configuration: the old one's validators and back-off are dropped.
        ("f1", "f2", Validators(), 1, "f2"),
    ],
)
def test_a_failure_under_a_new_configuration_drops_the_old_validators(
    store: Store, stored: str, given: str | None, validators: Validators, failures: int,
    fingerprint: str,
) -> None:
    store.merge("a", [ALPHA], T0, validators=Validators(etag='"v1"'), fingerprint=stored)
    store.record_failure("a", T1, "down", fingerprint=stored)
    failed = store.record_failure("a", T2, "still down", fingerprint=given)
    assert (failed.validators, failed.consecutive_failures) == (validators, failures)
    assert failed.config_fingerprint == fingerprint
    assert failed.failing_since == T1


def test_successes_record_the_configuration_fingerprint(store: Store) -> None:
    assert store.record_failure("a", T0, "down", fingerprint="f1").config_fingerprint == "f1"
    store.merge("a", [ALPHA], T1, fingerprint="f2")
    assert store.source_state("a").config_fingerprint == "f2"  # type: ignore[union-attr]
    store.record_success("a", T2, validators=Validators(etag='"v2"'), fingerprint="f3")
    state = store.source_state("a")
    assert state is not None
    assert (state.config_fingerprint, state.validators) == ("f3", Validators(etag='"v2"'))
    store.record_success("a", T2, validators=Validators(etag='"v3"'))
    assert store.source_state("a").config_fingerprint == "f3"  # type: ignore[union-attr]


def test_categories_once_remembered_are_never_forgotten(store: Store) -> None:
    assert store.known_categories() == []
    store.remember_categories({"statement": "Statement", "press-release": "Press release"},
                              T0.replace(microsecond=5))
    store.remember_categories({"press-release": "Press Release", "report": "Report"}, T1)
    known = [(c.slug, c.label, c.first_seen) for c in store.known_categories()]
    assert known == [
        ("press-release", "Press Release", T0),
        ("report", "Report", T1),
        ("statement", "Statement", T0),
    ]


def test_run_durations_list_finished_runs_oldest_first(store: Store) -> None:
    assert store.run_durations() == []
    for offset, seconds in ((0, 3.5), (30, 1.25)):
        run = store.start_run(T0 + dt.timedelta(minutes=offset))
        store.finish_run(run, T0 + dt.timedelta(minutes=offset, seconds=seconds),
                         ok=True, published=False, summary=RunSummary())
    store.start_run(T2)  # still running: no duration yet
    assert store.run_durations() == [3.5, 1.25]


def test_runs_are_recorded(store: Store) -> None:
    assert store.last_run() is None
    run = store.start_run(T0)
    assert store.last_run() is None
    assert store.last_run(finished=False) is not None
    summary = RunSummary(feed_count=3, item_count=7, sources=(
        SourceReport("a", found=2, new=1, warnings=1, warning_messages=("a: line 3: odd",)),
        SourceReport("b", status=SourceStatus.NOT_MODIFIED)))
    store.finish_run(run, T0 + dt.timedelta(seconds=3), ok=True, published=True,
                     summary=summary)
    last = store.last_run()
    assert last is not None
    assert (last.ok, last.published, last.duration_seconds) == (True, True, 3.0)
    assert last.summary == summary
    assert store.run_count() == 1


def test_the_refresh_lock_excludes_a_second_holder(store: Store) -> None:
    with store.refresh_lock("first"):
        holder = store.lock_holder()
        assert holder is not None and holder.owner == "first"
        with pytest.raises(RefreshInProgressError, match="first"), store.refresh_lock("second"):
            pass
    assert store.lock_holder() is None
    with store.refresh_lock("second"):
        pass


def test_a_second_store_on_the_same_database_sees_the_lock(store_url: str) -> None:
    url = store_url
    with (
        Store.open(url) as one,
        Store.open(url) as two,
        one.refresh_lock("one"),
        pytest.raises(RefreshInProgressError),
        two.refresh_lock("two", wait=0.1),
    ):
        pass


def test_the_lock_is_released_when_the_block_raises(store: Store) -> None:
    with pytest.raises(KeyboardInterrupt), store.refresh_lock("first"):
        raise KeyboardInterrupt
    assert store.lock_holder() is None


def test_an_expired_lock_is_taken_over(store: Store) -> None:
    with store.refresh_lock("stuck", ttl=-1):
        assert store.lock_holder() is None
        with store.refresh_lock("next") as lock:
            holder = store.lock_holder()
            assert holder is not None and holder.owner == "next"
            lock.renew()


def test_renewing_a_lost_lock_fails(store: Store) -> None:
    with (
        store.refresh_lock("slow", ttl=-1) as slow,
        store.refresh_lock("other"),
        pytest.raises(StoreError),
    ):
        slow.renew()


def test_failures_total_only_ever_grows(store: Store) -> None:
    store.record_failure("a", T0, "first")
    store.record_failure("a", T1, "second")
    store.merge("a", [ALPHA], T2)
    state = store.record_failure("a", T2 + dt.timedelta(minutes=5), "third")
    assert (state.consecutive_failures, state.failures_total) == (1, 3)


# --- PostgreSQL: whatever the database's collation --------------------------------------

ECOLE = ListingItem(title="École ouverte", date=dt.date(2024, 3, 12), category="Étude",
                    credit=None, summary=None)
FORGE = ListingItem(title="Forge ouverte", date=dt.date(2024, 3, 12), category="Forge",
                    credit=None, summary=None)


def tied_items_and_categories(url: str) -> tuple[list[str], list[str]]:
    """Merge two items of one date at the top of two listings (the same rank: only their
    keys tell them apart) and publish their categories; the store's orders."""
    with Store.open(url) as store:
        store.merge("one", [ECOLE], T0)
        store.merge("two", [FORGE], T0)
        store.remember_categories({"etude": "Étude", "forge": "Forge", "e-tude": "E-tude"}, T0)
        return titles(store), [c.slug for c in store.known_categories()]


@pytest.mark.slow
def test_a_language_collation_does_not_change_the_order_of_ties(
    postgres_database: Callable[..., str], tmp_path: Path,
) -> None:
    on_sqlite = tied_items_and_categories(f"sqlite:///{tmp_path}/store.sqlite3")
    # Code point order: "f" (U+0066) before "é" (U+00E9); "-" before "t".
    assert on_sqlite == (["Forge ouverte", "École ouverte"], ["e-tude", "etude", "forge"])
    assert tied_items_and_categories(postgres_database(icu_locale="en-US")) == on_sqlite


@pytest.mark.slow
def test_a_postgresql_store_of_version_5_is_upgraded_to_code_point_order(
    postgres_database: Callable[..., str],
) -> None:
    url = postgres_database(icu_locale="en-US")
    Store.open(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # as version 5 made it: the database's collation
        for table, column in (("items", "key"), ("item_sources", "item_key"),
                              ("categories", "slug")):
            conn.execute(sa.text(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE VARCHAR "
                                 'COLLATE "default"'))
        conn.execute(sa.text("DELETE FROM schema_version"))
        conn.execute(sa.text("INSERT INTO schema_version VALUES (5)"))
    engine.dispose()
    # Processes starting together: one upgrades, the others wait and find it done.
    assert open_together(url, 3) == [(0, "0\n", "")] * 3
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version FROM schema_version ORDER BY version")
                            ).scalars().all() == list(range(5, SCHEMA_VERSION + 1))
    engine.dispose()
    assert tied_items_and_categories(url) == (
        ["Forge ouverte", "École ouverte"], ["e-tude", "etude", "forge"])
    with Store.open(url) as store:
        assert store.item_count() == 2
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT max(version) FROM schema_version")).scalar() == (
            SCHEMA_VERSION)
    engine.dispose()


@pytest.mark.slow
def test_a_category_of_more_items_than_a_statement_may_name_is_removed(store: Store) -> None:
    # More keys than SQLite (32,766) or PostgreSQL (65,535) take as parameters of one
    # statement: the removal must not name them one by one.
    many = [ListingItem(title=f"Item {n}", date=dt.date(2024, 1, 1) + dt.timedelta(days=n % 300),
                        category="Everything", credit=None, summary=None) for n in range(70_000)]
    with store.bulk_loading():
        store.merge("big", many, T0)
    (removed,) = store.remove_categories(["everything"], T1)
    assert (removed.ident, removed.label, removed.items) == ("everything", "Everything", 70_000)
    assert store.item_count("everything") == 0
    assert store.source_state("big").body_digest is None  # type: ignore[union-attr]


def two_minutes_ahead() -> float:
    """The clock of a machine two minutes ahead of this one: past the refresh lock's lease."""
    return time.time() + 2 * LEASE_SECONDS


@pytest.mark.slow
def test_a_machine_whose_clock_runs_ahead_does_not_take_a_live_lock_over(
    postgres_database: Callable[..., str],
) -> None:
    url = postgres_database()
    with Store.open(url) as here, Store.open(url) as there, here.refresh_lock("here"):
        # "there" is another machine, its clock past the lease: PostgreSQL's clock rules.
        holder = lock_holder(there.database, clock=two_minutes_ahead)
        assert holder is not None and holder.owner == "here"
        with pytest.raises(RefreshInProgressError, match="here"), \
                hold_refresh_lock(there.database, "there", clock=two_minutes_ahead):
            pass


def test_on_sqlite_the_lock_lease_is_timed_by_this_machines_clock(tmp_path: Path) -> None:
    # One machine, one clock: a clock run past the lease finds the lock expired.
    with Store.open(f"sqlite:///{tmp_path}/lock.sqlite3") as store, store.refresh_lock("here"):
        assert lock_holder(store.database, clock=two_minutes_ahead) is None
        with hold_refresh_lock(store.database, "later", clock=two_minutes_ahead) as later:
            assert later.owner == "later"


@pytest.mark.parametrize("written", ["postgresql://feedsvc:secret@db.test/feeds",
                                     "postgres://feedsvc:secret@db.test/feeds"])
def test_a_postgresql_url_naming_no_driver_uses_psycopg_3(tmp_path: Path, written: str) -> None:
    settings = settings_from_mapping({"storage": {"database": written}},
                                     config_path=tmp_path / "feedsvc.toml")
    assert settings.storage.database == "postgresql+psycopg://feedsvc:secret@db.test/feeds"
    sa.make_url(settings.storage.database).get_dialect().import_dbapi()  # installed


@pytest.mark.slow
def test_processes_rebuilding_the_indexes_at_once_build_them_once(
    postgres_database: Callable[..., str],
) -> None:
    # As a store opened while another process ends a bulk load: both build the indexes.
    url = postgres_database()
    first, second = open_database(url), open_database(url)
    with first.write() as conn:
        drop_indexes(conn)
    errors: list[BaseException] = []

    def rebuild() -> None:
        try:
            with second.write() as conn:
                ensure_indexes(conn)
        except BaseException as exc:
            errors.append(exc)

    with first.write() as conn:
        ensure_indexes(conn)
        other = threading.Thread(target=rebuild)
        other.start()
        time.sleep(0.5)  # the other one is waiting on us by now
    other.join(timeout=60)
    first.dispose()
    second.dispose()
    assert errors == []


@pytest.mark.slow
def test_a_server_in_another_time_zone_keeps_the_same_times(
    postgres_database: Callable[..., str], tmp_path: Path,
) -> None:
    def history(url: str) -> tuple[Any, ...]:
        with Store.open(url) as store:
            store.merge("a", [ALPHA, BETA], T0)
            store.record_failure("a", T1, "boom")
            run = store.start_run(T1)
            store.finish_run(run, T2, ok=True, published=True, summary=RunSummary())
            state = store.source_state("a")
            assert state is not None
            return (tuple((i.first_seen, i.updated) for i in every_item(store)),
                    state.last_success, state.failing_since, store.run_durations())

    url = postgres_database()
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:  # 14 hours ahead of UTC, for every session
        conn.execute(sa.text(f"ALTER DATABASE {sa.make_url(url).database} "
                             "SET timezone TO 'Pacific/Kiritimati'"))
    engine.dispose()
    on_postgres = history(url)
    assert on_postgres == history(f"sqlite:///{tmp_path}/store.sqlite3")
    assert on_postgres[0][0][0] == T0
