"""The refresh: read every source, merge into the store, collate, render, publish.

``refresh`` is the one entry point the CLI, the scheduler, the admin trigger
and the tests call. It holds the store's refresh lock throughout, so two
refreshes never overlap, even from two processes.

A source that fails (cannot be fetched, decoded or parsed, or lists no items)
is reported and recorded, and changes nothing else: its items stay in the
store and in the feeds. A remote source that keeps failing is retried less
often (see ``retry_after``); local files are retried every time. A source
whose configuration changed (see ``config_fingerprint``) is read in full at
once, whatever its back-off and validators said about the old one. Feeds are
published only when their bytes change, and atomically (see
``feedsvc.publication``), so a refresh that dies anywhere leaves the previous
publication live.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import importlib.metadata
import json
import logging
import time
import zoneinfo
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from feedsvc.archive import archive_key, new_page_bounds, page_run, pages_holding
from feedsvc.collate import Category, feed_link, feed_spec, site_snapshot
from feedsvc.curation import CategoryRules, FeedFilter, as_published
from feedsvc.errors import FeedsvcError, FetchError, ListingError, PublishError, SourceError
from feedsvc.feeds import (
    ALL,
    LATEST_ITEMS,
    OPML_CONTENT_TYPE,
    OPML_PATH,
    VIEW_CONTENT_TYPE,
    FeedLink,
    category_key,
    feed_path,
    item_record,
    view_path,
)
from feedsvc.fetch.base import Fetcher, read_within
from feedsvc.fetch.routing import RoutingFetcher
from feedsvc.formats import Format, ParseRequest, choose_format
from feedsvc.identity import item_key, slugify
from feedsvc.listing.warnings import OmittedWarnings, count_warnings
from feedsvc.logevents import Event, log_event
from feedsvc.models import FeedSpec, Fetched, ListingItem, ParseWarning, StoredItem, Validators
from feedsvc.outcomes import RunSummary, SourceStatus
from feedsvc.outcomes import SourceReport as SourceReport  # re-exported: the refresh reports it
from feedsvc.outputs import OUTPUT_FORMATS, output_for_extension
from feedsvc.publication import Document, Publication
from feedsvc.publishing import Draft, Publisher, publisher_for
from feedsvc.settings import Settings, SourceSettings
from feedsvc.status import is_stale, redact_credentials, retry_after
from feedsvc.store import MergeCounts, RefreshLock, SourceSnapshot, SourceState, Store
from feedsvc.websub import Notifier, default_notifier

logger = logging.getLogger("feedsvc.pipeline")


class Renderer(Protocol):
    """Turns collated feeds into bytes (``feedsvc.render`` by default)."""

    def render_feed(self, spec: FeedSpec, fmt: str) -> bytes: ...

    def render_opml(self, title: str, feeds: Sequence[FeedLink], base_url: str) -> bytes: ...

    def render_view(self, spec: FeedSpec, site_title: str) -> bytes: ...


class DefaultRenderer:
    """``feedsvc.render``'s functions, loaded on first use.

    A feed is asked for in every format in turn: all of them are rendered at
    the first, from one cleaned copy of the spec, and the others kept for the
    asking.
    """

    _last: tuple[FeedSpec, Mapping[str, bytes]] | None = None

    def render_feed(self, spec: FeedSpec, fmt: str) -> bytes:
        from feedsvc.render import render_formats

        if self._last is None or self._last[0] is not spec:
            self._last = (spec, render_formats(spec))
        return self._last[1][fmt]

    def render_opml(self, title: str, feeds: Sequence[FeedLink], base_url: str) -> bytes:
        from feedsvc.render import render_opml

        return render_opml(title, feeds, base_url)

    def render_view(self, spec: FeedSpec, site_title: str) -> bytes:
        from feedsvc.render import render_view

        return render_view(spec, site_title)


@dataclass(frozen=True)
class RefreshReport:
    """What one refresh did. ``ok`` is False when a source failed or was skipped,
    or when publishing failed; the other sources are published all the same.

    ``published`` is True when a new publication went live, False when the
    feeds were unchanged or nothing could be published (``error`` says why
    for the latter).
    """

    started: dt.datetime
    finished: dt.datetime
    sources: tuple[SourceReport, ...]
    published: bool
    feed_count: int = 0
    item_count: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(source.ok for source in self.sources)

    @property
    def duration_seconds(self) -> float:
        return (self.finished - self.started).total_seconds()

    def summary_lines(self) -> list[str]:
        """One line per source, then one line for the whole refresh."""
        failed = sum(not source.ok for source in self.sources)
        tally = f"{len(self.sources) - failed} of {len(self.sources)} sources ok"
        if self.error is not None:
            outcome = f"nothing published: {self.error}"
        elif self.published:
            outcome = f"published {self.feed_count} feeds with {self.item_count} items"
        else:
            outcome = f"feeds unchanged ({self.feed_count} feeds with {self.item_count} items)"
        return [*(source.summary_line() for source in self.sources), f"{tally}; {outcome}"]

    def run_summary(self) -> RunSummary:
        """What the store keeps of this refresh (see ``Store.finish_run``)."""
        return RunSummary(error=self.error, feed_count=self.feed_count,
                          item_count=self.item_count, sources=self.sources)

    def to_json(self) -> dict[str, Any]:
        return {
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat(),
            "duration_seconds": round(self.duration_seconds, 3),
            "ok": self.ok,
            "published": self.published,
            "feed_count": self.feed_count,
            "item_count": self.item_count,
            "error": self.error,
            "sources": [source.to_json() for source in self.sources],
        }


@dataclass(frozen=True)
class Read:
    """A source read to the end: its items (if modified), validators and warnings.

    ``status`` is MERGED (items to merge), NOT_MODIFIED (the server said so) or
    UNCHANGED (the bytes were those last merged, ``digest``, so nothing was
    parsed). ``listed_below`` counts items below ``items`` known unchanged (a
    listing read only down to where it stopped changing); ``snapshot`` is the
    text listing as read, for the next read to build on.
    """

    items: tuple[ListingItem, ...]
    validators: Validators
    warnings: tuple[ParseWarning, ...] = field(default_factory=tuple)
    status: SourceStatus = SourceStatus.MERGED
    digest: str | None = None
    listed_below: int = 0
    snapshot: SourceSnapshot | None = None
    keys: tuple[str, ...] | None = None
    """The items' keys, when the read made them already."""
    format: str | None = None
    """The format the source was read as (``auto`` decided)."""
    selectors_used: Mapping[str, str] | None = None
    """The CSS selectors the first page was read with (HTML), for ``feedsvc parse --explain``."""
    language: str | None = None
    """The language the listing is in (configured, or detected for text listings)."""

    def __post_init__(self) -> None:
        if self.status not in _READ_STATUSES:
            raise ValueError(f"a read cannot be {self.status.name}: use Failed or Skipped")


