"""Content negotiation for a feed's address: the feed bytes, or its page for people.

Pure: it reads one ``Accept`` header value. Feed readers must always get the
feed, so the page is chosen only for what is plainly a browser: a request
that names ``text/html`` (or ``application/xhtml+xml``) with a q-value at
least as high as any other media range it lists, and that names no feed
type at all. Browsers list ``application/xml`` and ``*/*`` below
``text/html`` (Chromium, Firefox and Safari alike), so neither counts as a
feed type; a client that asks for ``application/xml`` or ``*/*`` alone, or
sends no ``Accept``, still gets the feed, as does every reader that names
Atom, RSS, RDF or JSON Feed (feedparser, the ``reader`` library, newsboat),
or the media type of any format in ``feedsvc.outputs.OUTPUT_FORMATS``.
"""

from __future__ import annotations

from feedsvc.outputs import OUTPUT_FORMATS

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
OTHER_FEED_TYPES = frozenset({
    "application/rdf+xml", "application/x-rss+xml", "application/x-atom+xml",
    "application/json", "text/xml", "text/x-opml",
})
"""Media types feed clients name besides those of the formats served (older or
generic ones): any of them means "send the feed"."""


GENERIC_TYPES = frozenset({"application/xml", "*/*"})
"""What browsers list too, below ``text/html``: never taken as asking for a feed."""


def feed_types() -> frozenset[str]:
    """Every media type that means "send the feed": each output format's own type
    (read live from the registry) and ``OTHER_FEED_TYPES``; never one a browser
    names (``HTML_TYPES``, ``GENERIC_TYPES``), whatever a format is served as."""
    served = {output.media_type for output in OUTPUT_FORMATS.values()}
    return (OTHER_FEED_TYPES | served) - HTML_TYPES - GENERIC_TYPES


def parse_accept(header: str) -> dict[str, float]:
    """Media range (lower case, parameters other than q dropped) -> its q-value.

    A range listed twice keeps its highest q; a malformed q-value counts as 0,
    the safe side (the range is then not preferred).
    """
    weights: dict[str, float] = {}
    for member in header.split(","):
        media_range, *params = member.split(";")
        name = media_range.strip().lower()
        if not name:
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                quality = _qvalue(value.strip())
        weights[name] = max(quality, weights.get(name, 0.0))
    return weights


def _qvalue(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        return 0.0
    return value if 0.0 <= value <= 1.0 else 0.0


def prefers_html(accept: str | None) -> bool:
    """True when the request should get a feed's HTML page rather than the feed."""
    if accept is None:
        return False
    weights = parse_accept(accept)
    if any(weights.get(name, 0.0) > 0 for name in feed_types()):
        return False
    html = max((weights.get(name, 0.0) for name in HTML_TYPES), default=0.0)
    if html <= 0:
        return False
    others = [q for name, q in weights.items() if name not in HTML_TYPES]
    return all(html >= q for q in others)
