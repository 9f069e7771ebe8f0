"""Data flows one way: the declared layers are the only direction imports go.

``LAYERS`` lists every feedsvc module, from the bottom layer to the top one.
A module may import modules of lower layers and of its own column of its own
layer, nothing else: no upward import, no import between sibling columns
(the refresh side and the web side never import each other), and no cycle
anywhere. A module in no layer fails the test: a new module is placed when it
is added. docs/architecture.md draws the same order.

On top of the layers:
- The web layer serves what was published; it never imports the listing
  parsers, the collator, the renderers or the pipeline (nor feedgen).
- The pure modules (listing, collate, render, feeds, archive) import no web
  framework, no HTTP client, no database, and nothing that writes files.
- The store imports no fetch module: what it keeps of a fetch
  (``Validators``) is a shared type of ``feedsvc.models``.

Checked twice: statically, following every ``import`` statement (those inside
functions too) through feedsvc's own modules; and at run time, by importing
modules in a fresh interpreter and looking at ``sys.modules``.

The registries (``feedsvc.formats``, ``feedsvc.outputs``) name the parsers
and renderers of the layers above them with ``feedsvc.deferred.Deferred``,
imported on first call; that is the one import by name in feedsvc, and each
such name is checked to point up, at a function that exists.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "feedsvc"

Layer = tuple[str, Mapping[str, tuple[str, ...]]]
"""A layer's name and its columns: column name -> the modules in it."""

LAYERS: tuple[Layer, ...] = (
    ("foundation", {"types": (
        "feedsvc", "feedsvc.errors", "feedsvc.models", "feedsvc.deferred", "feedsvc.outcomes",
        "feedsvc.identity", "feedsvc.uris", "feedsvc.addresses", "feedsvc.xmlchars",
        "feedsvc.logevents",
        "feedsvc.outages",
    )}),
    ("configuration", {"settings": ("feedsvc.formats", "feedsvc.outputs", "feedsvc.settings")}),
    ("feed names", {"feeds": ("feedsvc.feeds", "feedsvc.archive", "feedsvc.curation")}),
    ("pure", {
        "parse": (
            "feedsvc.listing", "feedsvc.listing.warnings", "feedsvc.listing.dates",
            "feedsvc.listing.decode", "feedsvc.listing.loose", "feedsvc.listing.text",
            "feedsvc.listing.incremental", "feedsvc.listing.html_text",
            "feedsvc.listing.html_detect", "feedsvc.listing.html", "feedsvc.listing.jsonapi",
            "feedsvc.listing.plugins",
        ),
        "present": (
            "feedsvc.collate", "feedsvc.render", "feedsvc.render.xmltext",
            "feedsvc.render.dates", "feedsvc.render.content", "feedsvc.render.feedgen_adapter",
            "feedsvc.render.jsonfeed", "feedsvc.render.html_view", "feedsvc.render.opml",
        ),
    }),
    ("input and output", {
        "fetch": (
            "feedsvc.fetch", "feedsvc.fetch.base", "feedsvc.fetch.file", "feedsvc.fetch.routing",
            "feedsvc.fetch.http", "feedsvc.fetch.guard_proxy", "feedsvc.fetch.browser",
        ),
        "storage": (
            "feedsvc.store", "feedsvc.store.schema", "feedsvc.store.lock", "feedsvc.store.leases",
            "feedsvc.store.decide", "feedsvc.store.items", "feedsvc.store.archives",
            "feedsvc.store.categories", "feedsvc.store.health", "feedsvc.store.hubs",
            "feedsvc.store.publications", "feedsvc.store.removals", "feedsvc.store.requests",
            "feedsvc.store.runs", "feedsvc.store.copy", "feedsvc.publication",
            "feedsvc.publishing",
        ),
    }),
    ("reports", {"reports": ("feedsvc.status", "feedsvc.metrics", "feedsvc.websub")}),
    ("applications", {
        "refresh": ("feedsvc.pipeline", "feedsvc.preview", "feedsvc.scheduler"),
        "web": (
            "feedsvc.web", "feedsvc.web.http_cache", "feedsvc.web.negotiation",
            "feedsvc.web.responses", "feedsvc.web.pages", "feedsvc.web.admin",
            "feedsvc.web.live", "feedsvc.web.feeds", "feedsvc.web.browse",
            "feedsvc.web.operations", "feedsvc.web.app", "feedsvc.web.server",
        ),
    }),
    ("command line", {"cli": ("feedsvc.cli",)}),
)

WEB_FORBIDDEN = ("feedsvc.listing", "feedsvc.render", "feedsvc.collate", "feedsvc.pipeline",
                 "feedgen")
PURE_FORBIDDEN = ("flask", "werkzeug", "httpx", "requests", "sqlalchemy", "apscheduler",
                  "selenium", "feedsvc.web", "feedsvc.store", "feedsvc.fetch", "feedsvc.pipeline",
                  "feedsvc.publication", "feedsvc.publishing")
