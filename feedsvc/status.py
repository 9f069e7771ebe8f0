"""The health of the service as GET /status shows it: last refresh, each source, the
schedulers and the admin's refresh requests.

``read_status`` only reads the store, so any web process on any machine shows
the same picture without importing the scheduler. The rules for a failing
source (when it is stale, when it is retried) live here too, so that the
pipeline and /status apply the same ones.

/status answers anyone, so what it shows is cut in two: ``public_status`` is
names, health and times only (no locations, error texts, paths or pid), and
``admin_status`` is everything, with the credentials of any URL in it redacted.

The health of each source and hub is one typed model (``SourceHealth``,
``HubHealth``, gathered in ``SiteHealth`` by ``site_health``) that both
/status (as JSON, here) and /metrics (``feedsvc.metrics``) are built from.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from feedsvc.settings import ScheduleSettings, Settings, SourceSettings
from feedsvc.store import HubState, InstanceState, RefreshRequest, RunRecord, SourceState, Store

MAX_BACKOFF_SECONDS = 24 * 3600
MAX_MISFIRE_GRACE = 3600
SHOWN_REQUESTS = 10
"""Refresh requests /status lists, newest first."""
NO_SCHEDULER = ("no scheduler is running: scheduled refreshes and queued requests wait "
                "until `feedsvc scheduler` (or `feedsvc serve`) runs")


def misfire_grace_seconds(schedule: ScheduleSettings) -> int:
    """How late a tick may still run: one interval, capped at an hour.

    A tick delayed by less than that (a busy machine, a suspended laptop) still
    runs once; older ones are dropped, and coalescing folds several into one.
    A next run further in the past than that means its scheduler is gone.
    """
    return max(1, min(schedule.interval, MAX_MISFIRE_GRACE))


def retry_after(state: SourceState, interval: int) -> dt.datetime | None:
    """When a failing remote source is next due: ``last_attempt`` plus
    ``min(interval * 2**(failures - 1), 24h)``, or None when it is not failing.
    """
    if state.consecutive_failures <= 0 or state.last_attempt is None:
        return None
    backoff = min(interval * 2 ** (state.consecutive_failures - 1), MAX_BACKOFF_SECONDS)
    return state.last_attempt + dt.timedelta(seconds=backoff)


def is_stale(state: SourceState | None, *, stale_after: int, now: dt.datetime) -> bool:
    """Whether a source has been failing for longer than ``stale_after`` seconds."""
    if state is None or state.failing_since is None:
        return False
    return now - state.failing_since > dt.timedelta(seconds=stale_after)


def read_status(store: Store, settings: Settings, *, now: dt.datetime) -> dict[str, Any]:
    """A JSON-able picture of the last finished refresh, of every configured source, of
    the schedulers and of the newest refresh requests.

    ``{"last_refresh": {started, finished, duration_seconds, ok, published, error} | None,
    "sources": {name: {location, items, last_success, last_error, last_error_at,
    failing_since, consecutive_failures, failures_total, stale, retry_after, warnings,
    warning_messages}}, "scheduler": see scheduler_json, "refresh_requests": see
    requests_json}``;
    times are ISO 8601 in UTC or None. ``last_refresh.error`` is None when the run was ok, else
    why it was not (see ``run_error``). A source is ``stale`` when it has been
    failing for longer than ``schedule.stale_after``. Sources the configuration
    no longer names are left out. ``warnings`` counts the warnings of the
    source's last parse; ``warning_messages`` are the first of them word for
    word (bounded as a run keeps them, see ``feedsvc.pipeline.REPORTED_WARNINGS``)
    when the last refresh parsed the source, else None.

    With ``websub.hubs`` set, ``"websub"`` holds each configured hub's
    notifications (``{hub: {pending, notified_total, failures_total,
    consecutive_failures, last_success, last_error, last_error_at}}``;
    ``pending`` counts the feeds it is yet to be told of): the admin view
    only, as an error may quote a hub's URL.
    """
    health = site_health(store, settings, now=now)
    scheduler = scheduler_json(store.scheduler_instances(), store.scheduler_lease_holder(),
                               settings.schedule, now=now)
    messages = _warning_messages(health.last_run)
    status = {
        "last_refresh": _run_json(health.last_run),
        "sources": {
            source.name: {**source_json(source), "warning_messages": messages.get(source.name)}
            for source in health.sources
        },
        "scheduler": scheduler,
        "refresh_requests": requests_json(store.refresh_requests(SHOWN_REQUESTS),
                                          scheduler_running=scheduler["running"]),
    }
    if settings.websub.hubs:
        status["websub"] = {hub.hub: hub_json(hub) for hub in health.hubs}
    return status


# --- the health model -----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SourceHealth:
    """One configured source's health as the store records it (a source never recorded:
    no items, no failures). ``stale``: failing for longer than ``schedule.stale_after``;
    ``retry_after``: when a failing remote source is next due (None for a local one)."""

    name: str
    location: str = ""
    items: int = 0
    last_success: dt.datetime | None = None
    last_error: str | None = None
    last_error_at: dt.datetime | None = None
    failing_since: dt.datetime | None = None
    consecutive_failures: int = 0
    failures_total: int = 0
    stale: bool = False
    retry_after: dt.datetime | None = None
    warnings: int = 0


@dataclass(frozen=True, kw_only=True)
class HubHealth:
    """One configured WebSub hub's notifications (a hub never notified: zeros);
    ``pending`` counts the changed feeds it is yet to be told of."""

    hub: str
    pending: int = 0
    notified_total: int = 0
    failures_total: int = 0
    consecutive_failures: int = 0
    last_success: dt.datetime | None = None
    last_error: str | None = None
    last_error_at: dt.datetime | None = None


@dataclass(frozen=True)
class SiteHealth:
    """The last finished refresh, every configured source (in configuration order) and
    every configured hub."""

    last_run: RunRecord | None
    sources: tuple[SourceHealth, ...]
    hubs: tuple[HubHealth, ...] = ()


class HealthReader(Protocol):
    """What ``site_health`` reads of a store."""

    def source_states(self) -> Mapping[str, SourceState]: ...

    def last_run(self) -> RunRecord | None: ...

    def hub_states(self) -> Mapping[str, HubState]: ...


def site_health(store: HealthReader, settings: Settings, *, now: dt.datetime) -> SiteHealth:
    """The health of every configured source and hub, and the last refresh, from ``store``.
    Sources and hubs the configuration no longer names are left out."""
    states = store.source_states()
    hub_states = store.hub_states() if settings.websub.hubs else {}
    return SiteHealth(
        last_run=store.last_run(),
        sources=tuple(source_health(source, states.get(source.name), settings, now=now)
                      for source in settings.sources),
        hubs=tuple(hub_health(hub, hub_states.get(hub)) for hub in settings.websub.hubs),
    )


def source_health(
    source: SourceSettings, state: SourceState | None, settings: Settings, *, now: dt.datetime,
) -> SourceHealth:
    """``source``'s health from its recorded ``state`` (None: never recorded)."""
    if state is None:
        return SourceHealth(name=source.name, location=source.location)
    due = retry_after(state, settings.schedule.interval) if source.is_remote else None
    return SourceHealth(
        name=source.name,
        location=source.location,
        items=state.item_count,
        last_success=state.last_success,
        last_error=state.last_error,
        last_error_at=state.last_error_at,
        failing_since=state.failing_since,
        consecutive_failures=state.consecutive_failures,
        failures_total=state.failures_total,
        stale=is_stale(state, stale_after=settings.schedule.stale_after, now=now),
        retry_after=due,
        warnings=state.last_warnings,
    )


