"""What makes an item the same item, and readable names for categories. Pure.

An item is identified by its publication date and its normalised title, and
by nothing else: not its position in a listing, its summary, its category,
the source it was read from or the site's address. So an item keeps its id
when a listing page shifts, when its summary or category is edited, when it
moves from one listing to another, and when the site moves.

Ids derived here are published in feeds that readers keep for years: the
namespace and the normalisation below must never change.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import unicodedata
import uuid

FEEDSVC_NAMESPACE = uuid.UUID("4f74197f-5cf3-5f76-b24b-c6e93aca8598")
"""The namespace of every name-based UUID feedsvc makes (items and feeds)."""

_QUOTES = str.maketrans(
    {
        **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u0060\u00b4", "'"),
        **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb\u2039\u203a\"", "'"),
    }
)
_DASHES = str.maketrans(
    dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d", "-")
)
_SPACE = re.compile(r"\s+")
_TRAILING_PUNCTUATION = re.compile(r"[\s.,;:!?\u2026\u3002]+$")

SLUG_MAX_LENGTH = 80
_TRANSLITERATIONS = str.maketrans(
    {
        "ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d",
        "þ": "th", "\u0131": "i", "ħ": "h",
    }
)
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def normalise_title(title: str) -> str:
    """The title as identity sees it: spelling variants of one title compare equal.

    NFKC, case-folded, every kind of quote made ``'`` and every dash ``-``,
    runs of whitespace made one space, and trailing punctuation dropped.
    """
    text = unicodedata.normalize("NFKC", title).casefold()
    text = text.translate(_QUOTES).translate(_DASHES)
    text = _SPACE.sub(" ", text).strip()
    return _TRAILING_PUNCTUATION.sub("", text)


def item_key(date: dt.date, title: str) -> str:
    """The store's primary key of an item: ``"<ISO date>|<normalised title>"``."""
    return f"{date.isoformat()}|{normalise_title(title)}"


def item_id(date: dt.date, title: str) -> str:
    """The item's URL-safe id (32 lowercase hex digits), as in ``/items/<id>``."""
    return id_for_key(item_key(date, title))


def guid_for_key(key: str) -> str:
    """The item's Atom id / RSS guid, ``"urn:uuid:<uuid>"``, from its ``item_key``:
    uuid5 of the key in ``FEEDSVC_NAMESPACE``. Never changes."""
    return uuid.uuid5(FEEDSVC_NAMESPACE, key).urn


def id_for_key(key: str) -> str:
    """``item_id`` computed from an ``item_key``."""
    return uuid.uuid5(FEEDSVC_NAMESPACE, key).hex


def names_for_key(key: str) -> tuple[str, str]:
    """(``guid_for_key(key)``, ``id_for_key(key)``), computed at once.

    The same uuid5 as ``uuid.uuid5`` (RFC 4122: SHA-1 of namespace and name,
    version 5, RFC variant), without building a UUID object: a bulk merge
    names every new item.
    """
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + key.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    hexed = digest.hex()
    return (f"urn:uuid:{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}",
            hexed)


_NAMESPACE_BYTES = FEEDSVC_NAMESPACE.bytes


def feed_guid(base_url: str, key: str) -> str:
    """A feed's Atom id: ``"urn:uuid:"`` + uuid5 of ``base_url + key`` in ``FEEDSVC_NAMESPACE``."""
    return uuid.uuid5(FEEDSVC_NAMESPACE, base_url + key).urn


@functools.lru_cache(maxsize=4096)
def slugify(label: str) -> str:
    """A readable, stable ASCII slug of a category label; never empty.

    Lowercase letters, digits and single hyphens: accents are dropped, anything
    else separates words (``"COVID-19: ILO Monitor - 7th edition"`` →
    ``"covid-19-ilo-monitor-7th-edition"``). A label with nothing to spell in
    ASCII gets ``"c-"`` and a short hash of the label. Slugs are cut at a word
    boundary to at most ``SLUG_MAX_LENGTH`` characters.
    """
    text = unicodedata.normalize("NFKC", label).casefold().translate(_TRANSLITERATIONS)
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = decomposed.encode("ascii", "ignore").decode("ascii")
    slug = _NOT_SLUG.sub("-", ascii_text).strip("-")
    if len(slug) > SLUG_MAX_LENGTH:
        head = slug[: SLUG_MAX_LENGTH + 1]
        slug = head.rsplit("-", 1)[0] if "-" in head else slug[:SLUG_MAX_LENGTH]
    if slug:
        return slug
    return "c-" + hashlib.sha256(label.encode("utf-8")).hexdigest()[:10]
