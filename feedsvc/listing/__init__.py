"""Listings to items: decoding bytes and parsing text or HTML listings.

Everything here is pure except ``read_listing_file``, which reads one file
(with ``feedsvc.fetch.file.read_at_most``, as the refresh does).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

from feedsvc.errors import FetchError, ListingError
from feedsvc.fetch.file import read_at_most
from feedsvc.listing.dates import drop_future_items
from feedsvc.listing.decode import decode_document
from feedsvc.listing.text import parse_text_listing, render_numbered
from feedsvc.listing.warnings import WarningLog, count_warnings
from feedsvc.models import ListingItem, ParseResult
from feedsvc.settings import DEFAULT_MAX_BYTES

__all__ = [
    "decode_document",
    "drop_future_items",
    "item_to_json",
    "parse_listing",
    "parse_text_listing",
    "read_listing_file",
    "render_numbered",
]


def item_to_json(item: ListingItem) -> dict[str, str | None]:
    """The item as ``feedsvc parse`` prints it: exactly the keys title, date
    (YYYY-MM-DD), category, credit and summary."""
    return {
        "title": item.title,
        "date": item.date.isoformat(),
        "category": item.category,
        "credit": item.credit,
        "summary": item.summary,
    }


def parse_listing(
    text: str,
    *,
    fmt: str,
    source: str,
    language: str | None,
    page_url: str | None = None,
    selectors: Mapping[str, str] | None = None,
    today: dt.date | None = None,
    date_order: str = "dmy",
) -> ParseResult:
    """Parse ``text`` as a listing of format ``fmt`` (a name in ``feedsvc.formats``;
    "auto" picks one by the content).

    ``page_url`` and ``selectors`` matter to HTML listings only; ``today`` and
    ``date_order`` go to the format's parser (see ``feedsvc.formats.ParseRequest``).
    Raises ValueError for an unknown format.
    """
    from feedsvc.formats import ParseRequest, choose_format

    chosen = choose_format(fmt, content_type=None, body=text.encode("utf-8"))
    options = {} if selectors is None else {"selectors": selectors}
    return chosen.parse(ParseRequest(text=text, source=source, language=language,
                                     page_url=page_url, options=options, today=today,
                                     date_order=date_order))


def read_listing_file(
    path: Path,
    *,
    language: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    read_timeout: float | None = None,
    today: dt.date | None = None,
    date_order: str = "dmy",
) -> ParseResult:
    """Read, decode and parse the text listing in ``path``.

    At most ``max_bytes`` + 1 bytes are read, whatever the file is, and a FIFO
    or device is waited for at most ``read_timeout`` seconds at a time (see
    ``feedsvc.fetch.file.read_at_most``). Raises FetchError when the file cannot be
    read or holds more than ``max_bytes``, ListingError when it is binary or
    holds no item (the message then quotes the first warning, which says why).
    ``today`` and ``date_order`` are as for ``parse_text_listing``.
    """
    source = str(path)
    try:
        body = read_at_most(path, max_bytes, timeout=read_timeout)
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise FetchError(f"cannot read file: {reason}", source=source) from None
    if body is None:
        raise FetchError(f"file is more than fetch.max_bytes ({max_bytes}) bytes", source=source)
    if not body.strip():
        raise ListingError("empty file, no news items found", source=source)
    text, decode_warnings = decode_document(body, source=source)
    del body  # the text is all that is needed now: do not hold both
    result = parse_text_listing(text, source=source, language=language, today=today,
                                date_order=date_order)
    warnings = WarningLog(source)
    warnings.extend(decode_warnings)
    warnings.extend(result.warnings)
    if not result.items:
        raise ListingError(_no_items_message(result), source=source)
    return ParseResult(items=result.items, warnings=warnings.warnings(), next_page=result.next_page)


def _no_items_message(result: ParseResult) -> str:
    if not result.warnings:
        return "no news items found"
    first = result.warnings[0]
    more = count_warnings(result.warnings) - 1
    also = f" (and {more} more warning(s))" if more else ""
    where = f"line {first.line}: " if first.line else ""
    return f"no news items found; {where}{first.message}{also}"
