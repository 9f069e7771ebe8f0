"""Atom 1.0 and RSS 2.0 documents through feedgen, corrected where feedgen falls short.

This is the only module that imports feedgen, which is untyped. feedgen
builds the documents; what it gets wrong for a feed that must be stable and
valid is fixed here, on the lxml tree it produced, and then checked:

- it defaults feed dates to the current time, so every date is set explicitly;
- ``add_entry`` prepends by default, so entries are appended, and their order
  is checked against the spec's;
- it drops ``rel`` and ``type`` from Atom entry links, so they are put back;
- it formats RSS dates by switching the process-wide locale, which is not
  thread-safe and fails where the locale cannot be set, so it is never given
  an RSS date: those elements are added here, formatted by ``dates.rfc822``;
- its generator element carries feedgen's version, which would change the
  bytes on an upgrade, so the generator is named without a version;
- it knows neither RFC 5005 (``prev-archive``, ``next-archive`` and ``current``
  links, ``fh:archive``)
  nor Media RSS, nor entry languages, nor an RSS enclosure of unknown length:
  those are added here (``_add_atom_extras``, ``_add_rss_extras``).

What an entry carries besides its text: its image as an enclosure (Atom ``link
rel="enclosure"``, RSS ``enclosure`` with length 0, the RSS Best Practices
Profile's "unknown"), the image credit as Media RSS ``media:credit``, and its
language (Atom ``xml:lang``, RSS ``dc:language``). An item without a summary
has no summary element; in Atom, which wants text in every entry, it gets an
HTML ``content`` instead: its image and credit, else a link to it.

And what readers and validators would take for markup in plain text is made
plain (see the README's guarantees): an Atom title, subtitle or summary holding
"<" or "&" is declared ``type="html"`` and written as escaped HTML, so it
shows exactly as the text; fields that cannot declare a type (RSS titles,
channel description and categories, Atom labels and names) write "<" and "&" as the
hexadecimal character references the RSS Best Practices Profile asks for, and
an end tag's "</" is split by a word joiner (``xmltext.defuse_end_tags``).

Input specs are expected to be cleaned already (``xmltext.clean_spec``).
"""

# lxml ships no type information; like feedgen it is confined to this module.
# mypy: disable-error-code="import-untyped"
from __future__ import annotations

import re
from typing import Any

from feedgen.feed import FeedGenerator
from lxml import etree

from feedsvc.models import Entry, FeedSpec
from feedsvc.render.content import (
    UNKNOWN_LENGTH,
    body_paragraphs,
    body_text,
    credit_line,
    feed_author,
    has_credit,
    has_summary,
    image_credit,
    image_type,
)
from feedsvc.render.dates import rfc822, rfc3339
from feedsvc.render.xmltext import defuse_end_tags

ATOM_NS = "http://www.w3.org/2005/Atom"
HISTORY_NS = "http://purl.org/syndication/history/1.0"
MEDIA_NS = "http://search.yahoo.com/mrss/"
DC_NS = "http://purl.org/dc/elements/1.1/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
GENERATOR = "feedsvc"

_ATOM = f"{{{ATOM_NS}}}"
# Declared on the root; the serialiser drops those a document does not use.
_EXTRA_NAMESPACES = {"fh": HISTORY_NS, "media": MEDIA_NS}
# Where feedgen keeps the RSS lastBuildDate it sets to "now" on creation;
# there is no public way to unset it, and leaving it set makes feedgen
# format it under a switched locale.
_RSS_BUILD_DATE_ATTR = "_FeedGenerator__rss_lastBuildDate"


class FeedgenOutputError(RuntimeError):
    """feedgen produced a document that does not say what the spec says."""


def atom_document(spec: FeedSpec) -> bytes:
    """The Atom 1.0 document of ``spec``, UTF-8, entries in spec order."""
    generator = _new_generator(spec)
    generator.subtitle(spec.subtitle or None)
    generator.updated(spec.updated)
    generator.author(name=feed_author(spec))
    generator.link(href=spec.self_urls["atom"], rel="self", type="application/atom+xml")
    for hub in spec.hubs:
        generator.link(href=hub, rel="hub")
    generator.link(href=spec.home_url, rel="alternate", type="text/html")
    for entry in spec.entries:
        _add_atom_entry(generator, entry)
    root = _with_namespaces(_parse(generator.atom_str(pretty=False)))
    _set_child_text(root, "updated", rfc3339(spec.updated))
    _fix_atom_entries(root, spec.entries)
    _declare_atom_markup(root, spec.entries)
    _add_atom_extras(root, spec)
    return _ATOM_PLAIN_TEXT.sub(_with_hex_references, _serialise(root))


