"""Operations endpoints: ``POST /admin/refresh`` and ``GET /metrics``.

``admin_blueprint(settings)`` returns one blueprint holding both, plus an
app-wide hook that counts every response for the request metrics. The app
factory registers it with ``app.register_blueprint(admin_blueprint(settings))``.

``POST /admin/refresh`` starts a refresh in the background and answers at
once. It exists only when a token is configured (``server.admin_token`` or
``FEEDSVC_ADMIN_TOKEN``): without one it answers 404 like any unknown
address. A request must carry ``Authorization: Bearer <token>`` (compared in
constant time), else 401. 202 means a refresh was started (see ``/status``);
409 means one is already running, in this process or any other (the store's
refresh lock says so).
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from flask import Blueprint, Response, json, request

from feedsvc.errors import FeedsvcError, RefreshInProgressError
from feedsvc.metrics import CONTENT_TYPE, Metrics, StatsProvider, StoreStats
from feedsvc.settings import Settings
from feedsvc.web.http_cache import NO_STORE

log = logging.getLogger("feedsvc.web.admin")

STATUS_PATH = "/status"
ADMIN_OWNER = "admin trigger"


class RefreshTrigger(Protocol):
    """Starts refreshes for the admin endpoint."""

    def start(self) -> bool:
        """Start one refresh in the background; False when one is already running."""
        ...


class BackgroundRefresh:
    """The default trigger: ``pipeline.refresh(settings)`` on a thread of its own.

    Before starting, it takes and releases the store's refresh lock without
    waiting, so a refresh running in any process is reported as "already
    running". A refresh that takes the lock in the instant between that probe
    and the thread's own attempt makes the thread's refresh stand down (logged
    at INFO): the request has been answered 202 and the other refresh serves it.
    """

    def __init__(self, settings: Settings, *, refresh: Callable[[], Any] | None = None) -> None:
        self._settings = settings
        self._refresh = refresh or self._pipeline_refresh
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> bool:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return False
            if self._lock_is_held():
                return False
            self._thread = threading.Thread(target=self._run, name="admin-refresh", daemon=True)
            self._thread.start()
            return True

    def join(self, timeout: float | None = None) -> None:
        """Wait for the refresh started last (tests, shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _lock_is_held(self) -> bool:
        from feedsvc.store import Store

        with Store.open(self._settings.storage.database) as store:
            try:
                with store.refresh_lock(f"{ADMIN_OWNER} (probe)", wait=0):
                    return False
            except RefreshInProgressError:
                return True

    def _pipeline_refresh(self) -> Any:
        from feedsvc.pipeline import refresh

        return refresh(self._settings, owner=ADMIN_OWNER)

    def _run(self) -> None:
        try:
            report = self._refresh()
        except RefreshInProgressError as exc:
            log.info("admin refresh skipped=true reason=%r", str(exc))
        except Exception:
            log.exception("admin refresh ok=false")
        else:
            log.info("admin refresh ok=%s", str(bool(getattr(report, "ok", True))).lower())


def admin_blueprint(
    settings: Settings,
    *,
    trigger: RefreshTrigger | None = None,
    stats: StatsProvider | None = None,
) -> Blueprint:
    """The operations blueprint for one app: /admin/refresh, /metrics, request counting.

    ``trigger`` defaults to ``BackgroundRefresh(settings)``; ``stats`` (refresh
    metrics) to ``StoreStats(settings)``. Each call makes a new metrics registry.
    """
    blueprint = Blueprint("admin", __name__)
    token = settings.server.admin_token
    refresher = trigger or BackgroundRefresh(settings)
    metrics = Metrics.create(stats or StoreStats(settings))

    @blueprint.post("/admin/refresh")
    def refresh() -> Response:
        if not token:
            return json_response({"error": "not found"}, 404)
        if not _bearer_matches(request.headers.get("Authorization"), token):
            response = json_response({"error": "a valid bearer token is required"}, 401)
            response.headers["WWW-Authenticate"] = 'Bearer realm="feedsvc admin"'
            return response
        try:
            started = refresher.start()
        except FeedsvcError as exc:
            log.error("admin refresh could not start: %s", exc)
            return json_response({"error": "the store is unavailable"}, 503)
        if not started:
            return json_response({"error": "a refresh is already running",
                                  "status": STATUS_PATH}, 409)
        log.info("admin refresh started remote=%s", request.remote_addr)
        response = json_response({"status": STATUS_PATH}, 202)
        response.headers["Location"] = STATUS_PATH
        return response

    @blueprint.get("/metrics")
    def metrics_page() -> Response:
        return Response(metrics.render(), status=200, content_type=CONTENT_TYPE,
                        headers={"Cache-Control": NO_STORE})

    @blueprint.after_app_request
    def count_request(response: Response) -> Response:
        metrics.count_request(request.endpoint or "unmatched", response.status_code)
        return response

    return blueprint


def _bearer_matches(header: str | None, token: str) -> bool:
    scheme, _, credentials = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(credentials.strip().encode(), token.encode())


def json_response(body: dict[str, Any], status: int) -> Response:
    """A JSON response that is never cached (/admin/refresh, /status)."""
    return Response(json.dumps(body) + "\n", status=status,
                    content_type="application/json; charset=utf-8",
                    headers={"Cache-Control": NO_STORE})
