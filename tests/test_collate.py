"""Collation: stored items in, feed specs and the site snapshot out (golden file in data/pipeline).

To accept a deliberate change of output, run with FEEDSVC_UPDATE_GOLDEN=1 and
review the diff of collate-expected.json.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import zoneinfo
from pathlib import Path
from typing import Any

import pytest
from reference_collate import collate

from feedsvc.collate import EMPTY_FEED_UPDATED, Category, published_at
from feedsvc.identity import guid_for_key, id_for_key, item_key
from feedsvc.settings import SiteSettings
from feedsvc.store import StoredItem

DATA = Path(__file__).resolve().parent / "data" / "pipeline"
INPUT = json.loads((DATA / "collate-items.json").read_text("utf-8"))
EXPECTED = DATA / "collate-expected.json"
SITE = SiteSettings(**INPUT["site"])


def stored(raw: dict[str, Any]) -> StoredItem:
    date = dt.date.fromisoformat(raw["date"])
    key = item_key(date, raw["title"])
    return StoredItem(
        key=key, guid=guid_for_key(key), item_id=id_for_key(key), title=raw["title"],
        date=date, category=raw["category"], credit=raw["credit"], summary=raw["summary"],
        link=raw["link"], image=raw["image"],
        first_seen=dt.datetime.fromisoformat(raw["first_seen"]),
        updated=dt.datetime.fromisoformat(raw["updated"]), listing_rank=raw["listing_rank"],
    )


ITEMS = [stored(raw) for raw in INPUT["items"]]


def as_json(value: Any) -> Any:
    """Dataclasses, datetimes and tuples as plain JSON values, for comparison with the golden."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [as_json(v) for v in value]
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    return value


def test_collation_matches_the_golden_file() -> None:
    actual = as_json(collate(ITEMS, site=SITE))
    if os.environ.get("FEEDSVC_UPDATE_GOLDEN"):
        EXPECTED.write_text(json.dumps(actual, indent=1, ensure_ascii=False) + "\n", "utf-8")
    assert actual == json.loads(EXPECTED.read_text("utf-8"))


def test_input_order_does_not_matter() -> None:
    assert collate(ITEMS, site=SITE) == collate(list(reversed(ITEMS)), site=SITE)


def test_feeds_are_all_then_each_category() -> None:
    collation = collate(ITEMS, site=SITE)
    assert [f.key for f in collation.feeds] == [
        "all", "category/feature", "category/press-release"]
    assert [f.title for f in collation.feeds] == [
        "Test Newsroom", "Test Newsroom: Feature", "Test Newsroom: Press release"]


def test_newest_first_with_ties_in_listing_order_and_truncated() -> None:
    all_feed = collate(ITEMS, site=SITE).feeds[0]
    assert [e.title for e in all_feed.entries] == [
        "Harbour workers agree on a safety code",
        "A weaver's cooperative doubles its members",
        "Statement on the care economy",
    ]


def test_counts_cover_every_stored_item_not_only_the_feed() -> None:
    site = collate(ITEMS, site=SITE).site
    counts = {link.key: link.item_count for link in site.feeds}
    assert counts == {"all": 5, "category/feature": 1, "category/press-release": 3}
    assert (len(site.latest), site.item_count) == (5, 5)


def test_feed_updated_is_the_newest_entry_updated() -> None:
    feeds = {f.key: f for f in collate(ITEMS, site=SITE).feeds}
    assert feeds["all"].updated == dt.datetime(2026, 11, 23, 10, 30,
                                               tzinfo=feeds["all"].updated.tzinfo)
    assert feeds["category/press-release"].updated.isoformat() == "2026-11-22T08:00:00+01:00"


def test_entries_are_in_the_site_time_zone_at_1130_utc() -> None:
    entry = collate(ITEMS, site=SITE).feeds[0].entries[0]
    assert entry.published.isoformat() == "2024-03-12T12:30:00+01:00"
    assert entry.updated.isoformat() == "2026-11-22T07:00:00+01:00"


def test_links_point_at_the_article_or_the_item_page() -> None:
    entries = {e.title: e for e in collate(ITEMS, site=SITE).feeds[0].entries}
    assert entries["Statement on the care economy"].link == "https://news.test/care"
    harbour = entries["Harbour workers agree on a safety code"]
    assert harbour.link == f"http://feeds.test/items/{harbour.item_id}"