def hub_health(hub: str, state: HubState | None) -> HubHealth:
    """``hub``'s notifications from its recorded ``state`` (None: never notified)."""
    if state is None:
        return HubHealth(hub=hub)
    return HubHealth(
        hub=hub, pending=state.pending, notified_total=state.notified_total,
        failures_total=state.failures_total, consecutive_failures=state.consecutive_failures,
        last_success=state.last_success, last_error=state.last_error,
        last_error_at=state.last_error_at,
    )


def source_json(source: SourceHealth) -> dict[str, Any]:
    """A source's health as /status shows it (times ISO 8601, None when never)."""
    return {
        "location": source.location,
        "items": source.items,
        "last_success": _iso(source.last_success),
        "last_error": source.last_error,
        "last_error_at": _iso(source.last_error_at),
        "failing_since": _iso(source.failing_since),
        "consecutive_failures": source.consecutive_failures,
        "failures_total": source.failures_total,
        "stale": source.stale,
        "retry_after": _iso(source.retry_after),
        "warnings": source.warnings,
    }


def hub_json(hub: HubHealth) -> dict[str, Any]:
    """A hub's notifications as /status shows them (admin view only)."""
    return {
        "pending": hub.pending,
        "notified_total": hub.notified_total,
        "failures_total": hub.failures_total,
        "consecutive_failures": hub.consecutive_failures,
        "last_success": _iso(hub.last_success),
        "last_error": hub.last_error,
        "last_error_at": _iso(hub.last_error_at),
    }


