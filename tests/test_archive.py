"""Full history as RFC 5005 archived feeds: a reader walking ``prev-archive`` links from
any subscription document, in any format, meets every item of the feed exactly once,
and pages once published never change, however many items arrive after."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import feedparser
import pytest
from stored_items import every_item

from feedsvc.archive import (
    ARCHIVE_MAX_AGE,
    is_archive_path,
    new_page_bounds,
    page_run,
    page_size,
    pages_holding,
)
from feedsvc.feeds import FeedLink
from feedsvc.identity import slugify
from feedsvc.listing import render_numbered
from feedsvc.models import FeedSpec, ListingItem, StoredItem
from feedsvc.pipeline import DefaultRenderer, refresh
from feedsvc.publication import open_publication
from feedsvc.publishing import publisher_for
from feedsvc.settings import Settings
from feedsvc.store import Store
from feedsvc.web.app import create_app

pytestmark = pytest.mark.both_engines  # the refresh on SQLite and on PostgreSQL

T0 = dt.datetime(2026, 11, 22, 6, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)
CATEGORIES = ("Press release", "Video", "Statement")
FEED_SIZE = 4
BASE = "http://feeds.test/"


# --- page arithmetic (pure) ---


def test_pages_fill_by_half_the_feed_size_and_keep_at_most_feed_size_open() -> None:
    assert [page_size(n) for n in (1, 2, 3, 4, 50)] == [1, 1, 2, 2, 25]
    assert new_page_bounds([1, 2, 3, 4], 4) == []
    assert new_page_bounds([1, 2, 3, 4, 5], 4) == [2]
    assert new_page_bounds(list(range(10, 21)), 4) == [11, 13, 15, 17]
    # Gaps (items of other feeds) do not matter: runs are counted in items.
    assert new_page_bounds([3, 8, 9, 20, 21, 40], 4) == [8]
    assert new_page_bounds([5, 6], 1) == [5]


def test_pages_holding_and_runs() -> None:
    bounds = [2, 5, 9]
    assert pages_holding({1, 2, 3, 9, 10, 0}, bounds) == {1, 2, 3}
    assert pages_holding({4}, []) == set()
    assert [page_run(bounds, page) for page in (1, 2, 3)] == [(0, 2), (2, 5), (5, 9)]


@pytest.mark.parametrize(("path", "archived"), [
    ("feeds/all/archive/1.atom", True), ("feeds/category/video/archive/12.json", True),
    ("feeds/all.atom", False), ("feeds/category/video.rss", False),
    ("feeds/all/archive/0.atom", False), ("feeds/category/a/b/archive/1.atom", False),
])
def test_archive_paths(path: str, archived: bool) -> None:
    assert is_archive_path(path) is archived


# --- walking the chain ---


def listing_items(count: int, *, first: int = 0, newest: dt.date = dt.date(2021, 11, 30),
                  ) -> list[ListingItem]:
    made = []
    for index in range(first, first + count):
        made.append(ListingItem(
            title=f"Item number {index} on decent work",
            date=newest - dt.timedelta(days=index - first),
            category=CATEGORIES[index % len(CATEGORIES)] if index % 4 else None,
            credit=None, summary=f"What happened in item {index}.",
        ))
    return made


@pytest.fixture
def site(make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    (tmp_path / "listings").mkdir()
    return make_settings([{"name": "news", "location": "listings/news.txt"}],
                         site={"feed_size": FEED_SIZE, "base_url": BASE})


def write(settings: Settings, listing: Sequence[ListingItem]) -> None:
    Path(settings.sources[0].location).write_text(render_numbered(list(listing)), "utf-8")


def files(settings: Settings) -> dict[str, bytes]:
    publication = publisher_for(settings).live()
    assert publication is not None
    return {path: publication.read(path) for path in publication.files}


def live_generation(settings: Settings) -> str:
    publication = open_publication(settings.storage.publish_dir)
    assert publication is not None
    return publication.generation


def walk(documents: dict[str, bytes], key: str, fmt: str) -> list[tuple[str, bool, list[str]]]:
    """(path, is an archive, entry ids) of each document from the subscription document
    of ``key`` back along prev-archive (JSON Feed: next_url), as feedparser reads them."""
    path: str | None = f"feeds/{key}.{fmt}"
    walked: list[tuple[str, bool, list[str]]] = []
    while path is not None:
        assert path not in [seen for seen, _, _ in walked], "the chain loops"
        data = documents[path]
        if fmt == "json":
            feed = json.loads(data)
            ids = [item["id"] for item in feed["items"]]
            following = feed.get("next_url")
            archived = path != f"feeds/{key}.{fmt}"
            if archived:
                assert feed["feed_url"] == f"{BASE}feeds/{key}.json"
        else:
            parsed = feedparser.parse(data)
            assert not parsed.bozo, parsed.get("bozo_exception")
            ids = [entry.id for entry in parsed.entries]
            older = [link.href for link in parsed.feed.get("links", [])
                     if link.get("rel") == "prev-archive"]
            assert len(older) <= 1
            following = older[0] if older else None
            archived = b"<fh:archive/>" in data
            current = [link.href for link in parsed.feed.get("links", [])
                       if link.get("rel") == "current"]
            assert current == ([f"{BASE}feeds/{key}.{fmt}"] if archived else [])
            # Each page names the page after it, by the address it will have.
            after = [link.href for link in parsed.feed.get("links", [])
                     if link.get("rel") == "next-archive"]
            if archived:
                page = int(path.rpartition("/")[2].partition(".")[0])
                assert after == [f"{BASE}feeds/{key}/archive/{page + 1}.{fmt}"]
            else:
                assert after == []
        walked.append((path, archived, ids))
        path = following.removeprefix(BASE) if following else None
    return walked


def expected_ids(store: Store, key: str) -> list[str]:
    items = every_item(store)
    if key != "all":
        items = [item for item in items
                 if item.category and f"category/{slugify(item.category)}" == key]
    return sorted(item.guid for item in items)


def check_every_chain(settings: Settings, *, removed: bool = False) -> dict[str, bytes]:
    """Walk every feed in every format; each stored item is met exactly once. Pages
    hold ``page_size`` items each, fewer only after a removal (``removed``)."""
    documents = files(settings)
    live = publisher_for(settings).live()
    assert live is not None
    feeds = [link.key for link in live.site.feeds]
    assert "all" in feeds and len(feeds) == 1 + len(CATEGORIES)
    with Store.open(settings.storage.database) as store:
        for key in feeds:
            wanted = expected_ids(store, key)
            for fmt in ("atom", "rss", "json"):
                walked = walk(documents, key, fmt)
                met = Counter(i for _, _, ids in walked for i in ids)
                assert sorted(met) == wanted, (key, fmt)
                assert set(met.values()) == {1}, (key, fmt)
                assert [archived for _, archived, _ in walked][1:] == [True] * (len(walked) - 1)
                assert walked[0][1] is False
                # The subscription document holds at most feed_size, more than half once
                # there are pages; every page holds page_size items.
                assert len(walked[0][2]) <= FEED_SIZE
                if len(walked) > 1:
                    assert len(walked[0][2]) > FEED_SIZE // 2
                sizes = {len(ids) for _, _, ids in walked[1:]}
                assert sizes <= (set(range(page_size(FEED_SIZE) + 1)) if removed
                                 else {page_size(FEED_SIZE)})
    return documents


@pytest.mark.slow
def test_walking_back_finds_every_item_once_and_pages_never_change(site: Settings) -> None:
    listing = listing_items(23)
    write(site, listing)
    refresh(site, now=T0)
    before = check_every_chain(site)
    assert "feeds/all/archive/10.atom" in before  # 23 items: 10 pages of 2, 3 open
    # The first item ever stored is on page 1 of all items: the oldest listed.
    first_page = feedparser.parse(before["feeds/all/archive/1.atom"])
    assert [e.title for e in first_page.entries] == [
        "Item number 21 on decent work", "Item number 22 on decent work"]

    # More items: new ones on top, and one far older than any (a listing's backfill).
    backfill = replace(listing_items(1, first=99, newest=dt.date(2019, 1, 1))[0])
    grown = [*listing_items(7, first=100, newest=dt.date(2021, 12, 20)), *listing, backfill]
    write(site, grown)
    refresh(site, now=T0 + 30 * MINUTE)
    after = check_every_chain(site)
    archived_before = {path: data for path, data in before.items() if is_archive_path(path)}
    assert archived_before
    for path, data in archived_before.items():
        assert after[path] == data, f"{path} changed"
    # The old-dated newcomer went where new items go: not into a page already published.
    holding = [path for path, data in after.items()
               if path.startswith("feeds/all") and path.endswith(".atom")
               and b"Item number 99 " in data]
    assert len(holding) == 1
    assert holding[0] == "feeds/all.atom" or holding[0] not in before


@pytest.mark.slow
def test_nothing_changed_publishes_the_same_bytes(site: Settings) -> None:
    write(site, listing_items(23))
    refresh(site, now=T0)
    before = files(site)
    generation = live_generation(site)
    report = refresh(site, now=T0 + 30 * MINUTE)
    assert not report.published
    assert files(site) == before
    assert live_generation(site) == generation


class CountingRenderer(DefaultRenderer):
    def __init__(self) -> None:
        self.rendered: list[str] = []

    def render_feed(self, spec: FeedSpec, fmt: str) -> bytes:
        self.rendered.append(f"{spec.key}.{fmt}")
        return super().render_feed(spec, fmt)

    def render_opml(self, title: str, feeds: Sequence[FeedLink], base_url: str) -> bytes:
        return super().render_opml(title, feeds, base_url)


@pytest.mark.slow
def test_an_edit_renders_only_the_page_holding_the_item(site: Settings) -> None:
    listing = listing_items(23)
    write(site, listing)
    renderer = CountingRenderer()  # what feeds are rendered under: the same both times
    refresh(site, now=T0, renderer=renderer)
    before = files(site)
    # Item 20 is on page 2 of all items (arrival order: 22, 21 | 20, 19 | ...).
    edited = [replace(item, summary="Corrected.") if item.title.startswith("Item number 20 ")
              else item for item in listing]
    write(site, edited)
    renderer.rendered.clear()
    refresh(site, now=T0 + 30 * MINUTE, renderer=renderer)
    archive_pages = {name.rpartition(".")[0] for name in renderer.rendered if "/archive/" in name}
    category = f"category/{slugify(listing[20].category or '')}"
    assert "all/archive/2" in archive_pages
    assert all(page == "all/archive/2" or page.startswith(category + "/archive/")
               for page in archive_pages), archive_pages
    after = check_every_chain(site)
    assert b"Corrected." in after["feeds/all/archive/2.atom"]
    assert after["feeds/all/archive/1.atom"] == before["feeds/all/archive/1.atom"]


@pytest.mark.slow
def test_a_refresh_never_loads_the_whole_history(
    site: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every read of items a refresh makes is bounded (by a feed or page size, or the
    home page's LATEST_ITEMS): none returns the whole history, here 43 items."""
    write(site, listing_items(40))
    largest_read = [0]

    def spy(read: Callable[..., list[StoredItem]]) -> Callable[..., list[StoredItem]]:
        def counted(*args: Any, **kwargs: Any) -> list[StoredItem]:
            found = read(*args, **kwargs)
            largest_read[0] = max(largest_read[0], len(found))
            return found
        return counted

    for name in ("newest_items", "newest_selected", "items_page"):
        monkeypatch.setattr(Store, name, spy(getattr(Store, name)))
    refresh(site, now=T0)
    write(site, [*listing_items(3, first=50, newest=dt.date(2021, 12, 20)), *listing_items(40)])
    assert refresh(site, now=T0 + 30 * MINUTE).published
    assert 0 < largest_read[0] < 43


