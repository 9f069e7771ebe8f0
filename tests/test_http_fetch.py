"""HttpFetcher against a real HTTP server on a loopback port, behaving and misbehaving.

Waits between retries go to a recording fake ``sleep``, so no test waits for
a backoff; ``fetch.total_timeout`` is measured on a fake clock that the server
moves on; the only real wait is the one-second read timeout test.
"""

from __future__ import annotations

import datetime as dt
import gzip
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from feedsvc import __version__
from feedsvc.errors import FetchError
from feedsvc.fetch.http import HttpFetcher, backoff_delay, parse_retry_after, user_agent
from feedsvc.models import Validators
from feedsvc.settings import Settings, settings_from_mapping

HTML = Path(__file__).parent / "data" / "html"
PAGE = (HTML / "newsroom-page1.html").read_bytes()
NOW = dt.datetime(2026, 11, 22, 4, 0, 0, tzinfo=dt.UTC)


class Sleeps:
    """A fake ``time.sleep`` that records what it was asked to wait."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def settings_with(tmp_path: Path, **fetch: Any) -> Settings:
    raw = {
        "site": {"base_url": "https://feeds.example.org/", "contact": "feeds@example.org"},
        "fetch": fetch,
    }
    return settings_from_mapping(raw, config_path=tmp_path / "feedsvc.toml")


class Clock:
    """A fake ``time.monotonic`` that only moves when told to (by the server)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        self.seconds += seconds


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def fetcher(tmp_path: Path, sleeps: Sleeps) -> Iterator[HttpFetcher]:
    with HttpFetcher(settings_with(tmp_path), sleep=sleeps, rng=lambda: 0.5,
                     now=lambda: NOW) as made:
        yield made


def counting(*responses: Response) -> tuple[list[Request], Any]:
    """A handler answering with ``responses`` in turn (the last one repeats)."""
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return responses[min(len(seen), len(responses)) - 1]

    return seen, handler


# --- a good day --------------------------------------------------------------------


@pytest.mark.slow
def test_fetch_returns_body_validators_charset_and_final_url(
    httpserver: HTTPServer, fetcher: HttpFetcher
) -> None:
    httpserver.expect_request("/news").respond_with_data(
        PAGE,
        content_type="text/html; charset=UTF-8",
        headers={"ETag": '"v1"', "Last-Modified": "Mon, 15 Nov 2021 10:00:00 GMT"},
    )
    fetched = fetcher.fetch("newsroom", httpserver.url_for("/news"), None)
    assert fetched.body == PAGE
    assert fetched.url == httpserver.url_for("/news")
    assert (fetched.charset or "").lower() == "utf-8"
    assert fetched.validators == Validators('"v1"', "Mon, 15 Nov 2021 10:00:00 GMT")
    assert not fetched.not_modified


@pytest.mark.slow
def test_user_agent_names_service_version_site_and_contact(
    httpserver: HTTPServer, fetcher: HttpFetcher
) -> None:
    seen, handler = counting(Response(b"ok"))
    httpserver.expect_request("/ua").respond_with_handler(handler)
    fetcher.fetch("s", httpserver.url_for("/ua"), None)
    expected = f"feedsvc/{__version__} (+https://feeds.example.org/; feeds@example.org)"
    assert seen[0].headers["User-Agent"] == expected
    assert "gzip" in seen[0].headers["Accept-Encoding"]


def test_user_agent_without_contact(tmp_path: Path) -> None:
    settings = settings_from_mapping({}, config_path=tmp_path / "feedsvc.toml")
    assert user_agent(settings) == f"feedsvc/{__version__} (+http://127.0.0.1:8000/)"


@pytest.mark.slow
def test_gzip_body_is_decompressed(httpserver: HTTPServer, fetcher: HttpFetcher) -> None:
    httpserver.expect_request("/gz").respond_with_data(
        gzip.compress(PAGE), headers={"Content-Encoding": "gzip"}, content_type="text/html"
    )
    assert fetcher.fetch("s", httpserver.url_for("/gz"), None).body == PAGE


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
@pytest.mark.slow
def test_deflate_body_is_decompressed_wrapped_or_raw(
    httpserver: HTTPServer, fetcher: HttpFetcher, wbits: int
) -> None:
    packer = zlib.compressobj(wbits=wbits)
    packed = packer.compress(PAGE) + packer.flush()
    httpserver.expect_request("/deflate").respond_with_data(
        packed, headers={"Content-Encoding": "deflate"}
    )
    assert fetcher.fetch("s", httpserver.url_for("/deflate"), None).body == PAGE


