"""A plain HTTP client for end-to-end tests of real servers on loopback ports: one
request per connection, every header and byte as the server sent them."""

from __future__ import annotations

import http.client
import socket
from dataclasses import dataclass


def free_port() -> int:
    """A loopback port nothing listens on (at the time of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Answer:
    """A response: its status, its headers (names in lower case) and its body."""

    status: int
    headers: dict[str, str]
    body: bytes


def request(port: int, method: str, path: str, headers: dict[str, str] | None = None,
            *, timeout: float = 20) -> Answer:
    """``method path`` sent to 127.0.0.1:``port`` on a connection of its own."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        body = response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
    finally:
        connection.close()


def get(port: int, path: str, headers: dict[str, str] | None = None) -> Answer:
    return request(port, "GET", path, headers)
