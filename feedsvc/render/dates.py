"""Feed dates as text: RFC 3339 for Atom and JSON Feed, RFC 822 for RSS.

Both keep the datetime's own UTC offset, so a feed shows times in the site's
time zone. Neither depends on the process locale: RSS day and month names are
always English, as RFC 822 requires.

Neither format can write an offset with seconds, which a zone's local mean
time before standard time had (Europe/Amsterdam until 1937: +00:19:32); such
a time is written in UTC instead, the same instant (``feed_moment``).
"""

from __future__ import annotations

import datetime as dt
import email.utils

from feedsvc.models import FeedSpec

_MINUTE = dt.timedelta(minutes=1)


def _require_aware(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"feed dates must be timezone-aware, not {moment.isoformat()}")
    return moment


def feed_moment(moment: dt.datetime) -> dt.datetime:
    """``moment`` unchanged when its UTC offset is whole minutes; else the same
    instant in UTC.

    At the very ends of the calendar (year 1, year 9999), where UTC would fall
    outside it, the same instant in an offset of whole minutes next to the
    original one is used instead. Raises ValueError for a naive datetime.
    """
    offset = _require_aware(moment).utcoffset()
    assert offset is not None
    if offset % _MINUTE == dt.timedelta(0):
        return moment
    whole_minutes = offset // _MINUTE * _MINUTE
    # UTC first; then the minute above the offset (local time moves later by
    # under a minute, so midnight stays on its date), then the one below.
    wall_clock = moment.replace(tzinfo=None)
    for candidate in (dt.timedelta(0), whole_minutes + _MINUTE, whole_minutes):
        # By hand: astimezone goes through UTC, which itself may not fit.
        try:
            shifted = wall_clock + (candidate - offset)
        except OverflowError:
            continue
        return shifted.replace(tzinfo=dt.timezone(candidate))
    raise AssertionError(f"no whole-minute offset can hold {moment!r}")  # pragma: no cover


def rfc3339(moment: dt.datetime) -> str:
    """``2021-01-27T00:00:00+01:00``; fractions of a second only when there are some.

    The offset is always whole minutes (see ``feed_moment``). Raises ValueError
    for a naive datetime.
    """
    return feed_moment(moment).isoformat()


def rfc822(moment: dt.datetime) -> str:
    """``Wed, 27 Jan 2021 00:00:00 +0100``, whole seconds, English names.

    The offset is always whole minutes (see ``feed_moment``). Raises ValueError
    for a naive datetime.
    """
    return email.utils.format_datetime(feed_moment(moment).replace(microsecond=0))


def require_aware_dates(spec: FeedSpec) -> None:
    """Raise ValueError unless every datetime in ``spec`` is timezone-aware."""
    _require_aware(spec.updated)
    for entry in spec.entries:
        _require_aware(entry.published)
        _require_aware(entry.updated)
