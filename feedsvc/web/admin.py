"""Operations endpoints: ``POST /admin/refresh`` and ``GET /metrics``, and the
admin token's guard, which /status uses too.

``admin_blueprint(settings)`` returns one blueprint holding both, plus an
app-wide hook that counts every response for the request metrics. The app
factory registers it with ``app.register_blueprint(admin_blueprint(settings))``.

``POST /admin/refresh`` records a refresh request in the store and answers at
once; the active ``feedsvc scheduler`` (on any machine) runs it, and
``/status`` shows it queued, running, then done or failed. No web worker
ever refreshes. It exists only when a token is configured
(``server.admin_token`` or ``FEEDSVC_ADMIN_TOKEN``, at least 32 characters):
without one it answers 404 like any unknown address. A request must carry
``Authorization: Bearer <token>`` (compared in constant time), else 401. 202
means a request was queued (its id in the body); 409 means one is already
queued or running, or a refresh holds the store's refresh lock.

``AdminGuard`` checks the token for both endpoints. A client address that
sent ``MAX_FAILURES`` wrong tokens within ``FAILURE_WINDOW_SECONDS`` gets 429
with ``Retry-After`` for any further token, right or wrong, until the oldest
of those failures is a window old. The count lives in each worker's memory:
with N gunicorn workers an address gets at most N times the limit. The token
itself is never logged.
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from flask import Blueprint, Request, Response, json, request

from feedsvc.errors import FeedsvcError
from feedsvc.logevents import Event, log_event
from feedsvc.metrics import CONTENT_TYPE, Metrics, StatsProvider, StoreHealth
from feedsvc.settings import Settings
from feedsvc.web.http_cache import NO_STORE

if TYPE_CHECKING:
    from feedsvc.store import Store

log = logging.getLogger("feedsvc.web.admin")

STATUS_PATH = "/status"

MAX_FAILURES = 10
FAILURE_WINDOW_SECONDS = 60.0
MAX_TRACKED_ADDRESSES = 10_000
"""Addresses remembered at once; beyond it the least recently failing are forgotten."""


class FailedAttempts:
    """Wrong tokens per client address within a sliding window, in this process's memory.

    ``retry_after(address)`` is None while the address may try, else the whole
    seconds until it may try again. Thread-safe; ``clock`` is for the tests.
    """

    def __init__(self, *, limit: int = MAX_FAILURES, window: float = FAILURE_WINDOW_SECONDS,
                 clock: Callable[[], float] = time.monotonic,
                 max_addresses: int = MAX_TRACKED_ADDRESSES) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._max_addresses = max_addresses
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int | None:
        with self._lock:
            times = self._recent(address)
            if len(times) < self._limit:
                return None
            return max(1, math.ceil(times[0] + self._window - self._clock()))

    def record(self, address: str) -> None:
        with self._lock:
            times = self._recent(address)
            times.append(self._clock())
            # Re-inserted last: the dict's order is least recently failing first.
            self._failures.pop(address, None)
            self._failures[address] = times
            while len(self._failures) > self._max_addresses:
                del self._failures[next(iter(self._failures))]

    def clear(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)

    def _recent(self, address: str) -> deque[float]:
        """The address's failures still inside the window (older ones dropped)."""
        times = self._failures.get(address, deque())
        horizon = self._clock() - self._window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            self._failures.pop(address, None)
        # Only the last ``limit`` failures matter for the verdict.
        while len(times) > self._limit:
            times.popleft()
        return times


@dataclass(frozen=True)
class Access:
    """What a request's credentials earn: ``admin`` or not, or a ``refusal`` to send."""

    admin: bool
    refusal: Response | None = None


class AdminGuard:
    """Checks ``Authorization: Bearer <token>`` against the admin token.

    ``check(request)``: no token configured or no Authorization header →
    not admin, no refusal (the caller decides: 404, 401 or the public view);
    the right token → admin; a wrong one → 401, counted against the client
    address; an address over the limit → 429 with Retry-After, whatever it sent.
    """

    def __init__(self, token: str | None, attempts: FailedAttempts | None = None) -> None:
        self._token = token
        self._attempts = attempts or FailedAttempts()

    @property
    def enabled(self) -> bool:
        return bool(self._token)

    def check(self, req: Request) -> Access:
        header = req.headers.get("Authorization")
        if not self._token or header is None:
            return Access(admin=False)
        address = client_address(req)
        wait = self._attempts.retry_after(address)
        if wait is not None:
            log_event(log, Event.ADMIN_TOKEN_REFUSED,
                      "admin token refused remote=%s path=%s reason=too-many-failures",
                      address, req.path, reason="too-many-failures", remote=address)
            response = json_response({"error": "too many wrong tokens; try again later"}, 429)
            response.headers["Retry-After"] = str(wait)
            return Access(admin=False, refusal=response)
        if _bearer_matches(header, self._token):
            self._attempts.clear(address)
            return Access(admin=True)
        self._attempts.record(address)
        log_event(log, Event.ADMIN_TOKEN_REFUSED,
                  "admin token refused remote=%s path=%s reason=wrong-token",
                  address, req.path, reason="wrong-token", remote=address)
        return Access(admin=False, refusal=unauthorized())


