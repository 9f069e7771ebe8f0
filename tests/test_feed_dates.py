"""Dates no feed reader can misread: whole-minute offsets, any year, nothing from the future."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import json
import re
from zoneinfo import ZoneInfo

import pytest
from lxml import etree
from render_fixtures import make_entry, make_spec, seed_spec

from feedsvc.listing import drop_future_items
from feedsvc.models import FeedSpec, ListingItem
from feedsvc.outputs import OUTPUT_FORMATS
from feedsvc.render import render_feed
from feedsvc.render.dates import feed_moment, rfc822, rfc3339

ATOM = "{http://www.w3.org/2005/Atom}"
RFC3339_OFFSET = re.compile(r"(?:Z|[+-]\d\d:\d\d)$")
RFC822_OFFSET = re.compile(r" [+-]\d{4}$")

# (moment, its RFC 3339 text, its RFC 822 text). Local mean time before standard
# time had offsets with seconds; such moments are written in UTC.
MOMENTS = [
    (dt.datetime(1930, 5, 12, tzinfo=ZoneInfo("Europe/Amsterdam")),
     "1930-05-11T23:40:28+00:00", "Sun, 11 May 1930 23:40:28 +0000"),
    (dt.datetime(1890, 1, 1, tzinfo=ZoneInfo("Europe/Zurich")),
     "1889-12-31T23:30:14+00:00", "Tue, 31 Dec 1889 23:30:14 +0000"),
    (dt.datetime(1900, 6, 1, 12, 0, 0, 500, tzinfo=ZoneInfo("America/New_York")),
     "1900-06-01T12:00:00.000500-05:00", "Fri, 01 Jun 1900 12:00:00 -0500"),
    (dt.datetime(2021, 1, 27, tzinfo=ZoneInfo("Europe/Zurich")),
     "2021-01-27T00:00:00+01:00", "Wed, 27 Jan 2021 00:00:00 +0100"),
    (dt.datetime(2021, 1, 27, tzinfo=ZoneInfo("Asia/Kathmandu")),
     "2021-01-27T00:00:00+05:45", "Wed, 27 Jan 2021 00:00:00 +0545"),
    # At the ends of the calendar UTC does not fit: the next whole minute does.
    (dt.datetime(1, 1, 1, tzinfo=ZoneInfo("Europe/Amsterdam")),
     "0001-01-01T00:00:28+00:20", "Mon, 01 Jan 0001 00:00:28 +0020"),
    (dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=ZoneInfo("America/New_York")),
     "9999-12-31T23:59:59-05:00", "Fri, 31 Dec 9999 23:59:59 -0500"),
    (dt.datetime(9999, 12, 31, 23, 59, 50, tzinfo=dt.timezone(-dt.timedelta(seconds=19931))),
     "9999-12-31T23:59:01-05:33", "Fri, 31 Dec 9999 23:59:01 -0533"),
    (dt.datetime(9999, 12, 31, tzinfo=ZoneInfo("Pacific/Kiritimati")),
     "9999-12-31T00:00:00+14:00", "Fri, 31 Dec 9999 00:00:00 +1400"),
]


@pytest.mark.parametrize(("moment", "text_3339", "text_822"), MOMENTS)
def test_dates_are_written_in_whole_minute_offsets(
    moment: dt.datetime, text_3339: str, text_822: str
) -> None:
    assert rfc3339(moment) == text_3339
    assert rfc822(moment) == text_822
    assert dt.datetime.fromisoformat(text_3339) == moment
    assert email.utils.parsedate_to_datetime(text_822) == moment.replace(microsecond=0) or (
        moment.year in (1, 9999))


@pytest.mark.parametrize(("moment", "text_3339", "text_822"), MOMENTS)
def test_feed_moment_keeps_the_instant(
    moment: dt.datetime, text_3339: str, text_822: str
) -> None:
    shown = feed_moment(moment)
    offset = shown.utcoffset()
    assert offset is not None and offset % dt.timedelta(minutes=1) == dt.timedelta(0)
    assert shown == moment


def _dated_spec(moment: dt.datetime) -> FeedSpec:
    entry = dataclasses.replace(make_entry("2021-01-01", "Dated"), published=moment,
                                updated=moment)
    return make_spec((entry,))


def _dates_in(spec: FeedSpec, fmt: str) -> list[str]:
    document = render_feed(spec, fmt)
    if fmt == "json":
        items = json.loads(document)["items"]
        return [item[key] for item in items for key in ("date_published", "date_modified")]
    root = etree.fromstring(document)
    if fmt == "atom":
        return [e.text for e in root.iter(f"{ATOM}updated", f"{ATOM}published")]
    return [e.text for e in root.iter("pubDate", "lastBuildDate")]


@pytest.mark.parametrize("fmt", list(OUTPUT_FORMATS))
@pytest.mark.parametrize(("moment", "text_3339", "text_822"), MOMENTS)
def test_no_feed_carries_an_offset_with_seconds(
    moment: dt.datetime, text_3339: str, text_822: str, fmt: str
) -> None:
    dates = _dates_in(_dated_spec(moment), fmt)
    assert dates
    pattern = RFC822_OFFSET if fmt == "rss" else RFC3339_OFFSET
    assert all(pattern.search(text) for text in dates), dates
    assert (text_822 if fmt == "rss" else text_3339) in dates


@pytest.mark.parametrize("fmt", list(OUTPUT_FORMATS))
def test_normal_zones_are_written_as_before(fmt: str) -> None:
    dates = _dates_in(seed_spec(), fmt)
    assert all(text.endswith(("+01:00", "+02:00", "+0100", "+0200")) for text in dates), dates


# --- items from the future ---

TODAY = dt.date(2026, 11, 30)


def _item(date: dt.date, line: int) -> ListingItem:
    return ListingItem(title=f"Item of line {line}", date=date, category=None, credit=None,
                       summary=None, line=line)


# (item date, kept?): a day ahead is a zone ahead of ours; more is not news.
FUTURE_CASES = [
    (dt.date(2026, 11, 30), True),
    (dt.date(2026, 12, 1), True),
    (dt.date(2026, 12, 2), False),
    (dt.date(2027, 11, 30), False),
    (dt.date(9999, 12, 31), False),
    (dt.date(1, 1, 1), True),
    (dt.date(1930, 5, 12), True),
]


@pytest.mark.parametrize(("date", "kept"), FUTURE_CASES)
def test_items_dated_more_than_a_day_ahead_are_dropped(date: dt.date, kept: bool) -> None:
    items = (_item(dt.date(2026, 11, 1), 3), _item(date, 12))
    result, warnings = drop_future_items(items, TODAY, source="newsroom")
    assert result == (items if kept else items[:1])
    if kept:
        assert warnings == ()
    else:
        (warning,) = warnings
        assert (warning.source, warning.line) == ("newsroom", 12)
        assert str(warning).startswith("newsroom: line 12: item dated ")
        assert date.isoformat() in warning.message


def test_the_last_day_of_the_calendar_is_a_today_like_any_other() -> None:
    last = dt.date(9999, 12, 31)
    kept, warnings = drop_future_items([_item(last, 1)], last, source="s")
    assert len(kept) == 1 and warnings == ()
