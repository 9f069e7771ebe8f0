"""A hostile HTTP server for tests: raw sockets on a loopback port, one route per misbehaviour.

Real HTTP servers (werkzeug's included) insist on speaking proper HTTP; a
hostile one must be free to send half a status line, drip headers a byte at
a time or point somewhere it should not. ``HostileServer`` reads a request's
head, looks its path (query left out) up in ``routes`` and lets the route
write whatever bytes it likes on the raw socket. Each connection has a
thread; ``stop`` ends every slow route promptly and closes every socket.

Adding a misbehaviour is adding a route::

    @server.route("/half-a-status-line")
    def half(exchange: Exchange) -> None:
        exchange.send(b"HTTP/1.1 2")

or ``server.routes["/x"] = redirect_to("http://...")`` with the helpers below
(``respond``, ``redirect_to``, ``redirect_from_query``, ``drip_headers``,
``drip_body``, ``html_listing``). Every request
is recorded in ``requests`` (paths with their query), so a test can prove a
server was never asked anything.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs

Route = Callable[["Exchange"], None]

_HEAD_LIMIT = 64 * 1024


@dataclass
class Exchange:
    """One request, as the route sees it: its target and the socket to answer on."""

    method: str
    target: str
    headers: dict[str, str]
    connection: socket.socket
    stopped: threading.Event

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def send(self, data: bytes) -> bool:
        """Send ``data``; False once the client has gone (nothing is raised)."""
        try:
            self.connection.sendall(data)
        except OSError:
            return False
        return True

    def drip(self, data: bytes, every: float) -> None:
        """Send ``data`` one byte at a time, ``every`` seconds apart, until done,
        the client goes or the server stops."""
        for byte in data:
            if self.stopped.wait(every) or not self.send(bytes([byte])):
                return


@dataclass
class HostileServer:
    """A threaded raw-socket HTTP server on ``host`` (127.0.0.1 or ::1), port chosen free."""

    host: str = "127.0.0.1"
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    stopped: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((self.host, 0))
        self._listener.listen(16)
        self.port: int = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()
        self._guard = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept, name="hostile-accept",
                                          daemon=True)

    def start(self) -> HostileServer:
        self._acceptor.start()
        return self

    def url(self, target: str = "/") -> str:
        """``http://<host>:<port><target>``, an IPv6 host in brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{target}"

    def route(self, path: str) -> Callable[[Route], Route]:
        """Decorator: serve ``path`` with the decorated function."""

        def register(handler: Route) -> Route:
            self.routes[path] = handler
            return handler

        return register

    def stop(self) -> None:
        """End slow routes, close every connection and the listener, wait for threads."""
        self.stopped.set()
        with contextlib.suppress(OSError):
            # Wakes accept() up: a listener closed under it may not.
            socket.create_connection((self.host, self.port), timeout=1).close()
        self._acceptor.join(5)
        self._listener.close()
        with self._guard:
            for connection in self._open:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            threads = list(self._threads)
        for thread in threads:
            thread.join(5)

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            if self.stopped.is_set():
                connection.close()
                return
            thread = threading.Thread(target=self._serve, args=(connection,),
                                      name="hostile-conn", daemon=True)
            with self._guard:
                self._open.add(connection)
                self._threads.append(thread)
            thread.start()

    def _serve(self, connection: socket.socket) -> None:
        try:
            connection.settimeout(10)
            exchange = self._read_head(connection)
            if exchange is None:
                return
            with self._guard:
                self.requests.append(exchange.target)
            handler = self.routes.get(exchange.path, not_found)
            handler(exchange)
        except OSError:
            pass
        finally:
            with self._guard:
                self._open.discard(connection)
            connection.close()

    def _read_head(self, connection: socket.socket) -> Exchange | None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = connection.recv(4096)
            if not chunk or len(head) > _HEAD_LIMIT:
                return None
            head += chunk
        lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, target, *_ = [*lines[0].split(" "), "", ""]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return Exchange(method, target, headers, connection, self.stopped)


# --- routes ----------------------------------------------------------------------------


def respond(body: bytes, *, status: str = "200 OK", content_type: str = "text/html",
            headers: dict[str, str] | None = None) -> Route:
    """A route answering with ``body``, then closing the connection."""

    def handler(exchange: Exchange) -> None:
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        exchange.send(
            f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n".encode("latin-1")
            + body
        )

    return handler


def not_found(exchange: Exchange) -> None:
    respond(b"no such page", status="404 Not Found", content_type="text/plain")(exchange)


def redirect_to(location: str, *, status: str = "302 Found") -> Route:
    """A route redirecting to ``location``, written as is in the Location header."""
    return respond(b"", status=status, headers={"Location": location})


def redirect_from_query(exchange: Exchange) -> None:
    """``/redirect?to=<url>``: a redirect to wherever the query says (percent-decoded)."""
    query = parse_qs(exchange.target.partition("?")[2])
    redirect_to(query.get("to", ["/"])[0])(exchange)


def drip_headers(every: float = 1.0) -> Route:
    """``HTTP/1.1 200 OK`` at once, then a header one byte every ``every`` seconds,
    for as long as anyone listens."""

    def handler(exchange: Exchange) -> None:
        if exchange.send(b"HTTP/1.1 200 OK\r\n"):
            exchange.drip(b"X-Drip: " + b"." * 100_000, every)

    return handler


def drip_body(every: float = 1.0) -> Route:
    """Complete headers at once, then a long body one byte every ``every`` seconds."""

    def handler(exchange: Exchange) -> None:
        body = b"<p>" + b"." * 100_000
        if exchange.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                         + f"Content-Length: {len(body)}\r\n\r\n".encode()):
            exchange.drip(body, every)

    return handler


def html_listing(title: str, *, next_href: str | None = None, base_href: str | None = None,
                 date: str = "2021-11-15") -> bytes:
    """A one-item HTML listing page that feedsvc's default selectors read."""
    base = f'<base href="{base_href}">' if base_href else ""
    nav = f'<nav><a rel="next" href="{next_href}">Next</a></nav>' if next_href else ""
    slug = "-".join(title.lower().split())
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">{base}'
        f"<title>Listing</title></head><body><main>"
        f'<article class="news"><h2><a href="/items/{slug}">{title}</a></h2>'
        f'<time datetime="{date}">{date}</time><p>{title}, in short.</p></article>'
        f"{nav}</main></body></html>"
    ).encode()
