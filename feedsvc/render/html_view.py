"""FeedSpec → the feed's page for people: what a browser opening a feed's address shows.

Browsers show Atom and RSS as XML source (or offer to download them), and
are dropping XSLT, so a stylesheet in the feed cannot be relied on. Instead
the web layer serves this page, by content negotiation, to a request that
prefers ``text/html`` (see ``feedsvc.web.negotiation``), and the feed bytes to
everyone else.

The page is rendered here, at publication time, from the same FeedSpec the
feed files are rendered from, and published beside them (``feeds/<key>.html``,
see ``feedsvc.publication.view_path``): it always shows what the feed holds,
it changes exactly when the feed does, and the web layer only serves bytes
(it never renders a feed on a request). Pure: no clock, no files, no locale;
the same spec gives the same bytes, so its ETag stays put.

Its links to the site (home page, stylesheet, copy script, category page) are
relative to the feed's own address, so the page works under any host name
and behind a path prefix; the feed addresses it offers to copy are the
feed's absolute ``self`` URLs.
"""

from __future__ import annotations

import datetime as dt
import functools
from html import escape

from babel.core import Locale, UnknownLocaleError
from babel.dates import format_date

from feedsvc.models import Entry, FeedSpec
from feedsvc.outputs import OUTPUT_FORMATS

CATEGORY_PREFIX = "category/"
CUSTOM_PREFIX = "custom/"

EXPLANATION = (
    "This is a feed: a list of the newest items of this site that a feed reader (an app, "
    "or a web site such as Feedly or Inoreader) checks for you, so that you get each new "
    "item as it is published. To subscribe, copy the feed's address below into your feed "
    "reader. The page you are looking at is the same feed shown for people."
)


INTERFACE_LANGUAGE = "en"
"""The language of the page's own text (explanations, headings, links), which says
so wherever the feed's language differs: the page's ``lang`` is the feed's, since
its entries are what it is about."""


def render_html_view(spec: FeedSpec, site_title: str) -> bytes:
    """The page for people of the feed ``spec`` (text and links already cleaned) of the
    site ``site_title``, UTF-8.

    It holds the feed's title and subtitle, a paragraph on what a feed is and
    how to subscribe, each format's address with a copy button (the button
    appears only when the site's ``static/copy.js`` runs), and every entry of
    the feed, newest first, with its date (in the entry's language) and summary.
    The page's ``lang`` is the feed's language; its own English text says
    ``lang="en"`` when that differs, and an entry in another language than the
    feed's says its own.
    """
    up = "../" * (spec.key.count("/") + 1)
    ui = _lang_attribute(INTERFACE_LANGUAGE, spec.language)
    parts = [_head(spec, up, site_title), _subscribe(spec, up, ui), _entries(spec, ui)]
    home = f'<a href="{up}">Home</a>'
    if spec.key.startswith(CATEGORY_PREFIX):
        slug = spec.key.removeprefix(CATEGORY_PREFIX)
        home += f' · <a href="{up}categories/{escape(slug)}">Every item of this category</a>'
    elif spec.key.startswith(CUSTOM_PREFIX):
        # A custom feed has no paged list of its own; its place on the home page
        # (its alternate link) says what it holds.
        slug = spec.key.removeprefix(CUSTOM_PREFIX)
        home += (f' · <a href="{up}#custom-{escape(slug)}">This feed on the home page</a>'
                 f' · <a href="{up}items">Every item of the site, page by page</a>')
    else:
        home += f' · <a href="{up}items">Every item, page by page</a>'
    parts.append(f'</main>\n<footer{ui}>{home}</footer>\n</body>\n</html>\n')
    return "".join(parts).encode("utf-8")


