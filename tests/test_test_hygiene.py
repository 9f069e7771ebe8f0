"""Tests check behaviour through public names: no test imports, reads, calls or
patches a private name (``_x``) of feedsvc, in its own code or in the scripts it
runs in child processes (Python held in strings).

A test file's own private helpers are its business, and so are ``self._x`` and
``cls._x`` in its classes; dunder names (``__version__``) are public; names
reached from another library (``os._exit``) are that library's. An attribute
read from anything else (``store._db``) is taken to be feedsvc's: a test that
needs it shows that feedsvc lacks a public way, which is what to add.

Nor does a test patch feedsvc's insides through public names: replace a module,
function or class that a feedsvc module holds (``monkeypatch.setattr(feedsvc.web,
"serve", ...)``, ``monkeypatch.setattr("feedsvc.store.lock.time", ...)``) or a
feedsvc module's entry in ``sys.modules``. Such a test needs a parameter (a
clock, a function to call), which is what to add.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve()
TESTS = EXAMPLES.parent
PACKAGE = "feedsvc"
OWNERS = frozenset({"self", "cls"})
"""Names through which a class reaches its own private attributes."""
OTHER_LIBRARIES = frozenset({"_asdict", "_replace", "_fields", "_make", "_field_defaults"})
"""Underscore names that are the public API of other libraries' objects (named
tuples, SQLAlchemy rows), whatever variable holds them."""
BY_NAME = frozenset({"getattr", "setattr", "delattr", "hasattr", "patch", "object"})
"""Calls that reach an attribute named by a string (``monkeypatch.setattr(module,
"_name", ...)``, ``mock.patch.object``)."""


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def is_package(module: str) -> bool:
    return module == PACKAGE or module.startswith(PACKAGE + ".")


def private_path(dotted: str) -> bool:
    """Whether ``dotted`` (``feedsvc.publication._write``) names something private of
    feedsvc."""
    return is_package(dotted) and any(is_private(part) for part in dotted.split("."))


def root_name(node: ast.expr) -> str | None:
    """The name an attribute chain starts from (``a`` of ``a.b.c``), if any."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def foreign_names(tree: ast.Module) -> set[str]:
    """Names a module binds to something not of feedsvc, and to nothing else
    anywhere (a fixture's parameter often shadows a name): other libraries'
    modules and names, and its own classes."""
    names: set[str] = set()
    rebound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names
                      if not is_package(alias.name)}
        elif isinstance(node, ast.ImportFrom) and not is_package(node.module or ""):
            names |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.arg):
            rebound.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            rebound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            rebound.add(node.name)
    names |= {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    return names - rebound


def called_name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


def embedded_code(node: ast.expr) -> str | None:
    """The Python a string holds when it looks like a script that uses feedsvc (the
    code a test runs with ``python -c``); an f-string's fields read as ``0``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
    elif isinstance(node, ast.JoinedStr):
        text = "".join(str(part.value) if isinstance(part, ast.Constant) else "0"
                       for part in node.values)
    else:
        return None
    if PACKAGE not in text or "import" not in text:
        return None
    return textwrap.dedent(text)


Check = Callable[[str], Iterator[tuple[int, str]]]
"""A check of Python source: (line, what) for each problem found."""


def in_embedded_code(node: ast.AST, check: Check) -> Iterator[tuple[int, str]]:
    """What ``check`` finds in the Python that a string ``node`` holds (a script run in
    a child process), at the string's line; nothing for prose."""
    if not isinstance(node, ast.Constant | ast.JoinedStr):
        return
    code = embedded_code(node)
    if code is None:
        return
    try:
        found = list(check(code))
    except SyntaxError:
        return  # prose, not a script
    yield from ((node.lineno, f"runs code that {what}") for _, what in found)


def in_every_test_file(check: Check) -> list[str]:
    """``path:line: what`` for each problem ``check`` finds in the tests (this file's
    examples left out: they are such problems on purpose)."""
    return [f"tests/{path.name}:{line}: {what}"
            for path in sorted(TESTS.glob("*.py")) if path.name != EXAMPLES.name
            for line, what in check(path.read_text(encoding="utf-8"))]


def problems_in(source: str) -> Iterator[tuple[int, str]]:
    """(line, what) for each use of a private feedsvc name in the Python ``source``."""
    tree = ast.parse(source)
    foreign = foreign_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, f"imports {alias.name}") for alias in node.names
                        if private_path(alias.name))
        elif isinstance(node, ast.ImportFrom) and is_package(node.module or ""):
            module = node.module or ""
            if private_path(module):
                yield node.lineno, f"imports from {module}"
            yield from ((node.lineno, f"imports {module}.{alias.name}") for alias in node.names
                        if is_private(alias.name))
        elif (isinstance(node, ast.Attribute) and is_private(node.attr)
              and node.attr not in OTHER_LIBRARIES and root_name(node.value) not in OWNERS
              and root_name(node.value) not in foreign):
            yield node.lineno, f"uses .{node.attr}"
        elif isinstance(node, ast.Call) and called_name(node) in BY_NAME:
            yield from ((node.lineno, f"reaches {arg.value!r} by name") for arg in node.args
                        if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                        and (is_private(arg.value) or private_path(arg.value)))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and private_path(node.value) and " " not in node.value:
            yield node.lineno, f"names {node.value}"
        yield from in_embedded_code(node, problems_in)


