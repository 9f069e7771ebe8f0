"""Surviving a bad day: sources that stall and sources that point inwards.

A hostile server (``tests/hostile_server.py``) on a loopback port drips its
headers or body a byte at a time, and redirects or links to an "internal"
server on another loopback port (and on ``::1``) whose listing must never be
fetched nor published. Private, link-local and unique-local addresses are
never connected to, not even by mistake: those tests give the fetcher a
resolver stub and a connector that lets only loopback addresses through, and
prove the refusal comes before any connection is tried.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpcore
import pytest
from hostile_server import (
    HostileServer,
    drip_body,
    drip_headers,
    html_listing,
    redirect_from_query,
    redirect_to,
    respond,
)

from feedsvc.addresses import literal_address, refusal
from feedsvc.errors import FetchError
from feedsvc.fetch.http import HttpFetcher, connect_address
from feedsvc.fetch.routing import RoutingFetcher
from feedsvc.models import Fetched, Validators
from feedsvc.pipeline import RefreshReport, SourceReport, refresh
from feedsvc.publication import open_publication
from feedsvc.settings import Settings, settings_from_mapping

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 11, 22, 6, 0, tzinfo=dt.UTC)
SECRET = "Internal memo: salaries for 2022"
PUBLIC = "Public news of the day"
ALLOW_HINT = "(set fetch.allow_private_addresses to allow)"
T = TypeVar("T")


# --- servers and settings ----------------------------------------------------------------


@pytest.fixture
def internal() -> Iterator[HostileServer]:
    """The service behind the firewall, on another loopback port: never to be read."""
    with HostileServer("127.0.0.1") as server:
        server.routes["/secret"] = respond(html_listing(SECRET))
        yield server


@pytest.fixture
def internal_v6() -> Iterator[HostileServer]:
    """The same service on ``::1``."""
    with HostileServer("::1") as server:
        server.routes["/secret"] = respond(html_listing(SECRET))
        yield server


@pytest.fixture
def hostile(internal: HostileServer, internal_v6: HostileServer) -> Iterator[HostileServer]:
    """The source's own server: behaves on ``/listing``, misbehaves everywhere else."""
    secret = internal.url("/secret")
    port = internal.port
    with HostileServer("127.0.0.1") as server:
        server.routes.update({
            "/listing": respond(html_listing(PUBLIC)),
            "/slow-headers": drip_headers(every=1.0),
            "/slow-body": drip_body(every=8.0),
            "/redirect/other-port": redirect_to(secret),
            "/redirect/decimal": redirect_to(f"http://2130706433:{port}/secret"),
            "/redirect/hex": redirect_to(f"http://0x7f.1:{port}/secret"),
            "/redirect/short": redirect_to(f"http://127.1:{port}/secret"),
            "/redirect/mapped": redirect_to(f"http://[::ffff:127.0.0.1]:{port}/secret"),
            "/redirect/ipv6": redirect_to(internal_v6.url("/secret")),
            "/redirect/localhost": redirect_to(f"http://localhost:{port}/secret"),
            "/redirect": redirect_from_query,
            "/next/other-port": respond(html_listing(PUBLIC, next_href=secret)),
            "/base/other-port": respond(
                html_listing(PUBLIC, base_href=internal.url("/"), next_href="secret")),
        })
        yield server


def site_settings(
    tmp_path: Path, sources: Sequence[Mapping[str, Any]], **fetch: Any
) -> Settings:
    raw = {
        "site": {"title": "Hostile day", "base_url": "http://feeds.test/",
                 "timezone": "Europe/Zurich"},
        "storage": {"database": "sqlite:///var/feedsvc.sqlite3", "publish_dir": "var/public"},
        "fetch": {"retries": 0, **fetch},
        "sources": [dict(source) for source in sources],
    }
    return settings_from_mapping(raw, config_path=tmp_path / "feedsvc.toml")


def hostile_source(server: HostileServer, path: str = "/listing", **more: Any) -> dict[str, Any]:
    return {"name": "hostile", "location": server.url(path), "format": "html", **more}


