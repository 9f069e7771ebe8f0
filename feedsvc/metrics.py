"""Prometheus metrics for ``GET /metrics``, with the official client library.

Two kinds of numbers, kept apart because they live in different processes:

* Refresh metrics (durations, runs, items and failures per source) describe
  work done by whichever process refreshed: usually the scheduler, sometimes
  the CLI or an admin trigger. They are therefore never counted in memory:
  ``StoreCollector`` reads them from the store on every scrape, so any web
  worker reports the same, complete values.
* Request metrics (requests by endpoint and status, 304s) are counted in the
  web process that answered. Under gunicorn each worker has its own counts,
  and a scrape sees one worker's; set ``PROMETHEUS_MULTIPROC_DIR`` to an empty
  directory (before the workers start) to have every scrape sum all workers.

Every app gets its own ``CollectorRegistry`` (``Metrics.create``): nothing is
registered in the library's global registry.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from feedsvc.errors import FeedsvcError
from feedsvc.models import StoredItem
from feedsvc.settings import Settings
from feedsvc.status import HubHealth, SourceHealth, site_health

if TYPE_CHECKING:
    from feedsvc.store import HubState, RunRecord, SourceState, Store

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DURATION_BUCKETS: tuple[float, ...] = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


@dataclass(frozen=True)
class RefreshStats:
    """What the refresh metrics are computed from, read fresh on each scrape: the
    run counts, and the sources' and hubs' health (``feedsvc.status.SiteHealth``,
    the model /status shows too).

    ``durations`` holds the duration of every finished run, or None from a
    provider that has none (then no histogram is exposed).
    """

    runs: int
    last_started: dt.datetime | None
    last_duration: float | None
    last_ok: bool | None
    durations: Sequence[float] | None
    sources: Sequence[SourceHealth]
    hubs: Sequence[HubHealth] = ()


StatsProvider = Callable[[], RefreshStats]


def histogram_buckets(
    durations: Sequence[float], bounds: Sequence[float] = DURATION_BUCKETS
) -> list[tuple[str, float]]:
    """Cumulative ``(le, count)`` pairs for ``durations``, ending with ``+Inf``."""
    pairs = [(_bound_label(bound), float(sum(d <= bound for d in durations)))
             for bound in bounds]
    return [*pairs, ("+Inf", float(len(durations)))]


def _bound_label(bound: float) -> str:
    return repr(float(bound))


class StoreCollector(Collector):
    """Refresh metrics computed from ``RefreshStats`` at scrape time."""

    def __init__(self, stats: StatsProvider) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        try:
            stats: RefreshStats | None = self._stats()
        except FeedsvcError:
            # A store that cannot be read is reported as such, not as a failed scrape.
            stats = None
        up = GaugeMetricFamily("feedsvc_store_up", "1 when the store could be read.")
        up.add_metric([], 0 if stats is None else 1)
        yield up
        if stats is not None:
            yield from _run_metrics(stats)
            yield from _source_metrics(stats.sources)
            if stats.hubs:
                yield from _hub_metrics(stats.hubs)

    def describe(self) -> Iterator[Metric]:
        return iter(())


def _run_metrics(stats: RefreshStats) -> Iterator[Metric]:
    runs = CounterMetricFamily("feedsvc_refresh_runs", "Refreshes started, by any process.")
    runs.add_metric([], stats.runs)
    yield runs
    if stats.durations is not None:
        histogram = HistogramMetricFamily(
            "feedsvc_refresh_duration_seconds", "Duration of finished refreshes.")
        histogram.add_metric([], histogram_buckets(stats.durations), sum(stats.durations))
        yield histogram
    if stats.last_duration is not None:
        last = GaugeMetricFamily("feedsvc_last_refresh_duration_seconds",
                                 "Duration of the last finished refresh.")
        last.add_metric([], stats.last_duration)
        yield last
    if stats.last_ok is not None:
        ok = GaugeMetricFamily("feedsvc_last_refresh_success",
                               "1 when every source of the last refresh succeeded.")
        ok.add_metric([], 1 if stats.last_ok else 0)
        yield ok
    if stats.last_started is not None:
        when = GaugeMetricFamily("feedsvc_last_refresh_timestamp_seconds",
                                 "Unix time the last finished refresh started.")
        when.add_metric([], stats.last_started.timestamp())
        yield when


def _source_metrics(sources: Sequence[SourceHealth]) -> Iterator[Metric]:
    items = GaugeMetricFamily("feedsvc_source_items", "Items the store holds from each source.",
                              labels=["source"])
    failures = GaugeMetricFamily(
        "feedsvc_source_consecutive_failures",
        "Refreshes in a row in which the source failed (0 when healthy).", labels=["source"])
    failures_total = CounterMetricFamily(
        "feedsvc_source_failures", "Failed attempts to read the source, ever.",
        labels=["source"])
    stale = GaugeMetricFamily("feedsvc_source_stale",
                              "1 when the source has been failing longer than stale_after.",
                              labels=["source"])
    success = GaugeMetricFamily("feedsvc_source_last_success_timestamp_seconds",
                                "Unix time the source was last read successfully.",
                                labels=["source"])
    for source in sources:
        items.add_metric([source.name], source.items)
        failures.add_metric([source.name], source.consecutive_failures)
        failures_total.add_metric([source.name], source.failures_total)
        stale.add_metric([source.name], 1 if source.stale else 0)
        if source.last_success is not None:
            success.add_metric([source.name], source.last_success.timestamp())
    yield from (items, failures, failures_total, stale, success)


def _hub_metrics(hubs: Sequence[HubHealth]) -> Iterator[Metric]:
    notified = CounterMetricFamily(
        "feedsvc_websub_notifications", "Feed changes a WebSub hub accepted, ever.",
        labels=["hub"])
    failed = CounterMetricFamily(
        "feedsvc_websub_failures",
        "Feed changes a WebSub hub could not be told of, after every retry, ever.",
        labels=["hub"])
    in_a_row = GaugeMetricFamily(
        "feedsvc_websub_consecutive_failures",
        "Failed notifications since the hub last accepted one (0 when healthy).",
        labels=["hub"])
    success = GaugeMetricFamily(
        "feedsvc_websub_last_success_timestamp_seconds",
        "Unix time the hub last accepted a notification.", labels=["hub"])
    pending = GaugeMetricFamily(
        "feedsvc_websub_pending", "Changed feeds the hub is yet to be told of.",
        labels=["hub"])
    for hub in hubs:
        pending.add_metric([hub.hub], hub.pending)
        notified.add_metric([hub.hub], hub.notified_total)
        failed.add_metric([hub.hub], hub.failures_total)
        in_a_row.add_metric([hub.hub], hub.consecutive_failures)
        if hub.last_success is not None:
            success.add_metric([hub.hub], hub.last_success.timestamp())
    yield from (notified, failed, in_a_row, success, pending)


class StoreReader(Protocol):
    """What the web processes read of a store (``feedsvc.store.Store`` has it all)."""

    def source_states(self) -> Mapping[str, SourceState]: ...

    def last_run(self) -> RunRecord | None: ...

    def run_count(self) -> int: ...

    def run_durations(self) -> Sequence[float]: ...

    def item_by_id(self, item_id: str) -> StoredItem | None: ...

    def hub_states(self) -> Mapping[str, HubState]: ...

    def items_page(
        self, slug: str | Sequence[str] | None, offset: int, limit: int,
    ) -> Sequence[StoredItem]: ...


class _NeverRefreshedStore:
    """Stands in for a store whose database does not exist yet: no runs, no source states."""

    def source_states(self) -> Mapping[str, SourceState]:
        return {}

    def last_run(self) -> None:
        return None

    def run_count(self) -> int:
        return 0

    def run_durations(self) -> Sequence[float]:
        return []

    def item_by_id(self, item_id: str) -> None:
        return None

    def hub_states(self) -> Mapping[str, HubState]:
        return {}

    def items_page(
        self, slug: str | Sequence[str] | None, offset: int, limit: int,
    ) -> Sequence[StoredItem]:
        return []

    def scheduler_instances(self) -> list[Any]:
        return []

    def scheduler_lease_holder(self) -> None:
        return None

    def refresh_requests(self, limit: int = 10) -> list[Any]:
        return []


_SQLITE_URL = re.compile(r"sqlite(?:\+\w+)?:///(?P<path>[^?]*)")


def sqlite_file(url: str) -> Path | None:
    """The database file a ``sqlite:///PATH`` URL names, or None (in memory, other databases)."""
    match = _SQLITE_URL.fullmatch(url.split("?", 1)[0])
    if match is None:
        return None
    path = match.group("path")
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path)