def client_address(req: Request) -> str:
    """The address failures are counted against.

    The connecting address; when that is a loopback proxy (the nginx front),
    the address that proxy appended last to X-Forwarded-For, which a client
    cannot forge (anything the client sent comes before it).
    """
    remote = req.remote_addr or "unknown"
    forwarded = req.headers.get("X-Forwarded-For", "")
    if forwarded and _is_loopback(remote):
        last = forwarded.split(",")[-1].strip()
        if last:
            return last
    return remote


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def unauthorized() -> Response:
    """401 asking for the bearer token."""
    response = json_response({"error": "a valid bearer token is required"}, 401)
    response.headers["WWW-Authenticate"] = 'Bearer realm="feedsvc admin"'
    return response


class RefreshTrigger(Protocol):
    """Queues refreshes for the admin endpoint."""

    def request(self, requested_by: str) -> int | None:
        """Queue a refresh for the active scheduler: its request id, or None when a
        refresh is already queued or running."""
        ...


class QueuedRefresh:
    """The default trigger: a refresh request recorded in the store (see
    ``feedsvc.store.requests``) for the active scheduler to run.

    None (so 409) when a request is queued or running already, or when a
    refresh holds the store's refresh lock (a scheduled one, or ``feedsvc
    refresh``). The store is opened on first use, creating it if need be, and
    kept. Raises StoreError when the store cannot be written.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._store: Store | None = None
        self._lock = threading.Lock()

    def request(self, requested_by: str) -> int | None:
        store = self._open()
        if store.lock_holder() is not None:
            return None
        return store.request_refresh(requested_by, dt.datetime.now(dt.UTC))

    def _open(self) -> Store:
        from feedsvc.store import Store

        with self._lock:
            if self._store is None:
                self._store = Store.open(self._settings.storage.database)
            return self._store


def admin_blueprint(
    settings: Settings,
    *,
    trigger: RefreshTrigger | None = None,
    stats: StatsProvider | None = None,
    guard: AdminGuard | None = None,
) -> Blueprint:
    """The operations blueprint for one app: /admin/refresh, /metrics, request counting.

    ``trigger`` defaults to ``QueuedRefresh(settings)``; ``stats`` (refresh
    metrics) to ``StoreHealth(settings).stats``; ``guard`` to an ``AdminGuard`` of the
    configured token (pass the app's own to share its failure counts with
    /status). Each call makes a new metrics registry.
    """
    blueprint = Blueprint("admin", __name__)
    admin = guard or AdminGuard(settings.server.admin_token)
    refresher = trigger or QueuedRefresh(settings)
    metrics = Metrics.create(stats or StoreHealth(settings).stats)

    @blueprint.post("/admin/refresh")
    def refresh() -> Response:
        if not admin.enabled:
            return json_response({"error": "not found"}, 404)
        access = admin.check(request)
        if access.refusal is not None:
            return access.refusal
        if not access.admin:
            return unauthorized()
        remote = client_address(request)
        try:
            request_id = refresher.request(remote)
        except FeedsvcError as exc:
            log.error("admin refresh could not be queued: %s", exc)
            return json_response({"error": "the store is unavailable"}, 503)
        if request_id is None:
            return json_response({"error": "a refresh is already queued or running",
                                  "status": STATUS_PATH}, 409)
        log.info("admin refresh queued id=%d remote=%s", request_id, remote)
        response = json_response({"id": request_id, "status": STATUS_PATH}, 202)
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


def _bearer_matches(header: str, token: str) -> bool:
    """Whether ``header`` is ``Bearer <token>``; the token is compared in constant time."""
    scheme, _, credentials = header.partition(" ")
    # Compared even when the scheme is wrong, so that the answer takes as long.
    matches = hmac.compare_digest(credentials.strip().encode("utf-8", "replace"),
                                  token.encode("utf-8"))
    return scheme.lower() == "bearer" and matches


def json_response(body: dict[str, Any], status: int) -> Response:
    """A JSON response that is never cached (/admin/refresh, /status)."""
    return Response(json.dumps(body) + "\n", status=status,
                    content_type="application/json; charset=utf-8",
                    headers={"Cache-Control": NO_STORE})
