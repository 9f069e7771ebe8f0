"""The web worker's PostgreSQL notification listener (feedsvc.publishing.NotificationListener):
a database that goes away is one warning, not one every few seconds; hearing again
is said once; ``stop`` ends the thread. Real connections on loopback, no mocks."""

from __future__ import annotations

import datetime as dt
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from log_events import events
from waiting import wait_for

from feedsvc.feeds import SiteSnapshot
from feedsvc.logevents import Event
from feedsvc.publication import Document
from feedsvc.publishing import DatabasePublisher, NotificationListener
from feedsvc.store import Store
from feedsvc.store import publications as stored
from feedsvc.store.schema import Database

WAIT = 30.0
RETRY = 0.05
T0 = dt.datetime(2026, 11, 22, 6, 0, tzinfo=dt.UTC)




class Heard:
    """Counts the listener's calls (each a reason to ask the database again)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self.count += 1


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def listener_events(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return events(caplog, "feedsvc.publishing")


def test_a_database_that_is_gone_is_one_warning_and_the_listener_stops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pytest.importorskip("psycopg")
    caplog.set_level(logging.DEBUG, logger="feedsvc.publishing")
    engine = sa.create_engine(
        f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/gone",
        connect_args={"connect_timeout": 5}, poolclass=sa.pool.NullPool)
    heard = Heard()
    listener = NotificationListener(Database(engine), heard, retry_seconds=RETRY)
    listener.start()
    try:
        # Many reconnection attempts, each followed by a poll.
        wait_for(lambda: heard.count >= 6, "several reconnection attempts")
    finally:
        listener.stop(timeout=WAIT)
    assert not listener.is_alive()
    said = listener_events(caplog)
    # One warning, then only debug lines however many the attempts.
    assert said[0] == (logging.WARNING, Event.NOTIFICATIONS_LOST), said
    assert set(said[1:]) == {(logging.DEBUG, Event.NOTIFICATIONS_STILL_LOST)}, said
    assert len(said) >= 5
    engine.dispose()


class FlakyEngine:
    """A real engine whose first ``failures`` connections fail, as a database that is
    restarting would."""

    def __init__(self, engine: sa.Engine, failures: int) -> None:
        self._engine = engine
        self.failures = failures
        self.dialect = engine.dialect

    def raw_connection(self) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise sa.exc.OperationalError("connect", {}, Exception("the server is restarting"))
        return self._engine.raw_connection()

    def dispose(self) -> None:
        self._engine.dispose()


@pytest.mark.slow
def test_the_listener_says_once_that_it_hears_again_and_then_hears(
    caplog: pytest.LogCaptureFixture, postgres_database: Callable[..., str],
) -> None:
    caplog.set_level(logging.DEBUG, logger="feedsvc.publishing")
    engine = sa.create_engine(sa.make_url(postgres_database()).set(
        drivername="postgresql+psycopg"), poolclass=sa.pool.NullPool)
    heard = Heard()
    flaky = FlakyEngine(engine, failures=3)
    listener = NotificationListener(Database(flaky), heard,  # type: ignore[arg-type]
                                    retry_seconds=RETRY)
    listener.start()
    try:
        wait_for(lambda: (logging.INFO, Event.NOTIFICATIONS_HEARD_AGAIN)
                 in listener_events(caplog), "hearing again")
        before = heard.count
        with engine.connect() as conn:
            conn.exec_driver_sql(f"NOTIFY {stored.NOTIFY_CHANNEL}")
            conn.commit()
        wait_for(lambda: heard.count > before, "the notification heard")
    finally:
        listener.stop(timeout=WAIT)
    assert not listener.is_alive()
    said = listener_events(caplog)
    assert [(level, event) for level, event in said if level >= logging.INFO] == [
        (logging.WARNING, Event.NOTIFICATIONS_LOST),
        (logging.INFO, Event.NOTIFICATIONS_HEARD_AGAIN),
    ]
    engine.dispose()


def listener_threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate()
            if isinstance(thread, NotificationListener) and thread.is_alive()}


def publish_generation(publisher: DatabasePublisher, number: int) -> str:
    """A one-document generation of its own (``number`` tells them apart); its name."""
    moment = T0 + dt.timedelta(minutes=number)
    document = Document(f"<feed n='{number}'/>".encode(), "application/atom+xml", moment)
    site = SiteSnapshot(title="t", description="d", base_url="http://feeds.test/",
                        language="en", feeds=(), latest=(), item_count=1)
    assert publisher.publish({"feeds/all.atom": document}, site, now=moment)
    name = publisher.live_generation()
    assert name is not None
    return name


@pytest.mark.slow
def test_closing_a_database_publisher_stops_its_listener(
    postgres_database: Callable[..., str],
) -> None:
    url = postgres_database()
    Store.open(url).close()  # the schema
    engine = sa.create_engine(sa.make_url(url).set(drivername="postgresql+psycopg"),
                              poolclass=sa.pool.NullPool)
    refreshing = DatabasePublisher(Database(engine))
    # A poll interval of an hour: only its listener makes the web worker ask again.
    web = DatabasePublisher(Database(engine), poll_seconds=3600)
    before = listener_threads()
    assert web.live_generation() is None  # the first question starts the listener
    started = listener_threads() - before
    assert len(started) == 1
    first = publish_generation(refreshing, 1)
    wait_for(lambda: web.live_generation() == first, "the worker to hear of the generation")

    web.close()
    assert not any(thread.is_alive() for thread in started)
    # A closed publisher starts no new listener and hears of no new generation.
    assert web.live_generation() == first
    assert listener_threads() - before == set()
    publish_generation(refreshing, 2)
    time.sleep(2 * NotificationListener.WAIT_SECONDS)
    assert web.live_generation() == first
    engine.dispose()
