"""The refresh pipeline end to end: a real store (SQLite in tmp, and PostgreSQL) and the real
renderer in tmp, fixed times.

Listings are files in data/pipeline copied into tmp (local sources) or served
by a fake fetcher (remote sources). Every test reads what was published
through ``open_publication``, as the web layer does.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from stored_items import every_item

from feedsvc import cli
from feedsvc.errors import FetchError, RefreshInProgressError
from feedsvc.feeds import FeedLink, SiteSnapshot
from feedsvc.fetch.routing import RoutingFetcher
from feedsvc.models import FeedSpec, Validators
from feedsvc.outcomes import RunSummary
from feedsvc.pipeline import DUPLICATE_WARNING, DefaultRenderer, RefreshReport, refresh
from feedsvc.publication import current_generation, open_publication
from feedsvc.settings import Settings
from feedsvc.status import read_status, retry_after
from feedsvc.store import SourceState, Store

T0 = dt.datetime(2026, 11, 22, 6, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)
REMOTE = "https://listings.test/news.txt"
PAGE1, PAGE2 = "https://news.test/news?page=1", "https://news.test/news?page=2"

Build = Callable[..., Settings]

pytestmark = pytest.mark.both_engines


@pytest.fixture
def listings(tmp_path: Path, pipeline_data: Path) -> Path:
    """tmp/listings holding a.txt (site-a) and b.txt (site-b)."""
    directory = tmp_path / "listings"
    directory.mkdir()
    shutil.copy(pipeline_data / "site-a.txt", directory / "a.txt")
    shutil.copy(pipeline_data / "site-b.txt", directory / "b.txt")
    return directory


@pytest.fixture
def settings(make_settings: Build, listings: Path) -> Settings:
    return make_settings([
        {"name": "a", "location": "listings/a.txt", "language": "en"},
        {"name": "b", "location": "listings/b.txt", "language": "en"},
    ])


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with Store.open(settings.storage.database) as opened:
        yield opened


def published(settings: Settings) -> dict[str, bytes]:
    """Every published file's bytes, by path (feeds, OPML, manifest, site.json)."""
    publication = open_publication(settings.storage.publish_dir)
    assert publication is not None, "nothing is published"
    root = publication.directory
    assert root is not None
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


def site_snapshot(settings: Settings) -> SiteSnapshot:
    publication = open_publication(settings.storage.publish_dir)
    assert publication is not None
    return publication.site


def guids_by_title(settings: Settings) -> dict[str, str]:
    return {item.title: item.guid for item in site_snapshot(settings).latest}


def atom_entry(settings: Settings, guid: str) -> str:
    atom = published(settings)["feeds/all.atom"].decode()
    start = atom.index(f"<id>{guid}</id>")
    return atom[start: atom.index("</entry>", start)]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new), "utf-8")


# --- publishing ---------------------------------------------------------------------


@pytest.mark.slow
def test_first_refresh_publishes_every_feed_in_every_format(settings: Settings) -> None:
    report = refresh(settings, now=T0)
    assert report.ok and report.published
    assert report.summary_lines() == [
        "a: 4 found, 4 new, 0 updated, 0 warnings",
        "b: 2 found, 1 new, 0 updated, 0 warnings",
        "2 of 2 sources ok; published 4 feeds with 5 items",
    ]
    files = published(settings)
    for key in ("all", "category/press-release", "category/feature", "category/statement"):
        for fmt in ("atom", "rss", "json"):
            assert f"feeds/{key}.{fmt}" in files
            assert f"feeds/{key}.{fmt}.gz" in files
    assert "feeds.opml" in files
    json.dumps(report.to_json())


@pytest.mark.slow
def test_two_refreshes_in_a_row_give_byte_identical_feeds(settings: Settings) -> None:
    first = refresh(settings, now=T0)
    before = published(settings)
    generation = current_generation(settings.storage.publish_dir)
    second = refresh(settings, now=T0 + 30 * MINUTE)
    assert first.published and not second.published
    assert second.ok
    assert second.summary_lines()[-1] == "2 of 2 sources ok; feeds unchanged (4 feeds with 5 items)"
    assert published(settings) == before
    assert current_generation(settings.storage.publish_dir) == generation


