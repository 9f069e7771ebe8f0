"""``feedsvc serve``: one process that serves the app and, optionally, refreshes on schedule.

For a small site this is the whole deployment. Larger ones run gunicorn on
``wsgi:app`` and ``feedsvc scheduler`` as separate services instead.
"""

from __future__ import annotations

import importlib
import logging
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, Protocol

from werkzeug.serving import BaseWSGIServer, make_server

from feedsvc.errors import FeedsvcError
from feedsvc.settings import Settings
from feedsvc.web.app import create_app

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Scheduler(Protocol):
    def shutdown(self) -> Any: ...


def serve(settings: Settings, *, host: str, port: int, with_scheduler: bool) -> None:
    """Serve until SIGTERM or SIGINT, then stop the scheduler and close the socket.

    ``port`` 0 picks a free port; the address actually served is logged. When
    ``with_scheduler``, the background scheduler (which refreshes once at
    start-up) runs in this process too. Returns after a clean shutdown; raises
    FeedsvcError when the address cannot be listened on.
    """
    app = create_app(settings)
    with _listen(host, port) as listening:
        server = make_server(host, port, app, threaded=True, fd=listening.fileno())
    scheduler: Scheduler | None = None
    try:
        if with_scheduler:
            scheduler = _start_scheduler(settings)
        with _stop_on_signals(server):
            log.info("feedsvc serving on %s", served_url(server))
            server.serve_forever()
    finally:
        log.info("feedsvc shutting down")
        if scheduler is not None:
            scheduler.shutdown()
        server.server_close()


def served_url(server: BaseWSGIServer) -> str:
    """The http URL a started server answers on (IPv6 hosts in brackets)."""
    host = str(server.server_address[0])
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{server.server_address[1]}/"


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket; the server works on a duplicate, so the caller closes this one.

    Bound here rather than by werkzeug, which exits the process when the
    address is taken instead of raising.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise FeedsvcError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def _start_scheduler(settings: Settings) -> Scheduler:
    # Imported here: only `serve` with a scheduler needs APScheduler and the pipeline.
    scheduler_module = importlib.import_module("feedsvc.scheduler")
    scheduler: Scheduler = scheduler_module.start_background_scheduler(settings)
    return scheduler


@contextmanager
def _stop_on_signals(server: BaseWSGIServer) -> Iterator[None]:
    """Make SIGTERM/SIGINT stop ``serve_forever``; restores the old handlers on exit.

    ``shutdown`` waits for the serving loop, which runs in this very thread,
    so the handler hands it to another thread. Signal handlers can only be
    installed from the main thread; elsewhere (tests) the caller stops the
    server itself.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        threading.Thread(target=server.shutdown, name="feedsvc-shutdown", daemon=True).start()

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