# --- conditional GET -----------------------------------------------------------------


@pytest.mark.slow
def test_conditional_get_sends_validators_and_304_keeps_them(
    httpserver: HTTPServer, fetcher: HttpFetcher
) -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        return Response(PAGE, headers={"ETag": '"v1"'})

    httpserver.expect_request("/cond").respond_with_handler(handler)
    old = Validators(etag='"v1"', last_modified="Mon, 15 Nov 2021 10:00:00 GMT")
    fetched = fetcher.fetch("s", httpserver.url_for("/cond"), old)
    assert fetched.not_modified
    assert fetched.body is None
    assert fetched.validators == old
    assert seen[0].headers["If-Modified-Since"] == "Mon, 15 Nov 2021 10:00:00 GMT"


@pytest.mark.parametrize(
    ("headers_of_304", "expected"),
    [
        ({}, Validators('"v1"', "Mon, 15 Nov 2021 10:00:00 GMT")),
        ({"ETag": '"v1"'}, Validators('"v1"', "Mon, 15 Nov 2021 10:00:00 GMT")),
        ({"ETag": '"v2"'}, Validators('"v2"', "Mon, 15 Nov 2021 10:00:00 GMT")),
        ({"Last-Modified": "Tue, 16 Nov 2021 08:00:00 GMT"},
         Validators('"v1"', "Tue, 16 Nov 2021 08:00:00 GMT")),
        ({"ETag": '"v2"', "Last-Modified": "Tue, 16 Nov 2021 08:00:00 GMT"},
         Validators('"v2"', "Tue, 16 Nov 2021 08:00:00 GMT")),
    ],
    ids=["none", "same-etag", "new-etag", "new-last-modified", "both-new"],
)
def test_304_returns_new_validators_merged_with_the_old(
    tmp_path: Path, sleeps: Sleeps, headers_of_304: dict[str, str], expected: Validators
) -> None:
    # A transport of its own: werkzeug drops Last-Modified from every 304 it sends.
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(304, headers=headers_of_304)

    old = Validators(etag='"v1"', last_modified="Mon, 15 Nov 2021 10:00:00 GMT")
    transport = httpx.MockTransport(handler)
    with HttpFetcher(settings_with(tmp_path), transport=transport, sleep=sleeps) as conditional:
        fetched = conditional.fetch("s", "https://news.example/cond", old)
    assert fetched.not_modified
    assert fetched.body is None
    assert fetched.validators == expected
    assert seen[0].headers["If-None-Match"] == '"v1"'


@pytest.mark.slow
def test_unconditional_request_sends_no_validators(
    httpserver: HTTPServer, fetcher: HttpFetcher
) -> None:
    seen, handler = counting(Response(b"fresh"))
    httpserver.expect_request("/plain").respond_with_handler(handler)
    fetcher.fetch("s", httpserver.url_for("/plain"), Validators())
    assert "If-None-Match" not in seen[0].headers
    assert "If-Modified-Since" not in seen[0].headers


# --- retries -------------------------------------------------------------------------


@pytest.mark.slow
def test_500_then_success_is_retried_after_a_jittered_backoff(
    httpserver: HTTPServer, fetcher: HttpFetcher, sleeps: Sleeps
) -> None:
    seen, handler = counting(Response(b"oops", status=500), Response(b"fine"))
    httpserver.expect_request("/flaky").respond_with_handler(handler)
    assert fetcher.fetch("s", httpserver.url_for("/flaky"), None).body == b"fine"
    assert len(seen) == 2
    assert sleeps.calls == [0.5]


@pytest.mark.slow
def test_persistent_500_gives_up_after_the_retries(
    httpserver: HTTPServer, fetcher: HttpFetcher, sleeps: Sleeps
) -> None:
    seen, handler = counting(Response(b"oops", status=502))
    httpserver.expect_request("/down").respond_with_handler(handler)
    url = httpserver.url_for("/down")
    with pytest.raises(FetchError) as caught:
        fetcher.fetch("newsroom", url, None)
    assert str(caught.value) == (
        f"newsroom: HTTP 502 BAD GATEWAY from {url} (gave up after 4 attempts)"
    )
    assert caught.value.source == "newsroom"
    assert len(seen) == 4
    assert sleeps.calls == [0.5, 1.0, 2.0]


