"""The pytest side of runtests: declares its options and registers the hooks of each concern.

Loaded with ``-p runtests.plugin`` (and through the ``pytest11`` entry point, so that plain pytest knows the
``serial`` marker too); without runtests' options it only registers the marker. The concerns live in modules of
their own, each depending on pytest and the standard library only: selection.py (which tests a phase keeps, shards),
eventwriter.py (the events file), timer.py (--timeout) and scheduler.py (xdist's scheduler, in its controller).
"""

from __future__ import annotations

import atexit
import gc
import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from runtests import events
from runtests.plugin import fidelity
from runtests.plugin.eventwriter import (
    EVENTS_FD,
    WRITER_NAME,
    DeselectionCounter,
    EventWriter,
    GroupTagger,
    is_xdist_worker,
    tell_runtests,
)
from runtests.plugin.selection import collect_listed_files_only, group_of, marker_names, select

DEFAULT_MARKER = "serial"
MARKER_HELP = "run in runtests' serial phase: after every parallel test, in a fresh sequential process"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("runtests", "runtests (set by the runtests command)")
    group.addoption(events.EVENTS_OPTION, default=None, help="write runtests events to this file")
    group.addoption(events.PHASE_OPTION, default=None, help="name of the runtests phase")
    group.addoption(
        events.SELECT_OPTION,
        default=events.SELECT_ALL,
        choices=(events.SELECT_UNMARKED, events.SELECT_MARKED, events.SELECT_ALL, events.SELECT_LISTED),
        help="which tests this phase keeps, by the runtests marker",
    )
    group.addoption(events.MARKER_OPTION, default=DEFAULT_MARKER, help="the runtests serial marker")
    group.addoption(events.ONLY_OPTION, default=None, help="keep only the node ids listed in this file")
    group.addoption(events.TIMEOUT_OPTION, default=None, type=float, help="per-test time limit in seconds")
    group.addoption(events.SHARD_OPTION, default=None, help="keep only shard K/N of this phase's tests")
    group.addoption(events.DURATIONS_OPTION, default=None, help="recorded durations (default: pytest's cache)")
    group.addoption(
        events.BALANCE_OPTION,
        action="store_true",
        help="schedule the xdist workers by recorded durations (runtests.plugin.scheduler), never changing an order",
    )
    group.addoption(events.GATE_OPTION, default=None, type=int, help="wait for a byte on this fd before conftests")
    group.addoption(
        events.PART_OPTION,
        default=None,
        choices=(events.PART_FIRST, events.PART_MIDDLE, events.PART_LAST),
        help="this process's part of a run of several (plugin state across them: runtests.plugin.fidelity)",
    )
    group.addoption(events.SEED_OPTION, default=None, type=int, help="the run's pytest-randomly seed")
    group.addoption(events.GROUPS_OPTION, default=None, help="xdist_group names whose tests are serial")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> Generator[None, None, None]:
    """Wait at the gate: runtests lets the tests start once it is ready (EOF: runtests is gone, so stop). A
    wrapper, so that it runs before every plugin's own hook: pytest-cov starts measuring only after it."""
    gate = getattr(early_config.known_args_namespace, "runtests_gate", None)
    events_path = getattr(early_config.known_args_namespace, "runtests_events", None)
    if events_path and "PYTEST_XDIST_WORKER" not in os.environ:
        early_config.stash[EVENTS_FD] = os.open(events_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    if gate is not None and "PYTEST_XDIST_WORKER" not in os.environ:
        try:
            go = os.read(gate, 1)
        finally:
            os.close(gate)
        if not go:
            os._exit(int(pytest.ExitCode.INTERRUPTED))
        early_config.stash[fidelity.REPORT_ONLY] = go == events.GATE_REPORT_ONLY
    fidelity.coverage_before_start(early_config)
    result = yield
    fidelity.coverage_after_start(early_config)
    return result


@pytest.hookimpl(tryfirst=True)  # before the plugins whose per-run state runtests.plugin.fidelity shares across phases
def pytest_configure(config: pytest.Config) -> None:
    declared = {line.split(":")[0].split("(")[0].strip() for line in config.getini("markers")}
    for name in {DEFAULT_MARKER, *marker_names(config.getoption(events.MARKER_OPTION))} - {"xdist_group"} - declared:
        config.addinivalue_line("markers", f"{name}: {MARKER_HELP}")
    collect_listed_files_only(config)
    path = config.getoption(events.EVENTS_OPTION)
    writer = None
    if path:  # under runtests: its phase process, or an xdist worker of it
        atexit.unregister(collect_then_freeze)  # once per process, however often pytest is configured in it
        atexit.register(collect_then_freeze)
        config.pluginmanager.register(DeselectionCounter(), "runtests-deselections")
        if not is_xdist_worker(config):
            writer = EventWriter(config, path)
            config.pluginmanager.register(writer, WRITER_NAME)
            fidelity.share_seed(config)
            fidelity.take_durations(config)
            fidelity.redirect_files(config, Path(path).parent, writer.emit)
    if config.getoption(events.BALANCE_OPTION) and not is_xdist_worker(config):
        from runtests.plugin.scheduler import Balancer  # xdist's controller only: it imports xdist's schedulers

        config.pluginmanager.register(Balancer(writer.emit if writer else None), "runtests-balancer")
    limit = config.getoption(events.TIMEOUT_OPTION)
    if limit:  # hook wrappers only where they have work: each costs every test a little
        from runtests.plugin.timer import TestTimer

        config.pluginmanager.register(TestTimer(limit), "runtests-test-timer")


def collect_then_freeze() -> None:
    """At exit: collect what is garbage now (finalizers run, as at any exit), then freeze the rest.

    Python's shutdown runs the cyclic collector over the whole heap several times while it clears modules, and
    runtests waits for a phase's processes (the controller, each xdist worker, the serial phase) to exit before the
    next phase or the report. One collection here, then gc.freeze(), leaves shutdown the reference counting only.
    What is skipped: finalizers of objects that first become cyclic garbage while the modules are being cleared,
    which Python does not promise to run at exit anyway.
    """
    gc.collect()
    gc.freeze()


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session: pytest.Session) -> bool | None:
    if fidelity.skip_collection(session):
        writer = session.config.pluginmanager.get_plugin(WRITER_NAME)
        if writer is not None:
            writer.send_collected([])
        return True
    return None


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Registered first of all plugins, so called last: the end of what plugins wrote in their summary."""
    writer = terminalreporter.config.pluginmanager.get_plugin(WRITER_NAME)
    if writer is not None:
        writer.summary_end()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep this phase's tests (runtests.plugin.selection) and say which wait for the other phase. Never reorders."""
    tagger = "runtests-group-tagger"
    if any(group_of(item) is not None for item in items) and not config.pluginmanager.has_plugin(tagger):
        config.pluginmanager.register(GroupTagger(), tagger)
    held_back = select(config, items)
    if held_back is not None:
        tell_runtests(config, {events.KIND: events.HELD_BACK, "ids": held_back})


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """In xdist's controller under runtests: a path or node id that does not exist is pytest's usage error at once,
    as in a sequential pytest, not after every worker has started and collected (each then fails on it)."""
    config = session.config
    under_runtests = config.getoption(events.EVENTS_OPTION)
    if under_runtests and getattr(config.option, "numprocesses", None) and not is_xdist_worker(config):
        check_collection_arguments(config)


def check_collection_arguments(config: pytest.Config) -> None:
    """pytest's own check of its arguments (its UsageError, its message), as its collection makes it."""
    from _pytest.main import resolve_collection_argument

    pyargs = bool(config.option.pyargs)
    for index, arg in enumerate(config.args):
        try:
            resolve_collection_argument(config.invocation_params.dir, arg, index, as_pypath=pyargs)
        except TypeError:  # pytest < 9: no argument index
            resolve_collection_argument(config.invocation_params.dir, arg, as_pypath=pyargs)  # type: ignore[call-arg]
