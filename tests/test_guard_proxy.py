"""The browser's proxy: the address rules for every request a rendered page makes."""

from __future__ import annotations

import socket

import pytest
from loopback_pages import serve_pages

from feedsvc.fetch.guard_proxy import GuardProxy

pytestmark = pytest.mark.slow


def exchange(proxy_url: str, data: bytes) -> bytes:
    host, port = proxy_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_the_trusted_origin_is_reached_and_other_internal_ones_refused() -> None:
    with serve_pages({"/news/": ("text/html", b"<p>news</p>")}) as server:
        port = server.server_address[1]
        with GuardProxy(trusted=("127.0.0.1", port), allow_private=False, connect_timeout=5,
                        idle_timeout=5) as proxy:
            plain = exchange(proxy.url, f"GET http://127.0.0.1:{port}/news/ HTTP/1.1\r\n"
                                        f"Host: 127.0.0.1:{port}\r\n\r\n".encode())
            assert plain.startswith(b"HTTP/1.0 200") and plain.endswith(b"<p>news</p>")
            tunnel = exchange(proxy.url, f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n"
                                         f"GET /news/ HTTP/1.1\r\nHost: x\r\n"
                                         f"Connection: close\r\n\r\n".encode())
            assert tunnel.startswith(b"HTTP/1.1 200 Connection Established\r\n\r\nHTTP/1.0 200")
            # The same server by name, or on another port, is not the trusted origin.
            for request in (f"GET http://localhost:{port}/news/ HTTP/1.1\r\n\r\n",
                            f"CONNECT localhost:{port} HTTP/1.1\r\n\r\n",
                            "CONNECT 10.0.0.1:443 HTTP/1.1\r\n\r\n"):
                assert exchange(proxy.url, request.encode()).startswith(b"HTTP/1.1 403")
            assert proxy.refused == [f"localhost:{port}", f"localhost:{port}", "10.0.0.1:443"]
        assert server.requests == ["/news/", "/news/"]


def test_allow_private_addresses_lets_them_through() -> None:
    with serve_pages({"/x": ("text/plain", b"ok")}) as server:
        port = server.server_address[1]
        with GuardProxy(trusted=None, allow_private=True, connect_timeout=5,
                        idle_timeout=5) as proxy:
            answer = exchange(proxy.url, f"GET http://localhost:{port}/x HTTP/1.1\r\n\r\n"
                              .encode())
    assert answer.endswith(b"ok")
