"""The scheduler: triggers, one run at a time, errors contained, state for /status, signals,
the lease (one active scheduler of many) and the admin trigger's requests.

Jobs here are injected fakes; the end-to-end runs with the real pipeline, gunicorn
and nginx are in test_deploy.py. No test waits for a whole interval it does not
need: intervals are one second, and waits are for events with a timeout.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import zoneinfo
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import waiting
from log_events import events, field, logged, records
from scheduler_state import read_scheduler_state

from feedsvc.errors import ConfigError, RefreshInProgressError
from feedsvc.logevents import Event
from feedsvc.scheduler import (
    abandon_if_refreshing,
    build_trigger,
    crontab_weekdays,
    describe_schedule,
    misfire_grace_seconds,
    start_background_scheduler,
)
from feedsvc.settings import ScheduleSettings, Settings, settings_from_mapping
from feedsvc.store import InstanceState, Store

ROOT = Path(__file__).resolve().parent.parent
ZURICH = zoneinfo.ZoneInfo("Europe/Zurich")
WAIT = 10.0


SQLITE = "sqlite:///db.sqlite3"
EngineDatabase = Callable[[str], str]
"""tests/postgres.py's ``engine_database``: the SQLite URL given, or a new PostgreSQL one."""


def make_settings(tmp_path: Path, database: str = SQLITE, **schedule: Any) -> Settings:
    raw = {
        "site": {"timezone": "Europe/Zurich"},
        "storage": {"database": database, "publish_dir": "public"},
        "schedule": {"interval": "1s", **schedule},
    }
    return settings_from_mapping(raw, config_path=tmp_path / "feedsvc.toml")


wait_for = partial(waiting.wait_for, timeout=WAIT)


class CountingJob:
    """A fake refresh: counts runs and the most runs at once; can be held and can fail."""

    def __init__(self, *, fail_first: BaseException | None = None) -> None:
        self.runs = 0
        self.running = 0
        self.most_at_once = 0
        self.release = threading.Event()
        self.release.set()
        self.fail_first = fail_first
        self.lock = threading.Lock()

    def __call__(self) -> None:
        with self.lock:
            self.runs += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            failure, self.fail_first = self.fail_first, None
        try:
            self.release.wait(WAIT)
            if failure is not None:
                raise failure
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture
def started(
    tmp_path: Path, engine_database: Callable[[str], str],
) -> Iterator[Callable[..., tuple[Settings, Any]]]:
    """``start(job, **schedule)``: a background scheduler on the test's engine (SQLite,
    unless the test runs on both engines)."""
    handles: list[Any] = []
    database = engine_database(SQLITE)

    def start(job: Callable[[], Any], **schedule: Any) -> tuple[Settings, Any]:
        settings = make_settings(tmp_path, database, **schedule)
        handle = start_background_scheduler(settings, job=job)
        handles.append(handle)
        return settings, handle

    yield start
    for handle in handles:
        handle.shutdown(wait=True)


# --- triggers -------------------------------------------------------------------

NOW = dt.datetime(2026, 11, 22, 3, 7, 0, tzinfo=ZURICH)

TRIGGER_CASES = [
    # (interval, cron, previous fire time, expected next fire time)
    (1800, None, NOW, NOW + dt.timedelta(minutes=30)),
    (2, None, NOW, NOW + dt.timedelta(seconds=2)),
    (1800, "*/30 * * * *", None, dt.datetime(2026, 11, 22, 3, 30, tzinfo=ZURICH)),
    (1800, "0 6 * * *", None, dt.datetime(2026, 11, 22, 6, 0, tzinfo=ZURICH)),
    (1800, "0 6 * * 1", None, dt.datetime(2026, 11, 23, 6, 0, tzinfo=ZURICH)),
]


@pytest.mark.parametrize(("interval", "cron", "previous", "expected"), TRIGGER_CASES)
def test_trigger_fires_on_the_interval_or_cron_in_the_site_zone(
    interval: int, cron: str | None, previous: dt.datetime | None, expected: dt.datetime
) -> None:
    schedule = ScheduleSettings(interval=interval, cron=cron, run_at_startup=True,
                                stale_after=3600)
    trigger = build_trigger(schedule, ZURICH)
    assert trigger.get_next_fire_time(previous, NOW) == expected


