"""The scheduler: triggers, one run at a time, errors contained, state for /status, signals.

Jobs here are injected fakes; the end-to-end runs with the real pipeline, gunicorn
and nginx are in test_deploy.py. No test waits for a whole interval it does not
need: intervals are one second, and waits are for events with a timeout.
"""

from __future__ import annotations

import datetime as dt
import json
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
from pathlib import Path
from typing import Any

import pytest

from feedsvc.errors import ConfigError, RefreshInProgressError
from feedsvc.scheduler import (
    STATE_FILE,
    abandon_if_refreshing,
    build_trigger,
    crontab_weekdays,
    describe_schedule,
    misfire_grace_seconds,
    read_scheduler_state,
    start_background_scheduler,
)
from feedsvc.settings import ScheduleSettings, Settings, settings_from_mapping

ROOT = Path(__file__).resolve().parent.parent
ZURICH = zoneinfo.ZoneInfo("Europe/Zurich")
WAIT = 10.0


def make_settings(tmp_path: Path, **schedule: Any) -> Settings:
    raw = {
        "site": {"timezone": "Europe/Zurich"},
        "storage": {"database": "sqlite:///db.sqlite3", "publish_dir": "public"},
        "schedule": {"interval": "1s", **schedule},
    }
    return settings_from_mapping(raw, config_path=tmp_path / "feedsvc.toml")


def wait_for(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


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
def started(tmp_path: Path) -> Iterator[Callable[..., tuple[Settings, Any]]]:
    handles: list[Any] = []

    def start(job: Callable[[], Any], **schedule: Any) -> tuple[Settings, Any]:
        settings = make_settings(tmp_path, **schedule)
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
    wait_for(lambda: "the previous refresh is still running" in caplog.text)
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
    assert "refresh ok=false error='disk on fire'" in caplog.text
    wait_for(lambda: (read_scheduler_state(settings) or {}).get("ticks", 0) >= 2)


@pytest.mark.slow
def test_a_refresh_refused_by_the_lock_is_skipped_at_info(
    started: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="feedsvc.scheduler")
    job = CountingJob(fail_first=RefreshInProgressError("held by cli"))
    started(job)
    wait_for(lambda: job.runs >= 2)
    skipped = [r for r in caplog.records if "skipped=true" in r.getMessage()]
    assert skipped
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
        assert "second SIGTERM: abandoning the running refresh" in caplog.text
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
    assert "abandoning" not in caplog.text
    assert "SIGINT received again: no refresh is running" in caplog.text
    handle.shutdown(wait=True)


# --- state shared with web processes --------------------------------------------


def test_no_state_before_any_scheduler_ran(tmp_path: Path) -> None:
    assert read_scheduler_state(make_settings(tmp_path)) is None


@pytest.mark.parametrize(
    ("next_run", "stopped", "overdue"),
    [
        ("2026-11-22T03:00:00+00:00", None, False),
        ("2026-11-22T02:59:59+00:00", None, True),
        ("2026-11-22T01:00:00+00:00", "2026-11-22T01:00:00+00:00", False),
        (None, None, False),
    ],
)
def test_a_next_run_long_past_means_no_scheduler_is_running(
    tmp_path: Path, next_run: str | None, stopped: str | None, overdue: bool
) -> None:
    settings = make_settings(tmp_path, interval="30m")
    settings.storage.publish_dir.mkdir(parents=True)
    (settings.storage.publish_dir / STATE_FILE).write_text(
        json.dumps({"next_run": next_run, "stopped": stopped}))
    now = dt.datetime(2026, 11, 22, 3, 30, 0, tzinfo=dt.UTC)
    state = read_scheduler_state(settings, now=now)
    assert state is not None
    assert state["overdue"] is overdue


def test_an_unreadable_state_file_reads_as_none(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    settings.storage.publish_dir.mkdir(parents=True)
    (settings.storage.publish_dir / STATE_FILE).write_text("{not json")
    assert read_scheduler_state(settings) is None


# --- the foreground scheduler and signals -----------------------------------------

FOREGROUND = textwrap.dedent(
    """
    import logging, sys, time
    from pathlib import Path
    from feedsvc.scheduler import run_scheduler
    from feedsvc.settings import settings_from_mapping

    base = Path(sys.argv[1])
    logging.basicConfig(filename=base / "log", level=logging.INFO)

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
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-c", FOREGROUND, str(tmp_path)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (tmp_path / "started").exists() or process.poll() is not None)
    assert process.poll() is None, process.communicate()
    return process


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.slow
def test_a_signal_lets_the_running_refresh_finish_then_returns(
    tmp_path: Path, signum: int
) -> None:
    process = start_foreground(tmp_path)
    process.send_signal(signum)
    wait_for(lambda: "waiting for the running refresh" in log_text(tmp_path))
    assert process.poll() is None
    (tmp_path / "release").touch()
    stdout, stderr = process.communicate(timeout=WAIT)
    assert process.returncode == 0, stderr
    assert stdout.strip() == "returned"
    assert (tmp_path / "finished").exists()
    assert "scheduler stopped" in log_text(tmp_path)
    state = json.loads((tmp_path / "public" / STATE_FILE).read_text())
    assert state["stopped"] is not None
    assert state["last_tick"]["outcome"] == "ok"


def log_text(tmp_path: Path) -> str:
    try:
        return (tmp_path / "log").read_text()
    except FileNotFoundError:
        return ""


@pytest.mark.slow
def test_a_second_signal_abandons_the_running_refresh(tmp_path: Path) -> None:
    process = start_foreground(tmp_path)
    process.send_signal(signal.SIGTERM)
    wait_for(lambda: "waiting for the running refresh" in log_text(tmp_path))
    assert process.poll() is None
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=WAIT)
    assert process.returncode == 0, stderr
    assert not (tmp_path / "finished").exists()
    assert "abandoning the running refresh" in log_text(tmp_path)
    state = json.loads((tmp_path / "public" / STATE_FILE).read_text())
    assert state["stopped"] is not None
