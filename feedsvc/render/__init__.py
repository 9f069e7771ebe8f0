"""FeedSpec → bytes, per format: Atom 1.0, RSS 2.0, JSON Feed 1.1; and the OPML list.

Pure functions: no clock, no files, no network, no locale. The same input
always gives the same bytes, so an unchanged feed keeps its ETag. Every text
field is stripped of the characters XML 1.0 forbids, and every link made an
RFC 3986 URI, before any format sees it.
"""

from __future__ import annotations

from collections.abc import Sequence

from feedsvc.models import FeedSpec
from feedsvc.outputs import OUTPUT_FORMATS
from feedsvc.render.dates import require_aware_dates
from feedsvc.render.html_view import render_html_view
from feedsvc.render.opml import render_opml
from feedsvc.render.xmltext import clean_spec, clean_xml_text, spec_with_uris

__all__ = ["clean_xml_text", "render_feed", "render_formats", "render_opml", "render_view"]


def render_feed(spec: FeedSpec, fmt: str) -> bytes:
    """The feed ``spec`` in the output format ``fmt`` (a name in
    ``feedsvc.outputs.OUTPUT_FORMATS``: "atom", "rss", "json"), as UTF-8 bytes.

    ``spec.self_urls`` must hold the URL of ``fmt``; every datetime in ``spec``
    must be timezone-aware. Raises ValueError for an unknown format or a naive
    datetime, KeyError for a missing self URL.
    """
    return render_formats(spec, (fmt,))[fmt]


def render_formats(spec: FeedSpec, formats: Sequence[str] | None = None) -> dict[str, bytes]:
    """The feed ``spec`` in each of ``formats`` (see ``render_feed``; None: every
    registered output format), cleaning its text and links once for all of them."""
    names = tuple(OUTPUT_FORMATS) if formats is None else formats
    unknown = [fmt for fmt in names if fmt not in OUTPUT_FORMATS]
    if unknown:
        raise ValueError(f"unknown feed format {unknown[0]!r}; "
                         f"known: {', '.join(OUTPUT_FORMATS)}")
    require_aware_dates(spec)
    ready = spec_with_uris(clean_spec(spec))
    return {fmt: OUTPUT_FORMATS[fmt].render(ready) for fmt in names}


def render_view(spec: FeedSpec, site_title: str) -> bytes:
    """The page for people of the feed ``spec`` (see ``feedsvc.render.html_view``), its
    text and links cleaned as for the feed files. Raises ValueError for a naive datetime."""
    require_aware_dates(spec)
    return render_html_view(spec_with_uris(clean_spec(spec)), clean_xml_text(site_title))
