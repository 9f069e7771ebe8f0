"""`feedsvc parse LOCATION|--source NAME`: a listing read as the refresh reads it, over
real HTTP on a loopback port, printed as JSON, or as settings to paste (--explain)."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from loopback_pages import PageServer, serve_pages

from feedsvc.cli import main
from feedsvc.pipeline import refresh
from feedsvc.settings import load_settings

pytestmark = pytest.mark.slow

DATA = Path(__file__).parent / "data" / "preview"
KEYS = ["title", "date", "category", "credit", "summary", "link"]


@pytest.fixture
def server() -> Iterator[PageServer]:
    with serve_pages({
        "/news/": ("text/html; charset=utf-8", (DATA / "drupal-news.html").read_bytes()),
        "/api/news": ("application/json", (DATA / "api-news.json").read_bytes()),
        "/big": ("text/plain", b"x" * 5000),
    }) as running:
        yield running


def parse(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["parse", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_url_is_read_over_http_and_printed_in_page_order(
    server: PageServer, capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = parse(capsys, f"{server.base_url}/news/")
    assert code == 0, err
    items = json.loads(out)
    assert [list(item) for item in items] == [KEYS, KEYS]
    assert items[0] == {
        "title": "Tripartite agreement signed in the port sector", "date": "2024-02-12",
        "category": "Press release", "credit": None,
        "summary": "Dockworkers, employers and the ministry agreed on new shift rules.",
        "link": f"{server.base_url}/news/tripartite-agreement",
    }
    assert items[1]["date"] == "2024-02-05"
    # The warning says where, on stderr.
    assert err == (f"feedsvc: warning: {server.base_url}/news/: "
                   "main > div.view-content > div.views-row:nth-of-type(3) > article: "
                   "item 3 ('Item without a date') has no date; skipped\n")
    assert server.requests == ["/news/"]


def test_a_json_api_is_recognised_and_read_with_paths_from_the_command_line(
    server: PageServer, capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = parse(capsys, f"{server.base_url}/api/news")
    # Its list is found (data.news), not its fields: the error says what to set.
    assert (code, out) == (1, "")
    assert "(data.news[0]): no title (set paths.title)" in err and err.count("\n") == 1
    code, out, err = parse(capsys, f"{server.base_url}/api/news", "--path", "title=heading",
                           "--path", "date=when", "--path", "link=href", "--path", "summary=text")
    assert code == 0, err
    assert json.loads(out) == [
        {"title": "Call for proposals: green jobs", "date": "2024-03-01", "category": None,
         "credit": None, "summary": "Deadline: 30 April.",
         "link": f"{server.base_url}/calls/green-jobs"},
        {"title": "Annual report 2023", "date": "2024-02-20", "category": None, "credit": None,
         "summary": None, "link": f"{server.base_url}/reports/2023"},
    ]
    code, out, err = parse(capsys, f"{server.base_url}/api/news", "--path", "title=heading",
                           "--path", "date=when", "--explain")
    (source,) = tomllib.loads(out)["sources"]
    assert (source["format"], source["paths"]) == ("json", {"title": "heading", "date": "when"})


def test_explain_prints_settings_that_read_the_same_items(
    server: PageServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = parse(capsys, f"{server.base_url}/news/", "--selector", "category=.label",
                         "--explain")
    assert code == 0
    pasted = tomllib.loads(out)
    (source,) = pasted["sources"]
    assert source["format"] == "html"
    assert source["selectors"]["category"] == ".label"
    assert set(source["selectors"]) >= {"item", "title", "date", "link"}
    config = tmp_path / "feedsvc.toml"
    config.write_text('[storage]\ndatabase = "sqlite:///var/db.sqlite3"\n'
                      'publish_dir = "var/public"\n\n' + out, encoding="utf-8")
    # The pasted entry is a working source: a refresh reads the two items...
    report = refresh(load_settings(config, environ={}))
    assert [s.found for s in report.sources] == [2]
    # ...and `parse --source` reads it exactly as the refresh did.
    code = main(["--config", str(config), "parse", "--source", source["name"]])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert [item["title"] for item in json.loads(out)] == [
        "Tripartite agreement signed in the port sector", "Statement on the national safety day"]


def test_selectors_override_fields(server: PageServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = parse(capsys, f"{server.base_url}/news/", "--selector", "category=time")
    assert code == 0
    assert json.loads(out)[0]["category"] == "12 February 2024"


def test_a_bad_selector_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = parse(capsys, "http://127.0.0.1:9/", "--selector", "colour=p")
    assert (code, out) == (1, "")
    assert err.startswith("feedsvc: error: --selector.colour: unknown selector 'colour'")


def test_the_refresh_limits_hold(
    server: PageServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "feedsvc.toml"
    config.write_text("[fetch]\nmax_bytes = 1000\nretries = 0\n", encoding="utf-8")
    code = main(["--config", str(config), "parse", f"{server.base_url}/big"])
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert err == (f"feedsvc: error: response from {server.base_url}/big is 5000 bytes, "
                   "more than fetch.max_bytes (1000)\n")


def test_an_unknown_source_or_no_location_is_one_error_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = parse(capsys, "--source", "nope")
    assert code == 1
    assert err.startswith("feedsvc: error: no source named 'nope' (the sources are: ")
    code, _, err = parse(capsys)
    assert (code, err.count("\n")) == (1, 1)


def test_source_is_read_as_configured_not_as_the_command_line_says(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = parse(capsys, "--source", "newsroom-2021-01", "--format", "html")
    assert code == 1
    assert err == ("feedsvc: error: --format describes a LOCATION; --source NAME reads the "
                   "source as the settings file describes it\n")
    code, out, err = parse(capsys, "--source", "newsroom-2021-01")
    assert code == 0, err
    assert len(json.loads(out)) == 10
