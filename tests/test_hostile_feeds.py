"""Hostile text and links give feeds with no validator warning, and still say the text.

Always run: what readers see equals what the listing said; RSS plain text holds
no "<" or "&" but as hexadecimal character references, nor anything shaped
like an end tag; every published link is an RFC 3986 URI. With FV_HOME and
FV_PYTHON set (see tests/test_w3c_validator.py), the W3C Feed Validation
Service checks the hostile golden feeds too.
"""

from __future__ import annotations

import dataclasses
import html
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from render_fixtures import hostile_spec, markup_spec, seed_spec

from feedsvc.feeds import FeedLink
from feedsvc.outputs import OUTPUT_FORMATS
from feedsvc.render import clean_xml_text, render_feed, render_opml
from feedsvc.render.xmltext import WORD_JOINER

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "data" / "golden"
ATOM = "{http://www.w3.org/2005/Atom}"
HOSTILE_SPECS = {"hostile": hostile_spec, "markup": markup_spec, "seed": seed_spec}

# RFC 3986 URI, checked independently of feedsvc.uris: allowed characters only,
# "%" only as a percent-encoding, a scheme, at most one "#", brackets only
# around an IP literal host.
_URI_CHARS = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]"
                        r"|%[0-9A-Fa-f]{2})*")
_PLAIN_RSS = re.compile(
    r"<(title|category)>([^<]*)</\1>|<channel>.*?<description>([^<]*)</description>", re.S)

HOSTILE_OPML_FEEDS = (
    FeedLink("all", "<News> & </b> views", None, None, 5, "2021-11-20",
             "2021-11-20T12:00:00+00:00"),
    FeedLink("category/r-d", "News: R&D </b>", "R&D </b>", "r-d", 1, "2021-11-20",
             "2021-11-20T12:00:00+00:00"),
)
HOSTILE_BASE_URL = "http://127.0.0.1:8000/my feeds/"


def is_rfc3986_uri(text: str) -> bool:
    if not _URI_CHARS.fullmatch(text) or text.count("#") > 1:
        return False
    outside_host = re.sub(r"^[^:]+://(?:[^@/]*@)?\[[0-9A-Fa-f:.]+\]", "", text)
    return "[" not in outside_host and "]" not in outside_host


def links_in(document: bytes, fmt: str) -> list[str]:
    """Every URL a feed document publishes."""
    if fmt == "json":
        feed = json.loads(document)
        found = [feed["home_page_url"], feed["feed_url"]]
        for item in feed["items"]:
            found += [item["url"], *([item["image"]] if "image" in item else [])]
        return found
    root = etree.fromstring(document)
    found = [link.get("href") for link in root.iter(f"{ATOM}link")]
    found += [link.text for link in root.iter("link")]
    # Group outlines (categories, custom feeds) have no URLs.
    found += [value for outline in root.iter("outline") if outline.get("xmlUrl")
              for value in (outline.get("xmlUrl"), outline.get("htmlUrl"))]
    return found


@pytest.mark.parametrize("fmt", list(OUTPUT_FORMATS))
@pytest.mark.parametrize("case", sorted(HOSTILE_SPECS))
def test_every_link_is_an_rfc3986_uri(case: str, fmt: str) -> None:
    links = links_in(render_feed(HOSTILE_SPECS[case](), fmt), fmt)
    assert links
    assert [link for link in links if not is_rfc3986_uri(link)] == []


def test_every_opml_link_is_an_rfc3986_uri() -> None:
    links = links_in(render_opml("<Site>", HOSTILE_OPML_FEEDS, HOSTILE_BASE_URL), "opml")
    assert len(links) == 4
    assert all(is_rfc3986_uri(link) for link in links), links


@pytest.mark.parametrize(
    ("link", "uri"),
    [
        ("http://127.0.0.1:8000/news/region x\\ministers",
         "http://127.0.0.1:8000/news/region%20x%5Cministers"),
        ("https://bücher.example/nouvelles/é?q=a b&x=<1>#top#again",
         "https://xn--bcher-kva.example/nouvelles/%C3%A9?q=a%20b&x=%3C1%3E#top%23again"),
        ("http://127.0.0.1:8000/a%20b%zz", "http://127.0.0.1:8000/a%20b%25zz"),
    ],
)
def test_links_are_published_as_the_uri_a_browser_would_request(link: str, uri: str) -> None:
    spec = markup_spec()
    spec = dataclasses.replace(
        spec, entries=(dataclasses.replace(spec.entries[0], link=link),))
    for fmt in OUTPUT_FORMATS:
        assert links_in(render_feed(spec, fmt), fmt).count(uri) == 1


