"""The package's shape, checked by path: no import cycle (function-level imports count), the pytest side
(runtests/plugin/) free of the runtests side, the commands independent of each other, the xdist modes named in
one module, and modules small enough to read."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "runtests"
# Used by both sides: the only runtests modules the pytest side may import besides its own. tracer is standard
# library only (it runs under interpreters that have no pytest).
SHARED = {"events", "modes", "durations", "files", "errors", "tracer"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(part for part in parts if part != "__init__") or "runtests"


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports_of(path: Path) -> tuple[set[str], set[str]]:
    """The runtests modules `path` imports, anywhere in it (a function-level import is the same dependency, later),
    and the other top-level packages it imports. `from runtests.plugin import fidelity` depends on
    plugin.fidelity, not on the package's own module."""
    ours, others = set(), set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            submodules = [f"{node.module}.{alias.name}" for alias in node.names]
            modules = [name for name in submodules if name.removeprefix("runtests.") in MODULES]
            names = modules if len(modules) == len(submodules) else [node.module, *modules]
        else:
            continue
        for name in names:
            if name.split(".")[0] != "runtests":
                others.add(name.split(".")[0])
            elif name.removeprefix("runtests.") in MODULES:
                ours.add(name.removeprefix("runtests."))
    return ours, others


# The package itself (runtests/__init__.py: its version) is no dependency worth a node.
GRAPH = {name: imports_of(path)[0] - {name, "runtests"} for name, path in MODULES.items()}
PYTEST_SIDE = {name for name in MODULES if name == "plugin" or name.startswith("plugin.")}


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


def test_the_pytest_side_imports_its_own_the_shared_modules_pytest_xdist_and_the_standard_library_only():
    assert {"plugin", "plugin.eventwriter", "plugin.selection", "plugin.scheduler"} <= PYTEST_SIDE
    for name in sorted(PYTEST_SIDE | SHARED):
        ours, others = imports_of(MODULES[name])
        assert ours <= PYTEST_SIDE | SHARED, (name, ours - PYTEST_SIDE - SHARED)
        assert not others & {"click", "rich", "git"}, (name, others)
    # The shared modules are shared: neither side's code.
    for name in SHARED:
        assert not imports_of(MODULES[name])[0] & PYTEST_SIDE, name


def test_the_commands_do_not_import_each_other():
    commands = {name for name in MODULES if name.startswith("commands.") and name != "commands.context"}
    assert commands == {"commands.run", "commands.diagnose", "commands.combine"}
    for name in commands:
        assert not GRAPH[name] & (commands - {name}), (name, GRAPH[name] & commands)


def test_the_entry_point_depends_on_what_it_starts_only():
    assert GRAPH["__main__"] == {"launch.prestart", "launch.fork", "cli"}
    assert GRAPH["launch.prestart"] == set()  # run as a script in the child: no runtests module may load there
    assert GRAPH["launch.fork"] == {"launch.prestart"}  # the child's side of it, after the fork


def test_what_the_entry_point_loads_before_the_fork_is_light():
    """The fork saves a second interpreter's start only if little runs before it: os, sys and cheap modules."""
    allowed = {"__future__", "os", "sys", "gc", "itertools", "collections", "typing"}
    for name in ("__main__", "launch", "launch.prestart", "launch.fork"):
        tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
        top = {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
        top |= {node.module.split(".")[0] for node in tree.body if isinstance(node, ast.ImportFrom) and node.module}
        assert top - {"runtests"} <= allowed, (name, top - allowed)


def test_the_xdist_modes_are_named_in_one_module():
    """Config, the CLI, the plugin, the scheduler and diagnosis take them from runtests.modes."""
    pattern = re.compile(r"""["'](loadscope|loadfile|loadgroup|worksteal)["']""")
    naming = {name for name, path in MODULES.items() if pattern.search(path.read_text(encoding="utf-8"))}
    assert naming == {"modes"}


def test_the_orchestrator_and_every_module_are_short_enough_to_read():
    lines = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in MODULES.items()}
    assert lines["commands.run"] < 250
    assert {name: n for name, n in lines.items() if n > 450} == {}


def test_the_writers_only_format():
    """The report modules compute no number of the run: the summary does, once (runtests.results)."""
    for name in (name for name in MODULES if name.startswith("report.")):
        text = MODULES[name].read_text(encoding="utf-8")
        assert "busy_shares(" not in text or name == "report.trace", name
        assert "count_outcomes(" not in text and "Counter(test.retry" not in text, name
