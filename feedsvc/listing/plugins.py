"""The parse functions the format registry (``feedsvc.formats``) names for text and HTML.

Each takes a ``ParseRequest`` and calls its parser with what that parser
reads. Pure, like the parsers.
"""

from __future__ import annotations

from feedsvc.formats import ParseRequest
from feedsvc.models import ParseResult

__all__ = ["read_html", "read_text"]


def read_text(request: ParseRequest) -> ParseResult:
    """A text listing (``feedsvc.listing.text``)."""
    from feedsvc.listing.text import parse_text_listing

    return parse_text_listing(request.text, source=request.source, language=request.language,
                              today=request.today, date_order=request.date_order)


def read_html(request: ParseRequest) -> ParseResult:
    """An HTML listing page (``feedsvc.listing.html``): the source's ``selectors``
    (None: detected) and the page's address for its links."""
    from feedsvc.listing.html import parse_html_listing

    return parse_html_listing(
        request.text, source=request.source, language=request.language,
        page_url=request.page_url, selectors=request.options.get("selectors"),
        today=request.today, date_order=request.date_order,
    )
