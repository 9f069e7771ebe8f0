"""What an entry says in its body, the same in every format."""

from __future__ import annotations

from feedsvc.models import Entry, FeedSpec

CREDIT_PREFIX = "Image: © "


def feed_author(spec: FeedSpec) -> str:
    """The feed's author; its title when none is set, since Atom requires an author."""
    return spec.author.strip() or spec.title


def credit_line(credit: str) -> str:
    """``Image: © <credit>``; a © the credit already starts with is not doubled."""
    return CREDIT_PREFIX + credit.strip().removeprefix("©").lstrip()


def body_paragraphs(entry: Entry) -> tuple[str, ...]:
    """The entry's summary, then its image credit line; the title when it has neither.

    Never empty: an Atom entry without text content draws a validator warning,
    and a JSON Feed item must have content.
    """
    paragraphs: list[str] = []
    if entry.summary and entry.summary.strip():
        paragraphs.append(entry.summary.strip())
    if entry.credit and entry.credit.strip():
        paragraphs.append(credit_line(entry.credit))
    return tuple(paragraphs) or (entry.title.strip(),)


def body_text(entry: Entry) -> str:
    """The body as plain text, paragraphs separated by a blank line."""
    return "\n\n".join(body_paragraphs(entry))
