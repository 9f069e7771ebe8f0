"""Rewrite the README's settings tables from the settings' declarations.

usage: python scripts/settings_tables.py [README]   (default: the repository's README.md)

Each table follows the paragraph ending with its ``TABLES_AFTER`` text and is
replaced, as a whole, by ``feedsvc.settings.readme_tables()``'s rendering; the
rest of the file is left as it is. tests/test_docs.py checks the README needs no
rewrite, so run this after adding or changing a setting.
"""

from __future__ import annotations

import sys
from pathlib import Path

from feedsvc.settings import readme_tables

README = Path(__file__).resolve().parent.parent / "README.md"

TABLES_AFTER = {
    "settings": "The top-level tables' settings:",
    "sources": "Each `[[sources]]` entry:",
    "feeds": "Each `[[feeds]]` entry (see [Custom feeds](#custom-feeds)):",
}
"""Where each table of ``readme_tables()`` is: right after the paragraph that ends
with this text."""


def table_span(readme: str, marker: str) -> tuple[int, int]:
    """Start and end offsets in ``readme`` of the table right after ``marker``
    (its ``|`` lines, each with its line break); ValueError if there is none."""
    after = readme.index(marker) + len(marker)
    start = readme.index("\n|", after) + 1
    if readme[after:start].strip():
        raise ValueError(f"no table right after {marker!r}")
    end = start
    while readme.startswith("|", end):
        line_end = readme.find("\n", end)
        end = len(readme) if line_end < 0 else line_end + 1
    return start, end


def with_rendered_tables(readme: str) -> str:
    """``readme`` with each settings table replaced by its rendering."""
    for name, table in readme_tables().items():
        start, end = table_span(readme, TABLES_AFTER[name])
        readme = readme[:start] + table + readme[end:]
    return readme


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else README
    text = path.read_text(encoding="utf-8")
    updated = with_rendered_tables(text)
    if updated != text:
        path.write_text(updated, encoding="utf-8")
        print(f"{path}: settings tables rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