@pytest.mark.slow
def test_feed_dates_come_from_items_never_from_the_clock(settings: Settings) -> None:
    refresh(settings, now=T0)
    atom = published(settings)["feeds/all.atom"].decode()
    assert "<updated>2026-11-22T07:00:00+01:00</updated>" in atom
    assert "2024-03-12T12:30:00+01:00" in atom


# --- identity and history ------------------------------------------------------------


@pytest.mark.slow
def test_ids_survive_reordering_edits_and_moving_to_another_source(
    settings: Settings, listings: Path
) -> None:
    refresh(settings, now=T0)
    before = guids_by_title(settings)
    a, b = listings / "a.txt", listings / "b.txt"
    # Reorder: the two 12 March items swap places.
    text = a.read_text("utf-8")
    harbour, weaver = text.index("  1. Press release"), text.index("  2. © Example")
    statement = text.index("  3. Statement")
    a.write_text(text[:harbour] + text[weaver:statement] + text[harbour:weaver]
                 + text[statement:], "utf-8")
    # Edit a summary and a category.
    edit(a, "Forty families now share looms", "Forty-two families now share looms")
    edit(a, "  4. Press release\n\n    Youth", "  4. Report\n\n    Youth")
    # Move the statement from a to b.
    text = a.read_text("utf-8")
    moved = text[text.index("  3. Statement"): text.index("  4. Report")]
    a.write_text(text.replace(moved, ""), "utf-8")
    b.write_text(b.read_text("utf-8") + "\n" + moved, "utf-8")

    report = refresh(settings, now=T0 + 30 * MINUTE)
    assert report.ok and report.published
    assert guids_by_title(settings) == before
    assert [s.updated for s in report.sources] == [2, 0]
    weaver_entry = atom_entry(settings, before["A weaver's cooperative doubles its members"])
    assert "<updated>2026-11-22T07:30:00+01:00</updated>" in weaver_entry
    harbour_entry = atom_entry(settings, before["Harbour workers agree on new safety code"])
    assert "<updated>2026-11-22T07:00:00+01:00</updated>" in harbour_entry
    feeds = {link.key for link in site_snapshot(settings).feeds}
    assert "category/report" in feeds


def _entry_updated_times(settings: Settings) -> dict[str, str]:
    atom = published(settings)["feeds/all.atom"].decode()
    pairs = re.findall(r"<entry[^>]*>\s*<id>([^<]+)</id>.*?<updated>([^<]+)</updated>", atom, re.S)
    return dict(pairs)


@pytest.mark.slow
def test_an_edit_changes_the_edited_entrys_updated_time_only(
    settings: Settings, listings: Path
) -> None:
    refresh(settings, now=T0)
    before = _entry_updated_times(settings)
    assert len(set(before.values())) == len(before), "entries share an updated time"
    edit(listings / "a.txt", "Forty families now share looms", "Forty-two families share looms")
    refresh(settings, now=T0 + 30 * MINUTE)
    after = _entry_updated_times(settings)
    changed = {guid for guid in before if before[guid] != after[guid]}
    assert changed == {guids_by_title(settings)["A weaver's cooperative doubles its members"]}
    assert len(set(after.values())) == len(after)


@pytest.mark.slow
def test_items_that_leave_their_listing_stay_in_the_feeds(
    settings: Settings, listings: Path
) -> None:
    refresh(settings, now=T0)
    text = (listings / "a.txt").read_text("utf-8")
    (listings / "a.txt").write_text(text[: text.index("  2. ")], "utf-8")
    report = refresh(settings, now=T0 + 30 * MINUTE)
    assert report.sources[0].found == 1
    assert "Youth employment report due next week" in guids_by_title(settings)
    assert len(site_snapshot(settings).latest) == 5


@pytest.mark.slow
def test_the_same_item_in_two_sources_is_one_item(settings: Settings) -> None:
    refresh(settings, now=T0)
    titles = [item.title for item in site_snapshot(settings).latest]
    assert titles.count("Harbour workers agree on new safety code") == 1
    assert len(titles) == 5


# --- failing sources -------------------------------------------------------------------


def break_missing(path: Path, data: Path) -> None:
    path.unlink()


def break_garbage(path: Path, data: Path) -> None:
    shutil.copy(data / "garbage.txt", path)


def break_binary(path: Path, data: Path) -> None:
    shutil.copy(data / "binary.bin", path)


def break_empty(path: Path, data: Path) -> None:
    path.write_bytes(b"")


def break_directory(path: Path, data: Path) -> None:
    path.unlink()
    path.mkdir()


