"""Settings: defaults, validation errors that name the key, path resolution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from feedsvc.errors import ConfigError
from feedsvc.settings import (
    DEFAULT_CONFIG,
    HTML_SELECTOR_DEFAULTS,
    REQUIRED,
    SOURCE_OPTIONS,
    is_http_url,
    load_settings,
    parse_duration,
    settings_from_mapping,
)


def _settings(raw: dict[str, object], tmp_path: Path, **env: str):  # type: ignore[no-untyped-def]
    return settings_from_mapping(raw, config_path=tmp_path / "feedsvc.toml", environ=env)


def test_bundled_config_loads_with_both_sample_sources() -> None:
    settings = load_settings(DEFAULT_CONFIG, environ={})
    assert settings.site.title == "ILO Newsroom"
    assert [s.name for s in settings.sources] == ["newsroom-2021-01", "newsroom-2021-11"]
    for source in settings.sources:
        assert Path(source.location).is_file()


def test_empty_config_gets_every_default(tmp_path: Path) -> None:
    settings = _settings({}, tmp_path)
    assert settings.site.feed_size == 50
    assert settings.site.base_url == "http://127.0.0.1:8000/"
    assert settings.schedule.interval == 1800
    assert settings.feed_max_age == 1800
    assert settings.storage.database == "sqlite:///" + str((tmp_path.parent / "var" /
                                                            "feedsvc.sqlite3").resolve())
    assert settings.storage.publish_dir == (tmp_path.parent / "var" / "public").resolve()
    assert settings.sources == ()


def test_relative_locations_resolve_against_the_config_file(tmp_path: Path) -> None:
    settings = _settings(
        {"sources": [{"name": "a", "location": "listings/a.txt"},
                     {"name": "b", "location": "https://example.org/news"}]},
        tmp_path,
    )
    assert settings.sources[0].location == str(tmp_path / "listings" / "a.txt")
    assert not settings.sources[0].is_remote
    assert settings.sources[1].location == "https://example.org/news"
    assert settings.sources[1].is_remote


def test_html_sources_keep_only_the_selectors_they_set(tmp_path: Path) -> None:
    # The fields without a selector are detected (or read with the defaults).
    settings = _settings(
        {"sources": [{"name": "h", "location": "https://example.org/", "format": "html",
                      "selectors": {"item": "div.news"}},
                     {"name": "d", "location": "https://example.org/d", "format": "html"}]},
        tmp_path,
    )
    assert dict(settings.sources[0].selectors or {}) == {"item": "div.news"}
    assert settings.sources[1].selectors is None
    assert "title" in HTML_SELECTOR_DEFAULTS


def test_format_defaults_to_auto_and_dates_to_day_month_year(tmp_path: Path) -> None:
    source = _settings({"sources": [{"name": "a", "location": "a.txt"}]}, tmp_path).sources[0]
    assert (source.format, source.date_order, source.render, source.max_pages) == (
        "auto", "dmy", "fetch", 1)


def test_json_paths_are_checked(tmp_path: Path) -> None:
    source = _settings({"sources": [{"name": "j", "location": "https://example.org/api",
                                     "format": "json",
                                     "paths": {"items": "data.news", "title": "title.rendered"}}]},
                       tmp_path).sources[0]
    assert dict(source.options["paths"]) == {"items": "data.news", "title": "title.rendered"}


def test_admin_token_comes_from_the_environment(tmp_path: Path) -> None:
    token = "an-admin-token-from-the-environment-" + "x" * 8
    settings = _settings({}, tmp_path, FEEDSVC_ADMIN_TOKEN=token)
    assert settings.server.admin_token == token


def test_cache_max_age_defaults_to_interval_capped_at_an_hour(tmp_path: Path) -> None:
    assert _settings({"schedule": {"interval": "6h"}}, tmp_path).feed_max_age == 3600
    assert _settings({"server": {"cache_max_age": 60}}, tmp_path).feed_max_age == 60


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"site": {"title": ""}}, "site.title"),
        ({"site": {"base_url": "ftp://example.org/"}}, "site.base_url"),
        ({"site": {"timezone": "Mars/Olympus"}}, "site.timezone"),
        ({"site": {"feed_size": 0}}, "site.feed_size"),
        ({"site": {"feed_size": "50"}}, "site.feed_size"),
        ({"site": {"colour": "blue"}}, "site.colour"),
        ({"sites": {}}, "sites"),
        ({"server": {"port": 70000}}, "server.port"),
        ({"schedule": {"interval": "soon"}}, "schedule.interval"),
        ({"schedule": {"cron": "every hour"}}, "schedule.cron"),
        ({"schedule": {"run_at_startup": "yes"}}, "schedule.run_at_startup"),
        ({"sources": {"name": "x"}}, "sources"),
        ({"sources": [{"location": "a.txt"}]}, "sources[0].name"),
        ({"sources": [{"name": "a"}]}, "sources[0].location"),
        ({"sources": [{"name": "a", "location": "a.txt", "format": "pdf"}]}, "sources[0].format"),
        ({"sources": [{"name": "a", "location": "a.txt", "language": "de"}]},
         "sources[0].language"),
        ({"sources": [{"name": "a", "location": "ftp://x/a.txt"}]}, "sources[0].location"),
        ({"sources": [{"name": "a", "location": "a"}, {"name": "a", "location": "b"}]},
         "sources[1].name"),
        ({"sources": [{"name": "a", "location": "a", "selectors": {"colour": "x"}}]},
         "sources[0].selectors.colour"),
        ({"sources": [{"name": "a", "location": "a", "format": "html",
                       "selectors": {"item": "li[[["}}]}, "sources[0].selectors.item"),
        ({"sources": [{"name": "a", "location": "a", "paths": {"colour": "x"}}]},
         "sources[0].paths.colour"),
        ({"sources": [{"name": "a", "location": "a", "paths": {"items": "a..b"}}]},
         "sources[0].paths.items"),
        ({"sources": [{"name": "a", "location": "a", "date_order": "dym"}]},
         "sources[0].date_order"),
        ({"sources": [{"name": "a", "location": "a", "render": "chrome"}]},
         "sources[0].render"),
        ({"sources": [{"name": "a", "location": "http://[::1/news"}]}, "sources[0].location"),
        ({"sources": [{"name": "a", "location": "https:///news"}]}, "sources[0].location"),
        ({"site": {"base_url": "http://[::1/"}}, "site.base_url"),
        ({"site": {"base_url": "http://example.org:99999/"}}, "site.base_url"),
        ({"site": {"base_url": "http://example.org/?q=1"}}, "site.base_url"),
        ({"site": {"base_url": "http://example.org/#top"}}, "site.base_url"),
        ({"site": {"language": "english please"}}, "site.language"),
        ({"schedule": {"cron": "0 6 1 * 1"}}, "schedule.cron"),
    ],
)
def test_invalid_settings_name_the_key(raw: dict[str, object], key: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        _settings(raw, tmp_path)
    assert info.value.key == key
    assert str(info.value).startswith(f"{key}: ")


def test_a_source_needs_a_name_and_a_location(tmp_path: Path) -> None:
    assert [o.key for o in SOURCE_OPTIONS if o.default is REQUIRED] == ["name", "location"]
    with pytest.raises(ConfigError, match=r"^sources\[0\]\.location: is required$"):
        _settings({"sources": [{"name": "a"}]}, tmp_path)


def test_empty_optional_strings_mean_unset(tmp_path: Path) -> None:
    settings = _settings({"server": {"admin_token": ""}, "schedule": {"cron": ""}}, tmp_path)
    assert settings.server.admin_token is None
    assert settings.schedule.cron is None


@pytest.mark.parametrize(
    ("location", "remote"),
    [("http://example.org/a", True), ("https://example.org/a", True), ("a.txt", False),
     ("/srv/a.txt", False), ("ftp://example.org/a", False), ("C:/a.txt", False)],
)
def test_is_http_url(location: str, remote: bool) -> None:
    assert is_http_url(location) is remote


def test_load_settings_reports_the_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[site]\nfeed_size = -1\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    message = str(info.value)
    assert info.value.key == "site.feed_size"
    assert str(path) in message and "site.feed_size" in message
    assert "\n" not in message


@pytest.mark.parametrize("content", ["[site\n", "title = 'x'\n[site]\ntitle = 1\n"])
def test_unreadable_or_invalid_toml_is_one_clear_error(content: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError):
        load_settings(path, environ={})


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "absent.toml", environ={})


def test_config_path_comes_from_the_environment(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "env.toml"
    path.write_text('[site]\ntitle = "From env"\n', encoding="utf-8")
    monkeypatch.setenv("FEEDSVC_CONFIG", str(path))
    assert load_settings().site.title == "From env"


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("6h", 21600), ("1d", 86400), ("45", 45)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "1.5h", "-3m", "3 weeks"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("cron", ["*/30 * * * *", "0 6 * * 1-5", "0 6 1 * *", "0 0 * * 7"])
def test_good_cron_expressions_are_accepted(cron: str, tmp_path: Path) -> None:
    assert _settings({"schedule": {"cron": cron}}, tmp_path).schedule.cron == cron


@pytest.mark.parametrize("tag", ["en", "fr-CH", "es-419", "zh-Hant-TW"])
def test_language_tags_are_accepted(tag: str, tmp_path: Path) -> None:
    assert _settings({"site": {"language": tag}}, tmp_path).site.language == tag


@pytest.mark.parametrize(
    ("cron", "ok"), [("*/30 * * * *", True), ("61 * * * *", False), ("0 6 * * funday", False)]
)
def test_check_config_reads_the_cron_expression_as_the_scheduler_will(
    cron: str, ok: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from feedsvc import cli

    path = tmp_path / "feedsvc.toml"
    path.write_text(f'[schedule]\ncron = "{cron}"\n', encoding="utf-8")
    code = cli.main(["--config", str(path), "check-config"])
    out, err = capsys.readouterr()
    if ok:
        assert code == 0 and "ok" in out and err == ""
    else:
        assert code == 1
        assert err.count("\n") == 1 and "schedule.cron" in err


# --- every value check-config accepts works at run time ---

# (what the config says, the key the one error line must name). Each of these
# once passed check-config and failed later, or failed it with a traceback.
REFUSED_AT_CHECK_CONFIG = [
    ('[schedule]\ninterval = "99999999999999d"\n', "schedule.interval"),
    ("[schedule]\ninterval = 99999999999999\n", "schedule.interval"),
    ('[schedule]\ninterval = "366d"\n', "schedule.interval"),
    ('[schedule]\nstale_after = "99999999999999d"\n', "schedule.stale_after"),
    ('[schedule]\ncron = "* * 31 2 *"\n', "schedule.cron"),
    ('[schedule]\ncron = "0 0 30 2 *"\n', "schedule.cron"),
    ('[schedule]\ncron = "0 0 31 4,6,9,11 *"\n', "schedule.cron"),
    ('[schedule]\ncron = "61 * * * *"\n', "schedule.cron"),
    ("[schedule]\nfailover_seconds = 1\n", "schedule.failover_seconds"),
    ("[schedule]\nfailover_seconds = 3601\n", "schedule.failover_seconds"),
    ('[site]\ncontact = "José <jose@example.org>"\n', "site.contact"),
    ('[site]\ncontact = "feeds@bücher.example"\n', "site.contact"),
    ('[site]\ncontact = "a\\r\\nX-Injected: 1"\n', "site.contact"),
    ('[[sources]]\nname = "a\\nfeedsvc: refresh ok=true"\nlocation = "a.txt"\n',
     "sources[0].name"),
    ('[[sources]]\nname = "tab\\there"\nlocation = "a.txt"\n', "sources[0].name"),
    ('[[sources]]\nname = "bell\\u0007"\nlocation = "a.txt"\n', "sources[0].name"),
    ('[[sources]]\nname = "line\\u2028break"\nlocation = "a.txt"\n', "sources[0].name"),
    ('[[sources]]\nname = "next\\u0085line"\nlocation = "a.txt"\n', "sources[0].name"),
    ('[[sources]]\nname = "evil\\u202eftxt"\nlocation = "a.txt"\n', "sources[0].name"),
    ('[storage]\ndatabase = "nonsense"\n', "storage.database"),
    ('[storage]\ndatabase = "nosuchdialect://x/y"\n', "storage.database"),
]


@pytest.mark.parametrize(("content", "key"), REFUSED_AT_CHECK_CONFIG)
def test_check_config_refuses_with_one_line_naming_file_and_key(
    content: str, key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from feedsvc import cli

    path = tmp_path / "feedsvc.toml"
    path.write_text(content, encoding="utf-8")
    code = cli.main(["--config", str(path), "check-config"])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.startswith(f"feedsvc: error: {path.resolve()}: {key}: "), err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert all(char.isprintable() or char == "\n" for char in err), err


# (setting, value): the largest or strangest values accepted, which must work.
ACCEPTED_AT_THE_LIMIT = [
    ("schedule", {"interval": "365d"}),
    ("schedule", {"interval": 31_536_000}),
    ("schedule", {"stale_after": "365d"}),
    ("schedule", {"cron": "0 0 29 2 *"}),
    ("schedule", {"cron": "59 23 31 12 *"}),
]


@pytest.mark.parametrize(("section", "values"), ACCEPTED_AT_THE_LIMIT)
def test_accepted_schedules_work_at_run_time(
    section: str, values: dict[str, object], tmp_path: Path
) -> None:
    import datetime as dt

    from feedsvc.models import Validators
    from feedsvc.scheduler import check_trigger
    from feedsvc.status import is_stale
    from feedsvc.store import SourceState

    settings = _settings({section: values}, tmp_path)
    now = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    assert check_trigger(settings).get_next_fire_time(None, now) is not None
    failing = SourceState("a", Validators(), None, None, None, None,
                          dt.datetime(1, 1, 1, tzinfo=dt.UTC), 3, 0, 0, 0, 0, 0)
    assert is_stale(failing, stale_after=settings.schedule.stale_after, now=now)


def test_a_leap_day_cron_fires_even_across_a_century_without_one() -> None:
    import datetime as dt

    from feedsvc.scheduler import build_trigger
    from feedsvc.settings import ScheduleSettings

    schedule = ScheduleSettings(interval=1800, cron="0 0 29 2 *", run_at_startup=False,
                                stale_after=3600)
    after_2096 = dt.datetime(2096, 3, 1, tzinfo=dt.UTC)
    trigger = build_trigger(schedule, dt.UTC, now=after_2096)
    assert trigger.get_next_fire_time(None, after_2096) == dt.datetime(2104, 2, 29,
                                                                       tzinfo=dt.UTC)


# (base_url as written, as kept): the User-Agent header and every feed link need ASCII.
BASE_URLS_AS_URIS = [
    ("https://feeds.example.org/", "https://feeds.example.org/"),
    ("https://bücher.example/", "https://xn--bcher-kva.example/"),
    ("https://example.org/actualités", "https://example.org/actualit%C3%A9s/"),
    ("https://example.org/my feeds/", "https://example.org/my%20feeds/"),
    ("http://[::1]:8000/a%20b/", "http://[::1]:8000/a%20b/"),
]


@pytest.mark.parametrize(("written", "kept"), BASE_URLS_AS_URIS)
def test_base_url_is_kept_as_an_ascii_uri(written: str, kept: str, tmp_path: Path) -> None:
    from feedsvc.fetch.http import user_agent

    settings = _settings({"site": {"base_url": written, "contact": "feeds@example.org"}},
                         tmp_path)
    assert settings.site.base_url == kept
    user_agent(settings).encode("ascii")


@pytest.mark.parametrize("name", ["Le Monde: économie", "新闻", "a/b: c (d)"])
def test_source_names_may_be_any_one_line_text(name: str, tmp_path: Path) -> None:
    settings = _settings({"sources": [{"name": name, "location": "a.txt"}]}, tmp_path)
    assert settings.sources[0].name == name


# --- each setting declared once: a dataclass field with its help and check ---------


def _declared_tables() -> list[tuple[str, type[Any]]]:
    from feedsvc.settings import SECTIONS, CustomFeedSettings, SourceSettings

    return [*SECTIONS.items(), ("sources", SourceSettings), ("feeds", CustomFeedSettings)]


@pytest.mark.parametrize(("section", "table"), _declared_tables(), ids=lambda v: str(v))
def test_every_field_of_a_settings_table_is_a_declared_setting(
    section: str, table: type[Any]
) -> None:
    import dataclasses

    from feedsvc.settings import options_of

    # SourceSettings.options gathers the format's own settings, declared with each format.
    names = [f.name for f in dataclasses.fields(table) if f.name != "options"]
    assert [o.key for o in options_of(section, table)] == names
    assert all(o.help.strip() and "\n" not in o.help for o in options_of(section, table))


def test_a_declared_default_is_what_an_empty_file_gives(tmp_path: Path) -> None:
    settings = _settings({"sources": [{"name": "a", "location": "a.txt"}],
                          "feeds": [{"slug": "f", "title": "F"}]}, tmp_path)
    assert settings.schedule.interval == 1800  # declared as "30m", as a file writes it
    assert settings.storage.keep_runs == 500 and settings.websub.retries == 3
    assert [reader.name for reader in settings.web.readers] == [
        "Feedly", "Inoreader", "NewsBlur", "The Old Reader"]
    assert settings.sources[0].date_order == "dmy" and settings.feeds[0].scan == 5000


def test_an_undeclared_key_is_an_error_listing_the_declared_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^fetch\.retry: unknown setting; known in \[fetch\]: "
                                          r"connect_timeout, read_timeout, .*, "
                                          r"allow_private_addresses$"):
        _settings({"fetch": {"retry": 3}}, tmp_path)


def test_the_readme_tables_render_each_default_as_a_file_writes_it() -> None:
    from feedsvc.settings import readme_tables

    table = readme_tables()["settings"]
    assert "| `schedule.interval` | `\"30m\"` |" in table
    assert "| `server.admin_token` | `(unset)` |" in table
    assert "| `fetch.allow_private_addresses` | `false` |" in table
    assert "| `name` | required |" in readme_tables()["sources"]


def test_a_table_built_without_arguments_has_the_defaults_a_file_gets(tmp_path: Path) -> None:
    from feedsvc.settings import CategorySettings, WebSettings, WebSubSettings

    settings = _settings({}, tmp_path)
    assert WebSubSettings() == settings.websub
    assert CategorySettings() == settings.categories
    # Declared apart on purpose: built directly (tests), the pages offer no readers.
    assert WebSettings().readers == () and settings.web.readers
