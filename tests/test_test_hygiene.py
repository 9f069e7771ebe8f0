"""Tests check behaviour through public names: no test imports, reads, calls or
patches a private name (``_x``) of feedsvc, in its own code or in the scripts it
runs in child processes (Python held in strings).

A test file's own private helpers are its business, and so are ``self._x`` and
``cls._x`` in its classes; dunder names (``__version__``) are public; names
reached from another library (``os._exit``) are that library's. An attribute
read from anything else (``store._db``) is taken to be feedsvc's: a test that
needs it shows that feedsvc lacks a public way, which is what to add.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterator
from pathlib import Path

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
        if isinstance(node, (ast.Constant, ast.JoinedStr)):
            code = embedded_code(node)
            if code is None:
                continue
            try:
                found = list(problems_in(code))
            except SyntaxError:
                continue  # prose, not a script
            yield from ((node.lineno, f"runs code that {what}") for _, what in found)


def test_no_test_uses_a_private_name_of_feedsvc() -> None:
    found = [f"tests/{path.name}:{line}: {what}"
             for path in sorted(TESTS.glob("*.py"))
             if path.name != EXAMPLES.name  # its examples below are such uses, on purpose
             for line, what in problems_in(path.read_text(encoding="utf-8"))]
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


@pytest.mark.parametrize(("source", "problem"), USES.items())
def test_the_check_finds_each_way_of_using_a_private_name(source: str, problem: str) -> None:
    assert problem in [what for _, what in problems_in(source)]


@pytest.mark.parametrize("source", FINE)
def test_the_check_leaves_public_and_foreign_names_alone(source: str) -> None:
    assert list(problems_in(source)) == []
