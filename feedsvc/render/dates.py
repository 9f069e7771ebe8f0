"""Feed dates as text: RFC 3339 for Atom and JSON Feed, RFC 822 for RSS.

Both keep the datetime's own UTC offset, so a feed shows times in the site's
time zone. Neither depends on the process locale: RSS day and month names are
always English, as RFC 822 requires.
"""

from __future__ import annotations

import datetime as dt
import email.utils

from feedsvc.models import FeedSpec


def _require_aware(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"feed dates must be timezone-aware, not {moment.isoformat()}")
    return moment


def rfc3339(moment: dt.datetime) -> str:
    """``2021-01-27T00:00:00+01:00``; fractions of a second only when there are some.

    Raises ValueError for a naive datetime.
    """
    return _require_aware(moment).isoformat()


def rfc822(moment: dt.datetime) -> str:
    """``Wed, 27 Jan 2021 00:00:00 +0100``, whole seconds, English names.

    Raises ValueError for a naive datetime.
    """
    return email.utils.format_datetime(_require_aware(moment).replace(microsecond=0))


def require_aware_dates(spec: FeedSpec) -> None:
    """Raise ValueError unless every datetime in ``spec`` is timezone-aware."""
    _require_aware(spec.updated)
    for entry in spec.entries:
        _require_aware(entry.published)
        _require_aware(entry.updated)
