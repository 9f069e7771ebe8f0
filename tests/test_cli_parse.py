"""`feedsvc parse FILE`: JSON on stdout, warnings on stderr, one-line errors.

And how the other commands read their arguments (`feedsvc serve --port`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from feedsvc.cli import main
from feedsvc.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
CASES = Path(__file__).parent / "data" / "listings"
SEED = CASES / "seed-newsroom-2021-01.txt"
# Its titles have a character outside Latin-1: U+2019, the right single quotation mark.
NOT_LATIN1 = CASES / "seed-newsroom-2021-11.txt"


def test_parse_prints_the_items_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", str(SEED)]) == 0
    out, err = capsys.readouterr()
    # The listing's items, each with its link (a text listing has none).
    expected = json.loads((CASES / "seed-newsroom-2021-01.json").read_text())
    assert json.loads(out) == [{**item, "link": None} for item in expected]
    assert err == ""


def test_parse_prints_warnings_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    listing = CASES / "media-contact.txt"
    assert main(["parse", str(listing)]) == 0
    out, err = capsys.readouterr()
    assert len(json.loads(out)) == 2
    assert err == (
        f"feedsvc: warning: {listing}: line 9: "
        "numbered (2.) item 'Media contact' has no date, skipped\n"
    )


def test_parse_with_explicit_language(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", str(CASES / "french-numbered.txt"), "--language", "fr"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["date"] == "2020-04-07"


def test_parse_with_the_wrong_language_finds_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["parse", str(CASES / "spanish-compact.txt"), "--language", "fr"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert "no items found" in err
    assert "unknown month name 'febrero' in language 'fr'" in err


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.txt", "file not found: "),
        ("empty.txt", "no items found"),
        ("binary-junk.txt", "binary data"),
    ],
)
def test_parse_errors_are_one_line(
    name: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["parse", str(CASES / name)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    # The refresh's own messages, naming the file once.
    assert err.startswith("feedsvc: error: ")
    assert err.count(str(CASES / name)) == 1
    assert message in err
    assert err.count("\n") == 1


@pytest.mark.slow
def test_installed_command(tmp_path: Path) -> None:
    command = Path(sys.executable).parent / "feedsvc"
    if not command.exists():
        pytest.skip("the feedsvc command is not installed beside this Python")
    done = subprocess.run(
        [str(command), "parse", str(CASES / "seed-newsroom-2021-11.txt")],
        capture_output=True, text=True, encoding="utf-8", timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    items = json.loads(done.stdout)
    assert len(items) == 10
    assert items[1]["title"] == "We work to end child labour in DR Congo\u2019s cobalt mines"

    missing = subprocess.run(
        [str(command), "parse", str(tmp_path / "none.txt")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert missing.returncode != 0
    assert missing.stdout == ""
    assert len(missing.stderr.splitlines()) == 1


# --- stdout that is not a plain UTF-8 terminal ---


def run_parse(listing: Path, stdout: int, **env: str) -> subprocess.CompletedProcess[bytes]:
    """`feedsvc parse LISTING` in a child process whose stdout is ``stdout``."""
    return subprocess.run(
        [sys.executable, "-m", "feedsvc.cli", "parse", str(listing)], cwd=ROOT,
        env={**os.environ, **env}, stdout=stdout, stderr=subprocess.PIPE, timeout=60,
        check=False,
    )


@pytest.mark.slow
def test_parse_writes_utf8_whatever_the_locale_encoding() -> None:
    done = run_parse(NOT_LATIN1, subprocess.PIPE, PYTHONIOENCODING="latin-1")
    assert done.returncode == 0, done.stderr.decode()
    assert done.stderr == b""
    items = json.loads(done.stdout.decode("utf-8"))
    assert items[1]["title"] == "We work to end child labour in DR Congo\u2019s cobalt mines"


@pytest.fixture
def closed_pipe() -> Iterator[int]:
    """The write end of a pipe whose reader has gone, like `| head` once it has its lines."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    yield write_end
    os.close(write_end)


@pytest.mark.slow
def test_parse_into_a_closed_pipe_exits_quietly(closed_pipe: int) -> None:
    done = run_parse(NOT_LATIN1, closed_pipe)
    assert (done.returncode, done.stderr) == (0, b"")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
@pytest.mark.slow
def test_parse_onto_a_full_disk_is_one_error_line() -> None:
    with open("/dev/full", "wb") as full:
        done = run_parse(NOT_LATIN1, full.fileno())
    assert done.returncode == 1
    assert done.stderr.decode() == (
        "feedsvc: error: cannot write the output: No space left on device\n")


# --- feedsvc serve's arguments ---


@pytest.mark.parametrize(("port", "message"), [
    ("70000", "must be from 0 to 65535, not 70000"),
    ("-1", "must be from 0 to 65535, not -1"),
    ("http", "not a port number: 'http'"),
])
def test_serve_refuses_a_port_out_of_range(
    port: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--port", port])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --port: {message}" in err
    assert "Traceback" not in err


class Served:
    """Stands in for feedsvc.web.serve (``main``'s ``serve``): records each call's
    keywords instead of serving."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, settings: Settings, **options: Any) -> None:
        self.calls.append(options)


@pytest.mark.parametrize(("argv", "host", "port"), [
    ([], None, None),  # None: the configured server.host / server.port
    (["--port", "0"], None, 0),  # any free port, not the configured one
    (["--port", "65535", "--host", "::1"], "::1", 65535),
    (["--host", ""], "", None),  # every interface
])
def test_serve_passes_host_and_port_through(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], host: str | None, port: int | None
) -> None:
    monkeypatch.delenv("FEEDSVC_CONFIG", raising=False)
    served = Served()
    configured = load_settings().server
    assert main(["serve", "--no-scheduler", *argv], serve=served) == 0
    assert served.calls == [{"host": configured.host if host is None else host,
                             "port": configured.port if port is None else port,
                             "start_scheduler": None}]


def test_an_html_page_without_items_says_so_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    page = tmp_path / "empty.html"
    page.write_text("<!doctype html><html><body><main><p>Nothing here.</p></main></body></html>")
    assert main(["parse", str(page)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"feedsvc: error: {page}: no items found: no repeated elements")
    assert err.count("no news items found") + err.count("no items found") == 1
