"""A refresh costs what changed: unchanged sources are not read again, a listing that grew
at the top is read down to where it stopped changing, untouched feeds are carried over,
and all of it publishes exactly what reading everything again would."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from stored_items import every_item

from feedsvc.feeds import FeedLink
from feedsvc.listing import render_numbered
from feedsvc.models import FeedSpec, ListingItem
from feedsvc.pipeline import DefaultRenderer, refresh
from feedsvc.publication import open_publication
from feedsvc.settings import Settings
from feedsvc.store import Store

T0 = dt.datetime(2026, 11, 22, 6, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)
CATEGORIES = ("Press release", "Video", "Statement", "Feature")

pytestmark = pytest.mark.both_engines


def items(count: int, *, newest: dt.date = dt.date(2021, 11, 30), prefix: str = "Item"
          ) -> list[ListingItem]:
    made, day = [], newest
    for index in range(count):
        if index % 3 == 2:
            day -= dt.timedelta(days=5)
        made.append(ListingItem(
            title=f"{prefix} number {index} on decent work",
            date=day,
            category=CATEGORIES[index % len(CATEGORIES)] if index % 5 else None,
            credit="A. Photographer" if index % 4 == 0 else None,
            summary=f"What happened in item {index}.",
        ))
    return made


class CountingRenderer(DefaultRenderer):
    """The real renderer, remembering which feeds it rendered."""

    def __init__(self) -> None:
        self.rendered: list[str] = []

    def render_feed(self, spec: FeedSpec, fmt: str) -> bytes:
        self.rendered.append(f"{spec.key}.{fmt}")
        return super().render_feed(spec, fmt)

    def render_opml(self, title: str, feeds: Sequence[FeedLink], base_url: str) -> bytes:
        return super().render_opml(title, feeds, base_url)


@pytest.fixture
def site(make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    (tmp_path / "listings").mkdir()
    return make_settings([{"name": "news", "location": "listings/news.txt"}],
                         site={"feed_size": 10})


def write(settings: Settings, listing: list[ListingItem]) -> None:
    Path(settings.sources[0].location).write_text(render_numbered(listing), "utf-8")


def files(settings: Settings) -> dict[str, bytes]:
    publication = open_publication(settings.storage.publish_dir)
    assert publication is not None
    root = publication.directory
    assert root is not None
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def stored_rows(settings: Settings) -> list[tuple[object, ...]]:
    with Store.open(settings.storage.database) as store:
        return [(i.key, i.first_seen, i.updated, i.listing_rank, i.category, i.summary)
                for i in every_item(store)]


def forget_snapshots(settings: Settings) -> None:
    engine = sa.create_engine(settings.storage.database)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM source_snapshots"))
    finally:
        engine.dispose()


@pytest.mark.slow
def test_the_same_bytes_again_are_neither_parsed_nor_merged(site: Settings) -> None:
    write(site, items(40))
    renderer = CountingRenderer()
    refresh(site, now=T0, renderer=renderer)
    before = files(site)
    renderer.rendered.clear()
    # Written again, the same bytes: the file's validator changes, its digest does not.
    write(site, items(40))
    report = refresh(site, now=T0 + 30 * MINUTE, renderer=renderer)
    assert report.summary_lines()[0] == "news: unchanged"
    assert report.ok and not report.published
    assert renderer.rendered == []
    assert files(site) == before


@pytest.mark.slow
def test_a_new_item_on_top_renders_only_the_feeds_it_is_in(site: Settings) -> None:
    listing = items(60)
    write(site, listing)
    renderer = CountingRenderer()
    refresh(site, now=T0, renderer=renderer)
    renderer.rendered.clear()
    fresh = replace(listing[1], title="A brand new item on top", date=dt.date(2021, 12, 2))
    write(site, [fresh, *listing])
    report = refresh(site, now=T0 + 30 * MINUTE, renderer=renderer)
    assert report.summary_lines()[0] == "news: 61 found, 1 new, 0 updated, 0 warnings"
    assert report.published
    slug = "press-release" if fresh.category == "Press release" else fresh.category
    touched = ("all", f"category/{str(slug).lower()}")
    # Besides: the archive page the new item filled, if it filled one (here: of all
    # items, 11 pages of 5 now), never an older one.
    assert sorted(renderer.rendered) == sorted(
        f"{key}.{fmt}" for key in (*touched, "all/archive/11")
        for fmt in ("atom", "json", "rss"))


@pytest.mark.parametrize("change", ["grow at the top", "edit near the top", "edit at the bottom",
                                    "drop the oldest", "move a category"])
@pytest.mark.slow
def test_reading_what_changed_publishes_what_reading_everything_publishes(
    make_settings: Callable[..., Settings], tmp_path: Path, change: str,
    database_url: Callable[..., str],
) -> None:
    """Two sites live the same history; one forgets what it read before every refresh."""
    sites = []
    for name in ("incremental", "full"):
        (tmp_path / name / "listings").mkdir(parents=True)
        sites.append(make_settings(
            [{"name": "news", "location": f"{name}/listings/news.txt", "language": "en"}],
            storage={"database": database_url(name),
                     "publish_dir": f"{name}/public"},
            site={"feed_size": 15}))
    listing = items(150)
    history = [listing]
    if change == "grow at the top":
        history += [items(2, newest=dt.date(2021, 12, 3), prefix="New") + listing,
                    items(5, newest=dt.date(2021, 12, 9), prefix="Newer")
                    + items(2, newest=dt.date(2021, 12, 3), prefix="New") + listing]
    elif change == "edit near the top":
        history.append([listing[0], replace(listing[1], summary="Edited."), *listing[2:]])
    elif change == "edit at the bottom":
        history.append([*listing[:-1], replace(listing[-1], summary="Edited.")])
    elif change == "drop the oldest":
        history.append(items(1, newest=dt.date(2021, 12, 3), prefix="New") + listing[:-1])
    else:
        history.append([replace(listing[0], category="Feature"), *listing[1:]])
    for step, listing_now in enumerate(history):
        for settings in sites:
            write(settings, listing_now)
            if settings is sites[1] and step:
                forget_snapshots(settings)
            report = refresh(settings, now=T0 + step * 30 * MINUTE)
            assert report.ok, report.summary_lines()
        assert files(sites[0]) == files(sites[1])
        assert stored_rows(sites[0]) == stored_rows(sites[1])


@pytest.mark.slow
def test_an_unchanged_file_is_not_modified_by_its_size_and_time(site: Settings) -> None:
    write(site, items(10))
    refresh(site, now=T0)
    report = refresh(site, now=T0 + 30 * MINUTE)
    assert report.summary_lines()[0] == "news: not modified"


@pytest.mark.slow
def test_item_pages_are_looked_up_in_the_store_by_id(site: Settings) -> None:
    from feedsvc.web import create_app

    listing = items(80)
    write(site, listing)
    refresh(site, now=T0)
    with Store.open(site.storage.database) as store:
        oldest = every_item(store)[-1]
    publication = open_publication(site.storage.publish_dir)
    assert publication is not None
    # The published snapshot lists only the newest items, never the whole history.
    assert len(publication.site.latest) == 30
    assert publication.site.item_count == 80
    assert oldest.item_id not in {record.id for record in publication.site.latest}
    client = create_app(site).test_client()
    page = client.get(f"/items/{oldest.item_id}")
    assert page.status_code == 200
    assert oldest.title in page.get_data(as_text=True)
    assert client.get("/items/" + "0" * 32).status_code == 404
    assert client.get("/items/not-an-id").status_code == 404
