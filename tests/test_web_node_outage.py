"""A web node whose database goes away (PostgreSQL restarting, out of reach): it serves
the last publication it opened from memory, says so once in its log, answers /status
with 503 rather than 500, and says once when the database answers again."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from log_events import field, records
from postgres import PostgresServer

from feedsvc.logevents import Event
from feedsvc.pipeline import refresh
from feedsvc.settings import Settings

pytestmark = pytest.mark.slow

WAIT = 30.0
Build = Callable[..., Settings]


def site(make_settings: Build, tmp_path: Path, pipeline_data: Path, database: str) -> Settings:
    (tmp_path / "listings").mkdir(exist_ok=True)
    shutil.copy(pipeline_data / "site-a.txt", tmp_path / "listings" / "a.txt")
    return make_settings(
        [{"name": "a", "location": "listings/a.txt", "language": "en"}],
        storage={"database": database, "publication": "database",
                 "publication_poll_seconds": 1},
    )


def unreadable(caplog: pytest.LogCaptureFixture) -> list[tuple[int, object]]:
    """(level, fallback) of each time the app said it cannot read the publication."""
    return [(record.levelno, field(record, "fallback")) for record
            in records(caplog, Event.PUBLICATION_UNREADABLE, "feedsvc.web.app")]


def drop(server: PostgresServer, url: str) -> None:
    server.drop_database(url)


def test_a_node_serves_the_last_publication_while_its_database_is_gone(
    make_settings: Build, tmp_path: Path, pipeline_data: Path, caplog: pytest.LogCaptureFixture,
    postgres_server: PostgresServer, postgres_database: Callable[[], str],
) -> None:
    from feedsvc.web import create_app

    url = postgres_database()
    settings = site(make_settings, tmp_path, pipeline_data, url)
    assert refresh(settings).published
    client = create_app(settings).test_client()
    plain = client.get("/feeds/all.atom")
    packed = client.get("/feeds/all.atom", headers={"Accept-Encoding": "gzip"})
    assert plain.status_code == packed.status_code == 200
    assert client.get("/status").status_code == 200
    caplog.set_level(logging.INFO, logger="feedsvc.web.app")

    drop(postgres_server, url)
    # Until the node notices (its poll interval), and long after: the same feed.
    deadline = time.monotonic() + WAIT
    while not unreadable(caplog):
        assert time.monotonic() < deadline, "the node never noticed the database gone"
        again = client.get("/feeds/all.atom")
        assert (again.status_code, again.data) == (200, plain.data)
        time.sleep(0.05)
    for _ in range(20):
        again = client.get("/feeds/all.atom")
        assert (again.status_code, again.headers["ETag"]) == (200, plain.headers["ETag"])
        assert again.data == plain.data
        gz = client.get("/feeds/all.atom", headers={"Accept-Encoding": "gzip"})
        assert (gz.status_code, gz.data) == (200, packed.data)
        assert client.get("/feeds/all.atom",
                          headers={"If-None-Match": plain.headers["ETag"]}).status_code == 304
    status = client.get("/status")
    assert status.status_code == 503
    assert "Retry-After" in status.headers
    assert str(sa.make_url(url).port) not in status.get_data(as_text=True)
    # Said once, however many requests met the outage: served from memory meanwhile.
    assert unreadable(caplog) == [(logging.WARNING, "memory")]

    # The database is back (restored, refreshed): the node says so once, and serves it.
    name = sa.make_url(url).database
    with postgres_server.engine().connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' "
                             "LC_COLLATE 'C' LC_CTYPE 'C'")
    assert refresh(settings).published
    deadline = time.monotonic() + WAIT
    while not records(caplog, Event.PUBLICATION_READABLE_AGAIN, "feedsvc.web.app"):
        assert time.monotonic() < deadline, "the node never read the database again"
        assert client.get("/feeds/all.atom").status_code == 200
        time.sleep(0.05)
    assert client.get("/status").status_code == 200


def test_a_node_started_before_its_database_exists_answers_503_until_it_does(
    make_settings: Build, tmp_path: Path, pipeline_data: Path, caplog: pytest.LogCaptureFixture,
    postgres_server: PostgresServer,
) -> None:
    from feedsvc.web import create_app

    missing = postgres_server.admin_url.set(database="feedsvc_test_not_created")
    settings = site(make_settings, tmp_path, pipeline_data,
                    missing.render_as_string(hide_password=False))
    client = create_app(settings).test_client()
    caplog.set_level(logging.INFO, logger="feedsvc.web.app")
    for _ in range(5):
        feed = client.get("/feeds/all.atom")
        assert feed.status_code == 503
        assert "Retry-After" in feed.headers
        assert b"cannot be read right now" in feed.data
        assert b"Nothing published yet" not in feed.data
        status = client.get("/status")
        assert status.status_code == 503
        assert "Retry-After" in status.headers
    # Said once, however many requests met it: nothing held, so 503 meanwhile.
    assert unreadable(caplog) == [(logging.WARNING, "unavailable")]

    # The database is created and a scheduler publishes: the same node serves it.
    with postgres_server.engine().connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {missing.database} TEMPLATE template0 "
                             "ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'")
    try:
        assert refresh(settings).published
        deadline = time.monotonic() + WAIT
        while client.get("/feeds/all.atom").status_code != 200:
            assert time.monotonic() < deadline, "the node never served the new database"
            time.sleep(0.05)
        assert client.get("/status").status_code == 200
    finally:
        postgres_server.drop_database(missing.render_as_string(hide_password=False))