@pytest.mark.slow
def test_a_source_with_no_items_says_what_the_parser_saw(
    make_settings: Build, make_fetcher: Any, pipeline_data: Path
) -> None:
    settings = make_settings([{"name": "h", "location": PAGE1, "format": "html",
                               "language": "en"}])
    fetcher = make_fetcher({PAGE1: (pipeline_data / "html-page1.html").read_bytes()})
    assert refresh(settings, now=T0, fetcher=fetcher).sources[0].found == 2
    # The site was redesigned: no element matches the item selector any more.
    fetcher.responses[PAGE1] = b"<html><body><div class='card'>News</div></body></html>"
    failure = refresh(settings, now=T0 + 30 * MINUTE, fetcher=fetcher).sources[0]
    # What follows the colon is the HTML reader's own word on the page.
    assert failure.error is not None
    assert failure.error.startswith("no items found (it listed 2 before): ")


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (break_missing, "file not found"),
        (break_garbage, "no items found (it listed 2 before)"),
        (break_binary, "binary"),
        (break_empty, ""),
        (break_directory, "not a file"),
    ],
)
@pytest.mark.slow
def test_a_broken_source_leaves_the_feeds_as_they_were(
    settings: Settings, listings: Path, pipeline_data: Path,
    breakage: Callable[[Path, Path], None], message: str,
) -> None:
    refresh(settings, now=T0)
    before = published(settings)
    breakage(listings / "b.txt", pipeline_data)

    report = refresh(settings, now=T0 + 30 * MINUTE)

    assert not report.ok
    assert not report.published
    assert report.sources[0].ok
    failure = report.sources[1]
    assert failure.error is not None and message in failure.error
    assert report.summary_lines()[1].startswith("b: FAILED: ")
    assert report.summary_lines()[-1].startswith("1 of 2 sources ok; feeds unchanged")
    assert published(settings) == before
    assert "Ministers meet on skills funding" in guids_by_title(settings)


@pytest.mark.slow
def test_a_source_that_never_worked_never_becomes_an_item(
    make_settings: Build, listings: Path
) -> None:
    settings = make_settings([
        {"name": "a", "location": "listings/a.txt"},
        {"name": "gone", "location": "listings/nowhere.txt"},
    ])
    report = refresh(settings, now=T0)
    assert report.published and not report.ok
    titles = " ".join(guids_by_title(settings))
    assert "nowhere" not in titles and "not found" not in titles
    assert len(site_snapshot(settings).latest) == 4


def test_nothing_is_published_while_the_store_is_empty(make_settings: Build,
                                                      tmp_path: Path) -> None:
    settings = make_settings([{"name": "gone", "location": "listings/nowhere.txt"}])
    report = refresh(settings, now=T0)
    assert not report.ok and not report.published
    assert report.summary_lines()[-1] == (
        "0 of 1 sources ok; nothing published: the store holds no items yet")
    assert open_publication(settings.storage.publish_dir) is None
    with Store.open(settings.storage.database) as store:
        last = read_status(store, settings, now=T0)["last_refresh"]
    assert last["error"] == "the store holds no items yet"


@pytest.mark.slow
def test_a_failing_source_recovers_and_status_shows_it(
    settings: Settings, listings: Path, store: Store
) -> None:
    refresh(settings, now=T0, store=store)
    good = (listings / "b.txt").read_bytes()
    (listings / "b.txt").unlink()
    refresh(settings, now=T0 + 30 * MINUTE, store=store)
    failing = read_status(store, settings, now=T0 + 7 * 60 * MINUTE)
    b = failing["sources"]["b"]
    assert b["consecutive_failures"] == 1
    assert b["failing_since"] == "2026-11-22T06:30:00+00:00"
    assert b["stale"] is True  # failing for 6.5 hours, stale_after is 6
    assert b["items"] == 2
    assert "file not found" in b["last_error"]
    assert failing["sources"]["a"]["stale"] is False
    assert failing["last_refresh"]["ok"] is False
    assert failing["last_refresh"]["error"] == f"b: {b['last_error']}"

    (listings / "b.txt").write_bytes(good)
    refresh(settings, now=T0 + 60 * MINUTE, store=store)
    healed = read_status(store, settings, now=T0 + 7 * 60 * MINUTE)
    assert healed["sources"]["b"]["consecutive_failures"] == 0
    assert healed["sources"]["b"]["stale"] is False
    assert healed["sources"]["b"]["last_success"] == "2026-11-22T07:00:00+00:00"
    assert healed["last_refresh"]["ok"] is True
    assert healed["last_refresh"]["error"] is None
    assert healed["last_refresh"]["started"] == "2026-11-22T07:00:00+00:00"
    json.dumps(healed)


