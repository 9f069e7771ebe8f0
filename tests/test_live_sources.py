"""End to end: sources read over HTTP from a real server on a loopback port.

One site mixes a local text listing, a text listing over HTTP and a two-page
HTML listing over HTTP. The server answers conditional requests the way a
well-behaved site does (ETag, 304), and can be made to misbehave; each case
checks what the refresh reports and that the published feeds stay valid.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import feedparser
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from feedsvc.fetch.http import HttpFetcher
from feedsvc.fetch.routing import RoutingFetcher
from feedsvc.pipeline import RefreshReport, SourceReport, refresh
from feedsvc.publication import Publication, current_generation, open_publication
from feedsvc.settings import Settings, settings_from_mapping

ROOT = Path(__file__).resolve().parent.parent
LISTINGS = ROOT / "config" / "listings"
HTML = Path(__file__).parent / "data" / "html"
FIRST = dt.datetime(2026, 11, 22, 6, 0, tzinfo=dt.UTC)
SECOND = FIRST + dt.timedelta(minutes=30)
THIRD = FIRST + dt.timedelta(minutes=60)

pytestmark = pytest.mark.slow


@dataclass
class Page:
    """One document the fake site serves, with the requests it has seen."""

    body: bytes
    content_type: str
    requests: list[Request] = field(default_factory=list)
    status: int | None = None
    misbehave: Callable[[Request], Response] | None = None
    """Answers every request in place of the page, once set."""

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'

    def answer(self, request: Request) -> Response:
        self.requests.append(request)
        if self.misbehave is not None:
            return self.misbehave(request)
        if self.status is not None:
            return Response(b"failing on purpose", status=self.status)
        if request.headers.get("If-None-Match") == self.etag:
            return Response(status=304, headers={"ETag": self.etag})
        return Response(self.body, content_type=self.content_type, headers={"ETag": self.etag})


@dataclass
class Site:
    """The fake news site: its pages by path (query string included)."""

    server: HTTPServer
    pages: dict[str, Page]
    release: threading.Event = field(default_factory=threading.Event)
    """Set when the test ends: stalled answers give up waiting."""

    def url(self, path: str) -> str:
        return self.server.url_for(path)


def _serve(server: HTTPServer, pages: dict[str, Page]) -> None:
    def handler(request: Request) -> Response:
        query = request.query_string.decode()
        key = request.path + (f"?{query}" if query else "")
        page = pages.get(key)
        return page.answer(request) if page else Response(b"no such page", status=404)

    server.expect_request(re.compile(".*")).respond_with_handler(handler)


@pytest.fixture
def site() -> Iterator[Site]:
    # Threaded: a stalled answer to one source must not hold up the others.
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    pages = {
        "/listings/newsroom-2021-11.txt": Page(
            (LISTINGS / "newsroom-2021-11.txt").read_bytes(), "text/plain; charset=utf-8"
        ),
        "/fr/actualites": Page((HTML / "fr-page1.html").read_bytes(), "text/html"),
        "/fr/actualites?page=2": Page((HTML / "fr-page2.html").read_bytes(), "text/html"),
        "/regional/news": Page((HTML / "newsroom-cp1252.html").read_bytes(), "text/html"),
    }
    _serve(server, pages)
    made = Site(server, pages)
    yield made
    made.release.set()
    server.clear()
    server.stop()


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def settings(tmp_path: Path, site: Site) -> Settings:
    return site_settings(tmp_path, site, retries=1)


def site_settings(tmp_path: Path, site: Site, **fetch: Any) -> Settings:
    """The mixed site's settings, with these ``fetch`` settings."""
    (tmp_path / "listings").mkdir()
    shutil.copy(LISTINGS / "newsroom-2021-01.txt", tmp_path / "listings")
    raw: dict[str, Any] = {
        "site": {"title": "Live Newsroom", "base_url": "http://feeds.test/",
                 "timezone": "Europe/Zurich", "contact": "feeds@example.org"},
        "storage": {"database": "sqlite:///var/feedsvc.sqlite3", "publish_dir": "var/public"},
        "fetch": fetch,
        "sources": [
            {"name": "local-text", "location": "listings/newsroom-2021-01.txt",
             "language": "en"},
            {"name": "remote-text", "location": site.url("/listings/newsroom-2021-11.txt")},
            {"name": "remote-html", "location": site.url("/fr/actualites"), "format": "html",
             "max_pages": 2},
        ],
    }
    return settings_from_mapping(raw, config_path=tmp_path / "feedsvc.toml")


