"""Feeds and entries say the language of their sources: a site of French and Spanish
listings no longer labels them all with the site's ``en``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree
from stored_items import every_item

from feedsvc.models import ListingItem
from feedsvc.pipeline import refresh
from feedsvc.publication import open_publication
from feedsvc.settings import Settings
from feedsvc.store import Store

LISTINGS = Path(__file__).resolve().parent / "data" / "listings"
T0 = dt.datetime(2026, 11, 22, 6, 0, tzinfo=dt.UTC)
ATOM = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
DC_LANGUAGE = "{http://purl.org/dc/elements/1.1/}language"


def site_of(make_settings: Callable[..., Settings], tmp_path: Path,
            *names: str) -> Settings:
    (tmp_path / "listings").mkdir()
    for name in names:
        shutil.copy(LISTINGS / f"{name}.txt", tmp_path / "listings" / f"{name}.txt")
    # No language configured: each listing's is detected from its dates.
    return make_settings([{"name": name, "location": f"listings/{name}.txt"} for name in names])


def document(settings: Settings, path: str) -> bytes:
    publication = open_publication(settings.storage.publish_dir)
    assert publication is not None
    return publication.read(path)


def test_a_french_site_publishes_french_feeds(
    make_settings: Callable[..., Settings], tmp_path: Path,
) -> None:
    settings = site_of(make_settings, tmp_path, "french-numbered")
    assert settings.site.language == "en"
    assert refresh(settings, now=T0).ok
    atom = etree.fromstring(document(settings, "feeds/all.atom"))
    assert atom.get(XML_LANG) == "fr"
    assert {entry.get(XML_LANG) for entry in atom.iter(f"{ATOM}entry")} == {"fr"}
    channel = etree.fromstring(document(settings, "feeds/all.rss")).find("channel")
    assert channel.findtext("language") == "fr"
    assert {item.findtext(DC_LANGUAGE) for item in channel.iter("item")} == {"fr"}


def test_a_mixed_site_says_each_entrys_language(
    make_settings: Callable[..., Settings], tmp_path: Path,
) -> None:
    settings = site_of(make_settings, tmp_path, "french-numbered", "spanish-compact")
    assert refresh(settings, now=T0).ok
    atom = etree.fromstring(document(settings, "feeds/all.atom"))
    # Sources that do not share a language: the feed says the site's, each entry its own.
    assert atom.get(XML_LANG) == "en"
    assert {entry.get(XML_LANG) for entry in atom.iter(f"{ATOM}entry")} == {"fr", "es"}


def test_items_stored_without_a_language_take_their_sources_next_time(tmp_path: Path) -> None:
    """A store from before languages: the next merge of a listing fills them in, without
    touching the items' times."""
    listing = [ListingItem(title="Un atelier", date=dt.date(2020, 4, 2), category=None,
                           credit=None, summary=None)]
    with Store.open(f"sqlite:///{tmp_path / 'db.sqlite3'}") as store:
        store.merge("a", listing, T0)
        before = every_item(store)
        assert [item.language for item in before] == [None]
        counts = store.merge("a", listing, T0 + dt.timedelta(hours=1), language="fr")
        assert (counts.new, counts.updated) == (0, 0)
        after = every_item(store)
        assert [item.language for item in after] == ["fr"]
        assert [item.updated for item in after] == [item.updated for item in before]
        # The first source's language stays.
        store.merge("b", listing, T0 + dt.timedelta(hours=2), language="es")
        assert [item.language for item in every_item(store)] == ["fr"]


FRENCH_PAGE = """<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>Actualités</title></head>
<body><main>
<div class="views-row"><h3><a href="/a">Le chômage recule</a></h3>
<time datetime="2021-11-15">15/11/2021</time><p>Le taux baisse.</p></div>
<div class="views-row"><h3><a href="/b">Un accord est signé</a></h3>
<time datetime="2021-11-10">10/11/2021</time><p>Les salaires montent.</p></div>
</main></body></html>
"""


def html_site(make_settings: Callable[..., Settings], tmp_path: Path, lang: str) -> Settings:
    (tmp_path / "listings").mkdir()
    (tmp_path / "listings" / "actualites.html").write_text(FRENCH_PAGE.format(lang=lang))
    return make_settings([{"name": "bureau", "location": "listings/actualites.html"}])


def test_an_html_page_says_its_language_when_its_dates_do_not(
    make_settings: Callable[..., Settings], tmp_path: Path,
) -> None:
    """Numeric dates name no month, so only the page's own ``lang`` says it is French:
    its entries and feeds are French, not the site's ``en``."""
    settings = html_site(make_settings, tmp_path, "fr-CH")
    assert refresh(settings, now=T0).ok
    atom = etree.fromstring(document(settings, "feeds/all.atom"))
    assert {entry.get(XML_LANG) for entry in atom.iter(f"{ATOM}entry")} == {"fr-CH"}
    assert atom.get(XML_LANG) == "fr-CH"


def test_a_configured_language_wins_over_the_pages_own(
    make_settings: Callable[..., Settings], tmp_path: Path,
) -> None:
    settings = html_site(make_settings, tmp_path, "fr")
    source = dataclasses.replace(settings.sources[0], language="es")
    settings = dataclasses.replace(settings, sources=(source,))
    assert refresh(settings, now=T0).ok
    atom = etree.fromstring(document(settings, "feeds/all.atom"))
    assert {entry.get(XML_LANG) for entry in atom.iter(f"{ATOM}entry")} == {"es"}


def test_a_page_without_a_usable_lang_takes_the_sites(
    make_settings: Callable[..., Settings], tmp_path: Path,
) -> None:
    settings = html_site(make_settings, tmp_path, "not a language tag")
    assert refresh(settings, now=T0).ok
    atom = etree.fromstring(document(settings, "feeds/all.atom"))
    assert {entry.get(XML_LANG) for entry in atom.iter(f"{ATOM}entry")} == {"en"}


LAYOUTS = Path(__file__).resolve().parent / "data" / "text-layouts"


@pytest.mark.parametrize(("name", "language", "count"), [
    ("relative-blocks-fr", "fr", 3), ("relative-blocks-es", "es", 2),
])
def test_a_listing_dated_only_relatively_is_read_in_its_language(
    make_settings: Callable[..., Settings], tmp_path: Path, name: str, language: str,
    count: int,
) -> None:
    """No month name to tell the language by: "il y a 3 jours", "hier", "hace 2 días"
    tell it, so a refresh (and ``feedsvc parse``) reads the listing with no
    ``language`` set, and its entries say their language."""
    (tmp_path / "listings").mkdir()
    shutil.copy(LAYOUTS / f"{name}.txt", tmp_path / "listings" / f"{name}.txt")
    settings = make_settings([{"name": name, "location": f"listings/{name}.txt"}])
    report = refresh(settings, now=dt.datetime(2015, 11, 26, 10, 0, tzinfo=dt.UTC))
    assert report.ok, report
    atom = etree.fromstring(document(settings, "feeds/all.atom"))
    entries = list(atom.iter(f"{ATOM}entry"))
    assert len(entries) == count
    assert {entry.get(XML_LANG) for entry in entries} == {language}
