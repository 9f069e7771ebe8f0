"""The README stays true to the code: settings, quick start, CI command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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
    assert documented <= known, documented - known


# Where each table of readme_tables() is: the first table after this text.
SETTINGS_TABLES_AFTER = {
    "settings": "## Configuration",
    "sources": "Each `[[sources]]` entry",
    "feeds": "Each `[[feeds]]` entry",
}


def _first_table_after(marker: str) -> str:
    assert marker in README, f"README has no {marker!r}"
    lines = README.split(marker, 1)[1].splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("|"))
    end = next((index for index in range(start, len(lines)) if not lines[index].startswith("|")),
               len(lines))
    return "\n".join(lines[start:end]) + "\n"


@pytest.mark.parametrize("name", sorted(SETTINGS_TABLES_AFTER))
def test_readme_settings_table_is_the_one_rendered_from_the_declarations(name: str) -> None:
    assert _first_table_after(SETTINGS_TABLES_AFTER[name]) == readme_tables()[name]


def test_every_rendered_settings_table_has_its_place_in_the_readme() -> None:
    assert set(readme_tables()) == set(SETTINGS_TABLES_AFTER)
