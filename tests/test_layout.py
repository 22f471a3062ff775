"""The package's layout: four groups over three foundations, imports without cycles, one flat public API."""

from __future__ import annotations

import ast
from pathlib import Path

import rrhelpers as rr

PACKAGE = Path(rr.__file__).resolve().parent
GROUPS = {"networks", "optimization", "learning", "book"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The package modules that ``path`` imports at module level (relative imports, resolved)."""
    name = _module_name(path)
    package = name if path.stem == "__init__" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")
            base = base[: len(base) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            found.add(target)
    return found


def test_modules_live_in_their_groups_and_import_without_cycles():
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    flat = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert flat == {"data", "cache", "validation", "__main__"}, flat  # the foundations, nothing else flat
    assert {p.parent.name for p in PACKAGE.glob("*/*.py")} == GROUPS
    graph = {name: {t for t in _imports(path) if t in modules and t != name} for name, path in modules.items()
             if name != "rrhelpers"}
    for name in ("rrhelpers.data", "rrhelpers.cache", "rrhelpers.validation"):
        assert not graph[name], f"{name} is a foundation and imports {graph[name]}"
    visiting, done = set(), set()

    def visit(name: str, trail: list[str]) -> None:
        assert name not in visiting, f"import cycle: {' -> '.join(trail + [name])}"
        if name in done:
            return
        visiting.add(name)
        for target in sorted(graph.get(name, ())):
            visit(target, trail + [name])
        visiting.discard(name)
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


def test_the_flat_api_names_what_it_exports():
    assert all(hasattr(rr, name) for name in rr.__all__)
    assert len(set(rr.__all__)) == len(rr.__all__)
