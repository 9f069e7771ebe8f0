"""A refresh's summary is kept as columns and read back as the record the refresh made.

Every source status, with the fields that go with it, survives the store on
SQLite and PostgreSQL; pruning the run history takes the runs' rows with it;
and /status words a failed run from the typed record as it always did.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from feedsvc.models import Validators
from feedsvc.outcomes import RunSummary, SourceReport, SourceStatus
from feedsvc.pipeline import Read, Skipped
from feedsvc.status import run_error
from feedsvc.store import Store

T0 = dt.datetime(2026, 11, 22, 6, 0, tzinfo=dt.UTC)
RETRY = dt.datetime(2026, 11, 22, 7, 30, tzinfo=dt.UTC)

EVERY_STATUS = RunSummary(feed_count=5, item_count=42, sources=(
    SourceReport("harbour", found=12, new=2, updated=1, warnings=3, warning_messages=(
        "harbour: line 4: no date", "harbour: line 9: «odd» — 'quoted'\nover two lines",
        "... and 1 more warning(s)")),
    SourceReport("quiet", found=7),
    SourceReport("lighthouse", status=SourceStatus.NOT_MODIFIED),
    SourceReport("pier", status=SourceStatus.UNCHANGED),
    SourceReport("ferry", status=SourceStatus.FAILED, error="HTTP 503 from the server",
                 stale=True),
    SourceReport("tower", status=SourceStatus.SKIPPED, retry_at=RETRY),
))


def run_rows(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {table: conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                    for table in ("refresh_runs", "refresh_run_sources",
                                  "refresh_run_warnings")}
    finally:
        engine.dispose()


@pytest.mark.both_engines
def test_every_status_reads_back_as_it_was_recorded(database_url: Callable[..., str]) -> None:
    with Store.open(database_url()) as store:
        run = store.start_run(T0)
        store.finish_run(run, T0 + dt.timedelta(seconds=2), ok=False, published=True,
                         summary=EVERY_STATUS)
        last = store.last_run()
    assert last is not None and last.summary == EVERY_STATUS
    assert [source.status for source in last.summary.sources] == [
        SourceStatus.MERGED, SourceStatus.MERGED, SourceStatus.NOT_MODIFIED,
        SourceStatus.UNCHANGED, SourceStatus.FAILED, SourceStatus.SKIPPED]
    assert last.summary.sources[5].retry_at == RETRY


@pytest.mark.both_engines
def test_a_run_still_under_way_has_no_summary_and_an_abandoned_one_its_reason(
    database_url: Callable[..., str],
) -> None:
    with Store.open(database_url()) as store:
        run = store.start_run(T0)
        running = store.last_run(finished=False)
        assert running is not None and running.summary is None
        store.finish_run(run, T0, ok=False, published=False,
                         summary=RunSummary(error="abandoned: KeyboardInterrupt"))
        last = store.last_run()
    assert last is not None and last.summary == RunSummary(error="abandoned: KeyboardInterrupt")
    assert run_error(last) == "abandoned: KeyboardInterrupt"


@pytest.mark.both_engines
def test_pruned_runs_take_their_sources_and_warnings_with_them(
    database_url: Callable[..., str],
) -> None:
    url = database_url()
    with Store.open(url) as store:
        for step in range(4):
            run = store.start_run(T0 + dt.timedelta(minutes=step))
            store.finish_run(run, T0 + dt.timedelta(minutes=step, seconds=1), ok=False,
                             published=False, summary=EVERY_STATUS, keep=2)
        assert store.last_run() is not None
    assert run_rows(url) == {"refresh_runs": 2, "refresh_run_sources": 12,
                             "refresh_run_warnings": 6}


def test_a_failed_run_is_worded_from_its_sources() -> None:
    assert EVERY_STATUS.failure() == ("ferry: HTTP 503 from the server; "
                                      "tower: skipped: still failing")
    assert RunSummary(error="nothing to publish", sources=EVERY_STATUS.sources).failure() \
        == "nothing to publish"
    assert RunSummary(sources=EVERY_STATUS.sources[:4]).failure() is None


def test_warning_lines_are_those_of_the_sources_merged() -> None:
    assert EVERY_STATUS.warning_messages() == {
        "harbour": ["line 4: no date", "line 9: «odd» — 'quoted'\nover two lines",
                    "... and 1 more warning(s)"],
        "quiet": [],
    }


def test_an_outcome_holds_only_what_its_status_allows() -> None:
    with pytest.raises(ValueError, match="FAILED only"):
        SourceReport("ferry", status=SourceStatus.FAILED)
    with pytest.raises(ValueError, match="FAILED only"):
        SourceReport("ferry", error="boom")
    with pytest.raises(ValueError, match="use Failed or Skipped"):
        Read(items=(), validators=Validators(), status=SourceStatus.SKIPPED)
    assert Skipped(RETRY).retry_at == RETRY


def test_the_json_report_keeps_its_flags() -> None:
    """``feedsvc refresh --json`` and the logs show one flag per status, as before."""
    by_name = {source.name: source.to_json() for source in EVERY_STATUS.sources}
    assert {name: [flag for flag in ("skipped", "not_modified", "unchanged", "ok")
                   if raw[flag]] for name, raw in by_name.items()} == {
        "harbour": ["ok"], "quiet": ["ok"], "lighthouse": ["not_modified", "ok"],
        "pier": ["unchanged", "ok"], "ferry": [], "tower": ["skipped"]}
    assert by_name["tower"]["retry_at"] == "2026-11-22T07:30:00+00:00"
    assert by_name["ferry"]["error"] == "HTTP 503 from the server"