_READ_STATUSES = (SourceStatus.MERGED, SourceStatus.NOT_MODIFIED, SourceStatus.UNCHANGED)


@dataclass(frozen=True)
class Failed:
    """A source that could not be read: why."""

    error: FeedsvcError


@dataclass(frozen=True)
class Skipped:
    """A failing remote source not read, as it is not due for a retry until ``retry_at``."""

    retry_at: dt.datetime


ReadOutcome = Read | Failed | Skipped
"""What reading one source came to: the refresh records each kind its own way."""


def refresh(
    settings: Settings,
    *,
    now: dt.datetime | None = None,
    fetcher: Fetcher | None = None,
    store: Store | None = None,
    renderer: Renderer | None = None,
    lock_wait: float = 0,
    owner: str | None = None,
    only: Collection[str] | None = None,
    force: bool = False,
    browser: Fetcher | None = None,
    notifier: Notifier | None = None,
) -> RefreshReport:
    """Refresh every source in ``settings`` (or the sources named in ``only``) once
    and publish the feeds.

    ``now`` (aware; default: the clock) is the refresh's time for everything
    it records. ``fetcher`` defaults to a ``RoutingFetcher``, ``store`` to the
    store at ``settings.storage.database`` (opened and closed here),
    ``renderer`` to ``feedsvc.render``. Waits up to ``lock_wait`` seconds for
    the refresh lock, then raises RefreshInProgressError; ``owner`` names this
    refresh in the lock ("scheduler", "admin"), for that error's message. Source failures and
    publishing failures are reported in the result, not raised; StoreError
    and RefreshInProgressError are raised.

    ``only`` restricts the refresh to those sources (the others are neither
    read nor recorded; their items stay published); an unknown name is a
    ValueError. ``force`` reads each source in full now: no back-off, no
    validators, no digest or snapshot to build on. ``browser`` reads the pages
    of sources with ``render = "browser"`` (default: ``feedsvc.fetch.browser.BrowserFetcher``,
    made only when a source needs it).

    With ``websub.hubs`` set, the feeds whose bytes a new publication changed
    are put in the hubs' outbox in the store, and ``notifier`` (default:
    ``websub.default_notifier``) is woken to tell the hubs in the background:
    the refresh does not wait for them.
    """
    if only is not None:
        unknown = sorted(set(only) - {source.name for source in settings.sources})
        if unknown:
            raise ValueError(f"no source named {', '.join(map(repr, unknown))}")
        settings = dataclasses.replace(settings, sources=tuple(
            source for source in settings.sources if source.name in only))
    started = now if now is not None else dt.datetime.now(dt.UTC)
    if started.tzinfo is None:
        raise ValueError("refresh: now must be timezone-aware")
    started = started.replace(microsecond=0)
    who = owner or "feedsvc refresh"
    own_store = store is None
    active_store = store if store is not None else Store.open(settings.storage.database)
    own_fetcher = fetcher is None
    active_fetcher = fetcher if fetcher is not None else RoutingFetcher(settings)
    if browser is None and any(source.render == "browser" for source in settings.sources):
        from feedsvc.fetch.browser import BrowserFetcher

        browser = BrowserFetcher(settings)
    try:
        with active_store.refresh_lock(who, wait=lock_wait) as lock:
            report = _refresh_locked(
                settings, active_store, lock, active_fetcher, renderer or DefaultRenderer(),
                started, force=force, browser=browser,
            )
        if settings.websub.hubs:
            # Also sends what hubs did not take before (the outbox is in the store).
            (notifier or default_notifier(settings)).wake()
        return report
    finally:
        if own_fetcher and isinstance(active_fetcher, RoutingFetcher):
            active_fetcher.close()
        if own_store:
            active_store.close()


def _refresh_locked(
    settings: Settings, store: Store, lock: RefreshLock, fetcher: Fetcher, renderer: Renderer,
    started: dt.datetime, *, force: bool = False, browser: Fetcher | None = None,
) -> RefreshReport:
    clock_start = time.monotonic()
    run_id = store.start_run(started)
    try:
        states = store.source_states()
        # Forced, every source is read as if for the first time (its record is kept).
        outcomes = _read_all(settings, fetcher, {} if force else states, started, store,
                             browser=browser)
        changes = Changes()
        # A refresh that merged and then failed to publish left feeds behind the store.
        rerender_all = store.render_pending()
        with store.bulk_loading():
            reports = tuple(
                _record(store, source, outcome, states.get(source.name), settings, started,
                        changes)
                for source, outcome in zip(settings.sources, outcomes, strict=True)
            )
        lock.renew()
        published, feed_count, item_count, error = _publish(
            settings, store, renderer, started, changes, rerender_all=rerender_all)
        if error is None:
            store.clear_render_pending()
    except BaseException as exc:
        # Interrupted (or a bug): the previous publication stays live; say so in the run log.
        _abandon_run(store, run_id, started, clock_start, exc)
        raise
    finished = started + dt.timedelta(seconds=time.monotonic() - clock_start)
    report = RefreshReport(
        started=started, finished=finished, sources=reports, published=published,
        feed_count=feed_count, item_count=item_count, error=error,
    )
    store.finish_run(run_id, finished, ok=report.ok, published=published,
                     summary=report.run_summary(), keep=settings.storage.keep_runs)
    _log_refresh(report)
    return report


