"""The README stays true to the code: settings, quick start, CI command."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from feedsvc.logevents import Event
from feedsvc.settings import FEED_OPTIONS, OPTIONS, SOURCE_OPTIONS, Option, readme_tables

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(?:sh|bash|console)?\n(.*?)```", section, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_quick_start_is_exactly_two_commands() -> None:
    commands = _quick_start_commands()
    assert len(commands) == 2, commands
    assert "feedsvc serve" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_word_for_word() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    test_command = _quick_start_commands()[1]
    assert test_command in ci.splitlines()


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.name)
def test_every_setting_is_documented_with_its_help(option: Option) -> None:
    rows = [line for line in README.splitlines() if line.startswith(f"| `{option.name}` |")]
    assert rows, f"README has no row for {option.name}"
    assert option.help in rows[0]


@pytest.mark.parametrize("option", SOURCE_OPTIONS, ids=lambda o: o.key)
def test_every_source_setting_is_documented_with_its_help(option: Option) -> None:
    rows = [line for line in README.splitlines() if line.startswith(f"| `{option.key}` |")]
    assert rows, f"README has no row for sources.{option.key}"
    assert option.help in rows[0]


@pytest.mark.parametrize("option", FEED_OPTIONS, ids=lambda o: o.key)
def test_every_custom_feed_setting_is_documented_with_its_help(option: Option) -> None:
    table = README.split("Each `[[feeds]]` entry", 1)[1]
    rows = [line for line in table.splitlines() if line.startswith(f"| `{option.key}` |")]
    assert rows, f"README has no row for feeds.{option.key}"
    assert option.help in rows[0]


def test_readme_documents_no_setting_that_does_not_exist() -> None:
    known = {o.name for o in OPTIONS}
    documented = set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", README, flags=re.M))
    documented -= {event.value for event in Event}  # rows of the "Log events" table
    assert documented <= known, documented - known



def _settings_tables_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "settings_tables", ROOT / "scripts" / "settings_tables.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SETTINGS_TABLES = _settings_tables_script()


@pytest.mark.parametrize("name", sorted(SETTINGS_TABLES.TABLES_AFTER))
def test_readme_settings_table_is_the_one_rendered_from_the_declarations(name: str) -> None:
    start, end = SETTINGS_TABLES.table_span(README, SETTINGS_TABLES.TABLES_AFTER[name])
    assert README[start:end] == readme_tables()[name], (
        "run: .venv/bin/python scripts/settings_tables.py")


def test_every_rendered_settings_table_has_its_place_in_the_readme() -> None:
    assert set(readme_tables()) == set(SETTINGS_TABLES.TABLES_AFTER)


def test_the_script_rewrites_a_stale_table_and_leaves_the_rest(tmp_path: Path) -> None:
    stale = re.sub(r"^\| `fetch\.retries` \|.*\n", "", README, count=1, flags=re.M)
    stale = stale.replace("| `scan` | `5000` |", "| `scan` | `50` |")
    assert stale.count("\n") == README.count("\n") - 1
    copy = tmp_path / "README.md"
    copy.write_text(stale, encoding="utf-8")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "settings_tables.py"), str(copy)],
                   check=True, capture_output=True, cwd=ROOT)
    assert copy.read_text(encoding="utf-8") == README
