"""CONTRIBUTING.md and docs/architecture.md point at files and names that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ("CONTRIBUTING.md", "docs/architecture.md")
WORKED_EXAMPLES = {"feedsvc/render/plaintext.py"}
"""Files that CONTRIBUTING.md's worked examples would add."""
PATH = re.compile(r"`((?:feedsvc|tests|docs|deploy|scripts|bench)/[\w./-]*\w"
                  r"|[\w-]+\.(?:md|py|toml|yaml))`")


def mentioned_paths(doc: str) -> list[str]:
    text = (ROOT / doc).read_text(encoding="utf-8")
    return sorted({path for path in PATH.findall(text)
                   if "NAME" not in path and path not in WORKED_EXAMPLES})


@pytest.mark.parametrize("doc", DOCS)
def test_every_file_a_guide_names_exists(doc: str) -> None:
    paths = mentioned_paths(doc)
    assert paths
    missing = [path for path in paths
               if not (ROOT / path).exists() and not (ROOT / "feedsvc" / path).exists()]
    assert missing == [], f"{doc} names files that do not exist: {missing}"


# Where CONTRIBUTING.md says each list an output format, a language, a source
# format or a setting is added to lives.
REGISTRIES = [
    ("feedsvc/outputs.py", "OUTPUT_FORMATS"),
    ("feedsvc/listing/dates.py", "LANGUAGE_DATA"),
    ("feedsvc/settings.py", "LANGUAGES"),
    ("feedsvc/formats.py", "SOURCE_FORMATS"),
    ("feedsvc/settings.py", "OPTIONS"),
    ("feedsvc/settings.py", "SOURCE_OPTIONS"),
    ("feedsvc/settings.py", "FEED_OPTIONS"),
]


@pytest.mark.parametrize(("path", "name"), REGISTRIES, ids=lambda value: str(value))
def test_every_list_contributing_names_is_where_it_says(path: str, name: str) -> None:
    guide = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    assert f"`{name}`" in guide and f"`{path}`" in guide
    source = (ROOT / path).read_text(encoding="utf-8")
    assert re.search(rf"^{re.escape(name)}\b[^=\n]*=", source, flags=re.M), (
        f"{path} no longer defines {name}: update CONTRIBUTING.md")


def test_pre_commit_runs_the_pinned_tools_from_the_venv_without_fetching_hooks() -> None:
    config = (ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    repos = re.findall(r"^\s*- repo: (\S+)", config, flags=re.M)
    assert repos == ["local"], "a hook repository would be fetched from the network"
    entries = re.findall(r"^\s*entry: (\S+)", config, flags=re.M)
    assert entries == [".venv/bin/ruff", ".venv/bin/mypy"]
    assert config.count("language: system") == len(entries)
    project = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'"ruff==[\d.]+"', project) and re.search(r'"mypy==[\d.]+"', project)
