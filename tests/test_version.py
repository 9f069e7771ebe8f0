"""The version is written once, in feedsvc/__init__.py, and everything else reads it."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest

from feedsvc import __version__
from feedsvc.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_feedsvc_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"feedsvc {__version__}\n"


def test_the_package_metadata_reads_the_version_from_the_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"], "write the version only in feedsvc/__init__.py"
    assert "version" in project["project"]["dynamic"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "feedsvc.__version__"}
    assert importlib.metadata.version("feedsvc") == __version__


def test_the_version_is_a_release_number_the_changelog_knows() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:\.dev\d+)?", __version__)
    changes = (ROOT / "CHANGES.md").read_text(encoding="utf-8")
    assert f"## [{__version__}]" in changes