def rss_document(spec: FeedSpec) -> bytes:
    """The RSS 2.0 document of ``spec``, UTF-8, items in spec order."""
    generator = _new_generator(spec)
    generator.load_extension("dc", atom=False, rss=True)
    generator.description(spec.subtitle or spec.title)
    # feedgen takes the RSS channel link from the last link given.
    generator.link(href=spec.self_urls["rss"], rel="self", type="application/rss+xml")
    generator.link(href=spec.home_url, rel="alternate")
    generator.dc.dc_creator(feed_author(spec))
    _forget_build_date(generator)
    for entry in spec.entries:
        _add_rss_item(generator, entry)
    root = _with_namespaces(_parse(generator.rss_str(pretty=False)))
    _finish_rss(root, spec)
    _add_rss_hubs(root, spec.hubs)
    _defuse_rss_plain_text(root)
    _add_rss_extras(root, spec)
    channel, items_start, items = _serialise(root).partition(b"<item>")
    return (_RSS_CHANNEL_PLAIN_TEXT.sub(_with_hex_references, channel) + items_start
            + _RSS_ITEM_PLAIN_TEXT.sub(_with_hex_references, items))


def _new_generator(spec: FeedSpec) -> Any:
    generator = FeedGenerator()
    generator.id(spec.feed_id)
    generator.title(spec.title)
    generator.language(spec.language)
    generator.generator(GENERATOR)
    return generator


def _add_atom_entry(generator: Any, entry: Entry) -> None:
    item = generator.add_entry(order="append")
    item.id(entry.guid)
    item.title(entry.title)
    item.updated(entry.updated)
    item.published(entry.published)
    item.link(href=entry.link, rel="alternate", type="text/html")
    if has_summary(entry):
        item.summary(body_text(entry), type="text")
    if entry.category:
        item.category(term=entry.category_slug or entry.category, label=entry.category)


def _add_rss_item(generator: Any, entry: Entry) -> None:
    item = generator.add_entry(order="append")
    item.guid(entry.guid, permalink=False)
    item.title(entry.title)
    item.link(href=entry.link)
    if has_summary(entry):
        item.description(_html_body(entry), isSummary=True)
    if entry.category:
        item.category(term=entry.category_slug or entry.category, label=entry.category)


def _html_body(entry: Entry) -> str:
    """The body as HTML: the RSS description, which readers treat as HTML, and
    an Atom summary declared ``type="html"``.

    Each paragraph is escaped as HTML here and once more as XML when
    serialised, so a summary reading ``<b>`` shows as ``<b>``, never as markup.
    """
    return "".join(f"<p>{_escape_html(p)}</p>" for p in body_paragraphs(entry))


# --- plain text that looks like markup ---

# Leaf elements (and attributes) of plain text whose "<" and "&" are written
# as hexadecimal character references; the serialiser wrote them as &lt; and &amp;.
# Each replacement means the same character, so a match elsewhere (text that
# reads ' label="') would change only the spelling, never the document.
_RSS_CHANNEL_PLAIN_TEXT = re.compile(
    rb"(<(title|description|category)(?: [^>]*)?>)([^<]*)(</\2>)")
_RSS_ITEM_PLAIN_TEXT = re.compile(rb"(<(title|category)(?: [^>]*)?>)([^<]*)(</\2>)")
_ATOM_PLAIN_TEXT = re.compile(rb'(<(name)>)([^<]*)(</\2>)|( label=")([^"]*)(")')


def _with_hex_references(match: re.Match[bytes]) -> bytes:
    """The matched element or attribute with &lt; and &amp; as &#x3C; and &#x26;."""
    start, text, end = (match[1], match[3], match[4]) if match[1] else (
        match[5], match[6], match[7])
    return start + text.replace(b"&lt;", b"&#x3C;").replace(b"&amp;", b"&#x26;") + end


def _looks_like_markup(text: str) -> bool:
    return "<" in text or "&" in text


