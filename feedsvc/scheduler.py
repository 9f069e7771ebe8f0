"""Scheduled refreshes: APScheduler running ``pipeline.refresh`` on an interval or a cron.

Two ways to run it:

* ``run_scheduler(settings)``: the dedicated process behind ``feedsvc scheduler``
  (a ``BlockingScheduler`` in the foreground). SIGTERM or SIGINT stops it:
  no new refresh starts, a running one is allowed to finish, and the process
  returns normally. A second signal abandons the running refresh at once
  (and does nothing when none is running); that is safe because the store
  writes one transaction per source and a publication goes live with one
  atomic rename, so the last publication stays.
* ``start_background_scheduler(settings)``: the same schedule on a background
  thread, for ``feedsvc serve`` (one small site, one process).

Whichever runs it, a refresh never overlaps another one (``max_instances=1``
here, and the store's cross-process lock in the pipeline), and ticks missed
while a refresh ran long are coalesced into one instead of replayed in a burst.

The scheduler records its state (next run, last tick) in a small JSON file in
the publish directory, written atomically, so that web workers in other
processes can show it on ``/status``: see ``read_scheduler_state``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import tempfile
import threading
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
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
from feedsvc.settings import ScheduleSettings, Settings

log = logging.getLogger("feedsvc.scheduler")

JOB_ID = "refresh"
STATE_FILE = ".scheduler.json"
MAX_MISFIRE_GRACE = 3600

Job = Callable[[], Any]
"""What a tick runs. The default calls ``feedsvc.pipeline.refresh(settings)``."""


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


def misfire_grace_seconds(schedule: ScheduleSettings) -> int:
    """How late a tick may still run: one interval, capped at an hour.

    A tick delayed by less than that (a busy machine, a suspended laptop) still
    runs once; older ones are dropped, and coalescing folds several into one.
    """
    return max(1, min(schedule.interval, MAX_MISFIRE_GRACE))


def site_timezone(settings: Settings) -> dt.tzinfo:
    return zoneinfo.ZoneInfo(settings.site.timezone)


# --- state shared with the web processes ---------------------------------------


def state_path(settings: Settings) -> Path:
    """Where the scheduler records its state: a hidden file in the publish directory."""
    return settings.storage.publish_dir / STATE_FILE


def read_scheduler_state(
    settings: Settings, *, now: dt.datetime | None = None
) -> dict[str, Any] | None:
    """The scheduler's last recorded state, or None when no scheduler has run.

    Keys: ``schedule`` (description), ``pid``, ``started``, ``stopped`` (ISO
    time or None while running), ``next_run`` (ISO time or None), ``ticks``
    (refreshes started by this scheduler since it started), ``last_tick``
    ({started, finished, outcome} or None) and ``overdue``: True when the next
    run is more than a grace period in the past, which means no scheduler is
    running any more although the file says so. ``now`` defaults to the clock.
    """
    try:
        state: dict[str, Any] = json.loads(state_path(settings).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict):
        return None
    moment = now or dt.datetime.now(dt.UTC)
    state["overdue"] = _is_overdue(state, moment, misfire_grace_seconds(settings.schedule))
    return state


def _is_overdue(state: dict[str, Any], now: dt.datetime, grace: int) -> bool:
    next_run = state.get("next_run")
    if not isinstance(next_run, str) or state.get("stopped"):
        return False
    try:
        due = dt.datetime.fromisoformat(next_run)
    except ValueError:
        return False
    return now > due + dt.timedelta(seconds=grace)


def _iso(moment: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC, whole seconds, like the rest of /status."""
    return None if moment is None else moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def _write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class _StateRecorder:
    """Keeps the state file up to date. Thread-safe: ticks and events come from threads."""

    path: Path
    schedule: str
    started: dt.datetime
    ticks: int = 0
    next_run: dt.datetime | None = None
    last_tick: dict[str, Any] | None = None
    stopped: dt.datetime | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

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

    def mark_stopped(self) -> None:
        """Record that the scheduler has stopped (so no next run), and log it."""
        self.update(next_run=None, stopped=dt.datetime.now(dt.UTC))
        log.info("scheduler stopped")

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
        snapshot = {
            "schedule": self.schedule,
            "pid": os.getpid(),
            "started": _iso(self.started),
            "stopped": _iso(self.stopped),
            "next_run": _iso(self.next_run),
            "ticks": self.ticks,
            "last_tick": self.last_tick,
        }
        try:
            _write_json_atomically(self.path, snapshot)
        except OSError as exc:
            # /status loses its "next run" line; refreshing matters more.
            log.warning("cannot record scheduler state in %s: %s", self.path, exc)


# --- the job --------------------------------------------------------------------


def pipeline_job(settings: Settings) -> Job:
    """The default tick: one ``pipeline.refresh(settings)``."""

    def run() -> Any:
        from feedsvc.pipeline import refresh

        return refresh(settings, owner="feedsvc scheduler")

    return run