def test_status_before_any_refresh(settings: Settings, store: Store) -> None:
    status = read_status(store, settings, now=T0)
    assert status["last_refresh"] is None
    assert status["sources"]["a"]["items"] == 0


# --- remote sources: validators, back-off, pages ---------------------------------------


@pytest.mark.slow
def test_a_not_modified_source_keeps_its_items(
    make_settings: Build, make_fetcher: Any, pipeline_data: Path
) -> None:
    settings = make_settings([{"name": "r", "location": REMOTE}])
    fetcher = make_fetcher({REMOTE: (pipeline_data / "site-a.txt").read_bytes()},
                           etags={REMOTE: '"v1"'})
    assert refresh(settings, now=T0, fetcher=fetcher).published
    report = refresh(settings, now=T0 + 30 * MINUTE, fetcher=fetcher)
    assert report.ok and not report.published
    assert report.summary_lines()[0] == "r: not modified"
    assert fetcher.calls[1][2].etag == '"v1"'
    assert len(site_snapshot(settings).latest) == 4


@pytest.mark.slow
def test_a_failing_remote_source_is_retried_less_and_less_often(
    make_settings: Build, make_fetcher: Any, listings: Path
) -> None:
    settings = make_settings([
        {"name": "r", "location": REMOTE},
        {"name": "local", "location": "listings/missing.txt"},
    ])
    fetcher = make_fetcher({})

    def attempted(at: dt.timedelta) -> tuple[bool, bool]:
        fetcher.calls.clear()
        report = refresh(settings, now=T0 + at, fetcher=fetcher)
        assert not report.ok
        locations = fetcher.locations()
        assert str(listings / "missing.txt") in locations  # local files: every time
        return REMOTE in locations, report.sources[0].skipped

    assert attempted(0 * MINUTE) == (True, False)  # 1 failure: wait one interval
    assert attempted(10 * MINUTE) == (False, True)
    assert attempted(30 * MINUTE) == (True, False)  # 2 failures: wait two intervals
    assert attempted(60 * MINUTE) == (False, True)
    assert attempted(90 * MINUTE) == (True, False)  # 3 failures: wait four
    assert attempted(180 * MINUTE) == (False, True)
    assert attempted(210 * MINUTE) == (True, False)


@pytest.mark.slow
def test_html_sources_follow_next_pages_and_stop_at_a_loop(
    make_settings: Build, make_fetcher: Any, pipeline_data: Path
) -> None:
    page1, page2 = PAGE1, PAGE2
    settings = make_settings([
        {"name": "h", "location": page1, "format": "html", "language": "en", "max_pages": 5},
    ])
    fetcher = make_fetcher({
        page1: (pipeline_data / "html-page1.html").read_bytes(),
        page2: (pipeline_data / "html-page2.html").read_bytes(),
    }, etags={page1: '"p1"', page2: '"p2"'})
    report = refresh(settings, now=T0, fetcher=fetcher)
    assert report.summary_lines()[0] == "h: 3 found, 3 new, 0 updated, 1 warnings"
    assert fetcher.locations() == [page1, page2]
    assert fetcher.calls[1][2] is None  # later pages are fetched without validators
    links = {item.title: item.link for item in site_snapshot(settings).latest}
    assert links["Ministers meet on skills funding"] == "https://news.test/news/skills"


