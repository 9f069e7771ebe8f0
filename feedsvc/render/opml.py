"""The OPML 2.0 subscription list of every feed of the site, for import into a reader."""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from feedsvc.feeds import FeedLink, feed_path
from feedsvc.render.xmltext import clean_xml_text
from feedsvc.uris import to_uri


def render_opml(title: str, feeds: Sequence[FeedLink], base_url: str) -> bytes:
    """An OPML 2.0 document with one outline per feed, in the given order, UTF-8.

    The all-items feed comes first, on its own; category feeds
    (``category/<slug>``) are grouped in an outline "Categories", custom feeds
    (``custom/<slug>``) in one "Custom feeds" (each group only when it has
    feeds). Each feed's outline subscribes to the feed's Atom file
    (``<base_url>feeds/<key>.atom``) and points at the page its feed's
    alternate link names: the home page ``base_url`` (which must end with "/")
    for the all-items feed, ``categories/<slug>`` for a category's feed, the
    home page's ``#custom-<slug>`` anchor for a custom feed. Carries no dates, so the same feeds
    always give the same bytes. Titles are HTML, as OPML readers and
    validators read them: "<" and "&" are escaped ("R&D" is written
    ``R&amp;amp;D``); every URL is written as a URI.
    """
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = _html_text(title)
    body = ET.SubElement(root, "body")
    groups: dict[str, ET.Element] = {}
    for feed in feeds:
        parent = body
        kind = feed.key.split("/", 1)[0] if "/" in feed.key else None
        if kind in _GROUPS:
            if kind not in groups:
                # Only "text": an outline with more needs a "type" (validators say).
                groups[kind] = ET.SubElement(body, "outline", text=_GROUPS[kind])
            parent = groups[kind]
        name = _html_text(feed.title)
        ET.SubElement(
            parent,
            "outline",
            type="rss",
            text=name,
            title=name,
            xmlUrl=to_uri(clean_xml_text(base_url + feed_path(feed.key, "atom"))),
            htmlUrl=to_uri(clean_xml_text(base_url + _page_of(feed.key))),
        )
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="UTF-8", xml_declaration=True)) + b"\n"


_GROUPS = {"category": "Categories", "custom": "Custom feeds"}
"""Outline groups by the first part of a feed's key, and their titles."""


def _page_of(key: str) -> str:
    """The web page of the feed ``key``, relative to the site's base URL (as in
    ``collate``: the feeds' alternate links name the same pages)."""
    kind, _, slug = key.partition("/")
    if kind == "category":
        return f"categories/{slug}"
    if kind == "custom":
        return f"#custom-{slug}"
    return ""


def _html_text(text: str) -> str:
    return html.escape(clean_xml_text(text), quote=False)