@dataclass
class _Tick:
    """Runs the job once per tick, logs one line about it and never lets it escape.

    ``close()`` stops further ticks from starting; ``idle`` is set whenever no
    tick is running, so a caller can wait for the running one to finish.
    """

    job: Job
    recorder: _StateRecorder
    idle: threading.Event = field(default_factory=threading.Event)
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.idle.set()

    def close(self) -> None:
        with self.lock:
            self.closed = True

    def __call__(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.idle.clear()
        started = _iso(dt.datetime.now(dt.UTC))
        self.recorder.update(ticks=self.recorder.ticks + 1,
                             last_tick={"started": started, "finished": None,
                                        "outcome": "running"})
        outcome = "abandoned"
        try:
            outcome = self._run_job()
        finally:
            self.recorder.update(last_tick={"started": started,
                                            "finished": _iso(dt.datetime.now(dt.UTC)),
                                            "outcome": outcome})
            self.idle.set()

    def _run_job(self) -> str:
        clock = time.monotonic()
        try:
            report = self.job()
        except RefreshInProgressError:
            log.info("refresh skipped=true reason=%r", "another refresh holds the lock")
            return "skipped"
        except FeedsvcError as exc:
            # Said in full by its message (a store that cannot be written, say).
            log.error("refresh ok=false error=%r duration=%.2fs",
                      str(exc), time.monotonic() - clock)
            return "error"
        except Exception as exc:
            log.exception("refresh ok=false error=%r duration=%.2fs",
                          str(exc), time.monotonic() - clock)
            return "error"
        ok = bool(getattr(report, "ok", True))
        # The pipeline logs the refresh's own line; this one is for tracing ticks.
        log.debug("tick done ok=%s duration=%.2fs", str(ok).lower(), time.monotonic() - clock)
        return "ok" if ok else "failed"


# --- wiring ---------------------------------------------------------------------


def _configure(
    scheduler: BaseScheduler, settings: Settings, job: Job | None
) -> tuple[_Tick, _StateRecorder]:
    _quieten_apscheduler()
    schedule = settings.schedule
    recorder = _StateRecorder(path=state_path(settings), schedule=describe_schedule(schedule),
                              started=dt.datetime.now(dt.UTC))
    tick = _Tick(job=job or pipeline_job(settings), recorder=recorder)
    options: dict[str, Any] = {}
    if schedule.run_at_startup:
        options["next_run_time"] = dt.datetime.now(site_timezone(settings))
    scheduler.add_job(
        tick, check_trigger(settings), id=JOB_ID, name="refresh",
        max_instances=1, coalesce=True, misfire_grace_time=misfire_grace_seconds(schedule),
        replace_existing=True, **options,
    )

    def record_next_run() -> None:
        if scheduler.running:
            found = scheduler.get_job(JOB_ID)
            recorder.set_next_run(None if found is None else found.next_run_time)

    def on_event(event: SchedulerEvent) -> None:
        if event.code == EVENT_SCHEDULER_STARTED:
            log.info("scheduler started schedule=%r", recorder.schedule)
        elif isinstance(event, JobEvent) and event.code == EVENT_JOB_MAX_INSTANCES:
            log.info("refresh skipped=true reason=%r", "the previous refresh is still running")
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
    return tick, recorder


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

    While a refresh runs, records the scheduler as stopped (and the tick as
    abandoned), logs it and ends the process at once with exit 0: the store
    writes one transaction per source and a publication goes live with one
    atomic rename, so the last publication stays intact. With no refresh
    running there is nothing to abandon: it returns, and the shutdown already
    under way finishes normally. ``exit_process`` is replaced in tests.
    """
    name = signal.Signals(signum).name
    if tick.idle.is_set():
        log.info("%s received again: no refresh is running; finishing the shutdown", name)
        return
    log.warning("second %s: abandoning the running refresh; "
                "the last publication stays live", name)
    recorder.mark_stopped_from_signal_handler()
    exit_process(0)


@dataclass(frozen=True)
class BackgroundSchedulerHandle:
    """A running background scheduler. ``shutdown(wait=True)`` lets a running refresh finish."""

    scheduler: BackgroundScheduler
    recorder: _StateRecorder
    tick: _Tick

    def on_second_signal(self, signum: int) -> None:
        """For a stop signal that arrives while stopping: see ``abandon_if_refreshing``.

        Call it from the main thread's signal handler only: it may end the process.
        """
        abandon_if_refreshing(signum, self.tick, self.recorder)

    def shutdown(self, wait: bool = True) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
        self.recorder.mark_stopped()

    def next_run_time(self) -> dt.datetime | None:
        job = self.scheduler.get_job(JOB_ID)
        return None if job is None else job.next_run_time


def start_background_scheduler(
    settings: Settings, *, job: Job | None = None
) -> BackgroundSchedulerHandle:
    """Start refreshing on schedule on a background thread; return its handle.

    With ``schedule.run_at_startup`` the first refresh starts at once. ``job``
    replaces the refresh (tests). The caller stops it with ``handle.shutdown()``.
    """
    scheduler = BackgroundScheduler(**_scheduler_options(settings))
    tick, recorder = _configure(scheduler, settings, job)
    scheduler.start()
    return BackgroundSchedulerHandle(scheduler=scheduler, recorder=recorder, tick=tick)


def run_scheduler(settings: Settings, *, job: Job | None = None) -> None:
    """Refresh on schedule in the foreground until SIGTERM or SIGINT, then return.

    The first signal stops scheduling and waits for a running refresh to
    finish; a second one abandons it and ends the process at once (exit 0:
    the last publication is intact either way), or, with no refresh running,
    changes nothing. Must run on the main thread.
    """
    scheduler = BlockingScheduler(**_scheduler_options(settings))
    tick, recorder = _configure(scheduler, settings, job)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stopping.is_set():
            abandon_if_refreshing(signum, tick, recorder)
            return
        stopping.set()
        log.info("%s received: stopping the scheduler", signal.Signals(signum).name)
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
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    recorder.mark_stopped()


def _stop(scheduler: BaseScheduler, tick: _Tick) -> None:
    tick.close()
    if scheduler.running:
        scheduler.shutdown(wait=False)