@pytest.mark.parametrize(
    ("page2", "reason"),
    [
        (FetchError("HTTP 503 Service Unavailable", source="h"), "HTTP 503 Service Unavailable"),
        (FetchError("HTTP 404 Not Found", source="h"), "HTTP 404 Not Found"),
        ("binary.bin", "binary"),
    ],
)
def test_a_next_page_that_cannot_be_read_keeps_the_pages_before_it(
    make_settings: Build, make_fetcher: Any, pipeline_data: Path, page2: Any, reason: str
) -> None:
    settings = make_settings([
        {"name": "h", "location": PAGE1, "format": "html", "language": "en", "max_pages": 5},
    ])
    fetcher = make_fetcher({
        PAGE1: (pipeline_data / "html-page1.html").read_bytes(),
        PAGE2: (pipeline_data / page2).read_bytes() if isinstance(page2, str) else page2,
    })
    report = refresh(settings, now=T0, fetcher=fetcher)
    source = report.sources[0]
    assert report.ok and report.published
    assert (source.found, source.new, source.warnings) == (2, 2, 1)
    (message,) = source.warning_messages
    assert message.startswith("h: page 2 could not be read: ")
    assert reason in message and message.endswith("; stopped there")
    assert fetcher.locations() == [PAGE1, PAGE2]
    assert len(site_snapshot(settings).latest) == 2


@pytest.mark.slow
def test_html_sources_stop_at_max_pages(
    make_settings: Build, make_fetcher: Any, pipeline_data: Path
) -> None:
    page1 = "https://news.test/news?page=1"
    settings = make_settings([{"name": "h", "location": page1, "format": "html"}])
    fetcher = make_fetcher({page1: (pipeline_data / "html-page1.html").read_bytes()})
    assert refresh(settings, now=T0, fetcher=fetcher).sources[0].found == 2
    assert fetcher.locations() == [page1]


@pytest.mark.parametrize(
    "change",
    [
        {"location": "https://news.test/news?page=1&v=2"},
        {"language": None},
        {"selectors": {"summary": "h2"}},
        {"max_pages": 2},
    ],
)
@pytest.mark.slow
def test_a_changed_source_config_is_read_in_full_even_if_not_modified(
    make_settings: Build, make_fetcher: Any, pipeline_data: Path, change: dict[str, Any]
) -> None:
    html = (pipeline_data / "html-page1.html").read_bytes()
    before = {"name": "h", "location": PAGE1, "format": "html", "language": "en"}
    after = {key: value for key, value in {**before, **change}.items() if value is not None}
    # Both addresses answer "not modified" to their current etag.
    fetcher = make_fetcher({PAGE1: html, after["location"]: html, PAGE2: html},
                           etags={PAGE1: '"v1"', after["location"]: '"v1"'})
    refresh(make_settings([before]), now=T0, fetcher=fetcher)
    assert refresh(make_settings([before]), now=T0 + 30 * MINUTE, fetcher=fetcher
                   ).summary_lines()[0] == "h: not modified"

    fetcher.calls.clear()
    changed = make_settings([after])
    report = refresh(changed, now=T0 + 60 * MINUTE, fetcher=fetcher)
    assert fetcher.calls[0][1:] == (after["location"], None)  # no validators sent
    assert not report.sources[0].not_modified and report.sources[0].found == 2
    # From then on, the validators stored under the new configuration are used.
    report = refresh(changed, now=T0 + 90 * MINUTE, fetcher=fetcher)
    assert report.summary_lines()[0] == "h: not modified"


@pytest.mark.slow
def test_a_failing_remote_source_fixed_in_the_config_is_retried_at_once(
    make_settings: Build, make_fetcher: Any, pipeline_data: Path
) -> None:
    fixed_location = "https://listings.test/moved/news.txt"
    broken = make_settings([{"name": "r", "location": REMOTE}])
    fixed = make_settings([{"name": "r", "location": fixed_location}])
    fetcher = make_fetcher({fixed_location: (pipeline_data / "site-a.txt").read_bytes()})
    assert refresh(broken, now=T0, fetcher=fetcher).sources[0].error is not None
    assert refresh(broken, now=T0 + 10 * MINUTE, fetcher=fetcher).sources[0].skipped
    report = refresh(fixed, now=T0 + 10 * MINUTE, fetcher=fetcher)
    assert report.ok and report.sources[0].found == 4
    assert fetcher.locations() == [REMOTE, fixed_location]


def test_different_items_with_the_same_date_and_title_are_reported(
    make_settings: Build, make_fetcher: Any
) -> None:
    listing = textwrap.dedent("""\
        March 2024

          1. Press release

            Harbour workers agree on new safety code

            12 March 2024

            The code was signed in Rotterdam.

          2. Statement

            Harbour workers agree on new safety code

            12 March 2024

            A statement on the new code.
        """)
    second = listing.splitlines().index("  2. Statement") + 1
    settings = make_settings([{"name": "r", "location": REMOTE, "language": "en"}])
    report = refresh(settings, now=T0, fetcher=make_fetcher({REMOTE: listing.encode()}))
    assert report.summary_lines()[0] == "r: 1 found, 1 new, 0 updated, 1 warnings"
    assert report.sources[0].warning_messages == (
        f"r: line {second}: 'Harbour workers agree on new safety code' (2024-03-12): "
        f"{DUPLICATE_WARNING}",
    )
    (item,) = site_snapshot(settings).latest
    assert (item.category, item.summary) == ("Press release", "The code was signed in Rotterdam.")