def _head(spec: FeedSpec, up: str, site_title: str) -> str:
    alternates = "".join(
        f'<link rel="alternate" type="{OUTPUT_FORMATS[fmt].media_type}" '
        f'title="{escape(spec.title)} ({OUTPUT_FORMATS[fmt].label})" href="{escape(url)}">\n'
        for fmt, url in spec.self_urls.items() if fmt in OUTPUT_FORMATS
    )
    return (
        "<!doctype html>\n"
        f'<html lang="{escape(spec.language)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(spec.title)} (feed)</title>\n"
        f'<link rel="icon" href="{up}static/favicon.svg" type="image/svg+xml">\n'
        f'<link rel="stylesheet" href="{up}static/site.css">\n'
        f'<script src="{up}static/copy.js" defer></script>\n'
        f"{alternates}</head>\n<body>\n"
        f'<header class="site"><a href="{up}">{escape(site_title)}</a></header>\n'
        "<main>\n"
        f'<h1 class="feed-title">{escape(spec.title)}</h1>\n'
        f'<p class="lead">{escape(spec.subtitle)}</p>\n'
    )


def _lang_attribute(language: str, around: str) -> str:
    """`` lang="..."`` for text in ``language`` inside an element in ``around``; empty
    when they are the same language."""
    if language.lower() == around.lower():
        return ""
    return f' lang="{escape(language)}"'


def _subscribe(spec: FeedSpec, up: str, ui: str) -> str:
    rows = []
    for fmt, url in spec.self_urls.items():
        name = OUTPUT_FORMATS[fmt].label if fmt in OUTPUT_FORMATS else fmt
        field = f"address-{escape(fmt)}"
        rows.append(
            f'<div class="address"><label for="{field}">{name}</label>'
            f'<input id="{field}" type="text" readonly value="{escape(url)}">'
            f'<button type="button" class="copy" data-copy="{field}" hidden '
            f'aria-label="Copy the {name} address">Copy</button></div>\n'
        )
    return (
        f'<section class="box subscribe" aria-labelledby="subscribe"{ui}>\n'
        '<h2 id="subscribe">Subscribe</h2>\n'
        f"<p>{escape(EXPLANATION)}</p>\n"
        f'{"".join(rows)}'
        f'<p class="muted">More ways to subscribe, and every feed of the site, are on the '
        f'<a href="{up}">home page</a>.</p>\n'
        "</section>\n"
    )


def _entries(spec: FeedSpec, ui: str) -> str:
    count = len(spec.entries)
    heading = f"Latest {count} item{'' if count == 1 else 's'}" if count else "No items yet"
    if not spec.entries:
        return (f'<h2 id="entries"{ui}>{heading}</h2>\n'
                f'<p class="muted"{ui}>This feed is empty.</p>\n')
    rows = "".join(_entry(entry, spec.language) for entry in spec.entries)
    return f'<h2 id="entries"{ui}>{heading}</h2>\n<ul class="plain entries">\n{rows}</ul>\n'


def _entry(entry: Entry, feed_language: str) -> str:
    day = entry.published.date()
    language = entry.language or feed_language
    parts = [
        f'<li class="entry"{_lang_attribute(language, feed_language)}>'
        f'<a class="entry-title" href="{escape(entry.link)}">'
        f"{escape(entry.title)}</a><br>",
        f'<time datetime="{day.isoformat()}">{escape(readable_date(day, language))}</time>',
    ]
    if entry.category:
        parts.append(f' <span class="badge">{escape(entry.category)}</span>')
    if entry.summary and entry.summary.strip():
        # Paragraphs are one blank line apart; a browser would run them together.
        parts.extend(f'<p class="summary">{escape(part.strip())}</p>'
                     for part in entry.summary.split("\n\n") if part.strip())
    if entry.credit and entry.credit.strip():
        credit = entry.credit.strip().removeprefix("©").lstrip()
        # "Image:" is the page's own English; the credit, a name, is left unmarked.
        english = _lang_attribute(INTERFACE_LANGUAGE, language)
        parts.append(f'<p class="muted credit"{english}>Image: © {escape(credit)}</p>')
    parts.append("</li>\n")
    return "".join(parts)


@functools.lru_cache(maxsize=4096)
def readable_date(day: dt.date, language: str) -> str:
    """``day`` as a person reads it in ``language`` (babel's data, never the process
    locale); the ISO date when the language is unknown. Remembered: a refresh renders
    the same days again and again, one page per feed."""
    try:
        return format_date(day, format="long", locale=Locale.parse(language, sep="-"))
    except (ValueError, UnknownLocaleError):
        return day.isoformat()