@pytest.fixture
def run(settings: Settings, sleeps: Sleeps) -> Iterator[Callable[[dt.datetime], RefreshReport]]:
    """Refresh at a given time with the real HTTP fetcher, whose waits are recorded."""
    remote = HttpFetcher(settings, sleep=sleeps)

    def refresh_at(now: dt.datetime) -> RefreshReport:
        return refresh(settings, now=now, fetcher=RoutingFetcher(settings, remote=remote))

    yield refresh_at
    remote.close()


def by_name(report: RefreshReport) -> dict[str, SourceReport]:
    return {source.name: source for source in report.sources}


def publication(settings: Settings) -> Publication:
    published = open_publication(settings.storage.publish_dir)
    assert published is not None
    return published


def parsed_feed(settings: Settings, fmt: str = "atom", path: str | None = None) -> Any:
    feed = feedparser.parse(publication(settings).read(path or f"feeds/all.{fmt}"))
    assert not feed.bozo, (path, feed.get("bozo_exception"))
    return feed


def assert_every_feed_is_valid(settings: Settings) -> None:
    """Every published Atom and RSS feed, per category too, parses without complaint."""
    paths = [path for path in publication(settings).files if path.endswith((".atom", ".rss"))]
    assert len(paths) > 2
    for path in paths:
        parsed_feed(settings, path=path)


def test_mixed_sources_refresh_into_one_set_of_feeds(
    settings: Settings, site: Site, run: Callable[[dt.datetime], RefreshReport]
) -> None:
    report = run(FIRST)
    assert report.ok, report.summary_lines()
    assert report.published
    sources = by_name(report)
    assert sources["local-text"].found == 10
    assert sources["remote-text"].found == 10
    assert sources["remote-html"].found == 5  # three on page 1, two on page 2
    assert len(site.pages["/fr/actualites?page=2"].requests) == 1

    for fmt in ("atom", "rss"):
        assert len(parsed_feed(settings, fmt).entries) == 25
    titles = {item.title: item for item in publication(settings).site.latest}
    french = titles["Des apprentis formés aux métiers verts en Côte d’Ivoire"]  # noqa: RUF001
    assert french.link == site.url("/fr/actualites/apprentissage-metiers-verts")
    assert french.credit == "Élodie Marchand 2021"
    assert titles["« La sécurité sociale est un investissement »"].date == "2021-11-22"
    assert titles["ILO launches new tool on social dialogue"].link is None

    atom_links = {entry.title: entry.link for entry in parsed_feed(settings).entries}
    assert atom_links["Travail domestique : un nouveau pays ratifie la convention"] == (
        site.url("/fr/actualites/travail-domestique-convention")
    )


def test_user_agent_reaches_the_server(
    site: Site, run: Callable[[dt.datetime], RefreshReport]
) -> None:
    run(FIRST)
    agent = site.pages["/fr/actualites"].requests[0].headers["User-Agent"]
    assert agent.startswith("feedsvc/")
    assert "(+http://feeds.test/; feeds@example.org)" in agent


def test_unchanged_servers_get_conditional_requests_and_nothing_is_republished(
    settings: Settings, site: Site, run: Callable[[dt.datetime], RefreshReport]
) -> None:
    run(FIRST)
    generation = current_generation(settings.storage.publish_dir)

    report = run(SECOND)

    assert report.ok, report.summary_lines()
    assert not report.published
    assert current_generation(settings.storage.publish_dir) == generation
    sources = by_name(report)
    assert sources["remote-text"].not_modified
    assert sources["remote-html"].not_modified
    for path in ("/listings/newsroom-2021-11.txt", "/fr/actualites"):
        page = site.pages[path]
        assert page.requests[-1].headers.get("If-None-Match") == page.etag
    # A 304 for page 1 means the listing did not change: page 2 is not asked again.
    assert len(site.pages["/fr/actualites?page=2"].requests) == 1


def test_layout_change_fails_the_source_and_keeps_its_items_published(
    settings: Settings, site: Site, run: Callable[[dt.datetime], RefreshReport]
) -> None:
    run(FIRST)
    # A redesign that builds the listing with a script: nothing to read, by
    # selectors or by detection (which would read layout-changed.html's cards).
    redesigned = b'<!DOCTYPE html><html><body><main><h1>News</h1><div id="app"></div></main>'
    site.pages["/fr/actualites"] = Page(redesigned, "text/html")

    report = run(SECOND)

    assert not report.ok
    sources = by_name(report)
    assert sources["remote-html"].error is not None
    assert "no items" in sources["remote-html"].error
    assert sources["remote-text"].not_modified
    feed = parsed_feed(settings)
    assert len(feed.entries) == 25
    assert "Journée de la solidarité : message du directeur" in {e.title for e in feed.entries}


