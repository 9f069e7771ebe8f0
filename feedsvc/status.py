"""The health of the service as GET /status shows it: last refresh and each source.

``read_status`` only reads the store; the web layer's ``StoreStatus`` adds a
``"scheduler"`` key (the scheduler's recorded state, with its ``next_run``).
The rules for a failing source (when it is stale, when it is retried) live
here too, so that the pipeline and /status apply the same ones.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from feedsvc.settings import Settings
from feedsvc.store import RunRecord, SourceState, Store

MAX_BACKOFF_SECONDS = 24 * 3600


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
    """A JSON-able picture of the last finished refresh and of every configured source.

    ``{"last_refresh": {started, finished, duration_seconds, ok, published, error} | None,
    "sources": {name: {location, items, last_success, last_error, last_error_at,
    failing_since, consecutive_failures, failures_total, stale, retry_after}}}``;
    times are ISO 8601 in UTC or None. ``last_refresh.error`` is None when the run was ok, else
    why it was not (see ``run_error``). A source is ``stale`` when it has been
    failing for longer than ``schedule.stale_after``. Sources the configuration
    no longer names are left out.
    """
    states = store.source_states()
    return {
        "last_refresh": _run_json(store.last_run()),
        "sources": {
            source.name: _source_json(
                states.get(source.name), source.location, source.is_remote, settings, now
            )
            for source in settings.sources
        },
    }


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


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


def _source_json(
    state: SourceState | None, location: str, remote: bool, settings: Settings,
    now: dt.datetime,
) -> dict[str, Any]:
    if state is None:
        return {
            "location": location, "items": 0, "last_success": None, "last_error": None,
            "last_error_at": None, "failing_since": None, "consecutive_failures": 0,
            "failures_total": 0, "stale": False, "retry_after": None,
        }
    due = retry_after(state, settings.schedule.interval) if remote else None
    return {
        "location": location,
        "items": state.item_count,
        "last_success": _iso(state.last_success),
        "last_error": state.last_error,
        "last_error_at": _iso(state.last_error_at),
        "failing_since": _iso(state.failing_since),
        "consecutive_failures": state.consecutive_failures,
        "failures_total": state.failures_total,
        "stale": is_stale(state, stale_after=settings.schedule.stale_after, now=now),
        "retry_after": _iso(due),
    }