@pytest.mark.parametrize(
    ("field", "names"),
    [
        ("*", "*"),
        ("0", "sun"),
        ("7", "sun"),
        ("1", "mon"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("mon-fri", "mon,tue,wed,thu,fri"),
        ("6,0", "sun,sat"),
        ("5-7", "sun,fri,sat"),
        ("*/2", "sun,tue,thu,sat"),
        ("1/3", "mon,thu"),
        ("0-7", "*"),
    ],
)
def test_crontab_weekdays_count_from_sunday(field: str, names: str) -> None:
    assert crontab_weekdays(field) == names


@pytest.mark.parametrize("cron", ["0 6 * * 8", "0 6 * * fri-mon", "61 * * * *", "0 6 * * */0"])
def test_an_unreadable_cron_expression_is_a_config_error(cron: str) -> None:
    schedule = ScheduleSettings(interval=60, cron=cron, run_at_startup=True, stale_after=1)
    with pytest.raises(ConfigError, match=r"schedule\.cron"):
        build_trigger(schedule, ZURICH)


def test_cron_wins_over_interval_in_the_description() -> None:
    assert describe_schedule(ScheduleSettings(60, "*/5 * * * *", True, 1)) == "cron */5 * * * *"
    assert describe_schedule(ScheduleSettings(60, None, True, 1)) == "every 60s"


@pytest.mark.parametrize(("interval", "grace"), [(1, 1), (1800, 1800), (86400, 3600)])
def test_misfire_grace_is_one_interval_at_most_an_hour(interval: int, grace: int) -> None:
    assert misfire_grace_seconds(ScheduleSettings(interval, None, True, 1)) == grace


# --- the background scheduler ---------------------------------------------------


@pytest.mark.slow
def test_runs_once_at_start_up_then_on_each_tick(started: Any) -> None:
    job = CountingJob()
    settings, _ = started(job)
    wait_for(lambda: job.runs >= 1, timeout=2)
    wait_for(lambda: job.runs >= 2)
    state = read_scheduler_state(settings)
    assert state is not None
    assert state["schedule"] == "every 1s"
    assert state["pid"] == os.getpid()
    assert state["ticks"] >= 2
    assert state["next_run"] is not None
    assert state["overdue"] is False


def test_no_run_at_start_up_when_disabled(started: Any) -> None:
    job = CountingJob()
    settings, handle = started(job, run_at_startup=False, interval="1h")
    wait_for(lambda: read_scheduler_state(settings) is not None)
    assert job.runs == 0
    next_run = handle.next_run_time()
    assert next_run is not None
    assert next_run > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=59)
    state = read_scheduler_state(settings)
    assert state is not None
    assert dt.datetime.fromisoformat(state["next_run"]) == next_run.replace(microsecond=0)


@pytest.mark.slow
def test_a_slow_refresh_is_never_run_twice_at_once_and_missed_ticks_are_not_replayed(
    started: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="feedsvc.scheduler")
    job = CountingJob()
    job.release.clear()
    started(job)
    wait_for(lambda: "previous-running" in [
        field(r, "reason") for r in records(caplog, Event.REFRESH_SKIPPED)])
    runs_while_held = job.runs
    job.release.set()
    wait_for(lambda: job.running == 0)
    assert runs_while_held == 1
    assert job.most_at_once == 1
    # After the long run, the skipped ticks are not made up in a burst.
    assert job.runs <= 2


@pytest.mark.slow
def test_a_failing_refresh_never_stops_the_scheduler(
    started: Any, caplog: pytest.LogCaptureFixture
) -> None:
    job = CountingJob(fail_first=RuntimeError("disk on fire"))
    settings, _ = started(job)
    wait_for(lambda: job.runs >= 2)
    failed = records(caplog, Event.REFRESH_ERROR, "feedsvc.scheduler")
    assert [(r.levelno, field(r, "error")) for r in failed] == [(logging.ERROR, "disk on fire")]
    wait_for(lambda: (read_scheduler_state(settings) or {}).get("ticks", 0) >= 2)


@pytest.mark.slow
def test_a_refresh_refused_by_the_lock_is_skipped_at_info(
    started: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="feedsvc.scheduler")
    job = CountingJob(fail_first=RefreshInProgressError("held by cli"))
    started(job)
    wait_for(lambda: job.runs >= 2)
    skipped = records(caplog, Event.REFRESH_SKIPPED, "feedsvc.scheduler")
    assert "lock-held" in [field(r, "reason") for r in skipped]
    assert all(r.levelno == logging.INFO for r in skipped)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_shutdown_waits_for_the_running_refresh_and_marks_the_state_stopped(
    tmp_path: Path,
) -> None:
    job = CountingJob()
    job.release.clear()
    settings = make_settings(tmp_path, interval="1h")
    handle = start_background_scheduler(settings, job=job)
    wait_for(lambda: job.running == 1)
    threading.Timer(0.2, job.release.set).start()
    handle.shutdown(wait=True)
    assert job.running == 0
    state = read_scheduler_state(settings)
    assert state is not None
    assert state["stopped"] is not None
    assert state["next_run"] is None
    assert state["last_tick"]["outcome"] == "ok"