# --- categories ------------------------------------------------------------------------


@pytest.mark.slow
def test_a_category_whose_last_item_moved_keeps_an_empty_feed(
    settings: Settings, listings: Path
) -> None:
    refresh(settings, now=T0)
    edit(listings / "a.txt", "  3. Statement\n", "  3. Feature\n")
    report = refresh(settings, now=T0 + 30 * MINUTE)
    assert report.ok and report.published and report.feed_count == 4
    files = published(settings)
    for fmt in ("atom", "rss", "json"):
        assert f"feeds/category/statement.{fmt}" in files
    assert b"<entry" not in files["feeds/category/statement.atom"]
    assert json.loads(files["feeds/category/statement.json"])["items"] == []
    assert b"http://feeds.test/feeds/category/statement.atom" in files["feeds.opml"]
    links = {link.key: link for link in site_snapshot(settings).feeds}
    statement = links["category/statement"]
    assert (statement.label, statement.item_count, statement.newest) == ("Statement", 0, None)
    assert links["category/feature"].item_count == 2


# --- interruptions ---------------------------------------------------------------------


class InterruptingRenderer(DefaultRenderer):
    """The real renderer, until its ``calls``-th feed: then it raises ``exc``."""

    def __init__(self, calls: int, exc: BaseException) -> None:
        self.left = calls
        self.exc = exc

    def render_feed(self, spec: FeedSpec, fmt: str) -> bytes:
        self.left -= 1
        if self.left == 0:
            raise self.exc
        return super().render_feed(spec, fmt)


def test_an_interrupted_fetch_leaves_store_and_publication_as_they_were(
    settings: Settings, listings: Path, store: Store, make_fetcher: Any
) -> None:
    refresh(settings, now=T0, store=store)
    before, items_before = published(settings), every_item(store)
    edit(listings / "a.txt", "Forty families", "Fifty families")
    fetcher = make_fetcher({
        str(listings / "a.txt"): (listings / "a.txt").read_bytes(),
        str(listings / "b.txt"): KeyboardInterrupt(),
    })
    with pytest.raises(KeyboardInterrupt):
        refresh(settings, now=T0 + 30 * MINUTE, store=store, fetcher=fetcher)
    assert published(settings) == before
    assert every_item(store) == items_before
    assert store.lock_holder() is None
    last = store.last_run()
    assert last is not None and last.ok is False
    assert last.summary == RunSummary(error="abandoned: KeyboardInterrupt")
    status = read_status(store, settings, now=T0 + 30 * MINUTE)
    assert status["last_refresh"]["error"] == "abandoned: KeyboardInterrupt"


@pytest.mark.parametrize("exc", [SystemExit(3), KeyboardInterrupt(), MemoryError()])
@pytest.mark.slow
def test_a_refresh_killed_while_rendering_leaves_the_publication_intact(
    settings: Settings, listings: Path, store: Store, exc: BaseException
) -> None:
    refresh(settings, now=T0, store=store)
    before = published(settings)
    edit(listings / "a.txt", "Forty families", "Fifty families")
    with pytest.raises(type(exc)):
        refresh(settings, now=T0 + 30 * MINUTE, store=store,
                renderer=InterruptingRenderer(5, exc))
    assert published(settings) == before
    # The merge had finished: the next refresh publishes the edit.
    report = refresh(settings, now=T0 + 60 * MINUTE, store=store)
    assert report.published and report.sources[0].updated == 0
    assert b"Fifty families" in published(settings)["feeds/all.atom"]


def run_python(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )


