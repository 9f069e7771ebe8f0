"""What an entry says in its body and about its image, the same in every format."""

from __future__ import annotations

import posixpath
import urllib.parse

from feedsvc.models import Entry, FeedSpec

CREDIT_PREFIX = "Image: © "

IMAGE_TYPES = {
    ".avif": "image/avif",
    ".gif": "image/gif",
    ".jpeg": "image/jpeg",
    ".jpg": "image/jpeg",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
}
"""Image media types by file extension. Our own table, not ``mimetypes``, whose
answers depend on the machine's files: the same feed must give the same bytes."""
DEFAULT_IMAGE_TYPE = "image/jpeg"
"""The type of an image whose address names no known extension: the commonest."""
UNKNOWN_LENGTH = "0"
"""An RSS enclosure's length when its size is not known: the RSS Best Practices
Profile's convention, which the W3C validator accepts."""


def feed_author(spec: FeedSpec) -> str:
    """The feed's author; its title when none is set, since Atom requires an author."""
    return spec.author.strip() or spec.title


def credit_line(credit: str) -> str:
    """``Image: © <credit>``; a © the credit already starts with is not doubled."""
    return CREDIT_PREFIX + image_credit(credit)


def image_credit(credit: str) -> str:
    """The credit as the image's credit (Media RSS ``media:credit``): without the ©."""
    return credit.strip().removeprefix("©").lstrip()


def has_summary(entry: Entry) -> bool:
    """True when the item has a summary of its own: only then is there a summary
    element (Atom ``summary``, RSS ``description``, JSON Feed ``summary``)."""
    return bool(entry.summary and entry.summary.strip())


def has_credit(entry: Entry) -> bool:
    return bool(entry.credit and image_credit(entry.credit))


def body_paragraphs(entry: Entry) -> tuple[str, ...]:
    """The entry's summary, then its image credit line; either may be absent, so the
    result may be empty. Never the title: a reader shows that already."""
    paragraphs: list[str] = []
    if entry.summary and entry.summary.strip():
        paragraphs.append(entry.summary.strip())
    if entry.credit and has_credit(entry):
        paragraphs.append(credit_line(entry.credit))
    return tuple(paragraphs)


def body_text(entry: Entry) -> str:
    """The body as plain text, paragraphs separated by a blank line ("" when none)."""
    return "\n\n".join(body_paragraphs(entry))


def image_type(url: str) -> str:
    """The media type of the image at ``url``, from its path's extension."""
    path = urllib.parse.urlsplit(url).path
    extension = posixpath.splitext(path)[1].lower()
    return IMAGE_TYPES.get(extension, DEFAULT_IMAGE_TYPE)