def test_a_second_signal_abandons_a_running_refresh_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="feedsvc.scheduler")
    job = CountingJob()
    job.release.clear()
    settings = make_settings(tmp_path, interval="1h")
    handle = start_background_scheduler(settings, job=job)
    exits: list[int] = []
    try:
        wait_for(lambda: job.running == 1)
        abandon_if_refreshing(signal.SIGTERM, handle.tick, handle.recorder,
                              exit_process=exits.append)
        assert exits == [0]
        abandoned = records(caplog, Event.REFRESH_ABANDONED, "feedsvc.scheduler")
        assert [(r.levelno, field(r, "signal")) for r in abandoned] == [
            (logging.WARNING, "SIGTERM")]
        state = read_scheduler_state(settings)
        assert state is not None
        assert state["stopped"] is not None and state["next_run"] is None
        assert state["last_tick"]["outcome"] == "abandoned"
    finally:
        job.release.set()
    wait_for(handle.tick.idle.is_set)
    caplog.clear()
    # Idle: nothing to abandon; the shutdown under way just finishes.
    abandon_if_refreshing(signal.SIGINT, handle.tick, handle.recorder,
                          exit_process=exits.append)
    assert exits == [0]
    assert events(caplog, "feedsvc.scheduler") == [(logging.INFO, Event.SIGNAL_REPEATED)]
    assert field(records(caplog, Event.SIGNAL_REPEATED)[0], "signal") == "SIGINT"
    handle.shutdown(wait=True)


# --- state shared with web processes --------------------------------------------


def test_no_state_before_any_scheduler_ran(tmp_path: Path) -> None:
    assert read_scheduler_state(make_settings(tmp_path)) is None


def record_instance(settings: Settings, **changes: Any) -> None:
    state = InstanceState(instance="elsewhere:1:abcd", host="elsewhere", pid=1,
                          schedule="every 1800s", started=T0, stopped=None, seen=T0,
                          next_run=None, ticks=0, last_tick=None)
    with Store.open(settings.storage.database) as store:
        store.record_scheduler(dataclasses.replace(state, **changes))


T0 = dt.datetime(2026, 11, 22, 2, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("next_run", "stopped", "overdue"),
    [
        (dt.datetime(2026, 11, 22, 3, 0, 0, tzinfo=dt.UTC), None, False),
        (dt.datetime(2026, 11, 22, 2, 59, 59, tzinfo=dt.UTC), None, True),
        (dt.datetime(2026, 11, 22, 1, 0, 0, tzinfo=dt.UTC), T0, False),
        (None, None, False),
    ],
)
def test_a_next_run_long_past_means_no_scheduler_is_running(
    tmp_path: Path, next_run: dt.datetime | None, stopped: dt.datetime | None, overdue: bool
) -> None:
    settings = make_settings(tmp_path, interval="30m")
    record_instance(settings, next_run=next_run, stopped=stopped)
    now = dt.datetime(2026, 11, 22, 3, 30, 0, tzinfo=dt.UTC)
    state = read_scheduler_state(settings, now=now)
    assert state is not None
    assert state["overdue"] is overdue
    # Nobody holds the lease: /status says no scheduler is running.
    assert state["running"] is False and state["active"] is None
    assert "no scheduler is running" in state["note"]


# --- the foreground scheduler and signals -----------------------------------------

