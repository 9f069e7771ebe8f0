"""`feedsvc parse FILE`: JSON on stdout, warnings on stderr, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from feedsvc.cli import main

CASES = Path(__file__).parent / "data" / "listings"
SEED = CASES / "seed-newsroom-2021-01.txt"


def test_parse_prints_the_items_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", str(SEED)]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == json.loads((CASES / "seed-newsroom-2021-01.json").read_text())
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
    assert "no news items found" in err
    assert "unknown month name 'febrero' in language 'fr'" in err


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.txt", "cannot read file: No such file or directory"),
        ("empty.txt", "empty file, no news items found"),
        ("binary-junk.txt", "binary data"),
    ],
)
def test_parse_errors_are_one_line(
    name: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["parse", str(CASES / name)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"feedsvc: error: {CASES / name}: ")
    assert message in err
    assert err.count("\n") == 1


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