def test_server_errors_are_retried_then_fail_only_that_source(
    settings: Settings, site: Site, sleeps: Sleeps,
    run: Callable[[dt.datetime], RefreshReport],
) -> None:
    run(FIRST)
    generation = current_generation(settings.storage.publish_dir)
    site.pages["/listings/newsroom-2021-11.txt"].status = 500

    report = run(SECOND)

    failed = by_name(report)["remote-text"]
    assert failed.error is not None
    assert "HTTP 500" in failed.error
    assert "gave up after 2 attempts" in failed.error
    assert len(sleeps.calls) == 1
    assert len(site.pages["/listings/newsroom-2021-11.txt"].requests) == 3
    assert current_generation(settings.storage.publish_dir) == generation
    assert len(parsed_feed(settings, "rss").entries) == 25


def refresh_regional_page(tmp_path: Path, site: Site, sleeps: Sleeps) -> Settings:
    """Refresh a site whose one source is the regional HTML page; the refresh must be ok."""
    settings = settings_from_mapping(
        {
            "site": {"base_url": "http://feeds.test/"},
            "storage": {"database": "sqlite:///var/db.sqlite3", "publish_dir": "var/public"},
            "sources": [{"name": "regional", "location": site.url("/regional/news"),
                         "format": "html"}],
        },
        config_path=tmp_path / "feedsvc.toml",
    )
    with HttpFetcher(settings, sleep=sleeps) as remote:
        report = refresh(settings, now=FIRST, fetcher=RoutingFetcher(settings, remote=remote))
    assert report.ok, report.summary_lines()
    return settings


def test_meta_declared_windows_1252_page_is_published_without_mojibake(
    tmp_path: Path, site: Site, sleeps: Sleeps
) -> None:
    settings = refresh_regional_page(tmp_path, site, sleeps)
    titles = {entry.title for entry in parsed_feed(settings).entries}
    assert titles == {
        "Caf\u00e9 workers\u2019 wages rise by 4 % \u2013 \u201ca fair deal\u201d",
        "Fa\u00e7ade repairs at the Gen\u00e8ve office \u2014 done",
    }


# --- latin-1 labels --------------------------------------------------------------------

REGIONAL_RAW = (HTML / "newsroom-cp1252.html").read_bytes()
META_WINDOWS_1252 = b"charset=windows-1252"
assert META_WINDOWS_1252 in REGIONAL_RAW
REGIONAL_TITLES = {
    "Caf\u00e9 workers\u2019 wages rise by 4 % \u2013 \u201ca fair deal\u201d",
    "Fa\u00e7ade repairs at the Gen\u00e8ve office \u2014 done",
}


@pytest.mark.parametrize(
    ("content_type", "meta_charset"),
    [
        ("text/html; charset=iso-8859-1", b"charset=windows-1252"),
        ("text/html; charset=ISO-8859-1", b"charset=iso-8859-1"),
        ("text/html", b"charset=iso-8859-1"),
        ("text/html", b"charset=latin1"),
        ("text/html", b"charset=us-ascii"),
    ],
    ids=["header", "header-and-meta", "meta", "meta-latin1", "meta-ascii"],
)
def test_latin1_declared_page_is_published_as_windows_1252(
    tmp_path: Path, site: Site, sleeps: Sleeps, content_type: str, meta_charset: bytes
) -> None:
    # The page's bytes 0x92-0x97 are quotes and dashes, as in every browser,
    # whatever Latin-1 label declares them: not C1 control characters.
    site.pages["/regional/news"] = Page(
        REGIONAL_RAW.replace(META_WINDOWS_1252, meta_charset), content_type
    )
    settings = refresh_regional_page(tmp_path, site, sleeps)

    published = publication(settings)
    for path in ("feeds/all.atom", "feeds/all.rss"):
        # The bytes as sent: feedparser would quietly repair C1 characters.
        raw = published.read(path)
        assert "Caf\u00e9 workers\u2019 wages rise by 4".encode() in raw
        assert "\u2013 \u201ca fair deal\u201d".encode() in raw
        assert "Gen\u00e8ve office \u2014 done".encode() in raw
        assert "\u20ac2.5 million".encode() in raw
        assert not re.search(b"\xc2[\x80-\x9f]", raw), path
    assert {entry.title for entry in parsed_feed(settings).entries} == REGIONAL_TITLES


# --- a misbehaving server on the second refresh -------------------------------------