STORE_FORBIDDEN = ("feedsvc.fetch", "httpx", "selenium")
PURE_MODULES = ("feedsvc.listing", "feedsvc.collate", "feedsvc.render", "feedsvc.archive",
                "feedsvc.feeds")


def module_file(name: str) -> Path | None:
    base = ROOT / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def is_package(name: str) -> bool:
    return (ROOT / Path(*name.split(".")) / "__init__.py").is_file()


def runtime_nodes(tree: ast.Module) -> list[ast.stmt]:
    """Statements that run: ``if TYPE_CHECKING:`` blocks are left out."""
    found: list[ast.stmt] = []
    todo: list[ast.stmt] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and is_type_checking(node.test):
            todo.extend(node.orelse)
            continue
        found.append(node)
        todo.extend(child for child in ast.iter_child_nodes(node)
                    if isinstance(child, ast.stmt))
    return found


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


@cache
def direct_imports(name: str) -> frozenset[str]:
    """Absolute names of the modules ``name`` imports (relative imports resolved)."""
    path = module_file(name)
    if path is None:
        return frozenset()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    nodes = runtime_nodes(tree)
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
        for imported in direct_imports(name):
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


def store_modules() -> list[str]:
    return ["feedsvc.store", *submodules_of(PACKAGE / "store", "feedsvc.store")]


@pytest.mark.parametrize("module", store_modules())
def test_the_store_imports_no_fetch_module(module: str) -> None:
    assert offenders(reachable(module), STORE_FORBIDDEN) == []


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


@pytest.mark.slow
def test_importing_the_store_loads_no_fetch_module() -> None:
    assert offenders(loaded_after_import("import feedsvc.store"), STORE_FORBIDDEN) == []


def test_the_static_check_follows_feedsvc_modules() -> None:
    found = reachable("feedsvc.web")
    assert {"feedsvc.web.app", "feedsvc.web.http_cache", "feedsvc.web.pages",
            "feedsvc.publication", "flask"} <= found
    assert offenders({"feedsvc.pipeline", "feedsvc.web.pages", "feedgen.feed"},
                     WEB_FORBIDDEN) == ["feedgen.feed", "feedsvc.pipeline"]


# --- the declared layers ------------------------------------------------------------


def all_modules() -> set[str]:
    """Every module of the feedsvc package, as found on disk."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.add(".".join(parts))
    return found


def declared() -> list[tuple[int, str, str]]:
    """(layer index, column, module) for every module ``LAYERS`` names, bottom first."""
    return [(index, column, module) for index, (_, columns) in enumerate(LAYERS)
            for column, modules in columns.items() for module in modules]


@cache
def placement() -> Mapping[str, tuple[int, str]]:
    return {module: (index, column) for index, column, module in declared()}


def may_import(importer: str, imported: str) -> bool:
    """True when ``imported`` sits in a lower layer, or in ``importer``'s own column."""
    low, column = placement()[imported]
    high, own_column = placement()[importer]
    return low < high or (low == high and column == own_column)


def with_parents(names: Iterable[str]) -> set[str]:
    """The feedsvc modules among ``names``, and the packages importing each one runs."""
    found: set[str] = set()
    for name in names:
        parts = name.split(".")
        if parts[0] == "feedsvc":
            found.update(".".join(parts[:n]) for n in range(1, len(parts) + 1))
    return found