@pytest.mark.parametrize("case", sorted(HOSTILE_SPECS))
def test_rss_plain_text_holds_no_raw_markup(case: str) -> None:
    document = render_feed(HOSTILE_SPECS[case](), "rss").decode("utf-8")
    texts = [next(t for t in match.groups()[1:] if t is not None)
             for match in _PLAIN_RSS.finditer(document)]
    assert texts
    for text in texts:
        assert "&lt;" not in text and "&amp;" not in text, text
        decoded = html.unescape(text)
        assert not re.search(r"</\w+>", decoded), decoded


def _reader_text(element: Any) -> str:
    """An Atom text as a reader shows it: escaped HTML unescaped, paragraphs joined."""
    text = element.text or ""
    if element.get("type") != "html":
        return str(text)
    paragraphs = re.findall("<p>(.*?)</p>", text, flags=re.S)
    return "\n\n".join(html.unescape(p) for p in paragraphs) if paragraphs else html.unescape(
        text)


def _without_joiners(text: str) -> str:
    return text.replace(WORD_JOINER, "")


def test_readers_see_the_listing_text_in_every_format() -> None:
    spec = markup_spec()
    titles = [clean_xml_text(entry.title) for entry in spec.entries]
    atom = etree.fromstring(render_feed(spec, "atom"))
    assert [_reader_text(e.find(f"{ATOM}title")) for e in atom.iter(f"{ATOM}entry")] == titles
    assert _reader_text(atom.find(f"{ATOM}title")) == spec.title
    assert _without_joiners(atom.find(f"{ATOM}author/{ATOM}name").text) == spec.title
    rss = etree.fromstring(render_feed(spec, "rss"))
    assert [_without_joiners(t.text) for t in rss.iterfind("channel/item/title")] == titles
    labels = [_without_joiners(c.get("label")) for c in atom.iter(f"{ATOM}category")]
    assert labels == [clean_xml_text(e.category) for e in spec.entries if e.category]
    items = json.loads(render_feed(spec, "json"))["items"]
    assert [item["title"] for item in items] == titles


def test_plain_looking_text_keeps_its_plain_form() -> None:
    atom = etree.fromstring(render_feed(seed_spec(), "atom"))
    assert {e.get("type") for e in atom.iter(f"{ATOM}title", f"{ATOM}summary")} <= {None, "text"}
    assert WORD_JOINER not in render_feed(seed_spec(), "rss").decode()


# --- the W3C Feed Validation Service ---

VALIDATED = [
    "hostile.atom", "hostile.rss", "hostile-markup.atom", "hostile-markup.rss",
    "historic.atom", "historic.rss",
    # An archive page whose entries carry images, credits, languages and no summaries.
    "extras.atom", "extras.rss",
]
# Dates before 1990 are implausible to the validator, whatever their form.
EXPECTED_ONLY = {"historic.atom": "Implausible date", "historic.rss": "Implausible date"}


def _validator() -> tuple[str, str]:
    home, python = os.environ.get("FV_HOME"), os.environ.get("FV_PYTHON")
    if not home or not python:
        pytest.skip("set FV_HOME (a w3c/feedvalidator checkout) and FV_PYTHON to run it")
    return home, python


def _validate(home: str, python: str, paths: list[Path]) -> dict[str, list[str]]:
    result = subprocess.run(
        [python, str(ROOT / "scripts" / "validate_feeds.py"), *map(str, paths)],
        env={**os.environ, "FV_HOME": home}, capture_output=True, text=True, check=False,
    )
    assert "== " in result.stdout, result.stdout + result.stderr
    messages: dict[str, list[str]] = {}
    current = ""
    for line in result.stdout.splitlines():
        if line.startswith("== "):
            current = Path(line[3:].split(": ", 1)[0]).name
            messages[current] = []
        elif line.strip():
            messages[current].append(line.strip())
    return messages


@pytest.mark.slow
def test_hostile_golden_feeds_pass_the_w3c_validator(tmp_path: Path) -> None:
    home, python = _validator()
    paths = [GOLDEN / name for name in VALIDATED]
    opml = tmp_path / "hostile.opml"
    opml.write_bytes(render_opml("<Site> & </b>", HOSTILE_OPML_FEEDS, HOSTILE_BASE_URL))
    messages = _validate(home, python, [*paths, opml])
    assert set(messages) == {*VALIDATED, "hostile.opml"}
    for name, found in messages.items():
        expected = EXPECTED_ONLY.get(name)
        unexpected = [m for m in found if expected is None or expected not in m]
        assert unexpected == [], f"{name}: {unexpected}"


def test_golden_files_cover_the_validated_specs() -> None:
    for name in VALIDATED:
        assert (GOLDEN / name).is_file()
    document = (GOLDEN / "historic.atom").read_text(encoding="utf-8")
    assert "+00:19:32" not in document and "1930-05-11T23:40:28+00:00" in document
