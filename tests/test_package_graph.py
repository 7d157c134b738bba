"""The packages of ``monitor/`` import each other in the order of the data flow: no circle.

The graph is built from the source with ``ast`` (no import runs): one node per subpackage
(``monitor.engine``, ``monitor.runs``, ...) and per top-level module (``monitor.cli``,
``monitor.config``, ``monitor.errors``; ``monitor`` for the package's ``__init__``), and an edge
for every import between two nodes, wherever it stands: at module level, inside a function (a lazy
import is still a dependency) or under ``TYPE_CHECKING``; plus every string literal that names a
``monitor`` module (plugins loaded with ``importlib.import_module``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "monitor"
_MODULE_NAME = re.compile(r"^monitor(\.[A-Za-z_][A-Za-z0-9_]*)+$")


def _module_of(path: Path) -> list[str]:
    parts = ["monitor", *path.relative_to(ROOT).with_suffix("").parts]
    return parts[:-1] if parts[-1] == "__init__" else parts


def _node(dotted: list[str]) -> str | None:
    """The graph node a module name falls in, or None for a name outside ``monitor``."""
    if not dotted or dotted[0] != "monitor":
        return None
    if len(dotted) == 1:
        return "monitor"
    if (ROOT / dotted[1]).is_dir():
        return f"monitor.{dotted[1]}"
    if (ROOT / f"{dotted[1]}.py").is_file():
        return f"monitor.{dotted[1]}"
    return "monitor"  # a name defined in monitor/__init__.py


def _imported(path: Path, tree: ast.Module) -> list[tuple[list[str], int]]:
    """Every module name ``path`` imports, with its line."""
    here = _module_of(path)
    package = here if path.name == "__init__.py" else here[:-1]
    out: list[tuple[list[str], int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name.split("."), node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            mod = base + (node.module.split(".") if node.module else [])
            # ``from pkg import name``: name may be a module of pkg (``from .. import config``)
            out += [(mod + [a.name], node.lineno) for a in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _MODULE_NAME.match(node.value):
            out.append((node.value.split("."), node.lineno))
    return out


def package_graph() -> dict[str, dict[str, str]]:
    """``{node: {imported node: "file:line" of one such import}}``."""
    graph: dict[str, dict[str, str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        src = _node(_module_of(path))
        graph.setdefault(src, {})
        for name, line in _imported(path, ast.parse(path.read_text(encoding="utf-8"))):
            dst = _node(name)
            if dst is not None and dst != src:
                graph[src].setdefault(dst, f"{path.relative_to(ROOT.parent)}:{line}")
    return graph


def find_cycle(graph: dict[str, dict[str, str]]) -> list[str] | None:
    """One circle of the graph as its nodes in order (the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        path.append(n)
        for m in sorted(graph.get(n, {})):
            if state.get(m) == 1:
                return path[path.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        state[n] = 2
        path.pop()
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_the_graph_sees_the_imports_it_must():
    """A check that passes on an empty graph proves nothing: the known arrows are found."""
    g = package_graph()
    assert {"monitor.engine", "monitor.prompts", "monitor.runs", "monitor.judges", "monitor.analysis",
            "monitor.report", "monitor.ingest", "monitor.demo", "monitor.cli", "monitor.config", "monitor.errors"} <= set(g)
    assert "monitor.errors" in g["monitor.engine"]  # relative, at module level
    assert "monitor.engine" in g["monitor.runs"] and "monitor.runs" in g["monitor.analysis"]
    assert "monitor.ingest" in g["monitor.cli"]  # only through the plugin list's strings
    assert "monitor.engine" in g["monitor.judges"]  # only lazy imports, inside functions (hf.py, behaviour_llm.py)
    assert find_cycle({"a": {"b": ""}, "b": {"c": ""}, "c": {"a": ""}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": ""}, "b": {}}) is None


def test_no_import_circle_between_the_packages_of_monitor():
    g = package_graph()
    cycle = find_cycle(g)
    assert cycle is None, (
        "the packages of monitor/ import each other in a circle: "
        + " -> ".join(f"{a} ({g[a][b]})" for a, b in zip(cycle, cycle[1:]))
        + f" -> {cycle[-1]}. Move what the lower package needs down, or have the caller (or a hook "
        "registered from above, as monitor/runs/hooks.py does) pass it in."
    )


def test_the_run_store_does_not_import_the_analyses():
    g = package_graph()
    assert "monitor.analysis" not in g["monitor.runs"], g["monitor.runs"]["monitor.analysis"]
