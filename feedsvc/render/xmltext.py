"""Text that is safe to put in an XML 1.0 document, and a FeedSpec made only of it.

XML 1.0 cannot carry C0 control characters other than tab, line feed and
carriage return, nor U+FFFE, U+FFFF or lone surrogates; lxml refuses them
and a feed reader that met them would reject the whole feed. Sanitising once,
at the render boundary, keeps every format free of them, whatever a listing
page held.
"""

from __future__ import annotations

import dataclasses

from feedsvc.models import FeedSpec
from feedsvc.xmlchars import strip_xml_forbidden


def clean_xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids; every other character is kept.

    Nothing is escaped here: escaping is the serialiser's job.
    """
    return strip_xml_forbidden(text)


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
        changes = {f.name: _cleaned(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    return value
