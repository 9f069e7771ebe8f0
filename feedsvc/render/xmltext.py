"""Text that is safe to put in an XML 1.0 document, and a FeedSpec made only of it.

XML 1.0 cannot carry C0 control characters other than tab, line feed and
carriage return, nor U+FFFE, U+FFFF or lone surrogates; lxml refuses them
and a feed reader that met them would reject the whole feed. C1 control
characters (U+0080 to U+009F) and U+FFFD are allowed but are never text
(they are what a wrong decoding leaves), and feed validators warn about them.
Sanitising once, at the render boundary, keeps every format free of them all,
whatever a listing page held. The links of a spec are made URIs at the same
boundary (``feedsvc.uris.to_uri``).
"""

from __future__ import annotations

import dataclasses
import re

from feedsvc.models import FeedSpec
from feedsvc.uris import to_uri
from feedsvc.xmlchars import strip_xml_forbidden

_NOT_TEXT = re.compile("[\x80-\x9f\ufffd]")
_END_TAG = re.compile(r"</(?=\w+>)")
WORD_JOINER = "\u2060"


def clean_xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids, C1 controls and U+FFFD;
    every other character is kept.

    Nothing is escaped here: escaping is the serialiser's job.
    """
    if text.isascii() and text.isprintable():
        return text  # the common case: nothing to remove
    return _NOT_TEXT.sub("", strip_xml_forbidden(text))


def defuse_end_tags(text: str) -> str:
    """``text`` with an invisible word joiner after the "<" of anything shaped
    like an HTML end tag ("</b>" -> "<\u2060/b>").

    For plain-text fields that cannot declare themselves text (RSS titles and
    categories, Atom category labels): readers and validators take "</b>"
    there for markup, whatever the escaping. The text reads the same.
    """
    return _END_TAG.sub("<" + WORD_JOINER + "/", text)


def spec_with_uris(spec: FeedSpec) -> FeedSpec:
    """``spec`` with its links (home, self, archives, each entry's link and image) as URIs."""
    entries = tuple(
        dataclasses.replace(
            entry, link=to_uri(entry.link),
            image=to_uri(entry.image) if entry.image is not None else None,
        )
        for entry in spec.entries
    )
    return dataclasses.replace(
        spec, home_url=to_uri(spec.home_url),
        self_urls=_uris(spec.self_urls),
        prev_archive_urls=_uris(spec.prev_archive_urls) if spec.prev_archive_urls else None,
        current_urls=_uris(spec.current_urls) if spec.current_urls else None,
        next_archive_urls=_uris(spec.next_archive_urls) if spec.next_archive_urls else None,
        entries=entries,
    )


def _uris(urls: dict[str, str]) -> dict[str, str]:
    return {fmt: to_uri(url) for fmt, url in urls.items()}


def clean_spec(spec: FeedSpec) -> FeedSpec:
    """``spec`` with every text in it, its own and its entries', made XML-safe.

    Every field is walked rather than listed, so a text field added to
    FeedSpec or Entry later is cleaned too.
    """
    cleaned = _cleaned(spec)
    assert isinstance(cleaned, FeedSpec)
    return cleaned


def _cleaned(value: object) -> object:
    """``value`` with every string inside it (dataclass fields, dicts, tuples) cleaned."""
    if isinstance(value, str):
        return clean_xml_text(value)
    if isinstance(value, dict):
        return {key: _cleaned(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(_cleaned(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for spec_field in dataclasses.fields(value):
            before = getattr(value, spec_field.name)
            after = _cleaned(before)
            if after != before:
                changes[spec_field.name] = after
        return dataclasses.replace(value, **changes) if changes else value
    return value
