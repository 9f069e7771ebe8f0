"""`feedsvc refresh`: one source at a time, a forced read, and the warnings said."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from feedsvc import cli
from feedsvc.listing import render_numbered
from feedsvc.models import ListingItem
from feedsvc.settings import load_settings
from feedsvc.store import Store

SITE = """
[storage]
database = "{database}"
publish_dir = "var/public"

[[sources]]
name = "news"
location = "listings/news.txt"
language = "en"

[[sources]]
name = "other"
location = "listings/other.txt"
language = "en"
"""
SQLITE = "sqlite:///var/feedsvc.sqlite3"
DATELESS = "".join(f"  {n}. Media contact number {n}\n\n" for n in range(1, 9))


def listing(prefix: str) -> str:
    return render_numbered([ListingItem(f"{prefix} item {n}", dt.date(2021, 11, 20 - n), None,
                                        None, None) for n in range(3)])


pytestmark = pytest.mark.both_engines


@pytest.fixture
def config(tmp_path: Path, engine_database: Callable[[str], str]) -> Path:
    (tmp_path / "listings").mkdir()
    (tmp_path / "listings" / "news.txt").write_text(listing("News") + DATELESS, "utf-8")
    (tmp_path / "listings" / "other.txt").write_text(listing("Other"), "utf-8")
    path = tmp_path / "feedsvc.toml"
    path.write_text(SITE.format(database=engine_database(SQLITE)), "utf-8")
    return path


def run(config: Path, *args: str) -> int:
    return cli.main(["--config", str(config), *args])


def test_one_source_is_read_and_the_others_left_alone(
    config: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(config, "refresh", "--source", "other") == cli.EXIT_OK
    out = capsys.readouterr().out.splitlines()
    assert out == ["other: 3 found, 3 new, 0 updated, 0 warnings",
                   "1 of 1 sources ok; published 1 feeds with 3 items"]
    with Store.open(load_settings(config).storage.database) as store:
        assert store.source_state("news") is None


def test_an_unknown_source_is_one_error_line(
    config: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(config, "refresh", "--source", "nope") == cli.EXIT_ERROR
    err = capsys.readouterr().err.splitlines()
    assert err == ["feedsvc: error: no source named 'nope' (the sources are: news, other)"]


@pytest.mark.slow
def test_force_reads_an_unchanged_source_in_full(
    config: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    run(config, "refresh", "--source", "other")
    run(config, "refresh", "--source", "other")
    capsys.readouterr()
    assert run(config, "refresh", "--source", "other", "--force") == cli.EXIT_OK
    assert capsys.readouterr().out.splitlines()[0] == (
        "other: 3 found, 0 new, 0 updated, 0 warnings")


@pytest.mark.slow
def test_warnings_are_said_the_first_few_or_all(
    config: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    run(config, "refresh", "--source", "news")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "news: 3 found, 3 new, 0 updated, 8 warnings"
    assert len([line for line in out if line.startswith("  warning: line ")]) == 5
    assert "  ... 3 more warning(s): feedsvc -v refresh" in out
    assert run(config, "-v", "refresh", "--source", "news", "--force") == cli.EXIT_OK
    out = capsys.readouterr().out.splitlines()
    assert len([line for line in out if line.startswith("  warning: line ")]) == 8


def test_every_warning_is_said_with_verbose_and_the_first_twenty_in_status(
    config: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    import datetime as dt

    from feedsvc.settings import load_settings
    from feedsvc.status import admin_status, public_status, read_status

    many = "".join(f"  {n}. Media contact number {n}\n\n" for n in range(1, 31))
    (config.parent / "listings" / "news.txt").write_text(listing("News") + many, "utf-8")
    assert run(config, "refresh", "--source", "news") == cli.EXIT_OK
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "news: 3 found, 3 new, 0 updated, 30 warnings"
    assert len([line for line in out if line.startswith("  warning: line ")]) == 5
    assert "  ... 25 more warning(s): feedsvc -v refresh" in out
    assert run(config, "-v", "refresh", "--source", "news", "--force") == cli.EXIT_OK
    out = capsys.readouterr().out.splitlines()
    said = [line for line in out if line.startswith("  warning: line ")]
    assert len(said) == 30
    assert said[-1].endswith("numbered (30.) item 'Media contact number 30' has no date, "
                             "skipped")
    settings = load_settings(config, environ={})
    with Store.open(settings.storage.database) as store:
        status = read_status(store, settings, now=dt.datetime.now(dt.UTC))
    news = admin_status(status)["sources"]["news"]
    assert news["warnings"] == 30
    assert len(news["warning_messages"]) == 21
    assert news["warning_messages"][0].startswith("line ")
    assert news["warning_messages"][-1] == "... and 10 more warning(s)"
    # Anyone sees how many; the words (which may quote a page) only the admin.
    assert public_status(status)["sources"]["news"]["warnings"] == 30
    assert "warning_messages" not in public_status(status)["sources"]["news"]
    # A source the last refresh did not read shows its count, not stale words.
    assert status["sources"]["other"]["warning_messages"] is None