class LazyStore:
    """The store at ``database`` as a web process reads it, opened on first use.

    While an SQLite database file does not exist yet (no refresh has run),
    ``get()`` returns a never-refreshed stand-in without creating the file:
    the web processes may not be meant to write there, and an empty file
    would hide a wrong path. Once the file exists, the store is opened once
    and shared by every caller (``/status`` and ``/metrics``), so a process
    holds one database engine. Raises StoreError when it cannot be opened.
    """

    def __init__(self, database: str) -> None:
        self._database = database
        self._store: StoreReader | None = None
        self._lock = threading.Lock()

    def get(self) -> StoreReader:
        from feedsvc.store import Store

        with self._lock:
            if self._store is None:
                missing = sqlite_file(self._database)
                if missing is not None and not missing.exists():
                    return _NeverRefreshedStore()
                self._store = Store.open(self._database)
            return self._store


class StoreHealth:
    """The store at ``settings.storage.database`` as the web processes read it for
    ``/status`` (``status()``) and ``/metrics`` (``stats()``): one ``LazyStore``,
    so that an app starts before the store exists (both then report a
    never-refreshed store) and a process opens one database engine for both.
    """

    def __init__(self, settings: Settings, store: LazyStore | None = None) -> None:
        self._settings = settings
        self._store = store or LazyStore(settings.storage.database)

    def status(self) -> dict[str, Any]:
        """The /status picture (``feedsvc.status.read_status``). Raises StoreError."""
        from feedsvc.status import read_status

        # The never-refreshed stand-in has everything read_status reads of a store.
        store = cast("Store", self._store.get())
        return read_status(store, self._settings, now=dt.datetime.now(dt.UTC))

    def stats(self) -> RefreshStats:
        """What the refresh metrics are computed from (``refresh_stats``). Raises StoreError."""
        return refresh_stats(self._store.get(), self._settings, now=dt.datetime.now(dt.UTC))