def _declare_atom_markup(root: etree._Element, entries: tuple[Entry, ...]) -> None:
    """Declare as escaped HTML the Atom texts holding "<" or "&", and defuse
    the labels and names, which cannot declare a type."""
    texts = [root.find(f"{_ATOM}title"), root.find(f"{_ATOM}subtitle")]
    for element, entry in zip(root.findall(f"{_ATOM}entry"), entries, strict=True):
        texts.append(element.find(f"{_ATOM}title"))
        summary = element.find(f"{_ATOM}summary")
        if summary is not None and _looks_like_markup(summary.text or ""):
            summary.set("type", "html")
            summary.text = _html_body(entry)
    for text in texts:
        if text is not None and _looks_like_markup(text.text or ""):
            text.set("type", "html")
            text.text = _escape_html(text.text or "")
    for category in root.iter(f"{_ATOM}category"):
        label = category.get("label")
        if label is not None:
            category.set("label", defuse_end_tags(label))
    for name in root.iter(f"{_ATOM}name"):
        name.text = defuse_end_tags(name.text or "")


def _defuse_rss_plain_text(root: etree._Element) -> None:
    channel = root.find("channel")
    assert channel is not None
    plain = [channel.find("title"), channel.find("description"),
             *channel.findall("category"), *channel.findall("item/title"),
             *channel.findall("item/category")]
    for element in plain:
        if element is not None and element.text:
            element.text = defuse_end_tags(element.text)


def _escape_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _forget_build_date(generator: Any) -> None:
    if not hasattr(generator, _RSS_BUILD_DATE_ATTR):
        raise FeedgenOutputError("feedgen no longer keeps the RSS build date where expected")
    setattr(generator, _RSS_BUILD_DATE_ATTR, None)


def _parse(document: bytes) -> etree._Element:
    parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)
    return etree.fromstring(document, parser)


def _serialise(root: etree._Element) -> bytes:
    etree.cleanup_namespaces(root)
    return bytes(etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True))


def _fix_atom_entries(root: etree._Element, entries: tuple[Entry, ...]) -> None:
    elements = root.findall(f"{_ATOM}entry")
    ids = [element.findtext(f"{_ATOM}id") for element in elements]
    if ids != [entry.guid for entry in entries]:
        raise FeedgenOutputError("Atom entries are not the spec's entries in the spec's order")
    for element, entry in zip(elements, entries, strict=True):
        links = element.findall(f"{_ATOM}link")
        if [link.get("href") for link in links] != [entry.link]:
            raise FeedgenOutputError(f"Atom entry {entry.guid} lacks its one link")
        links[0].set("rel", "alternate")
        links[0].set("type", "text/html")
        _set_child_text(element, "updated", rfc3339(entry.updated))
        _set_child_text(element, "published", rfc3339(entry.published))


def _set_child_text(parent: etree._Element, name: str, text: str) -> None:
    """Put our own text in a date element feedgen wrote, so its format is ours."""
    child = parent.find(f"{_ATOM}{name}")
    if child is None:
        raise FeedgenOutputError(f"Atom element {name} is missing")
    child.text = text


def _add_rss_hubs(root: etree._Element, hubs: tuple[str, ...]) -> None:
    """WebSub hubs as ``atom:link rel="hub"``, after the channel's ``rel="self"`` link
    (feedgen writes only that one)."""
    self_link = root.find(f"channel/{_ATOM}link[@rel='self']")
    if self_link is None:
        if hubs:
            raise FeedgenOutputError("RSS channel has no atom:link rel=self")
        return
    for hub in reversed(hubs):
        self_link.addnext(etree.Element(f"{_ATOM}link", href=hub, rel="hub"))


def _finish_rss(root: etree._Element, spec: FeedSpec) -> None:
    """Check the channel and its items, and add every RSS date."""
    channel = root.find("channel")
    if channel is None or channel.findtext("link") != spec.home_url:
        raise FeedgenOutputError("RSS channel does not link to the home page")
    if channel.find("lastBuildDate") is not None or channel.find(".//pubDate") is not None:
        raise FeedgenOutputError("feedgen wrote an RSS date of its own")
    items = channel.findall("item")
    guids = [item.findtext("guid") for item in items]
    if guids != [entry.guid for entry in spec.entries]:
        raise FeedgenOutputError("RSS items are not the spec's entries in the spec's order")
    first_item = items[0] if items else None
    for tag in ("pubDate", "lastBuildDate"):
        element = etree.Element(tag)
        element.text = rfc822(spec.updated)
        if first_item is None:
            channel.append(element)
        else:
            first_item.addprevious(element)
    for item, entry in zip(items, spec.entries, strict=True):
        etree.SubElement(item, "pubDate").text = rfc822(entry.published)


# --- what feedgen does not write: archives, images, credits, languages ---


