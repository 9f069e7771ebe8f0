"""Scheduled refreshes: APScheduler running ``pipeline.refresh`` on an interval or a cron,
in whichever of any number of scheduler processes holds the scheduler lease.

Two ways to run it:

* ``run_scheduler(settings)``: the dedicated process behind ``feedsvc scheduler``
  (a ``BlockingScheduler`` in the foreground). SIGTERM or SIGINT stops it:
  no new refresh starts, a running one is allowed to finish, and the process
  returns normally. A second signal abandons the running refresh at once
  (and does nothing when none is running); that is safe because the store
  writes one transaction per source and a publication goes live with one
  atomic rename, so the last publication stays.
* ``start_background_scheduler(settings)``: the same on a background thread,
  for ``feedsvc serve`` (one small site, one process).

**Failover.** Any number of them may run, on any machines, against one
store: each is an *instance* (``host:pid:random``) taking part in the
scheduler lease (``feedsvc.store.leases``). Exactly one holds it and is
active: it alone runs scheduled refreshes and the admin trigger's requests.
The others are standbys: their ticks do nothing, and they take the lease
over within ``schedule.failover_seconds`` once the active one stops renewing
it (at once when it stops cleanly and releases it). A standby that takes
over refreshes at once when the last refresh started more than an interval
ago, and records as failed any request the old one left running.

**Requests.** ``POST /admin/refresh`` queues a request in the store; the
active instance polls for one every few seconds and runs it like a tick.

Whichever runs it, a refresh never overlaps another one in this process
(scheduled ticks and requests take turns), nor in any other (the store's
refresh lock in the pipeline), and ticks missed while a refresh ran long are
coalesced into one instead of replayed in a burst.

Each instance records its state (schedule, next run, last tick) in the
store, so that any web process shows it on ``/status`` without importing
this module: see ``feedsvc.status.scheduler_json``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import socket
import threading
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_SCHEDULER_STARTED,
    JobEvent,
    SchedulerEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from feedsvc.errors import ConfigError, FeedsvcError, RefreshInProgressError
from feedsvc.logevents import Event, log_event
from feedsvc.outages import Outage
from feedsvc.settings import ScheduleSettings, Settings
from feedsvc.status import misfire_grace_seconds
from feedsvc.store import InstanceState, Lease, Store
from feedsvc.store.leases import new_instance_id

log = logging.getLogger("feedsvc.scheduler")

JOB_ID = "refresh"
REQUEST_POLL_SECONDS = 2.0
"""How often the active scheduler looks for a queued admin request (at most)."""

Job = Callable[[], Any]
"""What a tick runs. The default calls ``feedsvc.pipeline.refresh(settings)``."""

__all__ = ["JOB_ID", "BackgroundSchedulerHandle", "abandon_if_refreshing", "build_trigger",
           "check_trigger", "crontab_weekdays", "describe_schedule", "misfire_grace_seconds",
           "run_scheduler", "start_background_scheduler"]


# --- triggers -----------------------------------------------------------------


CRON_HORIZON = dt.timedelta(days=8 * 366)
"""How soon a cron expression must fire next: eight years, the longest wait
for a 29 February (none falls in 2097-2103)."""


def build_trigger(
    schedule: ScheduleSettings, tz: dt.tzinfo, *, now: dt.datetime | None = None
) -> BaseTrigger:
    """The trigger for ``schedule``: its cron expression when set, else its interval.

    Cron expressions follow crontab(5), read in ``tz`` (the site's time zone).
    Raises ConfigError for a cron expression that cannot be read, or that
    does not fire within CRON_HORIZON of ``now`` (the clock by default):
    "* * 31 2 *" never does.
    """
    if not schedule.cron:
        return IntervalTrigger(seconds=schedule.interval, timezone=tz)
    try:
        minute, hour, day, month, weekday = schedule.cron.split()
        trigger = CronTrigger(minute=minute, hour=hour, day=day, month=month,
                              day_of_week=crontab_weekdays(weekday), timezone=tz)
    except ValueError as exc:
        raise ConfigError(f"cannot read cron expression {schedule.cron!r}: {exc}",
                          key="schedule.cron") from None
    start = (now or dt.datetime.now(tz)).astimezone(tz)
    next_fire = trigger.get_next_fire_time(None, start)
    if next_fire is None or next_fire - start > CRON_HORIZON:
        raise ConfigError(f"cron expression {schedule.cron!r} never fires: no date matches "
                          "its day and month fields", key="schedule.cron")
    return trigger


def check_trigger(settings: Settings) -> BaseTrigger:
    """``build_trigger`` for ``settings``, its ConfigError naming the config file too."""
    try:
        return build_trigger(settings.schedule, site_timezone(settings))
    except ConfigError as exc:
        raise ConfigError(exc.detail, key=exc.key, path=str(settings.config_path)) from None


_WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def crontab_weekdays(field: str) -> str:
    """A crontab day-of-week field as APScheduler day names: ``"1-5"`` -> ``"mon,...,fri"``.

    Crontab counts 0 (or 7) = Sunday while APScheduler 3 counts 0 = Monday, so
    numbers are never passed through. Accepts ``*``, numbers, names, ranges,
    lists and steps; raises ValueError otherwise.
    """
    days: set[int] = set()
    for item in field.lower().split(","):
        span, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"bad step in day of week {field!r}")
        if span == "*":
            first, last = 0, 6
        else:
            low, _, high = span.partition("-")
            first = _weekday_number(low)
            last = _weekday_number(high) if high else (6 if step_text else first)
            if first > last:
                raise ValueError(f"backward range in day of week {field!r}")
        days.update(day % 7 for day in range(first, last + 1, step))
    if days == set(range(7)):
        return "*"
    return ",".join(_WEEKDAY_NAMES[day] for day in sorted(days))


def _weekday_number(text: str) -> int:
    if text in _WEEKDAY_NAMES:
        return _WEEKDAY_NAMES.index(text)
    if text.isdigit() and int(text) <= 7:
        return int(text)
    raise ValueError(f"unknown day of week {text!r}")


def describe_schedule(schedule: ScheduleSettings) -> str:
    """A short human description: ``"cron */30 * * * *"`` or ``"every 1800s"``."""
    return f"cron {schedule.cron}" if schedule.cron else f"every {schedule.interval}s"


def site_timezone(settings: Settings) -> dt.tzinfo:
    return zoneinfo.ZoneInfo(settings.site.timezone)


# --- state shared with the web processes ---------------------------------------


def _iso(moment: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC, whole seconds, like the rest of /status."""
    return None if moment is None else moment.astimezone(dt.UTC).isoformat(timespec="seconds")


@dataclass
class _StateRecorder:
    """Keeps this instance's row in the store up to date. Thread-safe: ticks, events
    and heartbeats come from threads."""

    store: Store
    instance: str
    schedule: str
    started: dt.datetime
    ticks: int = 0
    next_run: dt.datetime | None = None
    last_tick: dict[str, Any] | None = None
    stopped: dt.datetime | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Written at every heartbeat: a database that is away is one warning, not one each.
    outage: Outage = field(default_factory=lambda: Outage(log, "recording the scheduler's state"))

    def set_next_run(self, next_run: dt.datetime | None) -> None:
        """Record the next run, unless the scheduler has stopped meanwhile."""
        with self.lock:
            if self.stopped is not None:
                return
            self.next_run = next_run
            self._write()

    def update(self, **changes: Any) -> None:
        with self.lock:
            for name, value in changes.items():
                setattr(self, name, value)
            self._write()

    def touch(self) -> None:
        """Record that this instance is alive (``seen``), on each heartbeat."""
        with self.lock:
            if self.stopped is None:
                self._write()

    def mark_stopped(self) -> None:
        """Record that the scheduler has stopped (so no next run), and log it."""
        self.update(next_run=None, stopped=dt.datetime.now(dt.UTC))
        log_event(log, Event.SCHEDULER_STOPPED, "scheduler stopped")

    def mark_stopped_from_signal_handler(self) -> None:
        """Record the stop, and a running tick as abandoned, without waiting long:
        the interrupted thread may hold the lock."""
        if self.lock.acquire(timeout=1):
            try:
                now = dt.datetime.now(dt.UTC)
                self.next_run, self.stopped = None, now
                if self.last_tick is not None and self.last_tick.get("outcome") == "running":
                    self.last_tick = {**self.last_tick, "finished": _iso(now),
                                      "outcome": "abandoned"}
                self._write()
            finally:
                self.lock.release()

    def _write(self) -> None:
        state = InstanceState(
            instance=self.instance, host=socket.gethostname(), pid=os.getpid(),
            schedule=self.schedule, started=self.started, stopped=self.stopped,
            seen=dt.datetime.now(dt.UTC), next_run=self.next_run, ticks=self.ticks,
            last_tick=self.last_tick,
        )
        try:
            self.store.record_scheduler(state)
        except FeedsvcError as exc:
            # /status loses its "next run" line for now; refreshing matters more.
            self.outage.failed(exc)
        else:
            self.outage.succeeded()


# --- the job --------------------------------------------------------------------


def pipeline_job(settings: Settings) -> Job:
    """The default tick: one ``pipeline.refresh(settings)``."""

    def run() -> Any:
        from feedsvc.pipeline import refresh

        return refresh(settings, owner="feedsvc scheduler")

    return run


class _Active:
    """Stands in for the lease until ``_configure`` sets it: always active."""

    def is_active(self) -> bool:
        return True


@dataclass
class _Tick:
    """Runs the job for a scheduled tick or a queued request, one at a time, when this
    instance is active; logs one line about it and never lets it escape.

    ``close()`` stops further runs from starting; ``idle`` is set whenever no
    run is going, so a caller can wait for the running one to finish.
    ``request`` is the id of the request being run, if any.
    """

    job: Job
    recorder: _StateRecorder
    lease: Lease | _Active = field(default_factory=_Active)
    idle: threading.Event = field(default_factory=threading.Event)
    closed: bool = False
    request: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Polled every few seconds: a database that is away is one warning, not one each.
    outage: Outage = field(default_factory=lambda: Outage(log, "admin refresh requests"))

    def __post_init__(self) -> None:
        self.idle.set()

    def close(self) -> None:
        with self.lock:
            self.closed = True

    def _begin(self) -> bool:
        with self.lock:
            if self.closed or not self.idle.is_set():
                return False
            self.idle.clear()
            return True

    def __call__(self) -> None:
        """A scheduled tick: a refresh when active; nothing on a standby."""
        if not self.lease.is_active():
            log.debug("tick skipped: this scheduler is a standby")
            return
        if not self._begin():
            if not self.closed:
                log_event(log, Event.REFRESH_SKIPPED, "refresh skipped=true reason=%r",
                          "an admin request is running", reason="request-running")
            return
        try:
            self._run_recorded()
        finally:
            self.idle.set()

    def run_request(self) -> None:
        """Run the queued admin request, if any, when active and idle."""
        if not self.lease.is_active() or not self._begin():
            return
        store = self.recorder.store
        try:
            claimed = store.claim_refresh_request(self.recorder.instance, dt.datetime.now(dt.UTC))
            self.outage.succeeded()
            if claimed is None:
                return
            self.request = claimed.id
            log.info("admin refresh request=%d started requested_by=%s",
                     claimed.id, claimed.requested_by)
            outcome, error = self._run_recorded(request=claimed.id)
            if outcome == "skipped":
                store.requeue_refresh_request(claimed.id)
            else:
                store.finish_refresh_request(claimed.id, dt.datetime.now(dt.UTC), error=error)
                log.info("admin refresh request=%d %s", claimed.id,
                         "done" if error is None else f"failed error={error!r}")
        except FeedsvcError as exc:
            self.outage.failed(exc)
        finally:
            self.request = None
            self.idle.set()

    def _run_recorded(self, request: int | None = None) -> tuple[str, str | None]:
        started = _iso(dt.datetime.now(dt.UTC))
        extra = {} if request is None else {"request": request}
        self.recorder.update(ticks=self.recorder.ticks + 1,
                             last_tick={"started": started, "finished": None,
                                        "outcome": "running", **extra})
        outcome: str = "abandoned"
        error: str | None = "abandoned"
        try:
            outcome, error = self._run_job()
        finally:
            self.recorder.update(last_tick={"started": started,
                                            "finished": _iso(dt.datetime.now(dt.UTC)),
                                            "outcome": outcome, **extra})
        return outcome, error

    def _run_job(self) -> tuple[str, str | None]:
        """(outcome, error): ok, failed (a source failed), error (the refresh did not
        run through) or skipped (another refresh holds the lock)."""
        clock = time.monotonic()
        try:
            report = self.job()
        except RefreshInProgressError as exc:
            log_event(log, Event.REFRESH_SKIPPED, "refresh skipped=true reason=%r",
                      "another refresh holds the lock", reason="lock-held")
            return "skipped", str(exc)
        except FeedsvcError as exc:
            # Said in full by its message (a store that cannot be written, say).
            log_event(log, Event.REFRESH_ERROR, "refresh ok=false error=%r duration=%.2fs",
                      str(exc), time.monotonic() - clock, error=str(exc))
            return "error", str(exc)
        except Exception as exc:
            log_event(log, Event.REFRESH_ERROR, "refresh ok=false error=%r duration=%.2fs",
                      str(exc), time.monotonic() - clock, exc_info=True,
                      error=str(exc) or type(exc).__name__)
            return "error", str(exc) or type(exc).__name__
        ok = bool(getattr(report, "ok", True))
        # The pipeline logs the refresh's own line; this one is for tracing ticks.
        log_event(log, Event.TICK_DONE, "tick done ok=%s duration=%.2fs", str(ok).lower(),
                  time.monotonic() - clock, ok=ok)
        if ok:
            return "ok", None
        lines = getattr(report, "summary_lines", None)
        return "failed", (lines()[-1] if callable(lines) else "the refresh was not ok")


class _RequestPoller:
    """Looks for a queued admin request every ``interval`` seconds on a thread."""

    def __init__(self, tick: _Tick, interval: float) -> None:
        self._tick = tick
        self._interval = interval
        self.stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feedsvc-requests", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self.stopped.wait(self._interval):
            self._tick.run_request()

    def stop(self, *, wait: bool = True) -> None:
        """Stop polling; with ``wait``, let a request being run finish."""
        self.stopped.set()
        if wait and self._thread.is_alive():
            self._thread.join()


# --- wiring ---------------------------------------------------------------------


@dataclass
class _Parts:
    """One scheduler instance's moving parts, besides APScheduler itself."""

    store: Store
    tick: _Tick
    recorder: _StateRecorder
    lease: Lease
    poller: _RequestPoller
    stopped: bool = False

    def stop(self, *, wait: bool = True) -> None:
        """Stop polling (with ``wait``, after a running request), release the lease,
        record the stop and close the store. Once: later calls do nothing."""
        if self.stopped:
            return
        self.stopped = True
        self.tick.close()
        self.poller.stop(wait=wait)
        self.lease.stop()
        self.recorder.mark_stopped()
        self.store.close()


def _configure(scheduler: BaseScheduler, settings: Settings, job: Job | None) -> _Parts:
    _quieten_apscheduler()
    schedule = settings.schedule
    trigger = check_trigger(settings)
    store = Store.open(settings.storage.database)
    instance = new_instance_id()
    recorder = _StateRecorder(store=store, instance=instance,
                              schedule=describe_schedule(schedule),
                              started=dt.datetime.now(dt.UTC))
    tick = _Tick(job=job or pipeline_job(settings), recorder=recorder)
    first = threading.Event()

    def on_acquired() -> None:
        _take_over(scheduler, store, instance, schedule, catch_up=first.is_set())

    lease = store.scheduler_lease(instance, schedule.failover_seconds, on_acquired=on_acquired)
    tick.lease = lease
    poller = _RequestPoller(tick, min(REQUEST_POLL_SECONDS, lease.times.heartbeat))
    options: dict[str, Any] = {}
    if schedule.run_at_startup:
        options["next_run_time"] = dt.datetime.now(site_timezone(settings))
    scheduler.add_job(
        tick, trigger, id=JOB_ID, name="refresh",
        max_instances=1, coalesce=True, misfire_grace_time=misfire_grace_seconds(schedule),
        replace_existing=True, **options,
    )

    def record_next_run() -> None:
        if scheduler.running:
            found = scheduler.get_job(JOB_ID)
            recorder.set_next_run(None if found is None else found.next_run_time)

    def on_event(event: SchedulerEvent) -> None:
        if event.code == EVENT_SCHEDULER_STARTED:
            log_event(log, Event.SCHEDULER_STARTED, "scheduler started schedule=%r instance=%s",
                      recorder.schedule, instance, schedule=recorder.schedule,
                      instance=instance)
        elif isinstance(event, JobEvent) and event.code == EVENT_JOB_MAX_INSTANCES:
            log_event(log, Event.REFRESH_SKIPPED, "refresh skipped=true reason=%r",
                      "the previous refresh is still running", reason="previous-running")
        # Events arrive on the scheduler's and the executor's threads, some
        # while the scheduler holds its lock (and shutdown waits for the
        # executor under that lock): look the next run up on a thread of its
        # own, which sees it once the scheduler has computed it.
        threading.Thread(target=record_next_run, daemon=True).start()

    scheduler.add_listener(
        on_event,
        EVENT_SCHEDULER_STARTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED
        | EVENT_JOB_MAX_INSTANCES,
    )
    recorder.update()  # this instance's row, before it may take the lease
    lease.start()
    first.set()
    threading.Thread(target=_touch_on_heartbeat, args=(lease, recorder, poller),
                     name="feedsvc-scheduler-seen", daemon=True).start()
    poller.start()
    return _Parts(store=store, tick=tick, recorder=recorder, lease=lease, poller=poller)


def _touch_on_heartbeat(lease: Lease, recorder: _StateRecorder, poller: _RequestPoller) -> None:
    """Keep this instance's ``seen`` time fresh (standbys included) until it stops."""
    while not poller.stopped.wait(lease.times.heartbeat):
        recorder.touch()


def _take_over(
    scheduler: BaseScheduler, store: Store, instance: str, schedule: ScheduleSettings, *,
    catch_up: bool,
) -> None:
    """What this instance does on taking the lease: record the requests the previous
    holder left running as failed, and, with ``catch_up`` (a takeover, not the start),
    refresh at once when the last refresh started more than an interval ago (or as
    soon as the refresh lock a dead refresh holds expires)."""
    now = dt.datetime.now(dt.UTC)
    try:
        for request_id in store.fail_abandoned_requests(instance, now):
            log.warning("admin refresh request=%d failed: abandoned by its scheduler",
                        request_id)
        if not catch_up:
            return
        last = store.last_run(finished=False)
        if last is None or now - last.started > dt.timedelta(seconds=schedule.interval):
            # A refresh the old holder left running keeps the refresh lock until it
            # expires: refresh then, rather than be refused now and wait an interval.
            holder = store.lock_holder()
            when = now if holder is None else max(
                now, dt.datetime.fromtimestamp(holder.expires + 1, dt.UTC))
            log.info("taking over: the last refresh is more than an interval old; "
                     "refreshing at %s", _iso(when))
            scheduler.modify_job(JOB_ID, next_run_time=when)
    except FeedsvcError as exc:
        log.warning("taking over: %s", exc)
    except Exception:  # the lease thread must live on (a job gone during shutdown, say)
        log.exception("taking over")


def _quieten_apscheduler() -> None:
    """APScheduler logs each job start and end at INFO; our own line per refresh suffices."""
    if not log.isEnabledFor(logging.DEBUG):
        logging.getLogger("apscheduler").setLevel(logging.WARNING)


def _scheduler_options(settings: Settings) -> dict[str, Any]:
    return {"timezone": site_timezone(settings),
            "executors": {"default": ThreadPoolExecutor(max_workers=1)}}


def _exit_now(status: int) -> None:
    logging.shutdown()
    os._exit(status)


def abandon_if_refreshing(
    signum: int, tick: _Tick, recorder: _StateRecorder,
    exit_process: Callable[[int], None] = _exit_now,
) -> None:
    """What a second stop signal does: abandon a running refresh, else nothing.

    While a refresh runs, records the scheduler as stopped (and the tick, and a
    request being run, as abandoned), releases the scheduler lease so that a
    standby takes over at once, logs it and ends the process at once with
    exit 0: the store writes one transaction per source and a publication
    goes live with one atomic rename, so the last publication stays intact.
    With no refresh running there is nothing to abandon: it returns, and the
    shutdown already under way finishes normally. ``exit_process`` is
    replaced in tests.
    """
    name = signal.Signals(signum).name
    if tick.idle.is_set():
        log_event(log, Event.SIGNAL_REPEATED,
                  "%s received again: no refresh is running; finishing the shutdown", name,
                  signal=name)
        return
    log_event(log, Event.REFRESH_ABANDONED, "second %s: abandoning the running refresh; "
              "the last publication stays live", name, signal=name)
    recorder.mark_stopped_from_signal_handler()
    request = tick.request
    try:
        if request is not None:
            recorder.store.finish_refresh_request(
                request, dt.datetime.now(dt.UTC), error=f"abandoned: {name}")
    except FeedsvcError as exc:
        log.warning("cannot record the abandoned request: %s", exc)
    if isinstance(tick.lease, Lease):
        tick.lease.release()
    exit_process(0)


@dataclass(frozen=True)
class BackgroundSchedulerHandle:
    """A running background scheduler. ``shutdown(wait=True)`` lets a running refresh finish."""

    scheduler: BackgroundScheduler
    parts: _Parts

    @property
    def recorder(self) -> _StateRecorder:
        return self.parts.recorder

    @property
    def tick(self) -> _Tick:
        return self.parts.tick

    @property
    def lease(self) -> Lease:
        return self.parts.lease

    def on_second_signal(self, signum: int) -> None:
        """For a stop signal that arrives while stopping: see ``abandon_if_refreshing``.

        Call it from the main thread's signal handler only: it may end the process.
        """
        abandon_if_refreshing(signum, self.tick, self.recorder)

    def shutdown(self, wait: bool = True) -> None:
        self.tick.close()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
        self.parts.stop(wait=wait)

    def next_run_time(self) -> dt.datetime | None:
        job = self.scheduler.get_job(JOB_ID)
        return None if job is None else job.next_run_time


def start_background_scheduler(
    settings: Settings, *, job: Job | None = None
) -> BackgroundSchedulerHandle:
    """Start refreshing on schedule on a background thread, as one scheduler instance
    (active, or a standby when another holds the lease); return its handle.

    With ``schedule.run_at_startup`` the first refresh starts at once (when
    active). ``job`` replaces the refresh (tests). The caller stops it with
    ``handle.shutdown()``.
    """
    scheduler = BackgroundScheduler(**_scheduler_options(settings))
    parts = _configure(scheduler, settings, job)
    scheduler.start()
    return BackgroundSchedulerHandle(scheduler=scheduler, parts=parts)


def run_scheduler(settings: Settings, *, job: Job | None = None) -> None:
    """Refresh on schedule in the foreground, as one scheduler instance (active, or a
    standby when another holds the lease), until SIGTERM or SIGINT; then return.

    The first signal stops scheduling and waits for a running refresh to
    finish, then releases the lease; a second one abandons it and ends the
    process at once (exit 0: the last publication is intact either way), or,
    with no refresh running, changes nothing. Must run on the main thread.
    """
    scheduler = BlockingScheduler(**_scheduler_options(settings))
    parts = _configure(scheduler, settings, job)
    tick = parts.tick
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stopping.is_set():
            abandon_if_refreshing(signum, tick, parts.recorder)
            return
        stopping.set()
        name = signal.Signals(signum).name
        log_event(log, Event.SIGNAL_RECEIVED, "%s received: stopping the scheduler", name,
                  signal=name)
        # Shut down from another thread: a signal handler interrupts the main
        # loop at an arbitrary point, possibly inside the scheduler's own lock.
        threading.Thread(target=_stop, args=(scheduler, tick), daemon=True).start()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        scheduler.start()
        tick.close()
        if not tick.idle.is_set():
            log.info("waiting for the running refresh to finish (signal again to abandon it)")
        while not tick.idle.wait(0.2):
            pass
        parts.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop(scheduler: BaseScheduler, tick: _Tick) -> None:
    tick.close()
    if scheduler.running:
        scheduler.shutdown(wait=False)