def refresh_stats(store: StoreReader, settings: Settings, *, now: dt.datetime) -> RefreshStats:
    """``RefreshStats`` from ``store``: its runs, and the health of every configured
    source (sorted by name) and hub, as /status reads them (``site_health``)."""
    health = site_health(store, settings, now=now)
    last_run = health.last_run
    return RefreshStats(
        runs=store.run_count(),
        last_started=None if last_run is None else last_run.started,
        last_duration=None if last_run is None else last_run.duration_seconds,
        last_ok=None if last_run is None else last_run.ok,
        durations=tuple(store.run_durations()),
        sources=sorted(health.sources, key=lambda source: source.name),
        hubs=health.hubs,
    )


# --- request metrics and the registry ---------------------------------------------


@dataclass(frozen=True)
class Metrics:
    """One app's metrics: its own registry, request counters, and ``render()``."""

    registry: CollectorRegistry
    requests: Counter
    not_modified: Counter

    @classmethod
    def create(cls, stats: StatsProvider | None = None) -> Metrics:
        """A fresh registry with the request counters and, given ``stats``, the refresh
        metrics. In multi-process mode (``PROMETHEUS_MULTIPROC_DIR`` set) the request
        counters are summed over every process that wrote them."""
        multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        registry = CollectorRegistry(auto_describe=True)
        # In multi-process mode the counters write to shared files and the
        # MultiProcessCollector reads them all back; registering them too would
        # report this process's share twice.
        counters_registry = None if multiprocess else registry
        requests = Counter("feedsvc_http_requests", "HTTP requests answered, by endpoint "
                           "and status.", ["endpoint", "status"], registry=counters_registry)
        not_modified = Counter("feedsvc_http_not_modified", "HTTP requests answered with "
                               "304 Not Modified, by endpoint.", ["endpoint"],
                               registry=counters_registry)
        if multiprocess:
            from prometheus_client import multiprocess as prometheus_multiprocess

            prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        if stats is not None:
            registry.register(StoreCollector(stats))
        return cls(registry=registry, requests=requests, not_modified=not_modified)

    def count_request(self, endpoint: str, status: int) -> None:
        self.requests.labels(endpoint=endpoint, status=str(status)).inc()
        if status == 304:
            self.not_modified.labels(endpoint=endpoint).inc()

    def render(self) -> bytes:
        """The text exposition format of everything in the registry."""
        data: bytes = generate_latest(self.registry)
        return data
