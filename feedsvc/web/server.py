"""``feedsvc serve``: one process that serves the app and, optionally, refreshes on schedule.

For a small site this is the whole deployment. Larger ones run gunicorn on
``wsgi:app`` and ``feedsvc scheduler`` as separate services instead.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, Protocol
from urllib.parse import urlsplit

from werkzeug.serving import BaseWSGIServer, make_server

from feedsvc.errors import FeedsvcError
from feedsvc.logevents import Event, log_event
from feedsvc.settings import Settings
from feedsvc.web.app import create_app

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
MAX_PORT = 65535


class Scheduler(Protocol):
    """What ``serve`` needs of the background scheduler (``feedsvc.scheduler``'s handle)."""

    def shutdown(self) -> Any:
        """Stop scheduling; wait for a running refresh to finish."""

    def on_second_signal(self, signum: int) -> None:
        """A stop signal arrived during the shutdown: abandon a running refresh
        (ending the process), or return when none is running."""


def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    start_scheduler: Callable[[Settings], Scheduler] | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, then stop the scheduler and close the socket.

    ``port`` 0 picks a free port; the address actually served is logged, with
    a warning when feed links (``site.base_url``, on this machine) name
    another port. With ``start_scheduler`` (``feedsvc.scheduler``'s
    ``start_background_scheduler``, passed in by the caller so that the web
    layer never imports the scheduler and the pipeline), the background
    scheduler (which also refreshes at start-up if ``schedule.run_at_startup``)
    runs in this process too; stopping waits for a running refresh, and a second signal
    meanwhile abandons it (exit 0).
    Returns after a clean shutdown; raises FeedsvcError when the address
    cannot be listened on.
    """
    app = create_app(settings)
    with _listen(host, port) as listening:
        server = make_server(host, port, app, threaded=True, fd=listening.fileno())
    stopper = _Stopper(server)
    try:
        # The handlers stay installed until the scheduler has stopped, so that
        # a second signal while a refresh finishes is handled, not fatal.
        with stopper.on_signals():
            try:
                if start_scheduler is not None:
                    stopper.scheduler = start_scheduler(settings)
                announce(server, settings.site.base_url)
                server.serve_forever()
            finally:
                log_event(log, Event.SERVER_STOPPING, "feedsvc shutting down")
                if stopper.scheduler is not None:
                    stopper.scheduler.shutdown()
    finally:
        server.server_close()


def announce(server: BaseWSGIServer, base_url: str) -> None:
    """Log where ``server`` serves, and warn when feed links point at another port."""
    url = served_url(server)
    log_event(log, Event.SERVER_STARTED, "feedsvc serving on %s", url, url=url)
    warning = links_elsewhere(base_url, int(server.server_address[1]))
    if warning:
        log_event(log, Event.SERVER_PORT_MISMATCH, "%s", warning)


LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def links_elsewhere(base_url: str, port: int) -> str | None:
    """A warning when ``base_url`` points at this machine but at another port than ``port``.

    Feeds link to ``site.base_url``; for a quick local run on another port
    (``--port``) those links would lead to whatever listens on the configured
    one. A public ``base_url`` is left alone: a proxy in front may well use
    another port than this server.
    """
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if not (host in LOOPBACK_NAMES or host.endswith(".localhost") or _is_loopback_ip(host)):
        return None
    try:
        linked = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a port out of range: settings validation owns that
        return None
    if linked == port:
        return None
    return (f"feed links use {base_url} but this server listens on port {port}; "
            "set site.base_url")


def _is_loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def served_url(server: BaseWSGIServer) -> str:
    """The http URL a started server answers on (IPv6 hosts in brackets)."""
    host = str(server.server_address[0])
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{server.server_address[1]}/"


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket; the server works on a duplicate, so the caller closes this one.

    Bound here rather than by werkzeug, which exits the process when the
    address is taken instead of raising. Raises FeedsvcError, also for a
    port outside 0-65535.
    """
    # Checked here, not left to an OverflowError from the socket module: that
    # one is no OSError, so create_server would leak its socket on the way.
    if not 0 <= port <= MAX_PORT:
        raise FeedsvcError(f"cannot listen on {host}:{port}: ports are 0 to {MAX_PORT}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise FeedsvcError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


class _Stopper:
    """Turns SIGTERM/SIGINT into a clean stop of the server, then of the scheduler.

    The first signal stops ``serve_forever``. ``shutdown`` waits for the
    serving loop, which runs in the main thread, so the handler hands it to
    another thread. A later signal, once ``serve`` is stopping, goes to the
    scheduler (see ``Scheduler.on_second_signal``) or is only logged.
    """

    def __init__(self, server: BaseWSGIServer) -> None:
        self.server = server
        self.scheduler: Scheduler | None = None
        self.stopping = False

    def handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if not self.stopping:
            self.stopping = True
            log_event(log, Event.SIGNAL_RECEIVED, "received %s", name, signal=name)
            threading.Thread(target=self.server.shutdown, name="feedsvc-shutdown",
                             daemon=True).start()
        elif self.scheduler is not None:
            self.scheduler.on_second_signal(signum)
        else:
            log_event(log, Event.SIGNAL_REPEATED, "received %s again: already shutting down",
                      name, signal=name)

    @contextmanager
    def on_signals(self) -> Iterator[None]:
        """Install ``handle`` for SIGTERM/SIGINT; restores the old handlers on exit.

        Signal handlers can only be installed from the main thread; elsewhere
        (tests) the caller stops the server itself.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