FOREGROUND = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from feedsvc.cli import configure_logging
    from feedsvc.scheduler import run_scheduler
    from feedsvc.settings import settings_from_mapping

    base = Path(sys.argv[1])
    configure_logging()  # as `feedsvc scheduler` does: to stderr, the file "log"

    def slow_refresh():
        (base / "started").touch()
        while not (base / "release").exists():
            time.sleep(0.02)
        (base / "finished").touch()

    raw = {"storage": {"database": "sqlite:///db.sqlite3", "publish_dir": "public"},
           "schedule": {"interval": "1h"}}
    run_scheduler(settings_from_mapping(raw, config_path=base / "x.toml"), job=slow_refresh)
    print("returned")
    """
)


def start_foreground(tmp_path: Path) -> subprocess.Popen[str]:
    """The FOREGROUND scheduler, its log (stderr) in ``tmp_path / "log"``, once its first
    refresh has started."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(tmp_path / "log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-c", FOREGROUND, str(tmp_path)], env=env,
                                   stdout=subprocess.PIPE, stderr=log, text=True)
    wait_for(lambda: (tmp_path / "started").exists() or process.poll() is not None)
    assert process.poll() is None, (process.communicate(), log_text(tmp_path))
    return process


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.slow
def test_a_signal_lets_the_running_refresh_finish_then_returns(
    tmp_path: Path, signum: int
) -> None:
    process = start_foreground(tmp_path)
    process.send_signal(signum)
    wait_for(lambda: logged(log_text(tmp_path), Event.SIGNAL_RECEIVED))
    assert process.poll() is None
    (tmp_path / "release").touch()
    stdout, _ = process.communicate(timeout=WAIT)
    assert process.returncode == 0, log_text(tmp_path)
    assert stdout.strip() == "returned"
    assert (tmp_path / "finished").exists()
    assert logged(log_text(tmp_path), Event.SCHEDULER_STOPPED)
    state = foreground_state(tmp_path)
    assert state["stopped"] is not None
    assert state["last_tick"]["outcome"] == "ok"
    # Stopped cleanly: the lease is released for a standby to take at once.
    assert state["running"] is False


def foreground_state(tmp_path: Path) -> dict[str, Any]:
    raw = {"storage": {"database": "sqlite:///db.sqlite3", "publish_dir": "public"}}
    state = read_scheduler_state(settings_from_mapping(raw, config_path=tmp_path / "x.toml"))
    assert state is not None
    return state


def log_text(tmp_path: Path) -> str:
    try:
        return (tmp_path / "log").read_text()
    except FileNotFoundError:
        return ""


@pytest.mark.slow
def test_a_second_signal_abandons_the_running_refresh(tmp_path: Path) -> None:
    process = start_foreground(tmp_path)
    process.send_signal(signal.SIGTERM)
    wait_for(lambda: logged(log_text(tmp_path), Event.SIGNAL_RECEIVED))
    assert process.poll() is None
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=WAIT)
    assert process.returncode == 0, log_text(tmp_path)
    assert not (tmp_path / "finished").exists()
    assert logged(log_text(tmp_path), Event.REFRESH_ABANDONED)
    state = foreground_state(tmp_path)
    assert state["stopped"] is not None
    assert state["last_tick"]["outcome"] == "abandoned"
    assert state["running"] is False


# --- one active scheduler among many, and the admin trigger's requests ---------------------


@pytest.mark.both_engines
@pytest.mark.slow
def test_of_two_schedulers_on_one_store_only_the_lease_holder_refreshes(
    tmp_path: Path, engine_database: EngineDatabase,
) -> None:
    settings = make_settings(tmp_path, engine_database(SQLITE), failover_seconds=2)
    first_job, second_job = CountingJob(), CountingJob()
    first = start_background_scheduler(settings, job=first_job)
    second = start_background_scheduler(settings, job=second_job)
    try:
        wait_for(lambda: first_job.runs >= 2)
        assert second_job.runs == 0
        state = read_scheduler_state(settings)
        assert state is not None
        assert state["running"] is True
        assert state["active"] == first.recorder.instance
        assert state["standbys"] == [second.recorder.instance]
        assert state["active_since"] is not None

        # A clean stop releases the lease: the standby takes over at its next look.
        first.shutdown(wait=True)
        runs = first_job.runs
        wait_for(lambda: second_job.runs >= 1)
        state = read_scheduler_state(settings)
        assert state is not None and state["active"] == second.recorder.instance
        assert first_job.runs == runs
    finally:
        first.shutdown(wait=True)
        second.shutdown(wait=True)


@pytest.mark.both_engines
@pytest.mark.slow
def test_a_standby_takes_over_a_lease_its_holder_stopped_renewing(
    tmp_path: Path, engine_database: EngineDatabase,
) -> None:
    settings = make_settings(tmp_path, engine_database(SQLITE), interval="1h",
                             failover_seconds=2)
    second_job = CountingJob()
    with Store.open(settings.storage.database) as store:
        # The holder is an instance whose heartbeats the test makes by hand.
        first = store.scheduler_lease("frozen:1:abcd", 2)
        assert first.step()
        second = start_background_scheduler(settings, job=second_job)
        try:
            # It renews while the standby watches...
            for _ in range(3):
                time.sleep(first.times.heartbeat)
                first.step()
            # ...then hangs (no heartbeats, no release), as a frozen process would.
            wait_for(lambda: second.lease.is_active(), timeout=2 * 2 + WAIT)
            assert not first.is_active()
            # The fake job records no run in the store, so the last refresh is "never":
            # the new holder catches up at once rather than an interval later.
            wait_for(lambda: second_job.runs == 1)
        finally:
            second.shutdown(wait=True)