@pytest.mark.slow  # reads every test file: a second of CPU
def test_no_test_uses_a_private_name_of_feedsvc() -> None:
    found = in_every_test_file(problems_in)
    assert found == [], (
        "tests use private names of feedsvc; test through its public ones (add a "
        "public, documented one where none exists):\n" + "\n".join(found))


USES = {
    "from feedsvc.publication import _files_of": "imports feedsvc.publication._files_of",
    "from feedsvc.listing.loose import _TEXT, title_from_summary":
        "imports feedsvc.listing.loose._TEXT",
    "import feedsvc._private": "imports feedsvc._private",
    "from feedsvc._private import thing": "imports from feedsvc._private",
    "def test(store):\n    store._db.dispose()": "uses ._db",
    "import feedsvc.publication as p\np._write = None": "uses ._write",
    "from feedsvc.store import Store\nStore._open()": "uses ._open",
    "import pytest\n@pytest.fixture\ndef store(): ...\n"
    "def test(store):\n    return store._db": "uses ._db",
    "from helpers import server\ndef test(server):\n    server._port": "uses ._port",
    "import feedsvc.listing.html\nfeedsvc.listing.html._parse_page('<p>')": "uses ._parse_page",
    "def test(monkeypatch, html):\n    monkeypatch.setattr(html, '_parse_page', None)":
        "reaches '_parse_page' by name",
    "def test(monkeypatch):\n    monkeypatch.setattr('feedsvc.publication._write', None)":
        "reaches 'feedsvc.publication._write' by name",
    "value = getattr(publisher, '_listener')": "reaches '_listener' by name",
    "TARGET = 'feedsvc.publication._write'": "names feedsvc.publication._write",
    'CHILD = """\n    import feedsvc.publication as p\n    p._write = print\n"""':
        "runs code that uses ._write",
    'LIMIT = 8\nCHILD = f"""\n    from feedsvc.x import _y\n    limit = {LIMIT}\n"""':
        "runs code that imports feedsvc.x._y",
}

FINE = [
    "from feedsvc import __version__",
    "import os\nos._exit(0)",
    "import sys\nsys._getframe()",
    "class Helper:\n    def __init__(self):\n        self._kept = 1\n"
    "    def read(self):\n        return self._kept",
    "def _helper():\n    pass\n_helper()",
    "from test_parse_bounds import _memory\n_memory()",
    "def test(rows):\n    return [row._asdict() for row in rows]",
    "class Fake:\n    _count = 0\nFake._count += 1",
    'DOC = """Tests of feedsvc: nothing here imports _private names, in prose."""',
    "assert 'feedsvc: markup nested too deeply to read' in message",
]


# --- patching feedsvc's insides --------------------------------------------------------------
#
# A public name can be patched as surely as a private one: a test that swaps the
# ``time`` module inside ``feedsvc.store.lock``, or ``feedsvc.store`` itself in
# ``sys.modules``, depends on how feedsvc is put together, not on what it does. What
# such a test needs is a parameter (a clock, a function to call), which is what to add.

PATCHERS = frozenset({"setattr", "delattr", "patch", "object"})
"""Calls that replace (or remove) an attribute named by a string: ``monkeypatch.setattr``,
``setattr``, ``mock.patch``, ``mock.patch.object``."""
MODULES_WRITERS = frozenset({"setitem", "delitem"})
"""``monkeypatch.setitem(sys.modules, ...)`` and its ``delitem``."""
MODULES_METHODS = frozenset({"pop", "setdefault", "update", "__setitem__", "__delitem__"})
"""Methods of ``sys.modules`` that change what a later import finds."""