@pytest.mark.slow
def test_429_honours_retry_after_seconds(
    httpserver: HTTPServer, fetcher: HttpFetcher, sleeps: Sleeps
) -> None:
    _, handler = counting(
        Response(b"slow down", status=429, headers={"Retry-After": "7"}), Response(b"ok")
    )
    httpserver.expect_request("/limited").respond_with_handler(handler)
    assert fetcher.fetch("s", httpserver.url_for("/limited"), None).body == b"ok"
    assert sleeps.calls == [7.0]


@pytest.mark.slow
def test_503_honours_retry_after_http_date(
    httpserver: HTTPServer, fetcher: HttpFetcher, sleeps: Sleeps
) -> None:
    later = "Sun, 22 Nov 2026 04:01:30 GMT"  # NOW + 90 s
    _, handler = counting(
        Response(b"maintenance", status=503, headers={"Retry-After": later}), Response(b"ok")
    )
    httpserver.expect_request("/maint").respond_with_handler(handler)
    assert fetcher.fetch("s", httpserver.url_for("/maint"), None).body == b"ok"
    assert sleeps.calls == [90.0]


@pytest.mark.slow
def test_retry_after_beyond_the_cap_fails_at_once(
    httpserver: HTTPServer, fetcher: HttpFetcher, sleeps: Sleeps
) -> None:
    seen, handler = counting(Response(b"", status=429, headers={"Retry-After": "3600"}))
    httpserver.expect_request("/later").respond_with_handler(handler)
    with pytest.raises(FetchError, match="retry after 3600 s, longer than 300 s"):
        fetcher.fetch("s", httpserver.url_for("/later"), None)
    assert sleeps.calls == []
    assert len(seen) == 1


@pytest.mark.slow
def test_4xx_is_not_retried(
    httpserver: HTTPServer, fetcher: HttpFetcher, sleeps: Sleeps
) -> None:
    seen, handler = counting(Response(b"gone", status=404))
    httpserver.expect_request("/missing").respond_with_handler(handler)
    url = httpserver.url_for("/missing")
    with pytest.raises(FetchError, match=f"HTTP 404 NOT FOUND from {url}$"):
        fetcher.fetch("s", url, None)
    assert len(seen) == 1
    assert sleeps.calls == []


@pytest.mark.slow
def test_connection_refused_is_retried_then_reported(
    tmp_path: Path, sleeps: Sleeps
) -> None:
    probe = HTTPServer(host="127.0.0.1", port=0)
    probe.start()
    url = probe.url_for("/nobody")
    probe.stop()  # the port is now closed
    with (
        HttpFetcher(settings_with(tmp_path, retries=2), sleep=sleeps, rng=lambda: 1.0) as f,
        pytest.raises(FetchError, match=r"cannot reach .*/nobody.*gave up after 3"),
    ):
        f.fetch("s", url, None)
    assert sleeps.calls == [1.0, 2.0]


@pytest.mark.slow
def test_slow_response_times_out(tmp_path: Path, httpserver: HTTPServer, sleeps: Sleeps) -> None:
    release = threading.Event()

    def stall(request: Request) -> Response:
        release.wait(10)
        return Response(b"too late")

    httpserver.expect_request("/slow").respond_with_handler(stall)
    settings = settings_with(tmp_path, read_timeout=1, retries=0)
    try:
        with HttpFetcher(settings, sleep=sleeps) as slow, pytest.raises(
            FetchError, match="timed out"
        ):
            slow.fetch("s", httpserver.url_for("/slow"), None)
    finally:
        release.set()


@pytest.mark.slow
def test_trickling_body_is_cut_off_at_the_total_timeout(
    tmp_path: Path, httpserver: HTTPServer, sleeps: Sleeps
) -> None:
    clock = Clock()
    release = threading.Event()

    def trickle() -> Iterator[bytes]:
        # Each piece arrives "0.4 s" after the last, well within the read timeout;
        # then the server stalls, so only a check between pieces ends the request
        # before the 30 s read timeout would.
        for _ in range(5):
            clock.advance(0.4)
            yield b"<p>a little more</p>\n"
        release.wait(10)

    httpserver.expect_request("/trickle").respond_with_response(
        Response(trickle(), content_type="text/html")
    )
    url = httpserver.url_for("/trickle")
    settings = settings_with(tmp_path, total_timeout=1, retries=0)
    try:
        with (
            HttpFetcher(settings, sleep=sleeps, clock=clock) as patient,
            pytest.raises(FetchError) as caught,
        ):
            patient.fetch("s", url, None)
    finally:
        release.set()
    assert str(caught.value) == f"s: timed out: {url} took longer than 1 s in all"


