"""The pytest side of runtests: selects a phase's tests and writes one JSON line per event.

Loaded with ``-p runtests.plugin`` (and through the ``pytest11`` entry point, so that plain pytest knows the
``serial`` marker too). It depends on pytest and the standard library only. Inside an xdist worker it only
selects tests: the controller re-fires every worker's reports, so writing there too would count twice.
"""

from __future__ import annotations

import os
from typing import IO, Any

import pytest

from runtests import events

DEFAULT_MARKER = "serial"
MARKER_HELP = "run in runtests' serial phase: after every parallel test, in a fresh sequential process"
HELD_BACK_KEY = "runtests_held_back"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("runtests", "runtests (set by the runtests command)")
    group.addoption(events.EVENTS_OPTION, default=None, help="write runtests events to this file")
    group.addoption(events.PHASE_OPTION, default=None, help="name of the runtests phase")
    group.addoption(
        events.SELECT_OPTION,
        default=events.SELECT_ALL,
        choices=(events.SELECT_UNMARKED, events.SELECT_MARKED, events.SELECT_ALL),
        help="which tests this phase keeps, by the runtests marker",
    )
    group.addoption(events.MARKER_OPTION, default=DEFAULT_MARKER, help="the runtests serial marker")


def is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    marker = config.getoption(events.MARKER_OPTION)
    for name in {DEFAULT_MARKER, marker}:
        config.addinivalue_line("markers", f"{name}: {MARKER_HELP}")
    path = config.getoption(events.EVENTS_OPTION)
    if path and not is_xdist_worker(config):
        config.pluginmanager.register(EventWriter(config, path), "runtests-event-writer")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    select = config.getoption(events.SELECT_OPTION)
    if select == events.SELECT_ALL:
        return
    marker = config.getoption(events.MARKER_OPTION)
    keep_marked = select == events.SELECT_MARKED
    kept: list[pytest.Item] = []
    held_back: list[pytest.Item] = []
    for item in items:
        (kept if (item.get_closest_marker(marker) is not None) == keep_marked else held_back).append(item)
    if held_back:
        config.hook.pytest_deselected(items=held_back)
        items[:] = kept
    ids = [item.nodeid for item in held_back]
    if is_xdist_worker(config):
        config.workeroutput[HELD_BACK_KEY] = ids  # type: ignore[attr-defined]
    else:
        writer = config.pluginmanager.get_plugin("runtests-event-writer")
        if writer is not None:
            writer.emit({"e": "held_back", "ids": ids})


def describe_longrepr(report: pytest.TestReport | pytest.CollectReport) -> str | None:
    if report.longrepr is None:
        return None
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:  # a skip: (path, line, reason)
        return str(report.longrepr[2])
    return report.longreprtext


def worker_of(report: Any) -> str | None:
    node = getattr(report, "node", None)
    gateway = getattr(node, "gateway", None)
    return getattr(gateway, "id", None) or getattr(report, "worker_id", None)


def is_subtest_report(report: Any) -> bool:
    # pytest 9 built-in subtests; pytest-subtests names its class SubTestReport.
    return type(report).__name__.lower() == "subtestreport"


class EventWriter:
    """Lives in the controller (or the only) pytest process and writes the events file."""

    def __init__(self, config: pytest.Config, path: str) -> None:
        self.config = config
        # Line-buffered: every event reaches the file at once, so a killed process loses nothing written.
        self.stream: IO[str] = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
        self.pending: dict[str, dict[str, Any]] = {}
        self.held_back: list[str] = []
        self.collected_sent = False

    def emit(self, event: dict[str, Any]) -> None:
        self.stream.write(events.encode(event))

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        option = self.config.option
        workers = getattr(option, "numprocesses", None) or 0
        dist = getattr(option, "dist", "no") if workers else "no"
        self.emit(
            {
                "e": "start",
                "v": events.WIRE_VERSION,
                "phase": self.config.getoption(events.PHASE_OPTION),
                "workers": workers,
                "dist": dist,
                "pid": os.getpid(),
                "pytest": pytest.__version__,
            }
        )

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.send_collected([item.nodeid for item in session.items])

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.send_collected(ids)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", None) or {}
        if HELD_BACK_KEY in output and not self.held_back:
            self.held_back = list(output[HELD_BACK_KEY])
            self.emit({"e": "held_back", "ids": self.held_back})

    def send_collected(self, ids: list[str]) -> None:
        if not self.collected_sent:
            self.collected_sent = True
            self.emit({"e": "collected", "ids": ids})

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self.emit({"e": "begin", "nodeid": nodeid})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        test = self.pending.get(report.nodeid)
        if test is None:
            test = self.pending[report.nodeid] = {
                "e": "test",
                "nodeid": report.nodeid,
                "worker": worker_of(report),
                "location": list(report.location) if report.location else None,
                "reports": [],
                "subtests": [],
            }
        if is_subtest_report(report):
            test["subtests"].append(
                {
                    "outcome": report.outcome,
                    "description": report._sub_test_description(),
                    "xfail": hasattr(report, "wasxfail"),
                    "longrepr": describe_longrepr(report) if report.failed else None,
                }
            )
            return
        entry: dict[str, Any] = {
            "when": report.when,
            "outcome": report.outcome,
            "duration": report.duration,
            "start": getattr(report, "start", None),
            "stop": getattr(report, "stop", None),
            "xfail": hasattr(report, "wasxfail"),
        }
        if report.failed or report.skipped:
            entry["longrepr"] = describe_longrepr(report)
            if report.failed:
                entry["sections"] = [list(section) for section in report.sections]
        if hasattr(report, "wasxfail"):
            entry["reason"] = report.wasxfail
        test["reports"].append(entry)
        # Teardown closes a test; "???" is xdist's report for a test whose worker died mid-run.
        if report.when in ("teardown", "???"):
            self.emit(self.pending.pop(report.nodeid))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.emit({"e": "collect_error", "nodeid": report.nodeid, "longrepr": describe_longrepr(report)})

    def pytest_internalerror(self, excrepr: Any, excinfo: Any) -> None:
        self.emit({"e": "internal_error", "text": str(excrepr)})

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        for test in self.pending.values():  # interrupted mid-test: what we know is still a result
            test["unfinished"] = True
            self.emit(test)
        self.pending.clear()
        self.emit({"e": "finish", "exitstatus": int(exitstatus)})

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.stream.close()
