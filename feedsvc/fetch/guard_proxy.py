"""A forwarding proxy that holds a headless browser to feedsvc's address rules.

A page loaded in Chromium makes requests of its own (scripts, images, XHR,
redirects), to host names the browser would resolve itself. Started with
``--proxy-server`` pointing here (and ``--proxy-bypass-list=<-loopback>``,
so that loopback goes through it too), every one of them comes here
first, and ``GuardProxy`` applies the rules ``feedsvc.fetch.http`` applies: a host
name is resolved once, every address is checked, and the connection is
made to a checked address; loopback, private, link-local and other internal
addresses are refused (``403``) unless the request goes to the trusted
origin (the source's own host and port) or ``fetch.allow_private_addresses``
is set. It forwards ``CONNECT`` tunnels (https) and plain http requests,
one connection each (``Connection: close``), and gives up on a connection
silent for ``idle_timeout`` seconds. It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import ipaddress
import select
import socket
import socketserver
import threading
from collections.abc import Callable, Sequence
from types import TracebackType
from urllib.parse import urlsplit

from feedsvc.addresses import IPAddress, literal_address, refusal

__all__ = ["GuardProxy"]

_HEAD_LIMIT = 64 * 1024
_CHUNK = 64 * 1024

Resolver = Callable[[str, int], Sequence[str]]


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardProxy:
    """The proxy, started by ``with GuardProxy(...) as proxy`` (``proxy.url`` to give
    the browser); ``refused`` lists the ``host:port`` it turned away."""

    def __init__(
        self, *, trusted: tuple[str, int] | None, allow_private: bool,
        connect_timeout: float, idle_timeout: float, resolve: Resolver = _resolve,
    ) -> None:
        self.trusted = trusted
        self.allow_private = allow_private
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.resolve = resolve
        self.refused: list[str] = []
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="feedsvc-guard-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> GuardProxy:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def open(self, host: str, port: int) -> socket.socket | None:
        """A connection to ``host``:``port`` at an address the rules allow, or None
        (refused, or nothing answered)."""
        host = host.strip("[]").lower()
        trusted = self.allow_private or self.trusted == (host, port)
        literal = literal_address(host)
        try:
            addresses = [str(literal)] if literal is not None else list(self.resolve(host, port))
        except (OSError, UnicodeError):
            return None
        if not trusted and any(_internal(address) for address in addresses):
            self.refused.append(f"{host}:{port}")
            return None
        for address in addresses:
            with contextlib.suppress(OSError):
                return socket.create_connection((address, port), timeout=self.connect_timeout)
        return None


def _internal(address: str) -> bool:
    parsed: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    return refusal(parsed) is not None


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, proxy: GuardProxy) -> None:
        self.proxy = proxy
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(socketserver.BaseRequestHandler):
    server: _Server
    request: socket.socket

    def handle(self) -> None:
        proxy = self.server.proxy
        client = self.request
        client.settimeout(proxy.idle_timeout)
        read = _read_head(client)
        if read is None:
            return
        head, early = read
        request_line, _, rest = head.partition(b"\r\n")
        try:
            method, target, version = request_line.decode("latin-1").split(" ", 2)
        except ValueError:
            return
        if method.upper() == "CONNECT":
            host, _, port_text = target.rpartition(":")
            upstream = proxy.open(host, int(port_text)) if port_text.isdigit() else None
            if upstream is None:
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            if early:  # a client that did not wait for the answer
                upstream.sendall(early)
            _relay(client, upstream, proxy.idle_timeout)
            return
        parts = urlsplit(target)
        if parts.scheme != "http" or not parts.hostname:
            client.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        upstream = proxy.open(parts.hostname, parts.port or 80)
        if upstream is None:
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        headers = [line for line in rest.split(b"\r\n") if line and not line.lower().startswith(
            (b"proxy-", b"connection:", b"keep-alive:"))]
        upstream.sendall(b"\r\n".join([f"{method} {path} {version}".encode("latin-1"),
                                       *headers, b"Connection: close", b"", b""]) + early)
        _relay(client, upstream, proxy.idle_timeout)


def _read_head(client: socket.socket) -> tuple[bytes, bytes] | None:
    """The request's head (request line and headers, without the blank line) and what
    came after it in the same reads (the start of a body); None when the client
    sent no head within the idle timeout, or more than _HEAD_LIMIT."""
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = client.recv(_CHUNK)
        except OSError:
            return None
        if not chunk or len(data) > _HEAD_LIMIT:
            return None
        data += chunk
    head, _, early = data.partition(b"\r\n\r\n")
    return head, early


def _relay(client: socket.socket, upstream: socket.socket, idle_timeout: float) -> None:
    """Copy bytes both ways until either side closes or both are silent for idle_timeout."""
    sockets = [client, upstream]
    try:
        while True:
            readable, _, _ = select.select(sockets, [], [], idle_timeout)
            if not readable:
                return
            for sock in readable:
                data = sock.recv(_CHUNK)
                if not data:
                    return
                (upstream if sock is client else client).sendall(data)
    except OSError:
        return
    finally:
        upstream.close()
