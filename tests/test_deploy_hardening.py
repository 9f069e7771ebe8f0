"""The deployment on a bad day, run for real: slow clients, a weak or probed admin token.

Slow clients ("slowloris"):
gunicorn's sync workers serve one connection each: a few sockets that send
their headers a line at a time hold them all. The README therefore requires
the nginx front of deploy/nginx/feedsvc.conf, which reads whole requests
before gunicorn sees them and closes a client that takes longer than
``client_header_timeout``. These tests start gunicorn (three workers, as the
other deployment tests do) and nginx on loopback ports and show both halves:
through the front /healthz keeps answering while slow sockets drip, and
nginx drops those sockets after its timeout; straight at gunicorn the same
sockets starve it, which is why the front is required.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from log_events import logged
from plain_http import free_port, get, request
from test_deploy import (
    BIN,
    DEPLOY,
    NGINX,
    ROOT,
    TOKEN,
    WAIT,
    Site,
    _answers,
    make_site,
    nginx_config,
    require,
)
from waiting import wait_for

from feedsvc.logevents import Event

pytestmark = pytest.mark.slow

SLOW_SOCKETS = 12  # four times the three gunicorn workers
DRIP_SECONDS = 1.0
# A request that answers at all answers within milliseconds; this only
# separates "answers" from "hangs" on a busy machine.
PROMPT = 5.0


class Slowloris:
    """Sockets that send a request line and then one header line per DRIP_SECONDS, forever.

    ``closed_by_server()`` counts the sockets the server has closed (or
    answered, e.g. 408) since they were opened.
    """

    def __init__(self, port: int, count: int) -> None:
        self.sockets: list[socket.socket] = []
        self.closed: set[int] = set()
        self._stop = threading.Event()
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=PROMPT)
            sock.sendall(b"GET /feeds/all.atom HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            self.sockets.append(sock)
        self._thread = threading.Thread(target=self._drip, daemon=True)
        self._thread.start()

    def _drip(self) -> None:
        n = 0
        while not self._stop.wait(DRIP_SECONDS):
            n += 1
            for index, sock in enumerate(self.sockets):
                if index in self.closed:
                    continue
                try:
                    sock.sendall(f"X-Slow-{n}: {'s' * 8}\r\n".encode())
                except OSError:
                    self.closed.add(index)

    def closed_by_server(self) -> int:
        for index, sock in enumerate(self.sockets):
            if index in self.closed:
                continue
            sock.setblocking(False)
            try:
                data = sock.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            finally:
                sock.setblocking(True)
            # End of file, a reset or any answer (408) before the headers ended.
            self.closed.add(index)
            del data
        return len(self.closed)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(WAIT)
        for sock in self.sockets:
            sock.close()


def healthz_is_prompt(port: int) -> bool:
    try:
        return request_with_timeout(port, "/healthz") == 200
    except OSError:
        return False


def request_with_timeout(port: int, path: str) -> int:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=PROMPT)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    made = make_site(tmp_path / "site")
    yield made
    made.stop_all()


def start_front(site: Site, tmp_path: Path, upstream: int) -> int:
    require(NGINX, "nginx")
    front = free_port()
    nginx_dir = tmp_path / "nginx"
    nginx_dir.mkdir()
    config = nginx_config(nginx_dir, front, upstream)
    nginx = site.start("nginx", [str(NGINX), "-e", str(nginx_dir / "error.log"),
                                 "-p", str(nginx_dir), "-c", str(config)])
    wait_for(lambda: nginx.poll() is not None or _answers(front), what="nginx")
    assert nginx.poll() is None, site.log("nginx")
    return front


def configured_seconds(directive: str) -> int:
    conf = (DEPLOY / "nginx" / "feedsvc.conf").read_text()
    found = re.search(rf"^\s*{directive} (\d+)s;", conf, re.MULTILINE)
    assert found is not None, f"deploy/nginx/feedsvc.conf sets no {directive}"
    return int(found.group(1))


def test_the_front_sets_the_slow_client_timeouts() -> None:
    assert configured_seconds("client_header_timeout") <= 15
    assert configured_seconds("client_body_timeout") <= 15
    assert configured_seconds("send_timeout") <= 15
    assert configured_seconds("keepalive_timeout") <= 30
    conf = (DEPLOY / "nginx" / "feedsvc.conf").read_text()
    assert re.search(r"^\s*proxy_buffering on;", conf, re.MULTILINE)
    assert re.search(r"^\s*proxy_request_buffering on;", conf, re.MULTILINE)


def test_healthz_answers_through_the_front_while_slow_clients_drip(
    site: Site, tmp_path: Path
) -> None:
    assert site.refresh().returncode == 0
    upstream = free_port()
    gunicorn = site.gunicorn(upstream)
    front = start_front(site, tmp_path, upstream)

    slow = Slowloris(front, SLOW_SOCKETS)
    try:
        # Long enough for the drips to have held gunicorn's workers many
        # times over, were they reaching it.
        started = time.monotonic()
        while time.monotonic() - started < 4 * DRIP_SECONDS:
            assert healthz_is_prompt(front), "/healthz stalled behind slow clients"
            assert request_with_timeout(front, "/feeds/all.atom") == 200
            time.sleep(0.25)
        assert slow.closed_by_server() == 0, "the slow sockets should still be open"

        # nginx gives up on them after client_header_timeout (a generous bound:
        # the point is "well before gunicorn's 30 s worker timeout or nginx's
        # 60 s default").
        timeout = configured_seconds("client_header_timeout")
        wait_for(lambda: slow.closed_by_server() == SLOW_SOCKETS, timeout=timeout + 10,
                 what="nginx to close the slow sockets")
    finally:
        slow.stop()
    assert healthz_is_prompt(front)
    # None of them ever reached gunicorn.
    assert "X-Slow" not in site.log("gunicorn")
    assert gunicorn.poll() is None


def test_straight_at_gunicorn_the_same_slow_clients_starve_it(site: Site) -> None:
    """Why the README requires the front: without it the workers are held."""
    assert site.refresh().returncode == 0
    port = free_port()
    gunicorn = site.gunicorn(port)
    assert healthz_is_prompt(port)
    slow = Slowloris(port, SLOW_SOCKETS)
    try:
        time.sleep(2 * DRIP_SECONDS)
        assert not healthz_is_prompt(port)
    finally:
        slow.stop()
        gunicorn.send_signal(signal.SIGKILL)


def test_no_token_in_the_deployment_logs(site: Site, tmp_path: Path) -> None:
    """The admin token, right or wrong, reaches neither gunicorn's nor nginx's logs."""
    assert site.refresh().returncode == 0
    upstream = free_port()
    site.gunicorn(upstream)
    front = start_front(site, tmp_path, upstream)
    near_miss = TOKEN[:-1] + "x"
    for token in (TOKEN, near_miss):
        for path in ("/status",):
            get(front, path, {"Authorization": f"Bearer {token}"})
        request(front, "POST", "/admin/refresh", {"Authorization": f"Bearer {token}"})
    assert get(front, "/status", {"Authorization": f"Bearer {TOKEN}"}).status == 200
    logs = site.log("gunicorn") + (tmp_path / "nginx" / "access.log").read_text()
    assert logged(site.log("gunicorn"), Event.ADMIN_TOKEN_REFUSED)  # said, by event
    assert TOKEN not in logs and near_miss not in logs


def test_gunicorn_refuses_a_weak_token_in_one_line(site: Site) -> None:
    weak = "short-admin-token"
    config = site.config.read_text().replace(f'admin_token = "{TOKEN}"',
                                             f'admin_token = "{weak}"')
    site.config.write_text(config)
    result = subprocess.run(
        [str(BIN / "gunicorn"), "--config", str(DEPLOY / "gunicorn.conf.py"),
         "-w", "2", "-b", f"127.0.0.1:{free_port()}", "wsgi:app"],
        cwd=ROOT, env=site.env(), capture_output=True, text=True, timeout=WAIT,
        check=False)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, result.stderr
    assert "server.admin_token" in errors[0] and "32 characters" in errors[0]
    assert weak not in result.stderr
    assert "Traceback" not in result.stderr
