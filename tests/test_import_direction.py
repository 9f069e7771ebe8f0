"""Data flows one way: the arrows of the architecture are the only imports.

- The web layer serves what was published; it never imports the listing
  parsers, the collator, the renderers or the pipeline (nor feedgen).
- The pure modules (listing, collate, render) import no web framework, no
  HTTP client and no database.

Checked twice: statically, following every ``import`` statement (those inside
functions too) through feedsvc's own modules; and at run time, by importing
the module in a fresh interpreter and looking at ``sys.modules``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "feedsvc"

WEB_FORBIDDEN = ("feedsvc.listing", "feedsvc.render", "feedsvc.collate", "feedsvc.pipeline",
                 "feedgen")
PURE_FORBIDDEN = ("flask", "werkzeug", "httpx", "requests", "sqlalchemy", "apscheduler",
                  "feedsvc.web", "feedsvc.store", "feedsvc.http", "feedsvc.pipeline")
PURE_MODULES = ("feedsvc.listing", "feedsvc.collate", "feedsvc.render", "feedsvc.archive")
# Modules that may reach the pipeline inside a function, never when the app is
# built. None: the admin trigger queues a request for the scheduler, and no web
# worker ever refreshes.
LAZY_PIPELINE_ALLOWED: set[str] = set()


def module_file(name: str) -> Path | None:
    base = ROOT / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def is_package(name: str) -> bool:
    return (ROOT / Path(*name.split(".")) / "__init__.py").is_file()


def runtime_nodes(tree: ast.Module, *, top_level_only: bool) -> list[ast.stmt]:
    """Statements that run: ``if TYPE_CHECKING:`` blocks are left out."""
    found: list[ast.stmt] = []
    todo: list[ast.stmt] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and is_type_checking(node.test):
            todo.extend(node.orelse)
            continue
        found.append(node)
        if top_level_only and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        todo.extend(child for child in ast.iter_child_nodes(node)
                    if isinstance(child, ast.stmt))
    return found


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


@cache
def direct_imports(name: str, *, top_level_only: bool = False) -> frozenset[str]:
    """Absolute names of the modules ``name`` imports (relative imports resolved)."""
    path = module_file(name)
    if path is None:
        return frozenset()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    nodes = runtime_nodes(tree, top_level_only=top_level_only)
    package = name if is_package(name) else name.rpartition(".")[0]
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            # ``from feedsvc.web import pages`` imports the submodule too.
            found.update(f"{base}.{alias.name}" for alias in node.names
                         if module_file(f"{base}.{alias.name}"))
    return frozenset(found)


def reachable(start: str) -> set[str]:
    """Every module imported from ``start``, following feedsvc's own modules."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        lazy_ok = name in LAZY_PIPELINE_ALLOWED
        for imported in direct_imports(name, top_level_only=lazy_ok):
            if imported.split(".")[0] != "feedsvc":
                seen.add(imported)
                continue
            parts = imported.split(".")
            # importing a.b.c runs a/__init__ and a/b/__init__ as well
            todo.extend(".".join(parts[:n]) for n in range(1, len(parts) + 1))
    return seen


def offenders(modules: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules
                  if any(m == f or m.startswith(f + ".") for f in forbidden))


def web_modules() -> list[str]:
    return ["feedsvc.web", *submodules_of(PACKAGE / "web", "feedsvc.web")]


def submodules_of(directory: Path, package: str) -> list[str]:
    return sorted(f"{package}.{path.stem}" for path in directory.glob("*.py")
                  if path.stem != "__init__")


@pytest.mark.parametrize("module", web_modules())
def test_web_never_imports_parsing_rendering_or_the_pipeline(module: str) -> None:
    assert offenders(reachable(module), WEB_FORBIDDEN) == []


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_modules_import_no_framework_client_or_database(module: str) -> None:
    if module_file(module) is None:
        pytest.skip(f"{module} does not exist yet")
    names = [module]
    if is_package(module):
        names += submodules_of(ROOT / Path(*module.split(".")), module)
    for name in names:
        assert offenders(reachable(name), PURE_FORBIDDEN) == [], name


def loaded_after_import(code: str) -> set[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, check=True, timeout=120)
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.slow
def test_building_the_app_loads_no_parser_renderer_or_pipeline(tmp_path: Path) -> None:
    code = (
        "from pathlib import Path\n"
        "from feedsvc.settings import settings_from_mapping\n"
        "from feedsvc.web import create_app\n"
        f"create_app(settings_from_mapping({{}}, config_path=Path({str(tmp_path)!r}) / 'x.toml'))"
    )
    assert offenders(loaded_after_import(code), WEB_FORBIDDEN) == []


@pytest.mark.parametrize("module", PURE_MODULES)
@pytest.mark.slow
def test_importing_a_pure_module_loads_no_framework(module: str) -> None:
    if module_file(module) is None:
        pytest.skip(f"{module} does not exist yet")
    assert offenders(loaded_after_import(f"import {module}"), PURE_FORBIDDEN) == []


def test_the_static_check_follows_feedsvc_modules() -> None:
    found = reachable("feedsvc.web")
    assert {"feedsvc.web.app", "feedsvc.web.http_cache", "feedsvc.web.pages",
            "feedsvc.publication", "flask"} <= found
    assert offenders({"feedsvc.pipeline", "feedsvc.web.pages", "feedgen.feed"},
                     WEB_FORBIDDEN) == ["feedgen.feed", "feedsvc.pipeline"]
