"""The package's shape: no import cycle (function-level imports count), the pytest side free of the runtests
side, and the xdist modes named in one module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "runtests"
# The modules that run inside pytest processes: pytest, xdist and the standard library, and each other.
PYTEST_SIDE = {"runtests", "plugin", "selection", "eventwriter", "timer", "scheduler", "events", "durations", "modes",
               "files", "errors", "fidelity"}  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(part for part in parts if part != "__init__") or "runtests"


def imports_of(path: Path) -> tuple[set[str], set[str]]:
    """The runtests modules `path` imports, anywhere in it (a function-level import is the same dependency, later),
    and the other top-level packages it imports."""
    ours, others = set(), set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] != "runtests":
                others.add(name.split(".")[0])
            elif name.removeprefix("runtests.") in MODULES:
                ours.add(name.removeprefix("runtests."))
    return ours, others


MODULES = {module_name(path).removeprefix("runtests."): path for path in PACKAGE.rglob("*.py")}
# The package itself (runtests/__init__.py: its version) is no dependency worth a node.
GRAPH = {name: imports_of(path)[0] - {name, "runtests"} for name, path in MODULES.items()}


def test_the_import_graph_has_no_cycle():
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(GRAPH[name]):
            if state.get(target) == "open":
                cycles.append([*trail[trail.index(target) :], target] if target in trail else [name, target])
            elif target not in state:
                visit(target, [*trail, target])
        state[name] = "done"

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_the_entry_point_depends_on_what_it_starts_only():
    assert GRAPH["__main__"] == {"prestart", "fork", "cli"}
    assert GRAPH["prestart"] == set()  # run as a script in the child: no runtests module may load there
    assert GRAPH["fork"] == {"prestart"}  # the child's side of it, after the fork


def test_what_the_entry_point_loads_before_the_fork_is_light():
    """The fork saves a second interpreter's start only if little runs before it: os, sys and cheap modules."""
    allowed = {"__future__", "os", "sys", "gc", "itertools", "collections", "typing"}
    for name in ("__main__", "prestart", "fork"):
        tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
        top = {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
        top |= {node.module.split(".")[0] for node in tree.body if isinstance(node, ast.ImportFrom) and node.module}
        assert top - {"runtests"} <= allowed, (name, top - allowed)


def test_the_pytest_side_imports_pytest_xdist_and_the_standard_library_only():
    for name in PYTEST_SIDE:
        ours, others = imports_of(MODULES[name])
        assert ours <= PYTEST_SIDE, (name, ours - PYTEST_SIDE)
        assert not others & {"click", "rich", "git"}, (name, others)


def test_the_xdist_modes_are_named_in_one_module():
    """Config, the CLI, the plugin, the scheduler and diagnosis take them from runtests.modes."""
    pattern = re.compile(r"""["'](loadscope|loadfile|loadgroup|worksteal)["']""")
    naming = {name for name, path in MODULES.items() if pattern.search(path.read_text(encoding="utf-8"))}
    assert naming == {"modes"}
