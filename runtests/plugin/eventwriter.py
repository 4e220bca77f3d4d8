"""The events file: one JSON line per event (runtests/events.py), written by the controller or only pytest process.

Depends on pytest and the standard library only. Inside an xdist worker nothing is written but the early word on
held-back tests: the controller re-fires every worker's reports, so writing there too would count twice.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from runtests import events
from runtests.modes import plain_nodeid
from runtests.plugin import fidelity
from runtests.plugin.selection import OWN_DESELECTED, group_of, serial_ids

WORKER_EVENTS_KEY = "runtests_events"
EVENTS_FD = pytest.StashKey[int]()
WRITER_NAME = "runtests-event-writer"


def is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def tell_runtests(config: pytest.Config, event: dict[str, Any]) -> None:
    """An event about this process's collection (the tests held back for the other phase, the user's
    deselections), from whichever runtests process collected. Every xdist worker collects the same tests: gw0 tells
    runtests at once (the early word on held-back tests lets runtests start the next phase's process while the
    others still collect), and each leaves it in its workeroutput, which the controller passes on when the first
    worker finishes (EventWriter.pytest_testnodedown), should gw0's word have been lost."""
    if is_xdist_worker(config):
        config.workeroutput.setdefault(WORKER_EVENTS_KEY, []).append(event)  # type: ignore[attr-defined]
        if config.workerinput.get("workerid") == "gw0":  # type: ignore[attr-defined]
            append_event(config.getoption(events.EVENTS_OPTION), event)
        return
    writer = config.pluginmanager.get_plugin(WRITER_NAME)
    if writer is not None:
        writer.emit(event)


class DeselectionCounter:
    """Counts the tests deselected in this process less runtests' own (its phase split, shards and listings,
    selection.OWN_DESELECTED): the user's -k, -m, --lf and plugins' deselections, which pytest's last line shows
    as "N deselected"."""

    def __init__(self) -> None:
        self.total = 0

    def pytest_deselected(self, items: Any) -> None:
        self.total += len(items)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        user = self.total - session.config.stash.get(OWN_DESELECTED, 0)
        if user > 0:
            tell_runtests(session.config, {events.KIND: events.DESELECTED, "count": user})


class GroupTagger:
    """Tags each report with its test's xdist_group, in the process that ran the test (xdist carries it on)."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
        report = yield
        group = group_of(item)
        if group is not None:
            report.runtests_group = group
        return report


def append_event(path: str | None, event: dict[str, Any]) -> None:
    """One line in one write() to a file opened for appending: whole, even beside the controller's writes."""
    if path:
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_APPEND)
        except OSError:  # gone (a test deleted runtests' work directory): the controller's word will do
            return
        try:
            os.write(descriptor, events.encode(event).encode())
        finally:
            os.close(descriptor)


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


MAX_TEXT = 256 * 1024  # characters of one failure text or captured section that travel to runtests


def cut(text: str | None) -> str | None:
    """A failure text or captured output bounded in size: its head and tail, and a note of what was cut (a test
    that prints 50 MB must not make runtests hold 50 MB, three times over)."""
    if text is None or len(text) <= MAX_TEXT:
        return text
    half = MAX_TEXT // 2
    dropped = len(text) - 2 * half
    return f"{text[:half]}\n[... runtests cut {dropped:,} characters of this text here ...]\n{text[-half:]}"


def describe_report(report: pytest.TestReport, passed_sections: bool = False) -> dict[str, Any]:
    """One report as the events carry it; a passing one's captured sections only with `passed_sections` (-rP, -rX:
    pytest's PASSES and XPASSES sections show them)."""
    entry: dict[str, Any] = {
        "when": report.when,
        "outcome": report.outcome,
        "duration": report.duration,
        "start": getattr(report, "start", None),
        "stop": getattr(report, "stop", None),
    }
    if report.failed or report.skipped:
        entry["longrepr"] = cut(describe_longrepr(report))
        if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:  # where the skip was raised
            path = str(report.longrepr[0])
            entry["where"] = [os.path.relpath(path) if os.path.isabs(path) else path, report.longrepr[1]]
        if report.failed:
            crash = getattr(report.longrepr, "reprcrash", None)
            if crash is not None:
                entry["crash"] = [str(crash.path), crash.lineno, crash.message]
    if report.sections and (report.failed or passed_sections):
        entry["sections"] = [[title, cut(content)] for title, content in report.sections]
    if hasattr(report, "wasxfail"):
        entry["xfail"] = True
        entry["reason"] = report.wasxfail
    if getattr(report, "runtests_timeout", False):
        entry["timeout"] = True
    return entry