@pytest.mark.slow
def test_archive_pages_are_served_immutable(site: Settings) -> None:
    write(site, listing_items(23))
    refresh(site, now=T0)
    client = create_app(site).test_client()
    page = client.get("/feeds/all/archive/1.atom")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == f"public, max-age={ARCHIVE_MAX_AGE}, immutable"
    assert page.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    again = client.get("/feeds/all/archive/1.atom",
                       headers={"If-None-Match": page.headers["ETag"]})
    assert again.status_code == 304
    assert again.headers["Cache-Control"] == page.headers["Cache-Control"]
    subscription = client.get("/feeds/all.json")
    assert "immutable" not in subscription.headers["Cache-Control"]
    assert json.loads(subscription.data)["next_url"] == f"{BASE}feeds/all/archive/10.json"
    assert client.get("/feeds/all/archive/99.atom").status_code == 404


@pytest.mark.slow
def test_a_removed_item_leaves_its_page(site: Settings) -> None:
    write(site, listing_items(23))
    refresh(site, now=T0)
    first_page = feedparser.parse(files(site)["feeds/all/archive/1.atom"])
    with Store.open(site.storage.database) as store:
        guid = first_page.entries[0].id
        assert store.remove_items([guid], T0 + MINUTE)
    refresh(site, now=T0 + 30 * MINUTE)
    documents = check_every_chain(site, removed=True)
    assert guid.encode() not in documents["feeds/all/archive/1.atom"]