TEXT_PATH = "/listings/newsroom-2021-11.txt"
TEXT_BODY = (LISTINGS / "newsroom-2021-11.txt").read_bytes()
MAX_BYTES = 200_000


def _stall(site: Site) -> None:
    def answer(request: Request) -> Response:
        site.release.wait(30)
        return Response(b"too late")

    site.pages[TEXT_PATH].misbehave = answer


def _rate_limit(site: Site) -> None:
    site.pages[TEXT_PATH].misbehave = lambda request: Response(
        b"slow down", status=429, headers={"Retry-After": "7"}
    )


def _redirect_loop(site: Site) -> None:
    moved = "/moved/newsroom-2021-11.txt"
    site.pages[TEXT_PATH].misbehave = lambda request: Response(
        b"", status=302, headers={"Location": moved}
    )
    site.pages[moved] = Page(b"", "text/plain", misbehave=lambda request: Response(
        b"", status=301, headers={"Location": TEXT_PATH}
    ))


def _oversized(site: Site) -> None:
    site.pages[TEXT_PATH].misbehave = lambda request: Response(
        TEXT_BODY * (MAX_BYTES // len(TEXT_BODY) + 1), content_type="text/plain"
    )


def _gzip_bomb(site: Site) -> None:
    bomb = gzip.compress(bytes(20 * MAX_BYTES), compresslevel=9)
    site.pages[TEXT_PATH].misbehave = lambda request: Response(
        bomb, content_type="text/plain", headers={"Content-Encoding": "gzip"}
    )


def _charset(body: bytes, content_type: str) -> Callable[[Site], None]:
    def install(site: Site) -> None:
        # Always a full answer: a 304 would leave nothing to decode.
        site.pages[TEXT_PATH].misbehave = lambda request: Response(
            body, content_type=content_type
        )

    return install


@dataclass(frozen=True)
class Misbehaviour:
    """How the server of ``remote-text`` goes wrong on the second refresh, and
    what the refresh must report: the error's gist (None: read all the same)
    and the waits between its attempts (backoff jitter is fixed at one half)."""

    setup: Callable[[Site], None]
    error: str | None
    waits: tuple[float, ...] = ()


MISBEHAVIOURS = {
    "read-timeout": Misbehaviour(_stall, "timed out", waits=(0.5,)),
    "429-retry-after": Misbehaviour(_rate_limit, "HTTP 429", waits=(7.0,)),
    "redirect-loop": Misbehaviour(_redirect_loop, "redirect loop"),
    "oversized-body": Misbehaviour(_oversized, f"more than fetch.max_bytes ({MAX_BYTES})"),
    "gzip-bomb": Misbehaviour(_gzip_bomb, "once decompressed"),
    "utf8-served-as-latin1": Misbehaviour(
        _charset(TEXT_BODY, "text/plain; charset=iso-8859-1"), None
    ),
    "windows-1252-served-as-utf8": Misbehaviour(
        _charset(TEXT_BODY.decode("utf-8").encode("cp1252"), "text/plain; charset=utf-8"), None
    ),
}


@pytest.mark.parametrize("case", MISBEHAVIOURS.values(), ids=MISBEHAVIOURS.keys())
def test_misbehaving_server_leaves_the_published_feeds_valid(
    tmp_path: Path, site: Site, sleeps: Sleeps, case: Misbehaviour
) -> None:
    settings = site_settings(tmp_path, site, retries=1, read_timeout=1, max_bytes=MAX_BYTES)
    with HttpFetcher(settings, sleep=sleeps, rng=lambda: 0.5) as remote:
        fetcher = RoutingFetcher(settings, remote=remote)
        first = refresh(settings, now=FIRST, fetcher=fetcher)
        assert first.ok, first.summary_lines()
        titles = {item.title for item in publication(settings).site.latest}
        assert len(titles) == 25
        case.setup(site)

        report = refresh(settings, now=SECOND, fetcher=fetcher)

    sources = by_name(report)
    text = sources["remote-text"]
    if case.error is None:
        assert text.ok, text.error
        assert (text.found, text.new, text.updated) == (10, 0, 0)
        assert any("read as" in message for message in text.warning_messages)
    else:
        assert text.error is not None
        assert case.error in text.error
        assert not report.ok
    assert sleeps.calls == list(case.waits)
    assert sources["local-text"].ok
    assert sources["remote-html"].not_modified
    assert {item.title for item in publication(settings).site.latest} == titles
    assert len(parsed_feed(settings, "rss").entries) == 25
    assert_every_feed_is_valid(settings)