class LoopbackOnly:
    """A connector that records every attempt and connects to loopback addresses
    only; any other address fails before a packet is sent."""

    def __init__(self) -> None:
        self.attempts: list[tuple[str, int]] = []

    def __call__(self, address: str, port: int, timeout: float | None) -> httpcore.NetworkStream:
        self.attempts.append((address, port))
        if not ipaddress.ip_address(address).is_loopback:
            raise httpcore.ConnectError(f"test connector: no traffic to {address}")
        return connect_address(address, port, timeout)

    def outside_loopback(self) -> list[tuple[str, int]]:
        return [(a, p) for a, p in self.attempts if not ipaddress.ip_address(a).is_loopback]


class StubResolver:
    """Names to addresses, as a DNS server might answer; records what was asked."""

    def __init__(self, answers: Mapping[str, Sequence[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise httpcore.ConnectError(f"stub resolver: no answer for {host}")
        return list(self.answers[host])


def within(seconds: float, call: Callable[[], T]) -> T:
    """``call()``'s result or exception, failing the test if it runs past ``seconds``
    (a generous bound: it proves "does not hang", not speed)."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds} s"
    if failure:
        raise failure[0]
    return outcome[0]


def by_name(report: RefreshReport) -> dict[str, SourceReport]:
    return {source.name: source for source in report.sources}


def published_titles(settings: Settings) -> set[str]:
    published = open_publication(settings.storage.publish_dir)
    assert published is not None
    return {item.title for item in published.site.latest}


# --- 1. one slow source must not freeze every feed -----------------------------------------


@pytest.mark.slow
def test_headers_dripped_a_byte_a_second_end_at_the_total_timeout(
    tmp_path: Path, hostile: HostileServer
) -> None:
    settings = site_settings(tmp_path, [hostile_source(hostile)], total_timeout=2)
    url = hostile.url("/slow-headers")
    with HttpFetcher(settings) as fetcher, pytest.raises(FetchError) as caught:
        within(15, lambda: fetcher.fetch("hostile", url, None))
    assert str(caught.value) == f"hostile: timed out: {url} took longer than 2 s in all"


@pytest.mark.slow
def test_a_body_stalling_between_bytes_ends_at_the_total_timeout(
    tmp_path: Path, hostile: HostileServer
) -> None:
    # Each byte comes 8 s after the last, well within the 30 s read timeout:
    # only the total timeout can end this, and it must not wait for a byte to do so.
    settings = site_settings(tmp_path, [hostile_source(hostile)], total_timeout=2)
    url = hostile.url("/slow-body")
    with HttpFetcher(settings) as fetcher, pytest.raises(FetchError, match="than 2 s in all"):
        within(6, lambda: fetcher.fetch("hostile", url, None))


@pytest.mark.slow
def test_a_source_dripping_its_headers_fails_and_the_others_are_published(
    tmp_path: Path, hostile: HostileServer, internal_v6: HostileServer
) -> None:
    internal_v6.routes["/listing"] = respond(html_listing(PUBLIC))
    settings = site_settings(
        tmp_path,
        [hostile_source(hostile, "/slow-headers", name="slow"),
         {"name": "good", "location": internal_v6.url("/listing"), "format": "html"}],
        total_timeout=2,
    )
    report = within(20, lambda: refresh(settings, now=NOW))
    sources = by_name(report)
    assert sources["slow"].error is not None
    assert "timed out" in sources["slow"].error
    assert sources["good"].ok, sources["good"].error
    assert report.published
    assert published_titles(settings) == {PUBLIC}


class StuckFetcher:
    """Never answers for ``stuck`` (until released); serves ``fine`` at once."""

    def __init__(self, stuck: str, fine: Mapping[str, bytes]) -> None:
        self.stuck = stuck
        self.fine = fine
        self.release = threading.Event()

    def fetch(self, source: str, location: str, validators: Validators | None) -> Fetched:
        if location == self.stuck:
            self.release.wait(60)
            raise FetchError("released", source=source)
        return Fetched(url=location, body=self.fine[location], validators=Validators())


@pytest.mark.slow
def test_the_refresh_waits_for_no_source_longer_than_the_total_timeout(tmp_path: Path) -> None:
    # However a source spends its time (pages, retries, waits), the refresh
    # gives up on it once total_timeout has passed since its read began.
    listing = ROOT / "config" / "listings" / "newsroom-2021-11.txt"
    (tmp_path / "listings").mkdir()
    shutil.copy(listing, tmp_path / "listings")
    settings = site_settings(
        tmp_path,
        [{"name": "stuck", "location": "http://stuck.test/news"},
         {"name": "remote", "location": "http://fine.test/news"},
         {"name": "local", "location": "listings/newsroom-2021-11.txt"}],
        total_timeout=1, concurrency=1,
    )
    remote = StuckFetcher("http://stuck.test/news", {"http://fine.test/news": listing.read_bytes()})
    try:
        report = within(15, lambda: refresh(
            settings, now=NOW, fetcher=RoutingFetcher(settings, remote=remote)))
    finally:
        remote.release.set()
    sources = by_name(report)
    assert sources["stuck"].error == "timed out after 1 s"
    # With one read at a time, the stuck read's place went to the next source.
    assert sources["remote"].ok and sources["remote"].found == 10
    assert sources["local"].ok and sources["local"].found == 10
    assert report.published


# --- 2. no request to an internal address ---------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("route", "refused"),
    [
        ("/redirect/other-port", "127.0.0.1 is a loopback address"),
        ("/redirect/decimal", "2130706433 (127.0.0.1) is a loopback address"),
        ("/redirect/hex", "0x7f.1 (127.0.0.1) is a loopback address"),
        ("/redirect/short", "127.1 (127.0.0.1) is a loopback address"),
        ("/redirect/mapped", "(::ffff:7f00:1) is a loopback address"),
        ("/redirect/ipv6", "::1 is a loopback address"),
        ("/redirect/localhost", "localhost resolves to"),
    ],
)
def test_redirects_to_other_loopback_addresses_are_refused_with_the_rule(
    tmp_path: Path, hostile: HostileServer, internal: HostileServer,
    internal_v6: HostileServer, route: str, refused: str,
) -> None:
    settings = site_settings(tmp_path, [hostile_source(hostile)])
    with HttpFetcher(settings) as fetcher, pytest.raises(FetchError) as caught:
        fetcher.fetch("hostile", hostile.url(route), None)
    message = str(caught.value)
    assert message.startswith("hostile: refused http://")
    assert refused in message
    assert "is a loopback address" in message
    assert message.endswith(ALLOW_HINT)
    assert internal.requests == [] and internal_v6.requests == []


@pytest.mark.slow
@pytest.mark.parametrize("route", ["/next/other-port", "/base/other-port"])
def test_next_pages_on_other_loopback_ports_are_refused_and_not_published(
    tmp_path: Path, hostile: HostileServer, internal: HostileServer, route: str
) -> None:
    settings = site_settings(tmp_path, [hostile_source(hostile, route, max_pages=2)])
    report = refresh(settings, now=NOW)
    source = by_name(report)["hostile"]
    assert source.ok, source.error
    assert source.found == 1
    (warning,) = [m for m in source.warning_messages if "page 2" in m]
    assert f"page 2 could not be read: refused {internal.url('/secret')}: " in warning
    assert f"127.0.0.1 is a loopback address {ALLOW_HINT}" in warning
    assert internal.requests == []
    assert published_titles(settings) == {PUBLIC}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("target", "refused"),
    [
        ("http://metadata.test/latest/meta-data/",
         "metadata.test resolves to 169.254.169.254, which is a link-local"),
        ("http://intranet.test/admin", "intranet.test resolves to 10.0.0.1, which is a private"),
        ("http://ula.test/admin", "ula.test resolves to fd00::1, which is a unique-local"),
        ("http://mixed.test/", "mixed.test resolves to 10.0.0.1, which is a private"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local"),
        ("http://10.0.0.1/admin", "10.0.0.1 is a private"),
        ("http://[fd00::1]/admin", "fd00::1 is a unique-local"),
        ("http://0xa000001/admin", "0xa000001 (10.0.0.1) is a private"),
        ("http://[ff02::1]/", "ff02::1 is a multicast"),
        ("http://0.0.0.0/", "0.0.0.0 is an unspecified"),
    ],
)
def test_redirects_to_internal_networks_are_refused_before_any_connection(
    tmp_path: Path, hostile: HostileServer, target: str, refused: str
) -> None:
    resolver = StubResolver({
        "metadata.test": ["169.254.169.254"],
        "intranet.test": ["10.0.0.1"],
        "ula.test": ["fd00::1"],
        "mixed.test": ["93.184.215.14", "10.0.0.1"],
    })
    connector = LoopbackOnly()
    settings = site_settings(tmp_path, [hostile_source(hostile)])
    url = hostile.url("/redirect?to=" + quote(target, safe=""))
    with (
        HttpFetcher(settings, resolve=resolver, connect=connector) as fetcher,
        pytest.raises(FetchError) as caught,
    ):
        fetcher.fetch("hostile", url, None)
    assert str(caught.value) == f"hostile: refused {target}: {refused} address {ALLOW_HINT}"
    # The hostile server itself was reached; nothing else ever was.
    assert connector.outside_loopback() == []
    assert connector.attempts == [("127.0.0.1", hostile.port)]


@pytest.mark.slow
def test_a_name_is_resolved_once_and_the_checked_address_is_the_one_connected_to(
    tmp_path: Path, hostile: HostileServer, internal: HostileServer
) -> None:
    # A rebinding DNS server answers a public address first, then 127.0.0.1.
    # The fetcher must connect to what it checked, never ask again.
    answers = iter([["93.184.215.14"], ["127.0.0.1"], ["127.0.0.1"]])
    asked: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return next(answers)

    connector = LoopbackOnly()
    settings = site_settings(tmp_path, [hostile_source(hostile)])
    target = f"http://rebind.test:{internal.port}/secret"
    with (
        HttpFetcher(settings, resolve=rebinding, connect=connector) as fetcher,
        pytest.raises(FetchError, match=re.escape("test connector: no traffic to 93.184.215.14")),
    ):
        fetcher.fetch("hostile", hostile.url("/redirect?to=" + quote(target, safe="")), None)
    assert asked == ["rebind.test"]
    assert connector.attempts == [("127.0.0.1", hostile.port), ("93.184.215.14", internal.port)]
    assert internal.requests == []


@pytest.mark.slow
def test_the_configured_location_may_be_internal_and_is_connected_to_as_resolved(
    tmp_path: Path, hostile: HostileServer
) -> None:
    # The operator named this host: it is trusted, whatever it resolves to.
    resolver = StubResolver({"news.intranet.test": ["127.0.0.1"]})
    connector = LoopbackOnly()
    location = f"http://news.intranet.test:{hostile.port}/listing"
    settings = site_settings(tmp_path, [{"name": "intranet", "location": location}])
    with HttpFetcher(settings, resolve=resolver, connect=connector) as fetcher:
        fetched = fetcher.fetch("intranet", location, None)
    assert fetched.body == html_listing(PUBLIC)
    assert resolver.asked == ["news.intranet.test"]
    assert connector.attempts == [("127.0.0.1", hostile.port)]


@pytest.mark.slow
def test_one_sources_trusted_origin_is_not_trusted_for_another_source(
    tmp_path: Path, hostile: HostileServer, internal: HostileServer
) -> None:
    settings = site_settings(tmp_path, [
        {"name": "intranet", "location": internal.url("/secret"), "format": "html"},
        hostile_source(hostile),
    ])
    with HttpFetcher(settings) as fetcher:
        assert fetcher.fetch("intranet", internal.url("/secret"), None).body == (
            html_listing(SECRET))
        # A connection to the internal server is pooled now; "hostile" may not use it.
        with pytest.raises(FetchError, match=re.escape("127.0.0.1 is a loopback address")):
            fetcher.fetch("hostile", hostile.url("/redirect/other-port"), None)
    assert internal.requests == ["/secret"]


@pytest.mark.slow
def test_allow_private_addresses_lets_redirects_reach_loopback(
    tmp_path: Path, hostile: HostileServer, internal: HostileServer
) -> None:
    settings = site_settings(tmp_path, [hostile_source(hostile)], allow_private_addresses=True)
    with HttpFetcher(settings) as fetcher:
        fetched = fetcher.fetch("hostile", hostile.url("/redirect/decimal"), None)
    assert fetched.body == html_listing(SECRET)
    assert internal.requests == ["/secret"]


@pytest.mark.slow
def test_allow_private_addresses_lets_next_pages_reach_loopback(
    tmp_path: Path, hostile: HostileServer, internal: HostileServer
) -> None:
    settings = site_settings(tmp_path, [hostile_source(hostile, "/next/other-port",
                                                       max_pages=2)],
                             allow_private_addresses=True)
    report = refresh(settings, now=NOW)
    assert report.ok, report.summary_lines()
    assert published_titles(settings) == {PUBLIC, SECRET}


# --- the address rules, without a network ---------------------------------------------------


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7F000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0177.0.0.01", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("169.254.43518", "169.254.169.254"),
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("fe80::1%eth0", "fe80::1%eth0"),
        ("93.184.215.14.", "93.184.215.14"),
        ("example.org", None),
        ("1.2.3.4.5", None),
        ("256.1.1.1", None),
        ("1.16777216", None),
        ("0x-1", None),
        ("08", None),
        ("", None),
    ],
)
def test_literal_addresses_are_read_in_every_spelling_a_resolver_accepts(
    host: str, address: str | None
) -> None:
    found = literal_address(host)
    assert (None if found is None else str(found)) == address


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "a loopback"),
        ("127.255.0.9", "a loopback"),
        ("::1", "a loopback"),
        ("10.0.0.1", "a private"),
        ("172.16.5.4", "a private"),
        ("192.168.1.1", "a private"),
        ("169.254.169.254", "a link-local"),
        ("fe80::1", "a link-local"),
        ("fd00::1", "a unique-local"),
        ("fc00::1", "a unique-local"),
        ("224.0.0.1", "a multicast"),
        ("ff02::1", "a multicast"),
        ("0.0.0.0", "an unspecified"),
        ("::", "an unspecified"),
        ("100.64.0.1", "a reserved (not publicly routable)"),
        ("::ffff:10.0.0.1", "a private"),
        ("64:ff9b::a9fe:a9fe", "a link-local"),
        ("2002:7f00:1::", "a loopback"),
        ("93.184.215.14", None),
        ("2606:4700::1111", None),
    ],
)
def test_each_kind_of_internal_address_is_refused_by_its_rule(
    address: str, kind: str | None
) -> None:
    assert refusal(ipaddress.ip_address(address)) == kind


def test_a_fetch_after_close_fails_as_a_fetch_error(tmp_path: Path) -> None:
    # What a read the refresh gave up on meets once the refresh closed the fetcher.
    settings = site_settings(tmp_path, [])
    fetcher = HttpFetcher(settings)
    fetcher.close()
    with pytest.raises(FetchError, match="the fetcher was closed"):
        fetcher.fetch("late", "http://127.0.0.1:9/news", None)


@pytest.mark.slow
def test_an_environment_proxy_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY as httpx reads it by itself: the request goes to the proxy (a server
    of the test's own on loopback), which answers for the name it was asked about."""
    with HostileServer("127.0.0.1") as proxy:
        listing = "http://listings.example.invalid/news"
        proxy.routes[listing] = respond(html_listing(PUBLIC))
        monkeypatch.setenv("HTTP_PROXY", proxy.url("/").rstrip("/"))
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        settings = site_settings(tmp_path, [{"name": "news", "location": listing,
                                             "format": "html"}])
        with HttpFetcher(settings) as fetcher:
            fetched = fetcher.fetch("news", listing, None)
    assert fetched.body is not None and PUBLIC.encode() in fetched.body
    assert proxy.requests == [listing]