@pytest.mark.slow
def test_slow_headers_count_towards_the_total_timeout_and_are_retried(
    tmp_path: Path, httpserver: HTTPServer, sleeps: Sleeps
) -> None:
    clock = Clock()
    answers: list[str] = []

    def slow_then_fast(request: Request) -> Response:
        if not answers:
            clock.advance(5.0)  # the first answer takes "5 s" to start
        answers.append(request.path)
        return Response(b"arrived")

    httpserver.expect_request("/slow-start").respond_with_handler(slow_then_fast)
    url = httpserver.url_for("/slow-start")
    settings = settings_with(tmp_path, total_timeout=2, retries=1)
    with HttpFetcher(settings, sleep=sleeps, rng=lambda: 0.5, clock=clock) as patient:
        assert patient.fetch("s", url, None).body == b"arrived"
    assert len(answers) == 2
    assert sleeps.calls == [0.5]


@pytest.mark.slow
def test_persistent_slowness_gives_up_with_the_total_timeout(
    tmp_path: Path, httpserver: HTTPServer, sleeps: Sleeps
) -> None:
    clock = Clock()

    def slow(request: Request) -> Response:
        clock.advance(3.0)
        return Response(b"late")

    httpserver.expect_request("/always-slow").respond_with_handler(slow)
    url = httpserver.url_for("/always-slow")
    with (
        HttpFetcher(settings_with(tmp_path, total_timeout=2, retries=2), sleep=sleeps,
                    rng=lambda: 1.0, clock=clock) as patient,
        pytest.raises(FetchError, match=r"than 2 s in all \(gave up after 3 attempts\)$"),
    ):
        patient.fetch("s", url, None)
    assert sleeps.calls == [1.0, 2.0]


# --- redirects -----------------------------------------------------------------------


@pytest.mark.slow
def test_relative_redirect_is_followed_and_final_url_reported(
    httpserver: HTTPServer, fetcher: HttpFetcher
) -> None:
    httpserver.expect_request("/old").respond_with_data(
        b"", status=301, headers={"Location": "/new?page=0"}
    )
    httpserver.expect_request("/new", query_string="page=0").respond_with_data(b"moved here")
    fetched = fetcher.fetch("s", httpserver.url_for("/old"), None)
    assert fetched.body == b"moved here"
    assert fetched.url == httpserver.url_for("/new") + "?page=0"


@pytest.mark.slow
def test_redirect_loop_is_refused(httpserver: HTTPServer, fetcher: HttpFetcher) -> None:
    httpserver.expect_request("/a").respond_with_data(b"", 302, headers={"Location": "/b"})
    httpserver.expect_request("/b").respond_with_data(b"", 302, headers={"Location": "/a"})
    with pytest.raises(FetchError, match="redirect loop"):
        fetcher.fetch("s", httpserver.url_for("/a"), None)


@pytest.mark.slow
def test_too_many_redirects_are_refused(
    tmp_path: Path, httpserver: HTTPServer, sleeps: Sleeps
) -> None:
    for hop in range(4):
        httpserver.expect_request(f"/r{hop}").respond_with_data(
            b"", 307, headers={"Location": f"/r{hop + 1}"}
        )
    httpserver.expect_request("/r4").respond_with_data(b"arrived")
    with (
        HttpFetcher(settings_with(tmp_path, max_redirects=3), sleep=sleeps) as strict,
        pytest.raises(FetchError, match="more than 3 redirects"),
    ):
        strict.fetch("s", httpserver.url_for("/r0"), None)
    with HttpFetcher(settings_with(tmp_path, max_redirects=4), sleep=sleeps) as lenient:
        assert lenient.fetch("s", httpserver.url_for("/r0"), None).body == b"arrived"


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://example.org/listing.txt"])
@pytest.mark.slow
def test_redirect_to_a_non_http_scheme_is_refused(
    httpserver: HTTPServer, fetcher: HttpFetcher, target: str
) -> None:
    httpserver.expect_request("/escape").respond_with_data(b"", 302, headers={"Location": target})
    with pytest.raises(FetchError, match="only http"):
        fetcher.fetch("s", httpserver.url_for("/escape"), None)