@pytest.mark.slow
def test_the_database_publication_holds_the_same_chain(
    make_settings: Callable[..., Settings], tmp_path: Path,
) -> None:
    (tmp_path / "listings").mkdir()
    settings = make_settings([{"name": "news", "location": "listings/news.txt"}],
                             site={"feed_size": FEED_SIZE, "base_url": BASE},
                             storage={"publication": "database"})
    write(settings, listing_items(23))
    refresh(settings, now=T0)
    check_every_chain(settings)
    write(settings, [*listing_items(5, first=50, newest=dt.date(2021, 12, 20)),
                     *listing_items(23)])
    refresh(settings, now=T0 + 30 * MINUTE)
    check_every_chain(settings)


def test_an_upgraded_store_numbers_its_items_in_arrival_order(tmp_path: Path) -> None:
    """A store from before archive pages (release 0.1.0's): every item gets an arrival
    number, first seen first, a listing's oldest first; none is left out."""
    release = Path(__file__).resolve().parent / "data" / "stores" / "release-0.1.0"
    shutil.copy(release / "feedsvc.sqlite3", tmp_path / "old.sqlite3")
    with Store.open(f"sqlite:///{tmp_path / 'old.sqlite3'}") as store:
        items = every_item(store)
    by_arrival = sorted(items, key=lambda item: item.archive_seq)
    assert [item.archive_seq for item in by_arrival] == list(range(1, len(items) + 1))
    assert by_arrival == sorted(items, key=lambda item: (
        item.first_seen, item.date, -item.listing_rank))


@pytest.mark.slow
def test_a_merged_categorys_chain_holds_the_items_of_every_merged_label(
    make_settings: Callable[..., Settings], tmp_path: Path,
) -> None:
    (tmp_path / "listings").mkdir()
    settings = make_settings([{"name": "news", "location": "listings/news.txt"}],
                             site={"feed_size": FEED_SIZE, "base_url": BASE},
                             categories={"merge": {"Statement": "Press release"}})
    write(settings, listing_items(23))
    assert refresh(settings, now=T0).published
    documents = files(settings)
    assert "feeds/category/statement.atom" not in documents
    with Store.open(settings.storage.database) as store:
        wanted = sorted(item.guid for item in every_item(store)
                        if item.category in ("Press release", "Statement"))
    for fmt in ("atom", "rss", "json"):
        walked = walk(documents, "category/press-release", fmt)
        met = Counter(i for _, _, ids in walked for i in ids)
        assert sorted(met) == wanted and set(met.values()) == {1}, fmt
        assert len(walked) > 2, "the merged category fills archive pages"