def test_an_empty_store_gives_an_empty_all_feed_with_a_fixed_date() -> None:
    collation = collate([], site=SITE)
    assert [f.key for f in collation.feeds] == ["all"]
    assert collation.feeds[0].entries == ()
    assert collation.feeds[0].updated == EMPTY_FEED_UPDATED


@pytest.mark.parametrize("base_url", ["http://feeds.test/", "https://elsewhere.test/news/"])
def test_entry_ids_do_not_depend_on_the_site_address(base_url: str) -> None:
    site = dataclasses.replace(SITE, base_url=base_url)
    guids = [e.guid for e in collate(ITEMS, site=site).feeds[0].entries]
    assert guids == [e.guid for e in collate(ITEMS, site=SITE).feeds[0].entries]


def test_entries_carry_the_stored_updated_time_as_is() -> None:
    # The store makes these unique and moves them only on edits; collating
    # must not shift them, or an edit to one item would touch the others.
    by_key = {item.key: item.updated for item in ITEMS}
    for feed in collate(ITEMS, site=SITE).feeds:
        for entry in feed.entries:
            key = next(i.key for i in ITEMS if i.guid == entry.guid)
            assert entry.updated == by_key[key]


KNOWN = (Category("statement", "Statement"), Category("press-release", "Old label"))


def test_a_known_category_without_items_keeps_an_empty_feed() -> None:
    collation = collate(ITEMS, site=SITE, known=KNOWN)
    feeds = {f.key: f for f in collation.feeds}
    assert list(feeds) == [
        "all", "category/feature", "category/press-release", "category/statement"]
    statement = feeds["category/statement"]
    assert statement.entries == ()
    assert statement.updated == EMPTY_FEED_UPDATED
    assert statement.title == "Test Newsroom: Statement"
    links = {link.key: link for link in collation.site.feeds}
    assert (links["category/statement"].label, links["category/statement"].item_count,
            links["category/statement"].newest) == ("Statement", 0, None)


def test_a_known_category_with_items_is_collated_as_without_knowing_it() -> None:
    with_known = collate(ITEMS, site=SITE, known=KNOWN)
    plain = collate(ITEMS, site=SITE)
    assert [f for f in with_known.feeds if f.key != "category/statement"] == list(plain.feeds)
    assert with_known.site.latest == plain.site.latest


def test_known_categories_in_any_order_give_the_same_collation() -> None:
    assert collate(ITEMS, site=SITE, known=KNOWN) == collate(
        ITEMS, site=SITE, known=tuple(reversed(KNOWN)))


@pytest.mark.parametrize("site_zone", [
    "UTC", "Europe/Zurich", "America/New_York", "Pacific/Pago_Pago", "Asia/Kathmandu",
    "Pacific/Auckland", "Pacific/Tongatapu", "Pacific/Kiritimati", "Etc/GMT+12",
])
@pytest.mark.parametrize("day", [dt.date(2021, 11, 15), dt.date(2021, 7, 1),
                                 dt.date(2021, 3, 28), dt.date(2021, 10, 31)])
def test_a_listed_day_shows_as_that_day_from_utc_minus_11_to_plus_12(
    site_zone: str, day: dt.date,
) -> None:
    published = published_at(day, zoneinfo.ZoneInfo(site_zone))
    for hours in range(-11, 13):
        reader = dt.timezone(dt.timedelta(hours=hours))
        assert published.astimezone(reader).date() == day, (site_zone, hours)
    # Written in the site's offset when that still says the listed day, else in UTC.
    assert published.date() == day


def test_feed_language_comes_from_its_entries() -> None:
    french = [dataclasses.replace(item, language="fr") for item in ITEMS]
    feeds = {feed.key: feed for feed in collate(french, site=SITE).feeds}
    assert feeds["all"].language == "fr"
    assert {entry.language for entry in feeds["all"].entries} == {"fr"}
    mixed = [dataclasses.replace(item, language="es" if i % 2 else "fr")
             for i, item in enumerate(ITEMS)]
    all_items = collate(mixed, site=SITE).feeds[0]
    assert {entry.language for entry in all_items.entries} == {"es", "fr"}
    assert all_items.language == SITE.language
    # No language known: the site's.
    assert collate(ITEMS, site=SITE).feeds[0].language == SITE.language