@pytest.mark.parametrize("location", ["http://[::1/news", "http://a..b/news", "http://xn--/"])
def test_impossible_address_is_a_fetch_error(fetcher: HttpFetcher, location: str) -> None:
    with pytest.raises(FetchError, match="invalid address"):
        fetcher.fetch("s", location, None)


def test_redirect_to_an_impossible_address_is_refused(tmp_path: Path, sleeps: Sleeps) -> None:
    # A transport of its own: the loopback server will not send such a Location.
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "http://[::1/x"})

    transport = httpx.MockTransport(handler)
    settings = settings_with(tmp_path, retries=0)
    with (
        HttpFetcher(settings, transport=transport, sleep=sleeps) as odd,
        pytest.raises(FetchError, match=r"bad response from .*Invalid URL in location header"),
    ):
        odd.fetch("s", "https://odd.example/", None)


def test_non_http_location_is_refused(fetcher: HttpFetcher) -> None:
    with pytest.raises(FetchError, match="only http"):
        fetcher.fetch("s", "file:///etc/passwd", None)


# --- size limits ---------------------------------------------------------------------


@pytest.mark.slow
def test_oversized_body_with_content_length_is_refused(
    tmp_path: Path, httpserver: HTTPServer, sleeps: Sleeps
) -> None:
    httpserver.expect_request("/big").respond_with_data(b"x" * 5_000)
    with (
        HttpFetcher(settings_with(tmp_path, max_bytes=1_000), sleep=sleeps) as small,
        pytest.raises(FetchError, match=r"is 5000 bytes, more than fetch\.max_bytes"),
    ):
        small.fetch("s", httpserver.url_for("/big"), None)


@pytest.mark.slow
def test_endless_body_without_content_length_is_cut_off(
    tmp_path: Path, httpserver: HTTPServer, sleeps: Sleeps
) -> None:
    sent = [0]

    def endless() -> Iterator[bytes]:
        # Bounded so that a fetcher which reads everything fails the test, not hangs it.
        for _ in range(2_000):
            sent[0] += 1
            yield b"y" * 65_536

    httpserver.expect_request("/stream").respond_with_response(
        Response(endless(), content_type="text/plain")
    )
    with (
        HttpFetcher(settings_with(tmp_path, max_bytes=100_000), sleep=sleeps) as small,
        pytest.raises(FetchError, match=r"more than fetch.max_bytes \(100000\) bytes$"),
    ):
        small.fetch("s", httpserver.url_for("/stream"), None)
    assert sent[0] < 2_000


@pytest.mark.slow
def test_gzip_bomb_is_refused_once_decompressed(
    tmp_path: Path, httpserver: HTTPServer, sleeps: Sleeps
) -> None:
    bomb = _gzip_of_zeros(20_000_000)
    assert len(bomb) < 50_000
    httpserver.expect_request("/bomb").respond_with_data(
        bomb, headers={"Content-Encoding": "gzip"}, content_type="text/html"
    )
    with (
        HttpFetcher(settings_with(tmp_path, max_bytes=1_000_000), sleep=sleeps) as small,
        pytest.raises(FetchError, match="once decompressed"),
    ):
        small.fetch("s", httpserver.url_for("/bomb"), None)


