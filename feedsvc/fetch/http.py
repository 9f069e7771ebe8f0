"""Fetching listing pages over HTTP: every outbound network request feedsvc makes.

``HttpFetcher`` implements ``feedsvc.fetch.base.Fetcher`` for ``http://`` and
``https://`` locations. It is polite and defensive:

- a User-Agent naming the service, its version, the site and its contact;
- conditional GET from the validators stored last time (a 304 is
  ``Fetched(not_modified=True)`` with those validators, updated by any new
  ``ETag`` or ``Last-Modified`` the 304 carries);
- connect and read timeouts, and ``fetch.total_timeout`` for each request in
  all, enforced on every socket operation (connecting, TLS, sending, reading
  headers and body), so a server trickling a byte now and then cannot hold a
  refresh;
- no request to a loopback, private, link-local, unique-local, multicast,
  unspecified or otherwise non-public address, unless it goes to the host and
  port a configured source's ``location`` names, or
  ``fetch.allow_private_addresses`` is set: a host name is resolved once, every
  address it resolves to is checked, and the connection is made to a checked
  address (no second lookup for a DNS rebinding to answer);
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
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import httpcore
import httpx

from feedsvc import __version__
from feedsvc.addresses import literal_address, refusal, refusal_message
from feedsvc.errors import FetchError
from feedsvc.models import Fetched, Validators
from feedsvc.settings import Settings

ALLOWED_SCHEMES = ("http", "https")
OK_STATUSES = frozenset({200, 203})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRY_AFTER_STATUSES = frozenset({429, 503})
RETRY_AFTER_CAP = 300.0
"""Longest Retry-After waited for, in seconds; a longer one fails this refresh."""
BACKOFF_BASE = 1.0
BACKOFF_MAX = 60.0
ACCEPT = ("text/html, application/xhtml+xml, application/json;q=0.9, text/plain;q=0.9, "
          "*/*;q=0.5")
# Only encodings decoded here under the size limit are offered.
ACCEPT_ENCODING = "gzip, deflate"
_DECOMPRESS_STEP = 64 * 1024
DEFAULT_PORTS = {"http": 80, "https": 443}

Resolver = Callable[[str, int], Sequence[str]]
"""Turns a host name and port into the IP addresses to try, in order."""
Connector = Callable[[str, int, "float | None"], httpcore.NetworkStream]
"""Opens a TCP connection to an IP address and port, within a timeout in seconds."""


def resolve_host(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for ``host``, each once, in its order.

    A name that cannot be encoded raises UnicodeError (a ValueError): an invalid address.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def connect_address(address: str, port: int, timeout: float | None) -> httpcore.NetworkStream:
    """A TCP connection to the IP ``address`` (never a name: nothing is resolved here)."""
    return httpcore.SyncBackend().connect_tcp(address, port, timeout=timeout)


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


class FormPoster:
    """POSTs small ``application/x-www-form-urlencoded`` forms: WebSub publish pings.

    Their addresses are the operator's own settings (``websub.hubs``), so,
    like a source's own location, they may be internal; what the answer says
    is not followed (no redirects) and its body is never read. Timeouts are
    ``fetch.connect_timeout`` and ``fetch.read_timeout``; the User-Agent is the
    fetcher's. Thread-safe; ``close`` when done. ``transport`` replaces the
    network (tests).
    """

    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None = None
                 ) -> None:
        self._client = HttpFetcher._make_client(
            settings,
            transport if transport is not None else _transport(
                _Network(refuse_internal=False, resolve=resolve_host, connect=connect_address)),
            proxies=transport is None,
        )

    def post(self, url: str, fields: Sequence[tuple[str, str]]) -> int:
        """POST ``fields`` to ``url``; the status code. Raises FetchError (source
        ``"websub"``) when no answer came."""
        try:
            body = urlencode(list(fields)).encode("ascii")
            with self._client.stream("POST", url, content=body, headers={
                    "Accept": "*/*",
                    "Content-Type": "application/x-www-form-urlencoded"}) as response:
                return response.status_code
        except (httpx.HTTPError, httpcore.ConnectError, ValueError) as exc:
            message = str(exc) or type(exc).__name__
            raise FetchError(f"{url}: {message}", source="websub") from None

    def close(self) -> None:
        self._client.close()


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

    ``transport`` replaces the network (tests; then only addresses written in
    URLs can be refused, names are not resolved here), ``sleep`` the waits between
    retries, ``rng`` the jitter (a float in [0, 1)), ``now`` the clock used
    only to read Retry-After dates, ``clock`` the monotonic seconds that
    ``fetch.total_timeout`` is measured in, ``resolve`` the host name lookup and
    ``connect`` the opening of a TCP connection to a checked IP address (both
    for tests: a resolver stub, a connector that records). Call ``close`` (or
    use ``with``) when done.
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
        resolve: Resolver = resolve_host,
        connect: Connector = connect_address,
    ) -> None:
        fetch = settings.fetch
        self._allow_private = fetch.allow_private_addresses
        self._configured = {source.name: _origin(source.location) for source in settings.sources}
        self._total_timeout = fetch.total_timeout
        self._clock = clock
        self._max_bytes = fetch.max_bytes
        self._max_redirects = fetch.max_redirects
        self._retries = fetch.retries
        self._sleep = sleep
        self._rng = rng
        self._now = now
        if transport is None:
            # Two pools: a connection made to a configured source's own origin,
            # unchecked, must never be reused for a request that is not to it.
            self._trusted_client = self._make_client(
                settings, _transport(_Network(refuse_internal=False, resolve=resolve,
                                              connect=connect)))
            self._guarded_client = self._make_client(
                settings, _transport(_Network(refuse_internal=not self._allow_private,
                                              resolve=resolve, connect=connect)))
        else:
            self._trusted_client = self._guarded_client = self._make_client(
                settings, transport, proxies=False)
        self._host_locks: dict[str, threading.Lock] = {}
        self._host_locks_guard = threading.Lock()
        self._closed = False

    @staticmethod
    def _make_client(
        settings: Settings, transport: httpx.BaseTransport, *, proxies: bool = True,
    ) -> httpx.Client:
        fetch = settings.fetch
        return httpx.Client(
            transport=transport,
            # Given a transport, httpx no longer reads the proxy variables itself.
            mounts=_environment_proxies() if proxies else None,
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

    def close(self) -> None:
        """Close pooled connections. A fetch still under way in another thread (one
        a refresh stopped waiting for) ends with a FetchError; later ones fail at once."""
        self._closed = True
        self._trusted_client.close()
        self._guarded_client.close()

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
        """GET ``location`` for ``source``, retrying transient failures; raise FetchError.

        Internal addresses are refused (FetchError "refused ...") unless the
        request goes to the host and port of the source's configured location;
        a source the settings do not name (the fetcher used on its own) has
        ``location`` itself as its configured location.
        """
        _check_scheme(location, source, what="location")
        trusted = self._configured[source] if source in self._configured else _origin(location)
        attempts = self._retries + 1
        for attempt in range(attempts):
            try:
                return self._follow_redirects(source, location, validators, trusted)
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
        self, source: str, location: str, validators: Validators | None, trusted: _Origin | None
    ) -> Fetched:
        url = location
        seen = {url}
        for _ in range(self._max_redirects + 1):
            hop = self._request(source, url, validators, trusted)
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

    def _request(
        self, source: str, url: str, validators: Validators | None, trusted: _Origin | None
    ) -> _Hop:
        client = self._client_for(source, url, trusted)
        with self._host_lock(url):
            if self._closed:
                # The refresh that asked has given up and moved on.
                raise FetchError(f"not fetching {url}: the fetcher was closed", source=source)
            # Started once the host is ours: waiting for another source's turn
            # is not this request being slow.
            deadline = _Deadline(self._clock, self._total_timeout, url)
            with _bounded_by(deadline):
                return self._exchange(source, url, validators, client, deadline)

    def _client_for(self, source: str, url: str, trusted: _Origin | None) -> httpx.Client:
        """The trusted client for the source's own origin; else the guarded one, after
        refusing an internal address written in the URL itself (which a proxy, if
        one is set, would otherwise reach on feedsvc's behalf)."""
        origin = _origin(url)
        if origin is not None and origin == trusted:
            return self._trusted_client
        if not self._allow_private and origin is not None:
            address = literal_address(origin.host)
            kind = refusal(address) if address is not None else None
            if address is not None and kind is not None:
                raise FetchError(
                    f"refused {url}: {refusal_message(address, kind, host=origin.host)}",
                    source=source,
                )
        return self._guarded_client

    def _exchange(
        self,
        source: str,
        url: str,
        validators: Validators | None,
        client: httpx.Client,
        deadline: _Deadline,
    ) -> _Hop:
        try:
            request = client.build_request("GET", url, headers=_conditional_headers(validators))
            response = client.send(request, stream=True)
        except AddressRefused as refused:
            raise FetchError(f"refused {url}: {refused}", source=source) from None
        except httpx.TimeoutException:
            deadline.check()
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
            content_type=response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            or None,
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
            deadline.check()
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

    While a request is under way its deadline is the thread's active one
    (``_bounded_by``), and every socket operation of the connection waits at
    most the time left (``_capped``); it is also checked once the headers are
    in and after each piece of the body (which is all a test's transport gets).
    """

    def __init__(self, clock: Callable[[], float], seconds: int, url: str) -> None:
        self._clock = clock
        self._seconds = seconds
        self._url = url
        self._ends = clock() + seconds

    def remaining(self) -> float:
        """Seconds left before the deadline (zero or less once it has passed)."""
        return self._ends - self._clock()

    def check(self) -> None:
        """Raise a retryable failure if the request has run past its deadline."""
        if self.remaining() <= 0:
            raise _Retryable(
                f"timed out: {self._url} took longer than {self._seconds} s in all",
                url=self._url,
            )


# --- the network: where requests may go, and for how long ----------------------------


@dataclass(frozen=True)
class _Origin:
    """Where a URL's requests go: its host as the URL writes it, and its port."""

    host: str
    port: int


def _origin(url: str) -> _Origin | None:
    """The origin of an http(s) ``url``, the host compared as written (so
    ``127.1`` is not ``127.0.0.1``: only what the configuration names is
    trusted); None when ``url`` has none."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return None
    return _Origin(host, port) if host and port else None


class AddressRefused(Exception):
    """A connection refused before it was made; the message names the rule."""


_active = threading.local()
"""The deadline of the request this thread is making, if any."""


@contextmanager
def _bounded_by(deadline: _Deadline) -> Iterator[None]:
    previous: _Deadline | None = getattr(_active, "deadline", None)
    _active.deadline = deadline
    try:
        yield
    finally:
        _active.deadline = previous


def _capped(timeout: float | None, expired: type[Exception]) -> float | None:
    """``timeout`` shortened to what is left of this thread's request deadline;
    ``expired`` is raised when nothing is left."""
    deadline: _Deadline | None = getattr(_active, "deadline", None)
    if deadline is None:
        return timeout
    remaining = deadline.remaining()
    if remaining <= 0:
        raise expired("fetch.total_timeout reached")
    return remaining if timeout is None else min(timeout, remaining)


class _BoundedStream(httpcore.NetworkStream):
    """A connection whose every operation ends by the current request's deadline.

    httpx's own timeouts bound each wait for data; this bounds their sum, in
    whichever phase the time goes: TLS, sending, headers or body.
    """

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _capped(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _capped(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _BoundedStream(self._stream.start_tls(
            ssl_context, server_hostname, _capped(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _Network(httpcore.NetworkBackend):
    """Opens connections for httpx: resolves a host once, checks every address it
    got (with ``refuse_internal``), then connects to a checked address.

    Connecting to the address that was checked, rather than handing the name
    to the socket layer, leaves no second lookup for DNS rebinding to answer.
    """

    def __init__(self, *, refuse_internal: bool, resolve: Resolver, connect: Connector) -> None:
        self._refuse_internal = refuse_internal
        self._resolve = resolve
        self._connect = connect

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self._addresses(host, port)
        failure: Exception = httpcore.ConnectError(f"{host} has no address")
        for address in addresses:
            try:
                stream = self._connect(
                    address, port, _capped(timeout, httpcore.ConnectTimeout))
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            return _BoundedStream(stream)
        raise failure

    def _addresses(self, host: str, port: int) -> list[str]:
        literal = literal_address(host)
        found = [str(literal)] if literal is not None else list(self._resolve(host, port))
        if self._refuse_internal:
            for text in found:
                address = literal_address(text)
                if address is None:
                    raise AddressRefused(f"{host} resolves to {text!r}, not an IP address")
                kind = refusal(address)
                if kind is not None:
                    # One internal address is enough: a public site has none.
                    raise AddressRefused(refusal_message(address, kind, host=host))
        return found

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("feedsvc connects to no Unix socket")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _environment_proxies() -> dict[str, httpx.BaseTransport | None]:
    """Transports for the proxies that HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY
    name, by URL pattern, as httpx mounts them when it makes its own transport.

    Requests through a proxy reach the network from the proxy: only addresses
    written in their URLs are refused (see ``HttpFetcher._client_for``).
    """
    from httpx._utils import get_environment_proxies

    return {pattern: None if proxy is None else httpx.HTTPTransport(proxy=proxy)
            for pattern, proxy in get_environment_proxies().items()}


def _transport(network: _Network) -> httpx.HTTPTransport:
    """httpx's transport, opening its connections through ``network``."""
    transport = httpx.HTTPTransport()
    pool = transport._pool
    if not isinstance(pool, httpcore.ConnectionPool):  # pragma: no cover
        raise TypeError(f"unexpected httpx connection pool {type(pool).__name__}")
    # httpx offers no way to give its pool a network backend; httpcore's pool
    # takes one, and every connection it makes asks it.
    pool._network_backend = network
    return transport


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