def queue_request(settings: Settings) -> int:
    with Store.open(settings.storage.database) as store:
        request_id = store.request_refresh("192.0.2.9", dt.datetime.now(dt.UTC))
    assert request_id is not None
    return request_id


def request_state(settings: Settings, request_id: int) -> dict[str, Any]:
    with Store.open(settings.storage.database) as store:
        found = [r for r in store.refresh_requests() if r.id == request_id]
    assert found
    return dataclasses.asdict(found[0])


@pytest.mark.both_engines
def test_the_active_scheduler_runs_a_queued_request(started: Any) -> None:
    job = CountingJob()
    settings, handle = started(job, interval="1h", run_at_startup=False, failover_seconds=2)
    request_id = queue_request(settings)
    wait_for(lambda: request_state(settings, request_id)["state"] == "done")
    assert job.runs == 1
    done = request_state(settings, request_id)
    assert done["runner"] == handle.recorder.instance
    assert done["started"] is not None and done["finished"] >= done["started"]
    state = read_scheduler_state(settings)
    assert state is not None
    assert state["last_tick"]["request"] == request_id
    assert state["last_tick"]["outcome"] == "ok"


@pytest.mark.both_engines
@pytest.mark.slow
def test_a_failing_request_is_recorded_failed_and_one_refused_by_the_lock_stays_queued(
    started: Any,
) -> None:
    job = CountingJob(fail_first=RuntimeError("disk on fire"))
    settings, _ = started(job, interval="1h", run_at_startup=False, failover_seconds=2)
    request_id = queue_request(settings)
    wait_for(lambda: request_state(settings, request_id)["state"] == "failed")
    assert request_state(settings, request_id)["error"] == "disk on fire"

    job.fail_first = RefreshInProgressError("held by cli")
    request_id = queue_request(settings)
    # Refused once by the refresh lock, then run at a later look.
    wait_for(lambda: request_state(settings, request_id)["state"] == "done")
    assert job.runs == 3


@pytest.mark.both_engines
@pytest.mark.slow
def test_a_standby_leaves_requests_to_the_active_scheduler(
    tmp_path: Path, engine_database: EngineDatabase,
) -> None:
    settings = make_settings(tmp_path, engine_database(SQLITE), interval="1h",
                             run_at_startup=False, failover_seconds=2)
    with Store.open(settings.storage.database) as store:
        other = store.scheduler_lease("elsewhere:1:abcd", 3600)
        assert other.step()  # another scheduler holds the lease (and never lets it go)
        job = CountingJob()
        handle = start_background_scheduler(settings, job=job)
        try:
            request_id = queue_request(settings)
            time.sleep(1)  # several looks for requests
            other.step()
            assert request_state(settings, request_id)["state"] == "queued"
            assert job.runs == 0
            state = read_scheduler_state(settings)
            assert state is not None
            assert state["active"] == "elsewhere:1:abcd"
            assert state["standbys"] == [handle.recorder.instance]
        finally:
            handle.shutdown(wait=True)


@pytest.mark.both_engines
@pytest.mark.slow
def test_a_takeover_refreshes_once_a_dead_refresh_lock_expires(
    tmp_path: Path, engine_database: EngineDatabase,
) -> None:
    from feedsvc.store import RefreshLock

    settings = make_settings(tmp_path, engine_database(SQLITE), interval="1h",
                             run_at_startup=False, failover_seconds=2)
    with Store.open(settings.storage.database) as store:
        # A scheduler that died mid-refresh: its lease and its refresh lock, never renewed.
        assert store.scheduler_lease("dead:1:abcd", 2).step()
        assert RefreshLock(store.database, "feedsvc scheduler", ttl=30).try_acquire()
        holder = store.lock_holder()
        assert holder is not None
        job = CountingJob()
        handle = start_background_scheduler(settings, job=job)
        try:
            hour_away = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)

            def next_run() -> dt.datetime:
                found = handle.next_run_time()
                assert found is not None
                return found

            wait_for(lambda: next_run() < hour_away, timeout=WAIT)
            # Not now (it would be refused), not in an hour: when the lock has expired.
            assert next_run() >= dt.datetime.fromtimestamp(holder.expires, dt.UTC)
            assert job.runs == 0
        finally:
            handle.shutdown(wait=True)