def _gzip_of_zeros(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1_000_000)
    packed = [packer.compress(block) for _ in range(size // len(block))]
    return b"".join(packed) + packer.flush()


@pytest.mark.slow
def test_unknown_content_encoding_is_refused(
    httpserver: HTTPServer, fetcher: HttpFetcher
) -> None:
    httpserver.expect_request("/br").respond_with_data(
        b"\x1b\x00", headers={"Content-Encoding": "br"}
    )
    with pytest.raises(FetchError, match="unsupported Content-Encoding 'br'"):
        fetcher.fetch("s", httpserver.url_for("/br"), None)


@pytest.mark.slow
def test_corrupt_gzip_is_a_fetch_error(httpserver: HTTPServer, fetcher: HttpFetcher) -> None:
    httpserver.expect_request("/bad-gz").respond_with_data(
        b"not gzip at all", headers={"Content-Encoding": "gzip"}
    )
    with pytest.raises(FetchError, match="corrupt gzip body"):
        fetcher.fetch("s", httpserver.url_for("/bad-gz"), None)


# --- charsets ------------------------------------------------------------------------


@pytest.mark.slow
def test_meta_declared_windows_1252_page_decodes_without_mojibake(
    httpserver: HTTPServer, fetcher: HttpFetcher
) -> None:
    from feedsvc.listing.decode import decode_document

    raw = (HTML / "newsroom-cp1252.html").read_bytes()
    httpserver.expect_request("/cp1252").respond_with_data(raw, content_type="text/html")
    fetched = fetcher.fetch("s", httpserver.url_for("/cp1252"), None)
    assert fetched.charset is None
    assert fetched.body == raw
    text, _ = decode_document(fetched.body, declared_charset=fetched.charset, source="s")
    assert "Café workers\u2019 wages rise by 4\u00a0% \u2013 \u201ca fair deal\u201d" in text
    assert "€2.5 million" in text


@pytest.mark.slow
def test_undeclared_utf8_page_decodes_without_mojibake(
    httpserver: HTTPServer, fetcher: HttpFetcher
) -> None:
    from feedsvc.listing.decode import decode_document

    raw = (HTML / "fr-page1.html").read_bytes()
    assert b"<meta" not in raw
    httpserver.expect_request("/fr").respond_with_data(raw, content_type="text/html")
    fetched = fetcher.fetch("s", httpserver.url_for("/fr"), None)
    assert fetched.charset is None
    assert fetched.body is not None
    text, _ = decode_document(fetched.body, declared_charset=fetched.charset, source="s")
    assert "Des apprentis formés aux métiers verts en Côte d\u2019Ivoire" in text
    assert "Ã" not in text


# --- one request at a time per host ----------------------------------------------------


@pytest.fixture
def threaded_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.mark.slow
def test_never_two_requests_at_once_to_one_host(
    threaded_server: HTTPServer, fetcher: HttpFetcher
) -> None:
    guard = threading.Lock()
    active = [0]
    most = [0]
    overlapped = threading.Event()

    def handler(request: Request) -> Response:
        with guard:
            active[0] += 1
            most[0] = max(most[0], active[0])
            if active[0] > 1:
                overlapped.set()
        # Gives a second request the chance to arrive while this one is open.
        overlapped.wait(0.1)
        with guard:
            active[0] -= 1
        return Response(b"ok")

    threaded_server.expect_request("/page").respond_with_handler(handler)
    urls = [threaded_server.url_for("/page") + f"?n={n}" for n in range(4)]
    errors: list[BaseException] = []

    def fetch(url: str) -> None:
        try:
            fetcher.fetch("s", url, None)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=fetch, args=(url,)) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert most[0] == 1


def test_different_hosts_are_fetched_concurrently(tmp_path: Path, sleeps: Sleeps) -> None:
    both_inside = threading.Barrier(2, timeout=10)

    def handler(request: httpx.Request) -> httpx.Response:
        both_inside.wait()  # breaks (and fails the fetch) unless both hosts are in at once
        return httpx.Response(200, stream=httpx.ByteStream(request.url.host.encode()))

    settings = settings_with(tmp_path)
    with HttpFetcher(settings, transport=httpx.MockTransport(handler), sleep=sleeps) as shared:
        results: dict[str, bytes | None] = {}

        def fetch(host: str) -> None:
            results[host] = shared.fetch("s", f"https://{host}/news", None).body

        threads = [threading.Thread(target=fetch, args=(h,)) for h in ("a.example", "b.example")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert results == {"a.example": b"a.example", "b.example": b"b.example"}


# --- pure helpers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Sun, 22 Nov 2026 04:00:10 GMT", 10.0),
        ("Sun, 22 Nov 2026 03:00:00 GMT", 0.0),
        ("soon", None),
        ("-5", None),
        (None, None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds


def test_backoff_grows_exponentially_and_is_capped() -> None:
    assert [backoff_delay(n, lambda: 1.0) for n in range(8)] == [
        1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0
    ]
    assert backoff_delay(3, lambda: 0.0) == 0.0
