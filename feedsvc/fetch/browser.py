"""Reading pages that scripts build: a source's pages loaded in headless Chromium.

``BrowserFetcher`` implements ``feedsvc.fetch.base.Fetcher`` for sources with
``render = "browser"``. It starts Debian's ``chromium`` through
``chromium-driver`` and selenium (the optional ``browser`` extra) for each
page, with a fresh profile and Chromium's background services off, waits
until the HTML reader finds items in the page's DOM (at most
``fetch.read_timeout`` seconds after loading, which itself may take at most
``fetch.total_timeout``), and hands over the DOM as an HTML document.

The address rules of ``feedsvc.fetch.http`` hold before the browser is given a
URL (only http(s), and an internal address, such as loopback, private or
link-local, only for the host and port the source's own ``location``
names, or with ``fetch.allow_private_addresses``) and for every request the
page makes while it loads: the browser sends them all through a
``feedsvc.fetch.guard_proxy.GuardProxy``, which resolves, checks and connects
itself.

Without selenium, chromium or chromedriver, every fetch fails with one line
naming what to install.
"""

from __future__ import annotations

import ipaddress
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from feedsvc.addresses import IPAddress, literal_address, refusal, refusal_message
from feedsvc.errors import FetchError
from feedsvc.fetch.guard_proxy import GuardProxy
from feedsvc.formats import AUTO, SOURCE_FORMATS, ParseRequest, format_named
from feedsvc.models import Fetched, Validators
from feedsvc.settings import Settings, SourceSettings

__all__ = ["CHROMEDRIVER", "CHROMIUM", "CHROMIUM_FLAGS", "INSTALL_HINT", "BrowserFetcher"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL_HINT = ("render = \"browser\" needs Chromium and selenium: apt-get install chromium "
                "chromium-driver && pip install 'feedsvc[browser]'")
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--no-default-browser-check", "--disable-extensions",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp", "--window-size=1280,1024",
)
"""How Chromium is started: headless, as root in a container (no sandbox), without
the background services that would reach out to the network, and with no
traffic around the proxy (WebRTC's UDP included)."""

POLL_SECONDS = 0.25
"""How often the DOM is read again while waiting for the listing to appear."""