def feedsvc_modules(tree: ast.Module) -> dict[str, str]:
    """The names a module binds to feedsvc modules by importing them, with the module
    each names: ``import feedsvc.web`` binds ``feedsvc``, ``import feedsvc.store.lock as
    lock`` binds ``lock``, ``from feedsvc.store import lock`` binds ``lock`` when
    ``feedsvc.store.lock`` is a module."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if is_package(alias.name):
                    names[alias.asname or PACKAGE] = alias.name if alias.asname else PACKAGE
        elif isinstance(node, ast.ImportFrom) and is_package(node.module or ""):
            for alias in node.names:
                dotted = f"{node.module}.{alias.name}"
                if isinstance(resolve(dotted), ModuleType):
                    names[alias.asname or alias.name] = dotted
    return names


def resolve(dotted: str) -> object | None:
    """What the feedsvc path ``dotted`` (``feedsvc.store.lock.time``) names: a module, or
    an attribute of the longest module it starts with; None when nothing."""
    if not is_package(dotted):
        return None
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            found = getattr(found, part, None)
        return found
    return None


def dotted_name(node: ast.expr, modules: dict[str, str]) -> str | None:
    """The feedsvc path an expression spells from a name bound to a feedsvc module
    (``feedsvc.web`` from ``feedsvc.web``, ``feedsvc.store.lock`` from ``lock``)."""
    attributes: list[str] = []
    while isinstance(node, ast.Attribute):
        attributes.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in modules:
        return None
    return ".".join([modules[node.id], *reversed(attributes)])


def is_inside(owner: str, name: str) -> bool:
    """Whether ``name`` of the feedsvc module ``owner`` is part of how it works (a
    module it uses, a function or a class), rather than a value such as a constant."""
    module = resolve(owner)
    if not isinstance(module, ModuleType):
        return False
    value = getattr(module, name, None)
    return isinstance(value, ModuleType) or inspect.isroutine(value) or inspect.isclass(value)


def is_sys_modules(node: ast.expr) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "modules"
            and isinstance(node.value, ast.Name) and node.value.id == "sys")


def feedsvc_key(node: ast.expr) -> str | None:
    """A feedsvc module's name held in a string constant."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and is_package(node.value):
        return node.value
    return None


def patched_target(call: ast.Call, modules: dict[str, str]) -> str | None:
    """What a patching call replaces inside feedsvc (``feedsvc.web.serve``), if it does:
    ``(module, "name", ...)`` or ``("feedsvc.module.name", ...)``."""
    if called_name(call) not in PATCHERS or not call.args:
        return None
    first = call.args[0]
    text = feedsvc_key(first)
    if text is not None and " " not in text:
        owner, _, name = text.rpartition(".")
        return text if is_inside(owner, name) else None
    owner_path = dotted_name(first, modules)
    if owner_path is None or len(call.args) < 2:
        return None
    name_node = call.args[1]
    if not (isinstance(name_node, ast.Constant) and isinstance(name_node.value, str)):
        return None
    return f"{owner_path}.{name_node.value}" if is_inside(owner_path, name_node.value) else None


def module_written(node: ast.expr) -> str | None:
    """The feedsvc module whose ``sys.modules`` entry ``node`` sets or removes, if it does."""
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, (ast.Store, ast.Del)) \
            and is_sys_modules(node.value):
        return feedsvc_key(node.slice)
    if not isinstance(node, ast.Call):
        return None
    func, args = node.func, node.args
    if called_name(node) in MODULES_WRITERS and len(args) >= 2 and is_sys_modules(args[0]):
        return feedsvc_key(args[1])
    if isinstance(func, ast.Attribute) and func.attr in MODULES_METHODS \
            and is_sys_modules(func.value) and args:
        if isinstance(args[0], ast.Dict):
            keys = [feedsvc_key(key) for key in args[0].keys if key is not None]
            return next((key for key in keys if key is not None), None)
        return feedsvc_key(args[0])
    return None


def patches_in(source: str) -> Iterator[tuple[int, str]]:
    """(line, what) for each patch of feedsvc's insides in the Python ``source``: a module,
    function or class of a feedsvc module replaced (by ``monkeypatch.setattr``,
    ``setattr``, ``mock.patch`` or assignment), or a feedsvc module's entry in
    ``sys.modules`` set or removed."""
    tree = ast.parse(source)
    modules = feedsvc_modules(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.expr) and (written := module_written(node)) is not None:
            yield node.lineno, f"writes sys.modules[{written!r}]"
        if isinstance(node, ast.Call):
            target = patched_target(node, modules)
            if target is not None:
                yield node.lineno, f"patches {target}"
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, (ast.Store, ast.Del)):
            owner = dotted_name(node.value, modules)
            if owner is not None and is_inside(owner, node.attr):
                yield node.lineno, f"patches {owner}.{node.attr}"
        yield from in_embedded_code(node, patches_in)


