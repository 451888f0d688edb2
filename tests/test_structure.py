"""The package's shape stays as ARCHITECTURE.md describes it: folders by process side, imports
that only go one way, no import cycles, a module map that names every module and says where it
is tested, and a wiring list that is the server's wiring."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pizauth_dbus"
ARCHITECTURE = ROOT / "ARCHITECTURE.md"
SIZE_ALARM = 600
"""Past this many lines a module probably holds a second concept (style.md 3.1)."""

ROOMS = ("config", "cli", "doctor", "oauth", "server")
"""The package's folders; a module directly in the package is a shared leaf."""
MAY_IMPORT = {
    "leaf": {"leaf"},
    "config": {"leaf", "config"},
    "oauth": {"leaf", "config", "oauth"},
    "server": {"leaf", "config", "oauth", "server"},
    "doctor": {"leaf", "config", "doctor"},
    "cli": {"leaf", "config", "doctor", "cli"},
}
"""Which rooms a room's modules may import from, at the top or inside functions."""
LATE_ONLY = {"cli": {"server"}}
"""Imports allowed only inside a function: ``pizauth server`` starts the server from the CLI."""


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ROOMS) else "leaf"


def _imports(path: Path) -> dict[str, bool]:
    """The package's modules that ``path`` imports, each with whether it is at the top level
    (True) or only inside a function or method (False)."""
    tree = ast.parse(path.read_text())
    known = {_name(p) for p in _modules()}
    top_level = {id(n) for n in tree.body} | {
        id(n) for stmt in tree.body if isinstance(stmt, ast.If | ast.Try) for n in ast.walk(stmt)
    }
    found: dict[str, bool] = {}
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            # `from pizauth_dbus.server import tasks` names the module; `from ... import Tasks`
            # names something inside one: the longest known prefix is what is imported.
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name.startswith("pizauth_dbus.") and name != _name(path):
                found[name] = found.get(name, False) or id(node) in top_level
    # A module's own package (its __init__) is imported with it; that edge says nothing.
    return {m: top for m, top in found.items() if not _name(path).startswith(m + ".")}


def test_every_import_goes_the_allowed_way() -> None:
    wrong = []
    for path in _modules():
        module = _name(path)
        if module == "pizauth_dbus.__main__":
            continue  # `python -m pizauth_dbus` is the CLI's other entry point
        room = _room(module)
        for imported, at_top in _imports(path).items():
            target = _room(imported)
            allowed = target in MAY_IMPORT[room] or (
                not at_top and target in LATE_ONLY.get(room, set())
            )
            if not allowed:
                wrong.append(f"{module} ({room}) imports {imported} ({target})")
    assert wrong == []


def test_the_import_rule_is_checked_for_real() -> None:
    # The walk finds imports inside functions as well as at the top, and tells them apart:
    # without this, a broken walk would make the rule above pass vacuously.
    cli = _imports(PACKAGE / "cli" / "pizauth.py")
    assert cli["pizauth_dbus.server.process"] is False
    assert cli["pizauth_dbus.errors"] is True
    assert _room("pizauth_dbus.server.desktop.backend") == "server"
    assert _room("pizauth_dbus.timing") == "leaf" and _room("pizauth_dbus.config") == "config"


def test_no_module_is_past_the_size_alarm() -> None:
    sizes = {_name(p): len(p.read_text().splitlines()) for p in _modules()}
    assert {name: n for name, n in sizes.items() if n > SIZE_ALARM} == {}


def test_no_import_cycle() -> None:
    graph = {_name(p): set(_imports(p)) for p in _modules()}
    assert graph["pizauth_dbus.cli.pizauth"] and graph["pizauth_dbus.server.process"]
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join([*path, module]))
        if module in done:
            return
        for imported in sorted(graph.get(module, ())):
            visit(imported, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


def _map_rows() -> dict[str, str]:
    """ARCHITECTURE.md's module map: each row's module path and the row's text."""
    rows = {}
    for line in ARCHITECTURE.read_text().splitlines():
        if m := re.match(r"\| `([\w/]+\.py)` \|", line):
            rows[m.group(1)] = line
    return rows


def test_the_module_map_names_every_module_and_where_it_is_tested() -> None:
    rows = _map_rows()
    paths = {
        str(p.relative_to(PACKAGE))
        for p in _modules()
        if p.name not in ("__init__.py", "__main__.py")
    }
    assert sorted(paths - rows.keys()) == []  # every module has a row
    assert sorted(rows.keys() - paths) == []  # and every row a module
    untested = []
    for path, row in rows.items():
        named = re.findall(r"`(test_\w+\.py)`", row)
        if not named or any(not (ROOT / "tests" / t).exists() for t in named):
            untested.append(path)
    assert untested == []


def test_the_wiring_list_is_the_servers_wiring() -> None:
    source = (PACKAGE / "server" / "process.py").read_text()
    # `a.b.connect(c.d)`, or `a.b.connect(lambda x: c.d())` where the signal's value is unused.
    connect = r"^\s+(\w+(?:\.\w+)*\.\w+)\.connect\((?:lambda \w*: )?([\w.]+)(?:\(\))?\)$"
    wired = set(re.findall(connect, source, re.M))
    assert len(wired) >= 10  # the pattern does find the wiring
    text = ARCHITECTURE.read_text()
    block = text.split("<!-- wiring -->", 2)[1]
    listed = set(re.findall(r"^`([\w.]+)` → `([\w.]+)`", block, re.M))
    assert listed == wired