def _abandon_run(
    store: Store, run_id: int, started: dt.datetime, clock_start: float, exc: BaseException
) -> None:
    finished = started + dt.timedelta(seconds=time.monotonic() - clock_start)
    reason = f"abandoned: {type(exc).__name__}: {exc}".rstrip(": ")
    # A FeedsvcError (a store that cannot be written, say) reaches the caller, which
    # says it in its one line; anything else is said here.
    if isinstance(exc, FeedsvcError):
        logger.debug("refresh abandoned error=%r", reason)
    else:
        log_event(logger, Event.RUN_ABANDONED, "refresh abandoned error=%r", reason,
                  error=reason)
    try:
        store.finish_run(run_id, finished, ok=False, published=False,
                         summary=RunSummary(error=reason))
    except FeedsvcError as error:
        logger.log(logging.DEBUG if isinstance(exc, FeedsvcError) else logging.WARNING,
                   "could not record the abandoned refresh: %s", error)


# --- reading sources -------------------------------------------------------------

DUPLICATE_WARNING = "duplicate of an item above (same date and title); kept the first"


def config_fingerprint(source: SourceSettings) -> str:
    """A stable hash of what decides how ``source`` is read: its location, format,
    language, date order, rendering, its format's settings (selectors in any
    order, max_pages...) and the code that reads it. Not its name, which is the
    key the store keeps it under.

    The store keeps it beside the source's validators, digest, snapshot and
    failure count: when it differs, those belong to another configuration (or
    another release), so the source is read in full (no validators, no
    back-off) and its new settings, or a fixed parser, take effect.
    """
    data = json.dumps(
        {
            "location": source.location,
            "format": source.format,
            "language": source.language,
            "date_order": source.date_order,
            "render": source.render,
            "options": {key: dict(value) if isinstance(value, Mapping) else value
                        for key, value in source.options.items()},
            "code": _code_fingerprint(),
        },
        sort_keys=True, ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:32]


def _same_config(source: SourceSettings, state: SourceState | None) -> bool:
    return state is not None and state.config_fingerprint == config_fingerprint(source)