def _warning_messages(run: RunRecord | None) -> dict[str, list[str]]:
    """Each source's warning lines in the run's summary, for the sources it parsed."""
    summary = (run.summary or {}) if run is not None else {}
    found: dict[str, list[str]] = {}
    for report in summary.get("sources", ()):
        if not isinstance(report, dict) or report.get("error") or report.get("skipped") \
                or report.get("unchanged") or report.get("not_modified"):
            continue
        lines = report.get("warning_messages")
        if isinstance(lines, list):
            name = str(report.get("name"))
            found[name] = [str(line).removeprefix(f"{name}: ") for line in lines]
    return found


def scheduler_json(
    instances: list[InstanceState], holder: Any, schedule: ScheduleSettings, *,
    now: dt.datetime,
) -> dict[str, Any]:
    """Which scheduler is active and since when, and what it (or, with none active, the
    scheduler seen last) recorded.

    ``running``: a scheduler holds the lease and renewed it within
    ``schedule.failover_seconds`` (by this machine's clock); ``active`` is its
    instance id (``host:pid:random``), ``active_since`` when it took the lease,
    ``heartbeat`` its last renewal; ``note`` says what not running means.
    ``standbys``: other instances seen within ``failover_seconds`` and not
    stopped. Then the instance's own record: ``instance``, ``host``, ``pid``,
    ``schedule``, ``started``, ``stopped``, ``next_run``, ``ticks``,
    ``last_tick`` ({started, finished, outcome}) and ``overdue`` (its next run
    is more than a grace period past: it is gone although it did not say so).
    ``holder`` is a ``feedsvc.store.LeaseHolder`` or None.
    """
    fresh = dt.timedelta(seconds=schedule.failover_seconds)
    running = holder is not None and now - holder.renewed <= fresh
    active = holder.instance if running else None
    picture: dict[str, Any] = {
        "running": running,
        "active": active,
        "active_since": _iso_seconds(holder.since) if running else None,
        "heartbeat": _iso_seconds(holder.renewed) if holder is not None else None,
        "note": None if running else NO_SCHEDULER,
        "standbys": [i.instance for i in instances if i.instance != active
                     and i.stopped is None and now - i.seen <= fresh],
    }
    shown = next((i for i in instances if i.instance == active),
                 instances[0] if instances else None)
    if shown is None:
        return picture
    grace = dt.timedelta(seconds=misfire_grace_seconds(schedule))
    picture.update(
        instance=shown.instance, host=shown.host, pid=shown.pid, schedule=shown.schedule,
        started=_iso_seconds(shown.started), stopped=_iso_seconds(shown.stopped),
        next_run=_iso_seconds(shown.next_run), ticks=shown.ticks,
        last_tick=None if shown.last_tick is None else dict(shown.last_tick),
        overdue=(shown.stopped is None and shown.next_run is not None
                 and now > shown.next_run + grace),
    )
    return picture