def write_config(tmp_path: Path, database: str) -> Path:
    """The settings file of the ``settings`` fixture, on the store ``database``."""
    config = tmp_path / "feedsvc.toml"
    config.write_text(textwrap.dedent(f"""\
        [site]
        title = "Test Newsroom"
        base_url = "http://feeds.test/"
        description = "Items for tests"
        timezone = "Europe/Zurich"

        [storage]
        database = "{database}"
        publish_dir = "var/public"

        [schedule]
        interval = "30m"
        stale_after = "6h"

        [[sources]]
        name = "a"
        location = "listings/a.txt"
        language = "en"

        [[sources]]
        name = "b"
        location = "listings/b.txt"
        language = "en"
        """), "utf-8")
    return config


KILLED_WHILE_PUBLISHING = """
    import signal, sys
    from feedsvc.pipeline import DefaultRenderer, refresh
    from feedsvc.settings import load_settings

    class StoppingRenderer(DefaultRenderer):
        # The real renderer, until the publication being written holds a few
        # documents: then the process stops there, waiting to be killed.
        rendered = 0

        def render_feed(self, spec, fmt):
            self.rendered += 1
            if self.rendered == 7:
                print("PUBLISHING", flush=True)
                signal.pause()
            return super().render_feed(spec, fmt)

    refresh(load_settings(sys.argv[1]), renderer=StoppingRenderer())
"""


@pytest.mark.slow
def test_a_refresh_killed_with_sigkill_while_publishing_leaves_the_old_feeds(
    tmp_path: Path, settings: Settings, listings: Path
) -> None:
    config = write_config(tmp_path, settings.storage.database)
    refresh(settings, now=T0)
    before = published(settings)
    edit(listings / "a.txt", "Forty families", "Fifty families")

    with run_python(KILLED_WHILE_PUBLISHING, str(config)) as child:
        assert child.stdout is not None
        assert child.stdout.readline() == "PUBLISHING\n"
        child.kill()

    generations = settings.storage.publish_dir / "generations"
    # Killed half way through: a staging generation holds some of the new documents.
    staging = [p for p in generations.iterdir() if p.name.startswith(".staging-")]
    assert len(staging) == 1 and any(staging[0].rglob("*.atom"))
    assert published(settings) == before
    # The dead refresh's lock is taken over; its half-written generation is swept.
    report = refresh(settings, now=T0 + 60 * MINUTE)
    assert report.published
    assert b"Fifty families" in published(settings)["feeds/all.atom"]
    assert not [p for p in generations.iterdir() if p.name.startswith(".staging-")]


HOLD_THE_LOCK = """
    import sys
    from feedsvc.store import Store

    with Store.open(sys.argv[1]) as store, store.refresh_lock("the other process"):
        print("LOCKED", flush=True)
        sys.stdin.read()
"""


@pytest.mark.slow
def test_a_refresh_is_refused_while_another_process_holds_the_lock(
    settings: Settings,
) -> None:
    Store.open(settings.storage.database).close()
    with run_python(HOLD_THE_LOCK, settings.storage.database) as child:
        assert child.stdout is not None and child.stdin is not None
        try:
            assert child.stdout.readline() == "LOCKED\n"
            with pytest.raises(RefreshInProgressError, match="the other process"):
                refresh(settings, now=T0)
        finally:
            child.stdin.close()
            assert child.wait(timeout=60) == 0
    assert refresh(settings, now=T0).published


@pytest.mark.slow
def test_a_dead_process_does_not_keep_the_lock(settings: Settings) -> None:
    Store.open(settings.storage.database).close()
    with run_python(HOLD_THE_LOCK, settings.storage.database) as child:
        assert child.stdout is not None
        assert child.stdout.readline() == "LOCKED\n"
        child.kill()
    assert refresh(settings, now=T0).published


RACE = """
    import sys
    from feedsvc.errors import RefreshInProgressError
    from feedsvc.pipeline import refresh
    from feedsvc.settings import load_settings

    settings = load_settings(sys.argv[1])
    sys.stdin.read()  # start together
    try:
        print("ok" if refresh(settings).ok else "failed", flush=True)
    except RefreshInProgressError:
        print("busy", flush=True)
"""


@pytest.mark.slow
def test_refreshes_racing_from_several_processes_never_overlap(
    tmp_path: Path, settings: Settings
) -> None:
    config = write_config(tmp_path, settings.storage.database)
    children = [run_python(RACE, str(config)) for _ in range(3)]
    outcomes = []
    for child in children:
        assert child.stdin is not None
        child.stdin.close()
    for child in children:
        with child:
            assert child.stdout is not None
            outcomes.append(child.stdout.read().strip())
            assert child.wait(timeout=120) == 0
    assert "ok" in outcomes
    assert set(outcomes) <= {"ok", "busy"}
    with Store.open(settings.storage.database) as store:
        assert store.run_count() == outcomes.count("ok")
        assert len(every_item(store)) == 5
    assert len(site_snapshot(settings).latest) == 5