def _with_namespaces(root: etree._Element) -> etree._Element:
    """``root`` (its children moved) under a root that also declares the RFC 5005 and
    Media RSS prefixes; lxml cannot add a declaration to an existing element."""
    nsmap = {**root.nsmap, **_EXTRA_NAMESPACES}
    new_root = etree.Element(root.tag, attrib=dict(root.attrib), nsmap=nsmap)
    new_root.text = root.text
    new_root.extend(list(root))
    return new_root


def _archive_links(spec: FeedSpec, fmt: str) -> list[tuple[str, str]]:
    """(rel, href) of the RFC 5005 links of ``spec`` in ``fmt``: ``current`` and
    ``next-archive`` on an archive document, ``prev-archive`` when older entries exist."""
    links = []
    if spec.current_urls is not None:
        links.append(("current", spec.current_urls[fmt]))
    if spec.prev_archive_urls is not None:
        links.append(("prev-archive", spec.prev_archive_urls[fmt]))
    if spec.next_archive_urls is not None:
        links.append(("next-archive", spec.next_archive_urls[fmt]))
    return links


def _add_archive_links(
    anchor: etree._Element, spec: FeedSpec, fmt: str, content_type: str,
) -> None:
    """After ``anchor``, the feed's RFC 5005 links (atom:link, in Atom and RSS alike) and,
    on an archive page, its ``fh:archive`` marker."""
    for rel, href in _archive_links(spec, fmt):
        link = etree.Element(f"{_ATOM}link", href=href, rel=rel, type=content_type)
        anchor.addnext(link)
        anchor = link
    if spec.is_archive:
        anchor.addnext(etree.Element(f"{{{HISTORY_NS}}}archive"))


def _add_atom_extras(root: etree._Element, spec: FeedSpec) -> None:
    alternate = root.find(f"{_ATOM}link[@rel='alternate']")
    if alternate is None:
        raise FeedgenOutputError("Atom feed lacks its alternate link")
    _add_archive_links(alternate, spec, "atom", "application/atom+xml")
    for element, entry in zip(root.findall(f"{_ATOM}entry"), spec.entries, strict=True):
        if entry.language:
            element.set(XML_LANG, entry.language)
        link = element.find(f"{_ATOM}link")
        assert link is not None  # checked by _fix_atom_entries
        if entry.image:
            # Atom lets the length go unsaid; we do not know it.
            link.addnext(etree.Element(f"{_ATOM}link", href=entry.image, rel="enclosure",
                                       type=image_type(entry.image)))
        if entry.credit and has_credit(entry):
            etree.SubElement(element, f"{{{MEDIA_NS}}}credit").text = defuse_end_tags(
                image_credit(entry.credit))
        if not has_summary(entry):
            content = etree.SubElement(element, f"{_ATOM}content", type="html")
            content.text = _content_without_summary(entry)


def _content_without_summary(entry: Entry) -> str:
    """The Atom content of an entry without a summary, as HTML: its image and its
    credit line, else a link to the item (a validator warns about an entry without
    text, and the title is the reader's to show, not to repeat)."""
    parts = []
    if entry.image:
        parts.append(f'<p><img src="{_escape_attribute(entry.image)}" alt=""></p>')
    if entry.credit and has_credit(entry):
        parts.append(f"<p>{_escape_html(credit_line(entry.credit))}</p>")
    if not parts:
        href = _escape_attribute(entry.link)
        parts.append(f'<p><a href="{href}">{_escape_html(entry.link)}</a></p>')
    return "".join(parts)


def _escape_attribute(text: str) -> str:
    return _escape_html(text).replace('"', "&quot;")


def _add_rss_extras(root: etree._Element, spec: FeedSpec) -> None:
    channel = root.find("channel")
    assert channel is not None
    self_link = channel.find(f"{_ATOM}link[@rel='self']")
    if self_link is None:
        raise FeedgenOutputError("RSS channel lacks its atom:link to itself")
    _add_archive_links(self_link, spec, "rss", "application/rss+xml")
    for item, entry in zip(channel.findall("item"), spec.entries, strict=True):
        last = item.find("pubDate")
        assert last is not None  # added by _finish_rss
        if entry.image:
            last.addprevious(etree.Element(
                "enclosure", url=entry.image, length=UNKNOWN_LENGTH,
                type=image_type(entry.image)))
        if entry.credit and has_credit(entry):
            credit = etree.Element(f"{{{MEDIA_NS}}}credit")
            credit.text = defuse_end_tags(image_credit(entry.credit))
            last.addprevious(credit)
        if entry.language:
            language = etree.Element(f"{{{DC_NS}}}language")
            language.text = entry.language
            last.addprevious(language)