@pytest.mark.slow  # reads every test file: a second of CPU
def test_no_test_patches_the_insides_of_feedsvc() -> None:
    found = in_every_test_file(patches_in)
    assert found == [], (
        "tests patch feedsvc's modules, functions or classes in place; give feedsvc a "
        "public parameter (a clock, a function to call) and pass a fake:\n"
        + "\n".join(found))


PATCHES = {
    "import feedsvc.web\ndef test(monkeypatch):\n    monkeypatch.setattr(feedsvc.web, 'serve', 0)":
        "patches feedsvc.web.serve",
    "import feedsvc.store.lock as lock\ndef test(monkeypatch):\n"
    "    monkeypatch.setattr(lock, 'time', None)": "patches feedsvc.store.lock.time",
    "from feedsvc.store import lock\nsetattr(lock, 'time', None)":
        "patches feedsvc.store.lock.time",
    "def test(monkeypatch):\n    monkeypatch.setattr('feedsvc.web.serve', print)":
        "patches feedsvc.web.serve",
    "from unittest import mock\nmock.patch('feedsvc.store.lock.time')":
        "patches feedsvc.store.lock.time",
    "import feedsvc.cli as cli\ndef test(monkeypatch):\n    monkeypatch.delattr(cli, 'main')":
        "patches feedsvc.cli.main",
    "import feedsvc.web\nfeedsvc.web.serve = print": "patches feedsvc.web.serve",
    "import feedsvc.metrics as metrics\nmetrics.StoreHealth = object":
        "patches feedsvc.metrics.StoreHealth",
    "import sys\nsys.modules['feedsvc.store'] = None": "writes sys.modules['feedsvc.store']",
    "import sys\ndef test(monkeypatch):\n    monkeypatch.setitem(sys.modules, 'feedsvc.status', 0)":
        "writes sys.modules['feedsvc.status']",
    "import sys\ndel sys.modules['feedsvc.web']": "writes sys.modules['feedsvc.web']",
    "import sys\nsys.modules.pop('feedsvc.web', None)": "writes sys.modules['feedsvc.web']",
    "import sys\nsys.modules.update({'feedsvc.web': None})": "writes sys.modules['feedsvc.web']",
    'CHILD = """\n    import sys, feedsvc\n    sys.modules["feedsvc.store"] = None\n"""':
        "runs code that writes sys.modules['feedsvc.store']",
}

UNPATCHED = [
    "import locale\ndef test(monkeypatch):\n    monkeypatch.setattr(locale, 'setlocale', 0)",
    "import postgres\ndef test(monkeypatch):\n"
    "    monkeypatch.setattr(postgres, 'find_binaries', 0)",
    "def test(monkeypatch):\n    monkeypatch.setenv('FEEDSVC_CONFIG', 'feedsvc.toml')",
    "from feedsvc.outputs import OUTPUT_FORMATS\ndef test(monkeypatch):\n"
    "    monkeypatch.setitem(OUTPUT_FORMATS, 'toy', None)",  # a registry's public entry
    "import sys\nloaded = 'feedsvc.web' in sys.modules and sorted(sys.modules)",
    "import sys\nsys.modules['fake_helper'] = None",
    "import feedsvc.web\nserve = feedsvc.web.serve",
    # A value, not a part: the check's limit. A test that needs another one is better
    # served by a parameter too (say so in review).
    "import feedsvc.store.lock as lock\ndef test(monkeypatch):\n"
    "    monkeypatch.setattr(lock, 'POLL_SECONDS', 0.01)",
]


# --- the checks on their examples ------------------------------------------------------

FOUND = [(problems_in, source, problem) for source, problem in USES.items()] + [
    (patches_in, source, problem) for source, problem in PATCHES.items()]
LEFT_ALONE = [(problems_in, source) for source in FINE] + [
    (patches_in, source) for source in UNPATCHED]


@pytest.mark.parametrize(("check", "source", "problem"), FOUND,
                         ids=[f"{check.__name__}-{n}" for n, (check, _, _) in enumerate(FOUND)])
def test_each_check_finds_each_way_it_is_written(check: Check, source: str,
                                                 problem: str) -> None:
    assert problem in [what for _, what in check(source)]


@pytest.mark.parametrize(("check", "source"), LEFT_ALONE,
                         ids=[f"{check.__name__}-{n}" for n, (check, _) in enumerate(LEFT_ALONE)])
def test_each_check_leaves_what_is_fine_alone(check: Check, source: str) -> None:
    assert list(check(source)) == []