def upward_imports(module: str, imports: Iterable[str]) -> list[str]:
    return sorted(name for name in with_parents(imports) if not may_import(module, name))


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The import cycles of ``graph`` (module -> modules it imports): every strongly
    connected set of more than one module, and every module importing itself."""
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = lowest[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                lowest[node] = min(lowest[node], lowest[target])
            elif target in on_stack:
                lowest[node] = min(lowest[node], index[target])
        if lowest[node] == index[node]:
            members: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                members.append(member)
                if member == node:
                    break
            if len(members) > 1 or node in graph.get(node, ()):
                found.append(sorted(members))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def import_graph() -> dict[str, set[str]]:
    """Each feedsvc module's imports of feedsvc modules. Importing a package that holds
    the importer (or is the importer, as in ``from feedsvc.store import schema`` in
    ``feedsvc/store/__init__.py``) is no edge: Python has already started running it."""
    graph: dict[str, set[str]] = {}
    for module in all_modules():
        graph[module] = {name for name in direct_imports(module)
                         if name.split(".")[0] == "feedsvc" and name in placement()
                         and not f"{module}.".startswith(f"{name}.")}
    return graph


def test_every_module_is_in_exactly_one_layer() -> None:
    names = [module for _, _, module in declared()]
    assert sorted({name for name in names if names.count(name) > 1}) == []
    assert sorted(all_modules() - set(names)) == [], "add new modules to LAYERS"
    assert sorted(set(names) - all_modules()) == [], "LAYERS names modules that do not exist"


@pytest.mark.parametrize("module", sorted(all_modules()))
def test_no_module_imports_upward_or_sideways(module: str) -> None:
    if module not in placement():
        pytest.fail(f"{module} is in no layer")
    assert upward_imports(module, direct_imports(module)) == []


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


# --- functions named by the registries --------------------------------------------


@cache
def module_tree(name: str) -> ast.Module:
    path = module_file(name)
    assert path is not None, name
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def deferred_names(module: str) -> list[str]:
    """The ``Deferred("package.module:function")`` names written in ``module``."""
    return [call.args[0].value for call in ast.walk(module_tree(module))
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
            and call.func.id == "Deferred" and call.args
            and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)]


@cache
def every_deferred_name() -> list[tuple[str, str]]:
    """(declaring module, name) for every ``Deferred`` name in feedsvc."""
    return [(module, name) for module in sorted(all_modules()) for name in deferred_names(module)]


def test_the_registries_name_their_functions() -> None:
    declaring = {module for module, _ in every_deferred_name()}
    assert declaring == {"feedsvc.formats", "feedsvc.outputs"}


def test_every_function_a_registry_holds_is_a_name_this_test_reads() -> None:
    """A name computed at run time would escape the check below: every ``Deferred``
    the live registries hold is one written out in their source."""
    from feedsvc.formats import SOURCE_FORMATS
    from feedsvc.outputs import OUTPUT_FORMATS

    held = {fmt.parser.name for fmt in SOURCE_FORMATS.values()} | {
        output.renderer.name for output in OUTPUT_FORMATS.values()}
    assert held <= {name for _, name in every_deferred_name()}


PURE_LAYER = next(index for index, (name, _) in enumerate(LAYERS) if name == "pure")


@pytest.mark.parametrize(("module", "name"), every_deferred_name(),
                         ids=[name for _, name in every_deferred_name()])
def test_a_deferred_name_is_a_function_of_the_pure_layer(module: str, name: str) -> None:
    """A registry names only what it may not import, and only pure code: a parser
    or a renderer of the pure layer, above the registry. The named function
    exists, at the top level of its module."""
    target, _, function = name.partition(":")
    assert target in placement(), f"{name}: {target} is no feedsvc module in LAYERS"
    assert placement()[target][0] == PURE_LAYER, f"{name}: {target} is not in the pure layer"
    assert placement()[target][0] > placement()[module][0], (
        f"{module} names {name}, which it may import: import it")
    defined = {node.name for node in module_tree(target).body
               if isinstance(node, ast.FunctionDef)}
    assert function in defined, f"{name}: {target} defines no function {function!r}"


BY_NAME = ("importlib", "pkgutil")
"""The standard library's ways to import a module by name (``importlib.metadata``,
which reads installed packages' metadata, is not one)."""


def imports_by_name(module: str) -> list[str]:
    """How ``module`` could import a module by name: ``importlib``, ``pkgutil``,
    ``__import__``."""
    found: list[str] = []
    for node in ast.walk(module_tree(module)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""])
            found += [name for name in names
                      if name.split(".")[0] in BY_NAME and name != "importlib.metadata"]
        elif isinstance(node, ast.Name) and node.id == "__import__":
            found.append("__import__")
    return found


@pytest.mark.parametrize("module", sorted(all_modules()))
def test_only_deferred_imports_by_name(module: str) -> None:
    """Every import the layer check cannot see is a ``Deferred`` name, which it checks."""
    if module != "feedsvc.deferred":
        assert imports_by_name(module) == []


def test_the_deferred_check_sees_names_and_imports_by_name() -> None:
    assert "feedsvc.render.jsonfeed:json_document" in deferred_names("feedsvc.outputs")
    assert imports_by_name("feedsvc.deferred") == ["pkgutil"]
    assert imports_by_name("feedsvc.pipeline") == []  # it imports importlib.metadata


def columns() -> list[tuple[str, str]]:
    return [(name, column) for name, layer_columns in LAYERS for column in layer_columns]


@pytest.mark.slow
@pytest.mark.parametrize(("layer", "column"), columns())
def test_importing_a_layer_loads_nothing_above_it(layer: str, column: str) -> None:
    modules = dict(LAYERS)[layer][column]
    loaded = loaded_after_import("\n".join(f"import {module}" for module in modules))
    feedsvc_loaded = {name for name in loaded if name.split(".")[0] == "feedsvc"}
    assert sorted(feedsvc_loaded - placement().keys()) == []
    assert upward_imports(modules[0], feedsvc_loaded) == []


def test_the_layer_check_refuses_upward_sideways_and_cyclic_imports() -> None:
    assert may_import("feedsvc.store", "feedsvc.models")
    assert may_import("feedsvc.store.items", "feedsvc.store.schema")
    assert upward_imports("feedsvc.store.health", ["feedsvc.web.app"]) == [
        "feedsvc.web", "feedsvc.web.app"]
    assert upward_imports("feedsvc.collate", ["feedsvc.publication"]) == ["feedsvc.publication"]
    assert upward_imports("feedsvc.web.server", ["feedsvc.scheduler"]) == ["feedsvc.scheduler"]
    assert upward_imports("feedsvc.listing.text", ["feedsvc.render.dates"]) == [
        "feedsvc.render", "feedsvc.render.dates"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}, "b": set()}) == [["a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
