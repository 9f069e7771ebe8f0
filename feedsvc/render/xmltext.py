"""Text that is safe to put in an XML 1.0 document, and a FeedSpec made only of it.

XML 1.0 cannot carry C0 control characters other than tab, line feed and
carriage return, nor U+FFFE, U+FFFF or lone surrogates; lxml refuses them
and a feed reader that met them would reject the whole feed. Sanitising once,
at the render boundary, keeps every format free of them, whatever a listing
page held.
"""

from __future__ import annotations

import dataclasses

from feedsvc.models import Entry, FeedSpec
from feedsvc.xmlchars import strip_xml_forbidden


def clean_xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids; every other character is kept.

    Nothing is escaped here: escaping is the serialiser's job.
    """
    return strip_xml_forbidden(text)


def _clean_optional(text: str | None) -> str | None:
    return None if text is None else clean_xml_text(text)


def clean_entry(entry: Entry) -> Entry:
    """``entry`` with every text field passed through ``clean_xml_text``."""
    return dataclasses.replace(
        entry,
        guid=clean_xml_text(entry.guid),
        item_id=clean_xml_text(entry.item_id),
        title=clean_xml_text(entry.title),
        category=_clean_optional(entry.category),
        category_slug=_clean_optional(entry.category_slug),
        credit=_clean_optional(entry.credit),
        summary=_clean_optional(entry.summary),
        link=clean_xml_text(entry.link),
        image=_clean_optional(entry.image),
    )


def clean_spec(spec: FeedSpec) -> FeedSpec:
    """``spec`` with every text field, its own and its entries', made XML-safe."""
    return dataclasses.replace(
        spec,
        key=clean_xml_text(spec.key),
        feed_id=clean_xml_text(spec.feed_id),
        title=clean_xml_text(spec.title),
        subtitle=clean_xml_text(spec.subtitle),
        home_url=clean_xml_text(spec.home_url),
        self_urls={fmt: clean_xml_text(url) for fmt, url in spec.self_urls.items()},
        language=clean_xml_text(spec.language),
        author=clean_xml_text(spec.author),
        entries=tuple(clean_entry(entry) for entry in spec.entries),
    )
