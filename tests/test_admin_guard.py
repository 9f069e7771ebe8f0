"""The admin token: strong or refused at start-up, never logged, and not guessable
by brute force (wrong tokens per client address are limited)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Request
from flask.testing import FlaskClient
from log_events import field, records
from werkzeug.test import EnvironBuilder

from feedsvc.errors import ConfigError
from feedsvc.logevents import Event
from feedsvc.metrics import RefreshStats
from feedsvc.settings import ADMIN_TOKEN_ENV, MIN_ADMIN_TOKEN_LENGTH, settings_from_mapping
from feedsvc.web import create_app
from feedsvc.web.admin import (
    MAX_FAILURES,
    AdminGuard,
    FailedAttempts,
    admin_blueprint,
    client_address,
)

TOKEN = "guard-test-admin-token-" + "g" * 16
ATTACKER, OPERATOR = "192.0.2.66", "198.51.100.7"


def settings_with(raw_token: object = None, **environ: str) -> Any:
    server = {} if raw_token is None else {"admin_token": raw_token}
    return settings_from_mapping({"server": server}, config_path=Path("/nonexistent/f.toml"),
                                 environ=environ)


# --- a strong token or none ---------------------------------------------------------------


@pytest.mark.parametrize("token", [
    "x", "s3cret", "a" * (MIN_ADMIN_TOKEN_LENGTH - 1),
    "with a space but long enough to pass the length rule",
    "tab\tinside-" + "t" * 32, "non-ascii-é-" + "n" * 32,
])
def test_a_weak_token_is_refused_naming_the_key_not_the_token(token: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings_with(token)
    assert info.value.key == "server.admin_token"
    assert token not in str(info.value)
    assert "\n" not in str(info.value)


def test_a_weak_token_from_the_environment_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        settings_with(**{ADMIN_TOKEN_ENV: "short-one"})
    assert info.value.key is not None and ADMIN_TOKEN_ENV in info.value.key
    assert str(info.value).startswith("server.admin_token (from FEEDSVC_ADMIN_TOKEN): ")
    assert "short-one" not in str(info.value)


def test_a_strong_token_is_accepted_and_kept_out_of_the_settings_repr() -> None:
    token = "k" * MIN_ADMIN_TOKEN_LENGTH
    settings = settings_with(token)
    assert settings.server.admin_token == token
    assert token not in repr(settings)
    assert settings_with(**{ADMIN_TOKEN_ENV: TOKEN}).server.admin_token == TOKEN


@pytest.mark.slow
def test_start_up_refuses_a_weak_token_in_one_line(tmp_path: Path) -> None:
    """`feedsvc check-config` (what start-up runs) says why in one line."""
    import subprocess
    import sys

    config = tmp_path / "feedsvc.toml"
    config.write_text('[server]\nadmin_token = "tiny"\n')
    feedsvc = Path(sys.executable).parent / "feedsvc"
    result = subprocess.run([str(feedsvc), "--config", str(config), "check-config"],
                            capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "server.admin_token" in lines[0] and "tiny" not in lines[0]


# --- limited guesses ------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingTrigger:
    """Queues nothing: counts the requests that got through the guard."""

    def __init__(self) -> None:
        self.calls = 0

    def request(self, requested_by: str) -> int | None:
        self.calls += 1
        return self.calls


def no_stats() -> RefreshStats:
    return RefreshStats(runs=0, last_started=None, last_duration=None, last_ok=None,
                        durations=(), sources=())


def guarded_client(clock: Clock, trigger: CountingTrigger) -> FlaskClient:
    app = Flask("test-guard")
    guard = AdminGuard(TOKEN, FailedAttempts(clock=clock))
    app.register_blueprint(admin_blueprint(settings_with(TOKEN), trigger=trigger,
                                           stats=no_stats, guard=guard))
    return app.test_client()


def post(client: FlaskClient, token: str, address: str = ATTACKER) -> Any:
    return client.post("/admin/refresh", headers={"Authorization": f"Bearer {token}"},
                       environ_base={"REMOTE_ADDR": address})


def test_300_wrong_guesses_earn_429_after_the_tenth_and_start_nothing() -> None:
    clock, trigger = Clock(), CountingTrigger()
    client = guarded_client(clock, trigger)
    statuses = [post(client, f"guess-{n:04d}-" + "w" * 30).status_code for n in range(300)]
    assert statuses[:MAX_FAILURES] == [401] * MAX_FAILURES
    assert set(statuses[MAX_FAILURES:]) == {429}
    # Even the right token from that address waits, else the limit would be an oracle.
    blocked = post(client, TOKEN)
    assert blocked.status_code == 429
    assert blocked.headers["Retry-After"] == "60"
    assert blocked.headers["Cache-Control"] == "no-store"
    assert trigger.calls == 0
    # Another address is not affected.
    assert post(client, TOKEN, OPERATOR).status_code == 202
    # Once the failures are a minute old, the address may try again.
    clock.now += 30
    assert post(client, TOKEN).headers["Retry-After"] == "30"
    clock.now += 31
    assert post(client, TOKEN).status_code == 202
    assert trigger.calls == 2


def test_failures_spread_over_more_than_a_minute_are_not_blocked() -> None:
    clock, trigger = Clock(), CountingTrigger()
    client = guarded_client(clock, trigger)
    for _ in range(3 * MAX_FAILURES):
        assert post(client, "w" * 40).status_code == 401
        clock.now += 7
    assert post(client, TOKEN).status_code == 202


def test_a_request_without_a_token_is_not_counted() -> None:
    clock, trigger = Clock(), CountingTrigger()
    client = guarded_client(clock, trigger)
    for _ in range(3 * MAX_FAILURES):
        response = client.post("/admin/refresh", environ_base={"REMOTE_ADDR": ATTACKER})
        assert response.status_code == 401
    assert post(client, TOKEN).status_code == 202


def test_status_and_refresh_share_the_count(tmp_path: Path) -> None:
    settings = settings_from_mapping({
        "storage": {"database": "sqlite:///feedsvc.sqlite3", "publish_dir": "public"},
        "server": {"admin_token": TOKEN},
    }, config_path=tmp_path / "feedsvc.toml")
    client = create_app(settings).test_client()
    wrong = {"Authorization": "Bearer " + "w" * 40}
    for _ in range(MAX_FAILURES // 2):
        assert client.get("/status", headers=wrong,
                          environ_base={"REMOTE_ADDR": ATTACKER}).status_code == 401
        assert client.post("/admin/refresh", headers=wrong,
                           environ_base={"REMOTE_ADDR": ATTACKER}).status_code == 401
    assert client.get("/status", headers=wrong,
                      environ_base={"REMOTE_ADDR": ATTACKER}).status_code == 429
    # Anonymous /status still answers the address: it needs no token.
    assert client.get("/status", environ_base={"REMOTE_ADDR": ATTACKER}).status_code == 200


def test_the_address_table_is_bounded() -> None:
    clock = Clock()
    attempts = FailedAttempts(limit=1, clock=clock, max_addresses=3)
    for address in ("a", "b", "c", "d"):
        attempts.record(address)
    # The least recently failing address is forgotten to make room: it may try again.
    assert attempts.retry_after("a") is None
    assert all(attempts.retry_after(address) is not None for address in ("b", "c", "d"))


@pytest.mark.parametrize(("remote", "forwarded", "address"), [
    ("192.0.2.1", None, "192.0.2.1"),
    ("192.0.2.1", "203.0.113.9", "192.0.2.1"),  # not from the local proxy: not trusted
    ("127.0.0.1", None, "127.0.0.1"),
    ("127.0.0.1", "203.0.113.9", "203.0.113.9"),
    ("127.0.0.1", "198.51.100.1, 203.0.113.9", "203.0.113.9"),  # the client forged the first
    ("::1", "2001:db8::5", "2001:db8::5"),
])
def test_client_address(remote: str, forwarded: str | None, address: str) -> None:
    headers = [("X-Forwarded-For", forwarded)] if forwarded else []
    environ = EnvironBuilder(headers=headers, environ_base={"REMOTE_ADDR": remote}).get_environ()
    assert client_address(Request(environ)) == address


# --- never logged ---------------------------------------------------------------------------


def test_no_token_reaches_the_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = settings_from_mapping({
        "storage": {"database": "sqlite:///feedsvc.sqlite3", "publish_dir": "public"},
        "server": {"admin_token": TOKEN},
    }, config_path=tmp_path / "feedsvc.toml")
    client = create_app(settings).test_client()
    near_miss = TOKEN[:-1] + "x"
    for token in (TOKEN, near_miss, TOKEN):
        client.get("/status", headers={"Authorization": f"Bearer {token}"})
    for _ in range(MAX_FAILURES + 2):
        client.post("/admin/refresh", headers={"Authorization": f"Bearer {near_miss}"})
    logging.getLogger("feedsvc").info("settings loaded: %r", settings)
    refused = records(caplog, Event.ADMIN_TOKEN_REFUSED, "feedsvc.web.admin")
    assert {(r.levelno, field(r, "reason")) for r in refused} == {
        (logging.WARNING, "wrong-token"), (logging.WARNING, "too-many-failures")}
    assert TOKEN not in caplog.text and near_miss not in caplog.text
    assert TOKEN[:16] not in caplog.text
    # Nor in any record's fields, which a structured (JSON) formatter would write.
    assert not [r for r in caplog.records if TOKEN[:16] in repr(r.__dict__)]
