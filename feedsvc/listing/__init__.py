"""Listings to items: decoding bytes and parsing text or HTML listings.

Everything here is pure: text (or bytes) in, items and warnings out. The
refresh reads the documents (``feedsvc.fetch``) and picks the parser by the
source's format (``feedsvc.formats``).
"""

from __future__ import annotations

from feedsvc.listing.dates import drop_future_items
from feedsvc.listing.decode import decode_document
from feedsvc.listing.text import parse_text_listing, render_numbered

__all__ = [
    "decode_document",
    "drop_future_items",
    "parse_text_listing",
    "render_numbered",
]
