"""Listing files read the way a refresh and ``feedsvc parse`` read them.

The listing parsers are pure; reading a file (bounded, decoded, its format
chosen, its items checked) is the refresh's own ``read_source``, which
``feedsvc.preview.preview`` runs for one source without a store. The test
cases in ``tests/data/listings`` and ``tests/data/text-layouts`` go through
it, so what they expect is what a refresh of that file gives.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from feedsvc.models import ListingItem
from feedsvc.preview import Preview, adhoc_source, item_json, preview
from feedsvc.settings import settings_from_mapping

NOON = dt.time(12, tzinfo=dt.UTC)
"""What time of ``today`` the file is read at (the site's time zone is UTC here)."""


def read_listing_file(
    path: Path, *, language: str | None = None, max_bytes: int | None = None,
    today: dt.date | None = None, date_order: str = "dmy", fmt: str = "text",
) -> Preview:
    """``path`` read as a one-page source of format ``fmt`` on ``today`` (default: the
    real date, which only relative dates and dates without a year depend on).
    Raises FetchError or ListingError as a refresh reports them."""
    fetch: dict[str, Any] = {} if max_bytes is None else {"max_bytes": max_bytes}
    settings = settings_from_mapping({"fetch": fetch}, config_path=path.parent / "feedsvc.toml")
    now = dt.datetime.combine(today, NOON) if today is not None else None
    return preview(settings, adhoc_source(str(path), fmt=fmt, language=language,
                                          date_order=date_order), now=now)


def item_to_json(item: ListingItem) -> dict[str, str | None]:
    """The item as ``feedsvc parse`` prints it (``feedsvc.preview.item_json``) less its
    link, which the listing cases leave out: title, date (YYYY-MM-DD), category,
    credit and summary."""
    return {key: value for key, value in item_json(item).items() if key != "link"}