def _due_at(source: SourceSettings, state: SourceState | None, interval: int,
            now: dt.datetime) -> dt.datetime | None:
    """When the source is next due to be read, or None when it is due now."""
    if not source.is_remote or state is None:
        return None
    if not _same_config(source, state):
        # The back-off was earned by another configuration; this one gets a try now.
        return None
    due_at = retry_after(state, interval)
    if due_at is None:
        return None
    # A scheduler tick may land a moment before the exact due time.
    grace = dt.timedelta(seconds=min(60, interval // 10))
    return None if now + grace >= due_at else due_at


def _read_all(
    settings: Settings, fetcher: Fetcher, states: dict[str, SourceState], now: dt.datetime,
    store: Store | None = None, *, browser: Fetcher | None = None,
) -> list[ReadOutcome]:
    """Each source's outcome, in settings order: Read, Failed, or Skipped (not due
    until then).

    Up to ``fetch.concurrency`` sources are read at once. A source still being
    read ``fetch.total_timeout`` seconds after its read began (all its pages,
    redirects, retries and waits between them included) is reported failed,
    "timed out after N s", and the others are published without waiting for
    it. Interrupted (SIGTERM, Ctrl-C), no read under way is waited for, so the
    run is recorded as abandoned and the lock released at once.
    """
    due = [_due_at(source, states.get(source.name), settings.schedule.interval, now)
           for source in settings.sources]
    today = now.astimezone(zoneinfo.ZoneInfo(settings.site.timezone)).date()
    reads = read_within(
        [(source.name,
          partial(_read_guarded, source, fetcher, states.get(source.name), store, today,
                  browser))
         for source, due_at in zip(settings.sources, due, strict=True) if due_at is None],
        concurrency=settings.fetch.concurrency,
        seconds=settings.fetch.total_timeout,
    )
    # A read given up on (timed out) is a FetchError in its place.
    outcomes = iter(Failed(read) if isinstance(read, FetchError) else read for read in reads)
    return [Skipped(due_at) if due_at is not None else next(outcomes) for due_at in due]


def _read_guarded(
    source: SourceSettings, fetcher: Fetcher, state: SourceState | None, store: Store | None,
    today: dt.date, browser: Fetcher | None = None,
) -> Read | Failed:
    try:
        return read_source(source, fetcher, state, store, today=today, browser=browser)
    except FeedsvcError as exc:
        return Failed(exc)
    except Exception as exc:
        logger.exception("source=%s internal error", source.name)
        return Failed(SourceError(f"internal error: {type(exc).__name__}: {exc}",
                                  source=source.name))


def read_source(
    source: SourceSettings, fetcher: Fetcher, state: SourceState | None,
    store: Store | None = None, *, today: dt.date | None = None,
    browser: Fetcher | None = None,
) -> Read:
    """Fetch, decode and parse one source, following "next" pages of the formats that
    paginate (see ``feedsvc.formats``; ``auto`` is decided on the first page).
    A source with ``render = "browser"`` has its pages read by ``browser``
    (a FetchError when there is none).

    The stored validators are sent only when they were stored under the
    source's current configuration (``config_fingerprint``). A source whose
    bytes are those last merged under that configuration is not parsed at all
    (``unchanged``). A text listing whose new version only changed near the
    top is parsed down to where it stops changing, building on the snapshot
    ``store`` kept of it (see ``feedsvc.listing.incremental``).

    An item dated more than a day after ``today`` (the site's date; None: no
    such check) is skipped with a warning, and the source is then read again
    next time whatever its bytes, so the item arrives once its day is near.

    A later page that cannot be fetched or read ends the pages there with a
    warning ("page N could not be read: ...; stopped there"); the pages before
    it count. Raises SourceError (FetchError, ListingError) when the first page
    cannot be had or read, or when the source yields no items; the latter's
    message quotes the parser's first warning, which says why.
    """
    same_config = state is not None and _same_config(source, state)
    validators = state.validators if state is not None and same_config else None
    pages_from = _page_fetcher(source, fetcher, browser)
    first = pages_from.fetch(source.name, source.location, validators)
    if first.not_modified:
        return Read(items=(), validators=first.validators, status=SourceStatus.NOT_MODIFIED)
    fmt = choose_format(source.format, content_type=first.content_type, body=first.body or b"")
    if fmt.incremental:
        return _read_text(source, fmt, first, state if same_config else None, store, today)
    items: list[ListingItem] = []
    warnings: list[ParseWarning] = []
    parser_warnings: list[ParseWarning] = []
    digest = hashlib.sha256()
    seen_urls = {first.url}
    pages = 1
    parse = partial(_parse_page, source, fmt, today=today)
    explained: list[Mapping[str, str] | None] = []
    declared: list[str | None] = []
    next_url = parse(first, items, warnings, parser_warnings, digest, explained=explained,
                     languages=declared)
    while next_url and fmt.paginates and pages < source.max_pages:
        if next_url in seen_urls:
            warnings.append(ParseWarning(source.name, 0,
                                         f"next page loops to {redact_credentials(next_url)}"))
            break
        seen_urls.add(next_url)
        pages += 1
        try:
            page = pages_from.fetch(source.name, next_url, None)
            next_url = parse(page, items, warnings, parser_warnings, digest)
        except SourceError as exc:
            # A listing whose page 3 is down still has pages 1 and 2 right.
            warnings.append(ParseWarning(
                source.name, 0,
                f"page {pages} could not be read: {_error_text(exc, source.name)}; stopped there",
            ))
            break
    body_digest = digest.hexdigest()
    if items and same_config and state is not None and state.body_digest == body_digest:
        return Read(items=(), validators=first.validators, status=SourceStatus.UNCHANGED,
                    digest=body_digest)
    kept, future = _drop_future(items, today, source.name)
    if not kept:
        raise ListingError(_no_items_message(state, [*parser_warnings, *future],
                                             empty=not (first.body or b"").strip()),
                           source=source.name)
    return Read(items=kept, validators=_unless(future, first.validators),
                 warnings=(*warnings, *future), digest=None if future else body_digest,
                 format=fmt.name, selectors_used=explained[0] if explained else None,
                 language=source.language or (declared[0] if declared else None))


class _NoBrowser:
    """The page fetcher of a browser-rendered source when no browser was given."""

    def fetch(self, source: str, location: str, validators: Validators | None) -> Fetched:
        raise FetchError("render = \"browser\" but no browser to render with", source=source)


def _page_fetcher(source: SourceSettings, fetcher: Fetcher, browser: Fetcher | None) -> Fetcher:
    """What reads ``source``'s pages: the browser for ``render = "browser"``."""
    if source.render != "browser":
        return fetcher
    return browser if browser is not None else _NoBrowser()


def parse_request(
    source: SourceSettings, fmt: Format, text: str, *, page_url: str | None,
    today: dt.date | None,
) -> ParseRequest:
    """What ``fmt``'s parser is given for one page of ``source``: the same for a
    refresh and for ``feedsvc parse --source``."""
    return ParseRequest(
        text=text, source=source.name, language=source.language, page_url=page_url,
        options=fmt.options(source.options), today=today, date_order=source.date_order,
    )


def _unless(skipped: Sequence[ParseWarning], validators: Validators) -> Validators:
    """``validators``, or none when items were skipped for their date: then the next
    read must fetch and parse the source again, "not modified" or not."""
    return Validators() if skipped else validators


def _drop_future(
    items: Sequence[ListingItem], today: dt.date | None, source: str,
) -> tuple[tuple[ListingItem, ...], tuple[ParseWarning, ...]]:
    """``items`` without those dated well ahead of ``today``, and a warning for each."""
    from feedsvc.listing import drop_future_items

    if today is None:
        return tuple(items), ()
    return drop_future_items(items, today, source=source)


def _digest(page: Fetched) -> Any:
    """A digest of what decides how ``page`` reads: its bytes and its declared charset."""
    digest = hashlib.sha256(f"{page.charset or ''}\n".encode())
    digest.update(page.body or b"")
    return digest


def _read_text(
    source: SourceSettings, fmt: Format, page: Fetched, state: SourceState | None,
    store: Store | None, today: dt.date | None,
) -> Read:
    """A text listing: skipped when its bytes are those last merged, read from the top
    down to where it stopped changing when it can be, else read in full."""
    from feedsvc.listing import decode_document
    from feedsvc.listing.dates import DEFAULT_LANGUAGE
    from feedsvc.listing.incremental import is_plain, read_changed_top

    if page.body is None:
        raise ListingError("the server sent no body", source=source.name)
    digest = _digest(page).hexdigest()
    if state is not None and state.body_digest == digest:
        return Read(items=(), validators=page.validators, status=SourceStatus.UNCHANGED,
                    digest=digest)
    text, decode_warnings = decode_document(
        page.body, declared_charset=page.charset, source=source.name)
    previous = store.source_snapshot(source.name) if store is not None and state else None
    fingerprint = config_fingerprint(source)
    if (store is not None and previous is not None
            and previous.config_fingerprint == fingerprint):
        before, _ = decode_document(previous.body, declared_charset=previous.charset,
                                    source=source.name)
        top = read_changed_top(
            previous.listing(before), text, source=source.name, language=source.language,
            listed_before=partial(store.keys_listed_by, source.name),
        )
        if top is not None:
            kept, future = _drop_future(top.items, today, source.name)
            # Skipped items are looked at again next time, by a full read.
            snapshot = SourceSnapshot(
                config_fingerprint=fingerprint, body=page.body, charset=page.charset,
                language=top.language, item_count=top.item_count, warnings=top.warnings,
                plain=not future, repeats=False)
            return Read(items=kept, validators=_unless(future, page.validators),
                         warnings=(*decode_warnings, *top.warnings, *future),
                         digest=None if future else digest,
                         listed_below=top.listed_below, snapshot=snapshot,
                         language=top.language)
    # Without a configured language the parser detects one for the numbered and
    # compact renderings and reads the other layouts' dates in any language.
    result = fmt.parse(parse_request(source, fmt, text, page_url=page.url, today=today))
    language = source.language or result.language or DEFAULT_LANGUAGE
    kept, future = _drop_future(result.items, today, source.name)
    if not kept:
        raise ListingError(_no_items_message(state, [*result.warnings, *future],
                                             empty=not text.strip()),
                           source=source.name)
    keys = tuple(item_key(item.date, item.title) for item in kept)
    distinct = len(set(keys))
    # With items skipped for their date the snapshot is never built on (not plain).
    snapshot = SourceSnapshot(
        config_fingerprint=fingerprint, body=page.body, charset=page.charset,
        language=language, item_count=distinct, warnings=result.warnings,
        plain=not future and is_plain(text), repeats=distinct != len(kept))
    return Read(items=kept, validators=_unless(future, page.validators),
                 warnings=(*decode_warnings, *result.warnings, *future),
                 digest=None if future else digest, snapshot=snapshot, keys=keys,
                 format=fmt.name, language=language)


def _no_items_message(state: SourceState | None, parser_warnings: Sequence[ParseWarning],
                      *, empty: bool = False) -> str:
    before = state.item_count if state else 0
    had = f" (it listed {before} before)" if before else ""
    if empty:
        return f"the document is empty: no items found{had}"
    if not parser_warnings:
        return f"no items found{had}"
    first = parser_warnings[0]
    where = f"line {first.line}: " if first.line else ""
    more = count_warnings(parser_warnings) - 1
    also = f" (and {more} more warning(s))" if more else ""
    # The HTML reader's own warning opens with what this message says already.
    message = first.message.removeprefix(_NO_NEWS_ITEMS)
    return f"no items found{had}: {where}{message}{also}"


_NO_NEWS_ITEMS = "no news items found: "


def _parse_page(
    source: SourceSettings, fmt: Format, page: Fetched, items: list[ListingItem],
    warnings: list[ParseWarning], parser_warnings: list[ParseWarning],
    digest: Any, *, today: dt.date | None = None,
    explained: list[Mapping[str, str] | None] | None = None,
    languages: list[str | None] | None = None,
) -> str | None:
    """Parse one fetched page with ``fmt`` into ``items`` and ``warnings`` (the parser's
    own go to ``parser_warnings`` too), and its bytes into ``digest``; return its
    next page's URL. The language the page declares goes to ``languages``. Raises
    ListingError (and changes nothing) when the page cannot be decoded."""
    from feedsvc.listing import decode_document

    if page.body is None:
        raise ListingError("the server sent no body", source=source.name)
    digest.update(_digest(page).digest())
    text, decode_warnings = decode_document(
        page.body, declared_charset=page.charset, source=source.name
    )
    result = fmt.parse(parse_request(source, fmt, text, page_url=page.url, today=today))
    items.extend(result.items)
    warnings.extend(decode_warnings)
    warnings.extend(result.warnings)
    parser_warnings.extend(result.warnings)
    if explained is not None:
        explained.append(result.selectors_used)
    if languages is not None:
        languages.append(result.language)
    return result.next_page


# --- recording ---------------------------------------------------------------------


def _record(
    store: Store, source: SourceSettings, outcome: ReadOutcome,
    state: SourceState | None, settings: Settings, now: dt.datetime, changes: Changes,
) -> SourceReport:
    fingerprint = config_fingerprint(source)
    if isinstance(outcome, Skipped):
        report = SourceReport(name=source.name, status=SourceStatus.SKIPPED,
                              retry_at=outcome.retry_at, stale=_is_stale(state, settings, now))
    elif isinstance(outcome, Failed):
        message = _error_text(outcome.error, source.name)
        failed = store.record_failure(source.name, now, message, fingerprint=fingerprint)
        report = SourceReport(name=source.name, status=SourceStatus.FAILED, error=message,
                              stale=_is_stale(failed, settings, now))
    elif outcome.status is not SourceStatus.MERGED:
        store.record_success(source.name, now, validators=outcome.validators,
                             fingerprint=fingerprint)
        report = SourceReport(name=source.name, status=outcome.status)
    else:
        counts = store.merge(
            source.name, outcome.items, now, validators=outcome.validators,
            warnings=count_warnings(outcome.warnings), fingerprint=fingerprint,
            body_digest=outcome.digest, listed_beyond=outcome.listed_below, keys=outcome.keys,
            snapshot=outcome.snapshot, language=outcome.language,
        )
        changes.add(counts)
        # One key, two different items: the identity rule merges them, but the
        # listing's reader should know that one of them is not in the feeds.
        warnings = (*outcome.warnings, *(
            ParseWarning(source.name, item.line, f"{item.title!r} ({item.date.isoformat()}): "
                         f"{DUPLICATE_WARNING}")
            for item in counts.duplicates
        ))
        report = SourceReport(
            name=source.name, found=counts.found, new=counts.new, updated=counts.updated,
            warnings=count_warnings(warnings),
            warning_messages=_bounded_messages(warnings),
            all_warning_messages=tuple(str(warning) for warning in warnings),
        )
    _log_source(report, source)
    return report


REPORTED_WARNINGS = 20
"""Warnings a source's report keeps word for word (its count says how many there were)."""


def _bounded_messages(warnings: Sequence[ParseWarning]) -> tuple[str, ...]:
    """The first ``REPORTED_WARNINGS`` warnings as text, and a line counting the rest
    (those the parser only counted included): what a run keeps in the store and
    /status shows stays small whatever a listing holds."""
    shown = tuple(str(w) for w in warnings[:REPORTED_WARNINGS]
                  if not isinstance(w, OmittedWarnings))
    rest = count_warnings(warnings) - len(shown)
    return (*shown, f"... and {rest} more warning(s)") if rest > 0 else shown


def _error_text(exc: FeedsvcError, source: str) -> str:
    """The error's message without the source name its text starts with, and without
    the credentials of any URL it quotes: it goes to the logs, the store and /status."""
    text = exc.detail if isinstance(exc, SourceError) else str(exc)
    return redact_credentials(text.removeprefix(f"{source}: "))


def _is_stale(state: SourceState | None, settings: Settings, now: dt.datetime) -> bool:
    return is_stale(state, stale_after=settings.schedule.stale_after, now=now)


# --- publishing --------------------------------------------------------------------


@dataclass
class Changes:
    """What this refresh's merges changed: whether any item was added, edited or moved,
    how many items are new, and the categories whose feeds may differ."""

    touched: bool = False
    new_items: int = 0
    slugs: set[str] = field(default_factory=set)
    changed_keys: set[str] = field(default_factory=set)

    def add(self, counts: MergeCounts) -> None:
        self.touched |= counts.touched
        self.new_items += counts.new
        self.slugs |= counts.touched_slugs
        self.changed_keys.update(counts.changed_keys)


def _publish(
    settings: Settings, store: Store, renderer: Renderer, now: dt.datetime, changes: Changes,
    *, rerender_all: bool,
) -> tuple[bool, int, int, str | None]:
    """Render what changed and publish: (went live, feeds, items, error).

    Feeds are built from the store's indexes, one feed at a time. When the
    live publication was rendered under the same settings and code (its
    ``render_key``) and nothing is left over from an earlier refresh that did
    not publish (``rerender_all``), only the feeds this refresh touched are
    rendered again and the others are carried over as they are.
    """
    key = render_key(settings, renderer)
    publisher = publisher_for(settings, store.database)
    previous = _live_publication(publisher)
    incremental = previous is not None and previous.render_key == key and not rerender_all
    if incremental and previous is not None and not changes.touched:
        return False, len(previous.site.feeds), previous.site.item_count, None
    rules = CategoryRules.from_settings(settings.categories)
    known = {c.slug: c.label for c in store.known_categories()}
    # Stored slugs are published under the category [categories] maps them to.
    touched = rules.publishable(changes.slugs)
    slugs = sorted(rules.publishable(known) | touched)
    if not incremental:
        # Categories the items have that no publication remembered (a refresh
        # that stopped between merging and publishing) get their feeds now.
        slugs = sorted(set(slugs) | rules.publishable(store.category_slugs()))
    published = set() if previous is None else {link.key for link in previous.site.feeds}
    # Every feed the live publication lacks is rendered (a safety net: the
    # render-pending flag already covers a refresh that did not publish).
    missing = {slug for slug in slugs if category_key(slug) not in published}
    if incremental and previous is not None:
        wanted = sorted(touched | missing)
        item_count = previous.site.item_count + changes.new_items
    else:
        wanted, item_count = slugs, store.item_count()
    if item_count == 0:
        return False, 0, 0, "the store holds no items yet"
    labels = {**known, **{slug: label for slug, label in store.first_labels(wanted).items()
                          if label is not None}, **rules.labels}
    # A touched category that no item has any more and no publication showed has
    # no feed to keep alive; nor has a new one with fewer than min_items items.
    too_small = _below_minimum(store, rules, [s for s in missing if s not in known])
    wanted = [slug for slug in wanted if slug in labels and slug not in too_small]
    slugs = [slug for slug in slugs if slug in labels and slug not in too_small]
    # Each document is stored as it is rendered (nothing holds them all); archive
    # pages nothing changed stay in their feeds' indexes (a full render renders
    # them all).
    try:
        draft = publisher.draft(previous, now=now, render_key=key, keep_archives=incremental)
    except PublishError as exc:
        return False, 0, item_count, str(exc)
    documents = FeedDocuments(renderer, settings.site.title, draft)
    feed_count = 0
    try:
        # Archive pages holding an item this refresh changed are rendered again.
        changed = [] if not incremental else store.arrival_numbers(sorted(changes.changed_keys))
        built = [_build_feed(store, settings, None, labels, item_count, documents, changed,
                             rules, everything=not incremental), *(
            _build_feed(store, settings, Category(slug, labels[slug]), labels, None, documents,
                        changed, rules, everything=not incremental)
            for slug in wanted)]
        customs = [FeedFilter(feed, rules) for feed in settings.feeds]
        built.extend(_build_custom(store, settings, custom, labels, rules, documents)
                     for custom in customs if not incremental or custom.key not in published
                     or _custom_touched(custom, changes))
        if not incremental:
            _warn_unknown_categories(customs, store.category_slugs())
        # Remembered before publishing, so that no category feed is ever live
        # without the store knowing to keep publishing it.
        store.remember_categories({slug: labels[slug] for slug in slugs}, now)
        links = {} if previous is None else {link.key: link for link in previous.site.feeds}
        for link in built:
            links[link.key] = link
        feed_links = [links[ALL], *(links[category_key(slug)] for slug in slugs),
                      *(links[custom.key] for custom in customs)]
        feed_count = len(feed_links)
        draft.add(OPML_PATH, Document(
            content=renderer.render_opml(settings.site.title, feed_links,
                                         settings.site.base_url),
            content_type=OPML_CONTENT_TYPE,
            last_modified=max(dt.datetime.fromisoformat(link.updated) for link in feed_links),
        ))
        draft.carry([path for link in feed_links
                     for path in (*(feed_path(link.key, fmt) for fmt in OUTPUT_FORMATS),
                                  view_path(link.key))
                     if path not in draft])
        site = site_snapshot(
            settings.site, feeds=feed_links,
            latest=[item_record(as_published(item, rules, labels), labels)
                    for item in store.newest_items(None, LATEST_ITEMS)],
            item_count=item_count,
        )
        went_live = draft.commit(site)
    except PublishError as exc:
        draft.abandon()
        return False, feed_count, item_count, str(exc)
    except BaseException:
        draft.abandon()
        raise
    if went_live:
        _queue_pings(settings, store, _changed_feeds(settings, draft.changed), now)
    return went_live, feed_count, item_count, None


def _queue_pings(settings: Settings, store: Store, urls: Sequence[str], now: dt.datetime) -> None:
    """Put the changed feeds in the hubs' outbox (``feedsvc.websub``). The publication
    is live already: a store that cannot take them is logged, not a failed refresh."""
    if not settings.websub.hubs or not urls:
        return
    try:
        store.queue_pings(settings.websub.hubs, urls, now)
    except FeedsvcError as exc:
        logger.warning("websub: changed feeds not queued for the hubs: %s", exc)


def _changed_feeds(settings: Settings, changed: Sequence[str]) -> list[str]:
    """The address of every feed file (Atom, RSS, JSON Feed: not the OPML list nor the
    feeds' pages for people) among the published paths ``changed`` (those whose bytes
    differ from the previous publication's; carried files are unchanged by
    definition)."""
    return [
        settings.site.base_url + path for path in sorted(set(changed))
        if path.startswith("feeds/")
        and output_for_extension(path.rpartition(".")[2]) is not None
    ]


def _build_feed(
    store: Store, settings: Settings, category: Category | None, labels: dict[str, str],
    item_count: int | None, documents: FeedDocuments, changed: Sequence[int],
    rules: CategoryRules, *, everything: bool,
) -> FeedLink:
    """One feed (``category`` None: all items) added to ``documents``: its subscription
    document and the archive pages that need rendering, and how the site lists it.
    ``item_count`` is the feed's count when known. A category's items are those of
    its own label and of the labels ``rules`` merge into it.

    Pages fill first (see ``feedsvc.archive``) and are recorded in the store. Then
    the pages rendered are the new ones, those holding an arrival number in
    ``changed``, or with ``everything`` all of them; the others stay as published.
    """
    members = None if category is None else rules.members(category.slug)
    selection: str | Sequence[str] | None = (
        None if category is None else category.slug if members is None or len(members) == 1
        else members)
    key = ALL if category is None else category.key
    site = settings.site
    bounds = store.archive_bounds(key)
    fresh = new_page_bounds(store.arrivals_after(selection, bounds[-1] if bounds else 0),
                            site.feed_size)
    if fresh:
        store.add_archive_pages(key, len(bounds) + 1, fresh)
    pages = set(range(1, len(bounds) + 1)) if everything else pages_holding(changed, bounds)
    bounds = [*bounds, *fresh]
    pages |= set(range(len(bounds) - len(fresh) + 1, len(bounds) + 1))
    spec = _with_archives(feed_spec(
        category, store.items_arrived(selection, bounds[-1] if bounds else 0, None), site,
        labels, rules=rules, hubs=settings.websub.hubs), site.base_url, key, None, len(bounds))
    documents.add_feed(spec)
    for page in sorted(pages):
        after, upto = page_run(bounds, page)
        documents.add_feed(_with_archives(
            # No hubs: an archive page never changes, so no one need be told of it.
            feed_spec(category, store.items_arrived(selection, after, upto), site, labels,
                      rules=rules),
            site.base_url, key, page, page - 1))
    if selection is None or isinstance(selection, str):
        newest = store.newest_items(selection, 1)
        count = item_count if item_count is not None else store.item_count(selection)
    else:
        newest = store.newest_selected(selection, None, 1)
        count = store.count_selected(selection, None)
    return feed_link(spec, category, count, newest[0].date if newest else None)


def _with_archives(
    spec: FeedSpec, base_url: str, key: str, page: int | None, older: int,
) -> FeedSpec:
    """``spec`` as the subscription document of feed ``key`` (``page`` None) or as its
    archive page ``page``, linking to archive page ``older`` (0: none)."""
    def urls(of: str) -> dict[str, str]:
        return {fmt: base_url + feed_path(of, fmt) for fmt in OUTPUT_FORMATS}

    prev = urls(archive_key(key, older)) if older else None
    if page is None:
        return dataclasses.replace(spec, prev_archive_urls=prev)
    own = archive_key(key, page)
    # The next page's address is known before it exists: the page never changes.
    return dataclasses.replace(spec, key=own, self_urls=urls(own), prev_archive_urls=prev,
                               current_urls=urls(key),
                               next_archive_urls=urls(archive_key(key, page + 1)))


class FeedDocuments:
    """Renders feeds into the publication ``draft`` whole: every format, and for a
    subscription document its page for people (see feedsvc.render.html_view). Each
    document goes to the draft as soon as it is rendered and is not kept."""

    def __init__(self, renderer: Renderer, site_title: str, draft: Draft) -> None:
        self._renderer = renderer
        self._site_title = site_title
        self._draft = draft

    def add_feed(self, spec: FeedSpec) -> None:
        """The feed ``spec`` in every format; its page for people unless it is an
        archive page (served as it is to browsers too). Raises PublishError."""
        for fmt, output in OUTPUT_FORMATS.items():
            self._draft.add(feed_path(spec.key, fmt), Document(
                content=self._renderer.render_feed(spec, fmt),
                content_type=output.content_type, last_modified=spec.updated))
        if not spec.is_archive:
            self._draft.add(view_path(spec.key), Document(
                content=self._renderer.render_view(spec, self._site_title),
                content_type=VIEW_CONTENT_TYPE, last_modified=spec.updated))


SCAN_BATCH = 500
"""Candidates a filtered custom feed reads from the store at a time."""


def _build_custom(
    store: Store, settings: Settings, custom: FeedFilter, labels: dict[str, str],
    rules: CategoryRules, documents: FeedDocuments,
) -> FeedLink:
    """A custom feed (``[[feeds]]``) added to ``documents``, and how the site lists it.
    It has no archive pages: its filters may change what it holds at any time.

    Without include/exclude filters its entries and count come straight off
    the store's indexes, as a category's do. With filters, the newest
    candidates (of its categories and sources) are read ``SCAN_BATCH`` at a
    time and tested, at most ``scan`` of them: the cost of rendering it is
    bounded by ``scan``, whatever the history; its count is the matches among
    those candidates.
    """
    slugs, sources = custom.category_slugs(), custom.settings.sources or None
    size = settings.site.feed_size
    if not custom.filtered:
        newest = store.newest_selected(slugs, sources, size)
        count = store.count_selected(slugs, sources)
    else:
        matched: list[StoredItem] = []
        offset = 0
        while offset < custom.settings.scan:
            want = min(SCAN_BATCH, custom.settings.scan - offset)
            batch = store.newest_selected(slugs, sources, want, offset)
            matched.extend(item for item in batch if custom.matches(item))
            offset += len(batch)
            if len(batch) < want:
                break
        newest, count = matched[:size], len(matched)
    spec = feed_spec(None, newest, settings.site, labels, rules=rules,
                     hubs=settings.websub.hubs, custom=custom)
    documents.add_feed(spec)
    link = feed_link(spec, None, count, newest[0].date if newest else None)
    return dataclasses.replace(link, label=custom.settings.title)


def _custom_touched(custom: FeedFilter, changes: Changes) -> bool:
    """Whether this refresh's merges may have changed the custom feed: an item was
    touched in one of its categories (old or new category), or anywhere when it
    takes any category. Its source restriction is not checked (an item touched
    through one source may be listed by another too)."""
    slugs = custom.category_slugs()
    return changes.touched and (slugs is None or bool(set(slugs) & changes.slugs))


def _below_minimum(store: Store, rules: CategoryRules, slugs: Sequence[str]) -> set[str]:
    """Of the categories ``slugs`` (never published), those with fewer items than
    ``categories.min_items``."""
    if rules.min_items <= 1:
        return set()
    return {slug for slug in slugs
            if store.count_selected(rules.members(slug), None) < rules.min_items}


def _warn_unknown_categories(customs: Sequence[FeedFilter], present: set[str]) -> None:
    """Log each custom feed category that no item has (a typo, or one yet to come)."""
    for index, custom in enumerate(customs):
        for label in custom.settings.categories:
            target = custom.rules.merged.get(slugify(label), slugify(label))
            if not set(custom.rules.members(target)) & present:
                log_event(logger, Event.FEED_CATEGORY_MISSING,
                          "feeds[%d].categories: no item has the category %r (yet)",
                          index, label, feed=custom.settings.slug, category=label)


def _live_publication(publisher: Publisher) -> Publication | None:
    """The live publication, or None when there is none or it cannot be read (then
    everything is rendered anew)."""
    try:
        return publisher.live()
    except PublishError:
        return None


def render_key(settings: Settings, renderer: Renderer) -> str:
    """What rendered feeds depend on besides the items: the site's settings, the renderer
    and the code that collates and renders. Feeds rendered under another key are
    rendered again rather than carried over."""
    data = json.dumps(
        {"site": dataclasses.asdict(settings.site),
         "websub": settings.websub.hubs,
         "categories": [dict(settings.categories.merge), settings.categories.hide,
                        settings.categories.min_items],
         "feeds": [dataclasses.asdict(feed) for feed in settings.feeds],
         "renderer": f"{type(renderer).__module__}.{type(renderer).__qualname__}",
         "code": _code_fingerprint()},
        sort_keys=True, default=str,
    )
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:32]


@functools.cache
def _code_fingerprint() -> str:
    """A digest of feedsvc's own code and of the versions of the libraries that read
    and render: after an upgrade, every source is read and every feed rendered anew,
    so what changed in them reaches every feed."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    for library in ("feedgen", "lxml", "selectolax", "babel"):
        digest.update(importlib.metadata.version(library).encode())
    return digest.hexdigest()


# --- logging -------------------------------------------------------------------------


def _log_source(report: SourceReport, source: SourceSettings) -> None:
    stale = " stale=true" if report.stale else ""
    if report.status is SourceStatus.FAILED:
        log_event(logger, Event.SOURCE_FAILED, "source=%s status=failed error=%r%s",
                  report.name, report.error, stale, source=report.name, error=report.error,
                  stale=report.stale)
    elif report.status is SourceStatus.SKIPPED:
        retry_at = report.retry_at.isoformat() if report.retry_at else None
        if report.stale:
            log_event(logger, Event.SOURCE_SKIPPED_STALE,
                      "source=%s status=skipped retry_at=%s stale=true", report.name,
                      retry_at or "-", source=report.name, retry_at=retry_at)
        else:
            log_event(logger, Event.SOURCE_SKIPPED, "source=%s status=skipped retry_at=%s",
                      report.name, retry_at or "-", source=report.name, retry_at=retry_at)
    elif report.status is not SourceStatus.MERGED:
        log_event(logger, Event.SOURCE_READ, "source=%s status=%s", report.name,
                  report.status.value, source=report.name, status=report.status.value)
    else:
        log_event(logger, Event.SOURCE_READ,
                  "source=%s status=ok found=%d new=%d updated=%d warnings=%d",
                  report.name, report.found, report.new, report.updated, report.warnings,
                  source=report.name, status="ok", found=report.found, new=report.new,
                  updated=report.updated, warnings=report.warnings)
        for message in report.all_warning_messages or report.warning_messages:
            logger.debug("source=%s warning=%r", source.name, message)


def _log_refresh(report: RefreshReport) -> None:
    failed = [source.name for source in report.sources if not source.ok]
    text = ("refresh status=%s sources=%d failed=%d published=%s feeds=%d items=%d "
            "duration=%.3f%s")
    values = ("ok" if report.ok else "failed", len(report.sources), len(failed),
              str(report.published).lower(), report.feed_count, report.item_count,
              report.duration_seconds, f" error={report.error!r}" if report.error else "")
    if report.ok:
        log_event(logger, Event.RUN_FINISHED, text, *values, published=report.published,
                  feeds=report.feed_count, items=report.item_count,
                  duration=report.duration_seconds)
    else:
        log_event(logger, Event.RUN_FAILED, text, *values, failed=failed,
                  published=report.published, error=report.error)