def requests_json(
    requests: list[RefreshRequest], *, scheduler_running: bool
) -> list[dict[str, Any]]:
    """The refresh requests of the admin trigger, newest first: ``id``, ``state``
    (queued, running, done, failed), ``requested``, ``requested_by``, ``started``,
    ``finished``, ``runner`` (the scheduler instance), ``error``; a queued request
    has ``waiting``: why it has not started when no scheduler is running."""
    return [{
        "id": request.id, "state": request.state, "requested": _iso_seconds(request.requested),
        "requested_by": request.requested_by, "started": _iso_seconds(request.started),
        "finished": _iso_seconds(request.finished), "runner": request.runner,
        "error": request.error,
        **({"waiting": NO_SCHEDULER} if request.state == "queued" and not scheduler_running
           else {}),
    } for request in requests]


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _iso_seconds(moment: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC, whole seconds: the schedulers' and requests' times."""
    return None if moment is None else moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def _run_json(run: RunRecord | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "started": _iso(run.started),
        "finished": _iso(run.finished),
        "duration_seconds": (
            None if run.duration_seconds is None else round(run.duration_seconds, 3)
        ),
        "ok": run.ok,
        "published": run.published,
        "error": run_error(run),
    }


def run_error(run: RunRecord) -> str | None:
    """Why a finished run was not ok, in one line; None when it was ok.

    The run's own error when it has one (nothing could be published, or it
    was abandoned: "abandoned: KeyboardInterrupt"); else each source that
    failed or was skipped, as ``name: error`` joined by "; ".
    """
    if run.ok:
        return None
    summary = run.summary or {}
    error = summary.get("error")
    if isinstance(error, str) and error:
        return error
    failures = [
        f"{source.get('name')}: "
        + (str(source["error"]) if source.get("error") else "skipped: still failing")
        for source in summary.get("sources", ())
        if isinstance(source, dict) and (source.get("error") or source.get("skipped"))
    ]
    return "; ".join(failures) or "failed"


# --- what /status shows to whom -------------------------------------------------------

PUBLIC_RUN_KEYS = ("started", "finished", "duration_seconds", "ok", "published")
PUBLIC_SOURCE_KEYS = ("items", "last_success", "last_error_at", "failing_since",
                      "consecutive_failures", "stale", "retry_after", "warnings")
PUBLIC_SCHEDULER_KEYS = ("running", "active_since", "heartbeat", "note", "started", "stopped",
                         "next_run", "overdue")
PUBLIC_PUBLICATION_KEYS = ("generation", "feeds", "items")
REDACTED = "***"

# scheme://userinfo@ : the userinfo (user, user:password, a token) is a credential.
# The userinfo stops at the first "/", "?", "#" or whitespace, like a URL parser's authority.
# Up to the last "@" before the path, as URL parsers read it ("user:p@ss@host").
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s]*@")


def redact_credentials(text: str) -> str:
    """``text`` with the userinfo of every URL in it replaced by ``***``.

    ``http://user:S3cret@host/path?q=1`` becomes ``http://***@host/path?q=1``;
    text without such a URL is returned unchanged. It works on free text
    (error messages quoting a URL) as well as on a bare URL.
    """
    return _URL_USERINFO.sub(lambda match: f"{match['scheme']}{REDACTED}@", text)


def admin_status(status: Any) -> Any:
    """The whole /status picture for the admin, with ``redact_credentials`` applied to
    every string in it (keys included), however deeply nested."""
    if isinstance(status, str):
        return redact_credentials(status)
    if isinstance(status, dict):
        return {admin_status(key): admin_status(value) for key, value in status.items()}
    if isinstance(status, list | tuple):
        return [admin_status(value) for value in status]
    return status


def public_status(status: dict[str, Any]) -> dict[str, Any]:
    """What anyone may see of the /status picture: names, health and times only.

    An allow-list, so that a key added to the full picture later stays private
    until it is added here: no source location, no error text (either may
    quote a URL with credentials or an absolute path), no scheduler pid or
    schedule. Top-level keys absent from ``status`` stay absent.
    """
    public: dict[str, Any] = {}
    if "last_refresh" in status:
        public["last_refresh"] = _pick(status["last_refresh"], PUBLIC_RUN_KEYS)
    if "sources" in status:
        sources = status["sources"] if isinstance(status["sources"], dict) else {}
        public["sources"] = {
            redact_credentials(str(name)): _pick(source, PUBLIC_SOURCE_KEYS)
            for name, source in sources.items()
        }
    if "scheduler" in status:
        public["scheduler"] = _pick(status["scheduler"], PUBLIC_SCHEDULER_KEYS)
    if "publication" in status:
        public["publication"] = _pick(status["publication"], PUBLIC_PUBLICATION_KEYS)
    return public


def _pick(part: Any, keys: tuple[str, ...]) -> dict[str, Any] | None:
    """The allowed ``keys`` of a dict part (None stays None; anything else is dropped).

    Values are kept only when they are plain scalars, so a nested structure
    cannot smuggle detail through an allowed key.
    """
    if not isinstance(part, dict):
        return None
    return {key: part[key] for key in keys if key in part and _is_scalar(part[key])}


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)
