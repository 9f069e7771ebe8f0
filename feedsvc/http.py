"""Fetching listing pages over HTTP: every outbound network request feedsvc makes.

``HttpFetcher`` implements ``feedsvc.sources.Fetcher`` for ``http://`` and
``https://`` locations. It is polite and defensive:

- a User-Agent naming the service, its version, the site and its contact;
- conditional GET from the validators stored last time (a 304 is
  ``Fetched(not_modified=True)`` with those validators, updated by any new
  ``ETag`` or ``Last-Modified`` the 304 carries);
- connect and read timeouts, and ``fetch.total_timeout`` for each request in
  all (so a server trickling a byte now and then cannot hold a refresh);
- a body limit enforced while streaming and counted after decompression (so a
  gzip bomb is refused, never inflated in memory);
- redirects followed by hand: at most ``fetch.max_redirects``, only to http(s)
  addresses, loops refused;
- retries with exponential backoff and full jitter on connection errors,
  timeouts, 5xx and 429; ``Retry-After`` honoured on 429 and 503 up to
  ``RETRY_AFTER_CAP`` seconds, beyond which the fetch fails rather than
  holding the pipeline;
- never more than one request at a time to one host, across threads.

Every failure is a ``FetchError`` naming the source, with a one-line message.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import httpx

from feedsvc import __version__
from feedsvc.errors import FetchError
from feedsvc.settings import Settings
from feedsvc.sources import Fetched, Validators

ALLOWED_SCHEMES = ("http", "https")
OK_STATUSES = frozenset({200, 203})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRY_AFTER_STATUSES = frozenset({429, 503})
RETRY_AFTER_CAP = 300.0
"""Longest Retry-After waited for, in seconds; a longer one fails this refresh."""
BACKOFF_BASE = 1.0
BACKOFF_MAX = 60.0
ACCEPT = "text/html, application/xhtml+xml, text/plain;q=0.9, */*;q=0.5"
# Only encodings decoded here under the size limit are offered.
ACCEPT_ENCODING = "gzip, deflate"
_DECOMPRESS_STEP = 64 * 1024


def user_agent(settings: Settings) -> str:
    """``feedsvc/<version> (+<site.base_url>; <site.contact>)``; no contact part when unset."""
    about = [f"+{settings.site.base_url}"]
    if settings.site.contact:
        about.append(settings.site.contact)
    return f"feedsvc/{__version__} ({'; '.join(about)})"


def parse_retry_after(value: str | None, now: dt.datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or HTTP date), else None.

    A date in the past means no wait (0.0); an unreadable value means None.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())


def backoff_delay(attempt: int, rng: Callable[[], float]) -> float:
    """Full-jitter exponential backoff before retry number ``attempt`` (0-based)."""
    ceiling = min(BACKOFF_MAX, BACKOFF_BASE * 2.0**attempt)
    return rng() * ceiling


class _Retryable(Exception):
    """A failure worth another attempt; ``delay`` is the server's Retry-After, if any."""

    def __init__(self, message: str, *, url: str, delay: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.delay = delay


@dataclass(frozen=True)
class _Hop:
    """One request's outcome: a final answer, or where a redirect points."""

    fetched: Fetched | None = None
    redirect_to: str | None = None


class HttpFetcher:
    """Fetches http(s) locations; thread-safe; one instance is shared by a refresh.

    ``transport`` replaces the network (tests), ``sleep`` the waits between
    retries, ``rng`` the jitter (a float in [0, 1)), ``now`` the clock used
    only to read Retry-After dates, ``clock`` the monotonic seconds that
    ``fetch.total_timeout`` is measured in. Call ``close`` (or use ``with``) when done.
    The usual environment variables apply: ``HTTPS_PROXY``/``HTTP_PROXY``/
    ``NO_PROXY`` and ``SSL_CERT_FILE``/``SSL_CERT_DIR``.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        fetch = settings.fetch
        self._total_timeout = fetch.total_timeout
        self._clock = clock
        self._max_bytes = fetch.max_bytes
        self._max_redirects = fetch.max_redirects
        self._retries = fetch.retries
        self._sleep = sleep
        self._rng = rng
        self._now = now
        self._client = httpx.Client(
            transport=transport,
            follow_redirects=False,
            timeout=httpx.Timeout(
                connect=fetch.connect_timeout,
                read=fetch.read_timeout,
                write=fetch.read_timeout,
                pool=fetch.connect_timeout + fetch.read_timeout,
            ),
            headers={
                "User-Agent": user_agent(settings),
                "Accept": ACCEPT,
                "Accept-Encoding": ACCEPT_ENCODING,
            },
        )
        self._host_locks: dict[str, threading.Lock] = {}
        self._host_locks_guard = threading.Lock()

    def close(self) -> None:
        """Close pooled connections. The fetcher must not be used afterwards."""
        self._client.close()

    def __enter__(self) -> HttpFetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def fetch(self, source: str, location: str, validators: Validators | None) -> Fetched:
        """GET ``location`` for ``source``, retrying transient failures; raise FetchError."""
        _check_scheme(location, source, what="location")
        attempts = self._retries + 1
        for attempt in range(attempts):
            try:
                return self._follow_redirects(source, location, validators)
            except _Retryable as failure:
                if attempt + 1 == attempts:
                    suffix = f" (gave up after {attempts} attempts)" if attempts > 1 else ""
                    raise FetchError(failure.message + suffix, source=source) from None
                self._wait(source, failure, attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, source: str, failure: _Retryable, attempt: int) -> None:
        if failure.delay is None:
            delay = backoff_delay(attempt, self._rng)
        elif failure.delay > RETRY_AFTER_CAP:
            raise FetchError(
                f"{failure.message}; server asks to retry after {failure.delay:.0f} s, "
                f"longer than {RETRY_AFTER_CAP:.0f} s",
                source=source,
            )
        else:
            delay = failure.delay
        # Waiting under the host's lock keeps every other source of that host
        # waiting too: the server asked this client, not only this page, to slow down.
        with self._host_lock(failure.url):
            self._sleep(delay)

    def _follow_redirects(
        self, source: str, location: str, validators: Validators | None
    ) -> Fetched:
        url = location
        seen = {url}
        for _ in range(self._max_redirects + 1):
            hop = self._request(source, url, validators)
            if hop.fetched is not None:
                return hop.fetched
            assert hop.redirect_to is not None
            target = hop.redirect_to
            _check_scheme(target, source, what=f"redirect from {url}")
            if target in seen:
                raise FetchError(f"redirect loop: {url} -> {target}", source=source)
            seen.add(target)
            url = target
        raise FetchError(
            f"more than {self._max_redirects} redirects from {location}", source=source
        )

    def _request(self, source: str, url: str, validators: Validators | None) -> _Hop:
        with self._host_lock(url):
            # Started once the host is ours: waiting for another source's turn
            # is not this request being slow.
            deadline = _Deadline(self._clock, self._total_timeout, url)
            try:
                request = self._client.build_request(
                    "GET", url, headers=_conditional_headers(validators)
                )
                response = self._client.send(request, stream=True)
            except httpx.TimeoutException:
                raise _Retryable(f"timed out connecting to or reading {url}", url=url) from None
            except httpx.RemoteProtocolError as exc:
                raise _Retryable(f"bad response from {url}: {_describe(exc)}", url=url) from None
            except httpx.TransportError as exc:
                raise _Retryable(f"cannot reach {url}: {_describe(exc)}", url=url) from None
            except (httpx.InvalidURL, ValueError) as exc:
                # ValueError covers the IDNA errors of impossible host names.
                raise FetchError(f"invalid address {url!r}: {_describe(exc)}",
                                 source=source) from None
            try:
                deadline.check()
                return self._answer(source, url, response, validators, deadline)
            finally:
                response.close()

    def _answer(
        self,
        source: str,
        url: str,
        response: httpx.Response,
        validators: Validators | None,
        deadline: _Deadline,
    ) -> _Hop:
        status = response.status_code
        if status in REDIRECT_STATUSES:
            location = response.headers.get("Location")
            if not location:
                raise FetchError(f"HTTP {status} without a Location from {url}", source=source)
            try:
                target = urljoin(url, location.strip())
            except ValueError:
                raise FetchError(
                    f"HTTP {status} to an invalid address {location!r} from {url}", source=source
                ) from None
            return _Hop(redirect_to=target)
        if status == 304:
            if validators is None:
                raise FetchError(f"HTTP 304 to an unconditional request for {url}", source=source)
            # A 304 may carry fresh validators (RFC 9110 15.4.5); the next request sends them.
            fresh = Validators(
                etag=response.headers.get("ETag") or validators.etag,
                last_modified=response.headers.get("Last-Modified") or validators.last_modified,
            )
            return _Hop(fetched=Fetched(
                url=url, body=None, validators=fresh, not_modified=True))
        if status == 429 or status >= 500:
            delay = None
            if status in RETRY_AFTER_STATUSES:
                delay = parse_retry_after(response.headers.get("Retry-After"), self._now())
            raise _Retryable(
                f"HTTP {status} {response.reason_phrase} from {url}", url=url, delay=delay
            )
        if status not in OK_STATUSES:
            raise FetchError(f"HTTP {status} {response.reason_phrase} from {url}", source=source)
        body = self._read_body(source, url, response, deadline)
        return _Hop(fetched=Fetched(
            url=url,
            body=body,
            validators=Validators(
                etag=response.headers.get("ETag"),
                last_modified=response.headers.get("Last-Modified"),
            ),
            charset=response.charset_encoding,
        ))

    def _read_body(
        self, source: str, url: str, response: httpx.Response, deadline: _Deadline
    ) -> bytes:
        limit = self._max_bytes
        declared = response.headers.get("Content-Length", "").strip()
        if declared.isdigit() and int(declared) > limit:
            raise FetchError(
                f"response from {url} is {declared} bytes, more than fetch.max_bytes ({limit})",
                source=source,
            )
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        decoder = _BoundedDecoder(encoding, limit)
        if not decoder.supported:
            raise FetchError(f"unsupported Content-Encoding {encoding!r} from {url}", source=source)
        chunks: list[bytes] = []
        try:
            for raw in response.iter_raw():
                deadline.check()
                chunks.extend(decoder.feed(raw))
            chunks.extend(decoder.flush())
        except _TooLarge:
            raise FetchError(
                f"response from {url} is more than fetch.max_bytes ({limit}) bytes"
                + (" once decompressed" if encoding != "identity" else ""),
                source=source,
            ) from None
        except zlib.error as exc:
            raise FetchError(f"corrupt {encoding} body from {url}: {exc}", source=source) from None
        except httpx.TimeoutException:
            raise _Retryable(f"timed out reading {url}", url=url) from None
        except httpx.TransportError as exc:
            raise _Retryable(f"connection lost reading {url}: {_describe(exc)}", url=url) from None
        return b"".join(chunks)

    @contextmanager
    def _host_lock(self, url: str) -> Iterator[None]:
        # Only called with addresses _check_scheme accepted, so urlsplit cannot fail.
        host = (urlsplit(url).hostname or "").lower()
        with self._host_locks_guard:
            lock = self._host_locks.setdefault(host, threading.Lock())
        with lock:
            yield


class _Deadline:
    """``fetch.total_timeout`` for one request, from before it is sent.

    Checked once the headers are in and after each piece of the body, so a
    request ends at most one read timeout after its deadline: the read
    timeout still bounds each wait for data.
    """

    def __init__(self, clock: Callable[[], float], seconds: int, url: str) -> None:
        self._clock = clock
        self._seconds = seconds
        self._url = url
        self._ends = clock() + seconds

    def check(self) -> None:
        """Raise a retryable failure if the request has run past its deadline."""
        if self._clock() > self._ends:
            raise _Retryable(
                f"timed out: {self._url} took longer than {self._seconds} s in all",
                url=self._url,
            )


class _TooLarge(Exception):
    """The decoded body went past the limit."""


class _BoundedDecoder:
    """Undoes a Content-Encoding, refusing to produce more than ``limit`` bytes.

    Decompression is asked for at most ``_DECOMPRESS_STEP`` bytes at a time,
    so a bomb costs no more memory than the limit before it is refused.
    """

    def __init__(self, encoding: str, limit: int) -> None:
        self._limit = limit
        self._total = 0
        self.supported = encoding in ("identity", "", "gzip", "x-gzip", "deflate")
        self._inflater: zlib._Decompress | None = None
        self._deflate = encoding == "deflate"
        if encoding in ("gzip", "x-gzip"):
            self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._deflate and self._inflater is None and data:
            # "deflate" is meant to be zlib-wrapped but some servers send it raw.
            wbits = zlib.MAX_WBITS if (data[0] & 0x0F) == 8 else -zlib.MAX_WBITS
            self._inflater = zlib.decompressobj(wbits)
        if self._inflater is None:
            yield self._count(data)
            return
        pending = data
        while pending:
            out = self._inflater.decompress(pending, _DECOMPRESS_STEP)
            yield self._count(out)
            pending = self._inflater.unconsumed_tail
            if self._inflater.eof:
                break

    def flush(self) -> Iterator[bytes]:
        if self._inflater is not None:
            yield self._count(self._inflater.flush(_DECOMPRESS_STEP))

    def _count(self, data: bytes) -> bytes:
        self._total += len(data)
        if self._total > self._limit:
            raise _TooLarge
        return data


def _conditional_headers(validators: Validators | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if validators is not None:
        if validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
    return headers


def _check_scheme(url: str, source: str, *, what: str) -> None:
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError as exc:
        raise FetchError(f"{what}: invalid address {url!r}: {exc}", source=source) from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES or not hostname:
        raise FetchError(f"{what}: only http(s) addresses are fetched, not {url!r}", source=source)


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