def compact(test: dict[str, Any]) -> dict[str, Any]:
    """Plain passed reports were kept as (when, duration, start, stop) tuples, cheap to make. A test whose setup,
    call and teardown all passed so travels as one passed "call" report spanning them: the same verdict, duration
    (their sum), start and stop, in a third of the floats to encode and decode. Otherwise each becomes a dict."""
    reports = test["reports"]
    if len(reports) == 3 and all(type(r) is tuple for r in reports):
        (_, setup_s, start, _), (_, call_s, _, _), (_, teardown_s, _, stop) = reports
        duration = setup_s + call_s + teardown_s
        test["reports"] = [{"when": "call", "outcome": "passed", "duration": duration, "start": start, "stop": stop}]
    else:
        test["reports"] = [
            {"when": r[0], "outcome": "passed", "duration": r[1], "start": r[2], "stop": r[3]}
            if type(r) is tuple
            else r
            for r in reports
        ]
    return test


class EventWriter:
    """Lives in the controller (or the only) pytest process and writes the events file."""

    def __init__(self, config: pytest.Config, path: str) -> None:
        self.config = config
        # One write() per event on an O_APPEND descriptor: every event reaches the file at once and whole, so a
        # killed process loses nothing written, and the lines of xdist's gw0 (append_event) never interleave.
        # Opened before the gate (plugin.pytest_load_initial_conftests), so that a test deleting runtests' work
        # directory cannot take the file from under either side.
        early = config.stash.get(EVENTS_FD, None)
        self.fd = early if early is not None else os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.pending: dict[str, dict[str, Any]] = {}
        self.collected_sent = False
        self.summary_marks: list[int | None] = []
        self.starting_on: str | None = None  # the worker of the test xdist's controller is announcing
        self.passed_sections = False  # -rP / -rX: pytest's PASSES and XPASSES sections need passing tests' output
        self.rerunning: set[str] = set()  # tests whose attempt pytest-rerunfailures is running again
        self.told: set[str] = set()  # kinds of the workers' collection events passed on (tell_runtests)

    def emit(self, event: dict[str, Any]) -> None:
        self.write(events.encode(event))

    def write(self, line: str) -> None:
        if self.fd >= 0:
            os.write(self.fd, line.encode("ascii"))

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        fidelity.separate_output(self.config, Path(self.config.getoption(events.EVENTS_OPTION)).parent, self.emit)
        option = self.config.option
        workers = getattr(option, "numprocesses", None) or 0
        dist = getattr(option, "dist", "no") if workers else "no"
        terminal = fidelity.terminal_settings(self.config)
        self.passed_sections = terminal["tbstyle"] != "no" and bool(set(terminal["reportchars"]) & {"P", "X"})
        self.emit(
            {
                events.KIND: events.START,
                "v": events.WIRE_VERSION,
                "phase": self.config.getoption(events.PHASE_OPTION),
                "workers": workers,
                "dist": dist,
                "pid": os.getpid(),
                "cache_dir": str(getattr(getattr(self.config, "cache", None), "_cachedir", "")) or None,
                "rootdir": str(self.config.rootpath),
                "pytest": pytest.__version__,
                "terminal": terminal,
                **({"seed": seed} if isinstance(seed := getattr(option, "randomly_seed", None), int) else {}),
                **({"coverage": True} if fidelity.measures_coverage(self.config) else {}),
            }
        )
        self.know_starting_workers()
        # Registered now, after every plugin configured itself: its tryfirst summary hook is called first.
        session.config.pluginmanager.register(fidelity.SummaryStart(self.summary_marks), "runtests-summary-start")

    def summary_end(self) -> None:
        fidelity.summary_end(self.summary_marks, self.emit)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        serial = None
        if self.config.option.collectonly:
            serial = serial_ids(self.config, session.items)
        self.send_collected([item.nodeid for item in session.items], serial)

    def pytest_warning_recorded(self, warning_message: Any, when: str, nodeid: str, location: Any) -> None:
        """Each warning pytest records (xdist's controller re-records its workers'), as pytest's terminal counts
        and groups them: its formatted message, and where (the test, or the file and line)."""
        from _pytest.warnings import warning_record_to_str

        where = nodeid
        if not where and warning_message.filename:
            path = os.path.relpath(warning_message.filename, self.config.invocation_params.dir)
            where = f"{path}:{warning_message.lineno}"
        message = warning_record_to_str(warning_message)
        self.emit({events.KIND: events.WARNING, "message": message, "location": where, "when": when})

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.send_collected(ids)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", None) or {}
        for event in output.get(WORKER_EVENTS_KEY, ()):  # the first worker to finish tells each (tell_runtests)
            if event.get(events.KIND) not in self.told:
                self.told.add(event.get(events.KIND))
                self.emit(event)

    def send_collected(self, ids: list[str], serial: list[str] | None = None) -> None:
        if not self.collected_sent:
            self.collected_sent = True
            event: dict[str, Any] = {events.KIND: events.COLLECTED, "ids": [plain_nodeid(nodeid) for nodeid in ids]}
            if serial is not None:
                event["serial"] = serial
            self.emit(event)

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self.rerunning.discard(nodeid)  # a new attempt of the test: its reports count again
        self.write(events.encode_begin(plain_nodeid(nodeid), self.starting_on))
        self.starting_on = None

    def know_starting_workers(self) -> None:
        """xdist's controller says a test started without saying where: learn the worker from the event that
        carries it (DSession.worker_logstart), for the live view of what runs where."""
        dsession = self.config.pluginmanager.get_plugin("dsession")
        original = getattr(dsession, "worker_logstart", None)
        if dsession is None or original is None:
            return

        def worker_logstart(node: Any, **kwargs: Any) -> None:
            self.starting_on = getattr(getattr(node, "gateway", None), "id", None)
            original(node=node, **kwargs)

        dsession.worker_logstart = worker_logstart

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        test = self.pending.get(report.nodeid)
        if test is None:
            test = self.pending[report.nodeid] = {
                events.KIND: events.TEST,
                "nodeid": plain_nodeid(report.nodeid),
                "location": list(report.location) if report.location else None,
                "reports": [],
            }
            worker, group = worker_of(report), getattr(report, "runtests_group", None)
            if worker is not None:  # absent keys read as None: smaller lines, cheaper to write and read
                test["worker"] = worker
            if group is not None:
                test["group"] = group
        if report.outcome == "rerun":
            # pytest-rerunfailures runs the test again (a failed attempt, or a crashed worker's): that attempt is
            # no verdict. Counted, as pytest's "1 rerun"; the rest of the attempt's reports are dropped, until the
            # next attempt starts (pytest_runtest_logstart).
            test["reruns"] = test.get("reruns", 0) + 1
            test["reports"] = []
            test.pop("subtests", None)
            self.rerunning.add(report.nodeid)
            return
        if report.nodeid in self.rerunning:
            return
        if is_subtest_report(report):
            test.setdefault("subtests", []).append(
                {
                    "outcome": report.outcome,
                    "description": report._sub_test_description(),
                    "xfail": hasattr(report, "wasxfail"),
                    "longrepr": describe_longrepr(report) if report.failed else None,
                }
            )
            return
        plain = not hasattr(report, "wasxfail") and not getattr(report, "runtests_timeout", False)
        if report.passed and plain and not (self.passed_sections and report.sections):
            # The common case, kept as a tuple: see `compact`.
            test["reports"].append((report.when, report.duration, report.start, report.stop))
        else:
            test["reports"].append(describe_report(report, self.passed_sections))
        # Teardown closes a test; "???" is xdist's report for a test whose worker died mid-run.
        if report.when in ("teardown", "???"):
            self.emit(compact(self.pending.pop(report.nodeid)))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            longrepr = describe_longrepr(report)
            self.emit({events.KIND: events.COLLECT_ERROR, "nodeid": report.nodeid, "longrepr": longrepr})

    def pytest_internalerror(self, excrepr: Any, excinfo: Any) -> None:
        self.emit({events.KIND: events.INTERNAL_ERROR, "text": str(excrepr)})

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        for test in self.pending.values():  # interrupted mid-test: what we know is still a result
            test["unfinished"] = True
            self.emit(compact(test))
        self.pending.clear()
        self.emit({events.KIND: events.FINISH, "exitstatus": int(exitstatus)})

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