class BrowserFetcher:
    """Loads pages in headless Chromium; thread-safe (one browser per fetch).

    ``chromium`` and ``chromedriver`` are the binaries' paths; ``clock`` and
    ``sleep`` measure and spend the wait for the listing (tests).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        chromium: Path = CHROMIUM,
        chromedriver: Path = CHROMEDRIVER,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._sources = {source.name: source for source in settings.sources}
        self._chromium = chromium
        self._chromedriver = chromedriver
        self._clock = clock
        self._sleep = sleep

    def fetch(self, source: str, location: str, validators: Validators | None) -> Fetched:
        """The DOM of ``location`` once its listing appeared (or the wait ran out).

        ``validators`` are ignored: a browser has no conditional reload; an
        unchanged DOM is recognised by the pipeline's digest instead.
        """
        configured = self._sources.get(source)
        self._check_address(source, location, configured)
        webdriver = self._webdriver(source)
        fetch = self._settings.fetch
        own = _origin(configured.location if configured is not None else location)
        with tempfile.TemporaryDirectory(prefix="feedsvc-chromium-") as profile, GuardProxy(
                trusted=own, allow_private=fetch.allow_private_addresses,
                connect_timeout=fetch.connect_timeout, idle_timeout=fetch.read_timeout,
        ) as proxy:
            options = webdriver.ChromeOptions()
            options.binary_location = str(self._chromium)
            for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                         f"--proxy-server={proxy.url}", "--proxy-bypass-list=<-loopback>"):
                options.add_argument(flag)
            try:
                driver = webdriver.Chrome(
                    service=webdriver.ChromeService(executable_path=str(self._chromedriver)),
                    options=options)
            except Exception as exc:  # WebDriverException, OSError: the browser did not start
                raise FetchError(f"cannot start Chromium: {_first_line(exc)}; {INSTALL_HINT}",
                                 source=source) from None
            try:
                driver.set_page_load_timeout(fetch.total_timeout)
                driver.set_script_timeout(fetch.read_timeout)
                driver.get(location)
                html = self._wait_for_listing(driver, source, configured)
                url = str(driver.current_url)
            except FetchError:
                raise
            except Exception as exc:  # selenium's errors: a timeout, a crashed tab
                raise FetchError(f"browser could not load {location}: {_first_line(exc)}",
                                 source=source) from None
            finally:
                driver.quit()
        body = html.encode("utf-8")
        if len(body) > fetch.max_bytes:
            raise FetchError(f"page {location} is more than fetch.max_bytes "
                             f"({fetch.max_bytes}) bytes once rendered", source=source)
        return Fetched(url=url, body=body, validators=Validators(), charset="utf-8",
                       content_type="text/html")

    def _webdriver(self, source: str) -> Any:
        missing = [str(path) for path in (self._chromium, self._chromedriver)
                   if not path.exists()]
        if missing:
            raise FetchError(f"{', '.join(missing)} not found; {INSTALL_HINT}", source=source)
        try:
            from selenium import webdriver
        except ImportError:
            raise FetchError(f"selenium is not installed; {INSTALL_HINT}", source=source) from None
        return webdriver

    def _check_address(
        self, source: str, location: str, configured: SourceSettings | None,
    ) -> None:
        """Refuse what ``feedsvc.fetch.http`` would: a non-http(s) address, or an internal one
        other than the source's own host and port (unless allowed)."""
        try:
            parts = urlsplit(location)
            host = (parts.hostname or "").lower()
            port = parts.port
        except ValueError as exc:
            raise FetchError(f"invalid address {location!r}: {exc}", source=source) from None
        if parts.scheme.lower() not in ("http", "https") or not host:
            raise FetchError(f"only http(s) addresses are loaded in the browser, not "
                             f"{location!r}", source=source)
        if self._settings.fetch.allow_private_addresses:
            return
        own = configured.location if configured is not None else location
        if _origin(own) == (host, port or _default_port(parts.scheme)):
            return
        for address in _addresses(host, port or _default_port(parts.scheme)):
            kind = refusal(address)
            if kind is not None:
                raise FetchError(f"refused {location}: "
                                 f"{refusal_message(address, kind, host=host)}", source=source)

    def _wait_for_listing(self, driver: Any, source: str,
                          configured: SourceSettings | None) -> str:
        """The DOM as HTML once the HTML reader finds an item in it, or when
        ``fetch.read_timeout`` seconds have passed (then the reader says why not)."""
        fmt = SOURCE_FORMATS["html"]
        if configured is not None and configured.format != AUTO:
            fmt = format_named(configured.format)
        options = fmt.options(configured.options if configured is not None else {})
        deadline = self._clock() + self._settings.fetch.read_timeout
        limit = self._settings.fetch.max_bytes
        while True:
            html = str(driver.page_source)
            if len(html) > limit:  # characters: at least as many bytes once encoded
                raise FetchError(f"page {driver.current_url} is more than fetch.max_bytes "
                                 f"({limit}) bytes once rendered", source=source)
            request = ParseRequest(text=html, source=source, page_url=str(driver.current_url),
                                   language=configured.language if configured else None,
                                   options=options)
            if fmt.parse(request).items or self._clock() >= deadline:
                return html
            self._sleep(POLL_SECONDS)


def _origin(url: str) -> tuple[str, int] | None:
    """The host (as written, lower case) and port ``url`` goes to."""
    try:
        parts = urlsplit(url)
        return (parts.hostname or "").lower(), parts.port or _default_port(parts.scheme)
    except ValueError:
        return None


def _default_port(scheme: str) -> int:
    return 443 if scheme.lower() == "https" else 80


def _addresses(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` stands for (itself when it is an IP literal); none when
    it does not resolve (the browser then fails to load it too)."""
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def _first_line(exc: Exception) -> str:
    text = (getattr(exc, "msg", None) or str(exc) or type(exc).__name__).strip()
    return text.splitlines()[0] if text else type(exc).__name__
