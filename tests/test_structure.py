"""The package's shape stays as ARCHITECTURE.md describes it: small modules, no import cycles,
and a module map that names every module."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pizauth_dbus"
MAX_LINES = 400


def _imports(path: Path) -> set[str]:
    """The package's modules that ``path`` imports, at the top or inside functions alike."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "pizauth_dbus":
                found.update(alias.name for alias in node.names)
            elif node.module.startswith("pizauth_dbus."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(
                a.name.split(".")[1] for a in node.names if a.name.startswith("pizauth_dbus.")
            )
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    return (found & modules) - {path.stem, "__init__"}


def test_no_module_is_over_400_lines() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in PACKAGE.glob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_no_import_cycle() -> None:
    graph = {p.stem: _imports(p) for p in PACKAGE.glob("*.py")}
    assert graph["cli"] and graph["server"]  # the walk does find imports
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


def test_the_module_map_names_every_module() -> None:
    architecture = (PACKAGE.parent / "ARCHITECTURE.md").read_text()
    missing = [
        p.name
        for p in PACKAGE.glob("*.py")
        if p.stem not in ("__init__", "__main__") and f"`{p.name}`" not in architecture
    ]
    assert missing == []