def test_a_refresh_is_refused_while_this_process_holds_the_lock(
    settings: Settings, store: Store
) -> None:
    with store.refresh_lock("scheduler tick"):
        with pytest.raises(RefreshInProgressError, match="scheduler tick"):
            refresh(settings, now=T0, store=store)
        with pytest.raises(RefreshInProgressError):
            refresh(settings, now=T0)  # through its own connection
    assert open_publication(settings.storage.publish_dir) is None


# --- the command line ---------------------------------------------------------------------


@pytest.mark.slow
def test_feedsvc_refresh_on_the_bundled_config(
    bundled_site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--config", str(bundled_site), "refresh"]) == cli.EXIT_OK
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "newsroom-2021-01: 10 found, 10 new, 0 updated, 0 warnings",
        "newsroom-2021-11: 10 found, 10 new, 0 updated, 0 warnings",
        "2 of 2 sources ok; published 14 feeds with 20 items",
    ]
    publication = open_publication(bundled_site.parent.parent / "var" / "public")
    assert publication is not None
    categories = [link for link in publication.site.feeds if link.key.startswith("category/")]
    assert len(categories) == 13
    assert "category/press-release" in {link.key for link in categories}
    for link in [FeedLink("all", "", None, None, 0, None, ""), *categories]:
        for fmt in ("atom", "rss", "json"):
            assert f"feeds/{link.key}.{fmt}" in publication.files
    assert "feeds.opml" in publication.files


@pytest.mark.slow
def test_feedsvc_refresh_exits_2_when_a_source_fails(
    bundled_site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (bundled_site.parent / "listings" / "newsroom-2021-11.txt").unlink()
    assert cli.main(["--config", str(bundled_site), "refresh"]) == cli.EXIT_SOURCE_FAILED
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("newsroom-2021-11: FAILED: file not found")


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ('[site]\nbase_url = "ftp://example.test/"\n', "site.base_url"),
        ('[site]\nfeed_size = 0\n', "site.feed_size"),
        ('[[sources]]\nname = "x"\n', "sources[0].location"),
        ('[schedule]\ninterval = "soon"\n', "schedule.interval"),
    ],
)
def test_bad_config_gives_one_clear_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str, key: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(config, "utf-8")
    assert cli.main(["--config", str(path), "refresh"]) == cli.EXIT_ERROR
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("feedsvc: error: ")
    assert key in lines[0]
    assert captured.out == ""
    assert not (tmp_path / "var").exists()


def test_the_report_says_what_happened_as_json(settings: Settings) -> None:
    report: RefreshReport = refresh(settings, now=T0)
    raw = report.to_json()
    assert raw["ok"] is True and raw["published"] is True
    assert raw["started"] == "2026-11-22T06:00:00+00:00"
    assert [s["name"] for s in raw["sources"]] == ["a", "b"]
    assert raw["sources"][0]["found"] == 4


def test_the_routing_fetcher_sends_urls_to_http_and_paths_to_files(
    settings: Settings, make_fetcher: Any, listings: Path
) -> None:
    remote = make_fetcher({REMOTE: b"remote bytes"})
    fetcher = RoutingFetcher(settings, remote=remote)
    assert fetcher.fetch("r", REMOTE, None).body == b"remote bytes"
    local = fetcher.fetch("a", str(listings / "a.txt"), None)
    assert local.body == (listings / "a.txt").read_bytes()
    assert remote.locations() == [REMOTE]
    fetcher.close()


@pytest.mark.parametrize(
    ("failures", "hours"), [(1, 0.5), (2, 1), (3, 2), (6, 16), (7, 24), (30, 24)]
)
def test_retry_back_off_doubles_up_to_a_day(failures: int, hours: float) -> None:
    state = SourceState(
        name="r", validators=Validators(), last_success=None, last_attempt=T0,
        last_error="down", last_error_at=T0, failing_since=T0, consecutive_failures=failures,
        item_count=0, last_found=0, last_new=0, last_updated=0, last_warnings=0,
    )
    assert retry_after(state, 1800) == T0 + dt.timedelta(hours=hours)
