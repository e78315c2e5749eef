"""The harness's imports go one way: no cycles between modules, and rooms only import rooms below them.

Every import counts, also those inside functions and under ``TYPE_CHECKING``: a cycle hidden in a
function is still a seam in the wrong place.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import harness

PACKAGE = Path(harness.__file__).resolve().parent

#: Lowest first. A module may import its own room and any room listed before it.
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "harness._errors",
        "harness._redact",
        "harness._paths",
        "harness._wait",
        "harness._kube",
        "harness._signals",
    ),
    ("harness._config",),
    ("harness._build",),
    ("harness._argocd",),
    ("harness._cluster",),
    ("harness._chaos",),
    ("harness._report",),
    ("harness._scenario",),
    ("harness._reproduce",),
    ("harness.plugin", "harness._cli", "harness"),
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path, module: str, known: set[str]) -> set[str]:
    """The harness modules `path` (module `module`) imports; a `from pkg import submodule` counts as
    the submodule, and a relative import is resolved against the module's package."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "harness")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            if base.split(".")[0] != "harness":
                continue
            subs = {f"{base}.{a.name}" for a in node.names} & known
            found.update(subs or {base})
    return found & known


def _graph() -> dict[str, set[str]]:
    """Module -> the harness modules it imports. `from harness import X` is an edge to the package
    itself (its `__init__`, the public API), so a lower room reaching for the public API counts."""
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, name, known) for name, path in modules.items()}


def _layer(module: str) -> int:
    best = (-1, -1)  # (length of the matching prefix, layer)
    for index, rooms in enumerate(LAYERS):
        for room in rooms:
            if (module == room or module.startswith(room + ".")) and len(room) > best[0]:
                best = (len(room), index)
    if best[1] < 0:
        pytest.fail(f"{module} belongs to no room in LAYERS; add it where it belongs")
    return best[1]


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_walk_sees_the_whole_package() -> None:
    graph = _graph()
    assert "harness._cluster.embedded.cluster" in graph
    assert "harness._argocd.canary" in graph["harness._cluster.embedded.cluster"]


def test_no_module_imports_one_that_imports_it_back() -> None:
    assert _cycle(_graph()) is None, " -> ".join(_cycle(_graph()) or [])


def test_rooms_only_import_rooms_below_them() -> None:
    upward = [
        f"{mod} (room {_layer(mod)}) imports {dep} (room {_layer(dep)})"
        for mod, deps in sorted(_graph().items())
        for dep in sorted(deps)
        if _layer(dep) > _layer(mod)
    ]
    assert upward == []


def test_the_walk_resolves_relative_imports_and_sees_the_public_api(tmp_path: Path) -> None:
    pkg = tmp_path / "harness" / "_room"
    pkg.mkdir(parents=True)
    (tmp_path / "harness" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("from . import a\n")
    (pkg / "a.py").write_text("from .b import thing\nfrom .. import _low\nfrom harness import Timeline\n")
    known = {"harness", "harness._room", "harness._room.a", "harness._room.b", "harness._low"}

    assert _imports(pkg / "a.py", "harness._room.a", known) == {"harness._room.b", "harness._low", "harness"}
    assert _imports(pkg / "__init__.py", "harness._room", known) == {"harness._room.a"}


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
