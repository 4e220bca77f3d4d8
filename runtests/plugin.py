"""The pytest side of runtests: selects a phase's tests and writes one JSON line per event.

Loaded with ``-p runtests.plugin`` (and through the ``pytest11`` entry point, so that plain pytest knows the
``serial`` marker too). It depends on pytest and the standard library only. Inside an xdist worker it only
selects tests: the controller re-fires every worker's reports, so writing there too would count twice.
"""

from __future__ import annotations

import atexit
import gc
import os
import re
import signal
import threading
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from runtests import durations, events

DEFAULT_MARKER = "serial"
MARKER_HELP = "run in runtests' serial phase: after every parallel test, in a fresh sequential process"
HELD_BACK_KEY = "runtests_held_back"
# xdist's loadgroup appends "@group" to a node id; a test name cannot hold "@" outside its [parameters].
GROUP_SUFFIX = re.compile(r"@[^@\]]*\Z")


class TestTimeout(BaseException):
    """Raised inside a test that ran past --timeout; a BaseException, so `except Exception` cannot swallow it."""

    __test__ = False


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
        help="schedule the xdist workers by recorded durations (runtests.scheduler), never changing an order",
    )
    group.addoption(events.GATE_OPTION, default=None, type=int, help="wait for a byte on this fd before conftests")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """Wait at the gate: runtests lets the tests start once it is ready (EOF: runtests is gone, so stop)."""
    gate = getattr(early_config.known_args_namespace, "runtests_gate", None)
    if gate is None or "PYTEST_XDIST_WORKER" in os.environ:
        return
    try:
        go = os.read(gate, 1)
    finally:
        os.close(gate)
    if not go:
        os._exit(int(pytest.ExitCode.INTERRUPTED))


def is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    marker = config.getoption(events.MARKER_OPTION)
    for name in {DEFAULT_MARKER, marker}:
        config.addinivalue_line("markers", f"{name}: {MARKER_HELP}")
    path = config.getoption(events.EVENTS_OPTION)
    if path:  # under runtests: its phase process, or an xdist worker of it
        atexit.unregister(collect_then_freeze)  # once per process, however often pytest is configured in it
        atexit.register(collect_then_freeze)
        if not is_xdist_worker(config):
            config.pluginmanager.register(EventWriter(config, path), "runtests-event-writer")
    if config.getoption(events.BALANCE_OPTION) and not is_xdist_worker(config):
        config.pluginmanager.register(Balancer(), "runtests-balancer")
    limit = config.getoption(events.TIMEOUT_OPTION)
    if limit:  # hook wrappers only where they have work: each costs every test a little
        config.pluginmanager.register(TestTimer(limit), "runtests-test-timer")


def collect_then_freeze() -> None:
    """At exit: collect what is garbage now (finalizers run, as at any exit), then freeze the rest.

    Python's shutdown runs the cyclic collector over the whole heap several times while it clears modules: with
    1,000 tests collected, about 80-120 ms per process (the controller, each xdist worker, the serial phase), and
    runtests waits for a phase's processes to exit before the next phase or the report. One collection here, then
    gc.freeze(), leaves shutdown the reference counting only. What is skipped: finalizers of objects that first
    become cyclic garbage while the modules are being cleared, which Python does not promise to run at exit anyway.
    """
    gc.collect()
    gc.freeze()


def plain_nodeid(nodeid: str) -> str:
    return GROUP_SUFFIX.sub("", nodeid) if "@" in nodeid else nodeid


def deselect(config: pytest.Config, items: list[pytest.Item], keep: Callable[[pytest.Item], bool]) -> list[str]:
    """Keep the items `keep` accepts, reporting the others as deselected (as -m does); returns their ids."""
    kept = [item for item in items if keep(item)]
    if len(kept) == len(items):
        return []
    dropped = [item for item in items if not keep(item)]
    config.hook.pytest_deselected(items=dropped)
    items[:] = kept
    return [plain_nodeid(item.nodeid) for item in dropped]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep this phase's tests (by the marker, or a list), then this shard's share, then order them."""
    tagged = any(group_of(item) is not None for item in items)
    if tagged and not config.pluginmanager.has_plugin("runtests-group-tagger"):
        config.pluginmanager.register(GroupTagger(), "runtests-group-tagger")
    select = config.getoption(events.SELECT_OPTION)
    if select == events.SELECT_LISTED:
        with open(config.getoption(events.ONLY_OPTION), encoding="utf-8") as listing:
            listed = set(listing.read().splitlines())
        deselect(config, items, lambda item: plain_nodeid(item.nodeid) in listed)
        return
    held_back: list[str] = []
    if select != events.SELECT_ALL:
        marker, keep_marked = config.getoption(events.MARKER_OPTION), select == events.SELECT_MARKED
        held_back = deselect(config, items, lambda item: (item.get_closest_marker(marker) is not None) == keep_marked)
    shard = config.getoption(events.SHARD_OPTION)
    if shard:
        keep_shard(config, items, shard)
        index, total = durations.parse_shard(shard)
        held_back = durations.split_shards(held_back, recorded_durations(config), total)[index - 1]
    if select != events.SELECT_ALL:
        report_held_back(config, held_back)


def report_held_back(config: pytest.Config, ids: list[str]) -> None:
    """Tell runtests which tests wait for the other phase: whether that phase needs a process at all."""
    if is_xdist_worker(config):
        config.workeroutput[HELD_BACK_KEY] = ids  # type: ignore[attr-defined]
        if config.workerinput.get("workerid") == "gw0":  # type: ignore[attr-defined]
            # Early word, while the other workers still collect: runtests can prepare the next phase now.
            append_event(config.getoption(events.EVENTS_OPTION), {"e": "held_back", "ids": ids})
        return
    writer = config.pluginmanager.get_plugin("runtests-event-writer")
    if writer is not None:
        writer.emit({"e": "held_back", "ids": ids})


def recorded_durations(config: pytest.Config) -> dict[str, float]:
    """The durations runtests recorded: the file it names, else pytest's cache. Read once per process."""
    cached: dict[str, float] | None = getattr(config, "_runtests_durations", None)
    if cached is None:
        path = config.getoption(events.DURATIONS_OPTION)
        if path:
            cached = durations.load_durations(Path(path))
        else:
            stored = config.cache.get(durations.CACHE_KEY, {}) if hasattr(config, "cache") else {}
            cached = durations.parse_durations(stored)
        config._runtests_durations = cached  # type: ignore[attr-defined]
    return cached


class Balancer:
    """In xdist's controller: runtests' scheduler, once durations are recorded; xdist's own until then."""

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        recorded = recorded_durations(config)
        scheduler = None
        if recorded:
            from runtests.scheduler import make_scheduler

            scheduler = make_scheduler(config, log, recorded, plain_nodeid)
        writer = config.pluginmanager.get_plugin("runtests-event-writer")
        if writer is not None:
            writer.emit({"e": "scheduler", "name": "xdist" if scheduler is None else "runtests"})
        return scheduler


def keep_shard(config: pytest.Config, items: list[pytest.Item], shard: str) -> None:
    """Deselect all but this shard's tests; every process computes the same split from the same durations."""
    index, total = durations.parse_shard(shard)
    ids = [plain_nodeid(item.nodeid) for item in items]
    mine = set(durations.split_shards(ids, recorded_durations(config), total)[index - 1])
    deselect(config, items, lambda item: plain_nodeid(item.nodeid) in mine)


def group_of(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("xdist_group")
    if marker is None:
        return None
    return str(marker.args[0] if marker.args else marker.kwargs.get("name", "default"))


class GroupTagger:
    """Tags each report with its test's xdist_group, in the process that ran the test (xdist carries it on)."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
        report = yield
        group = group_of(item)
        if group is not None:
            report.runtests_group = group
        return report


class TestTimer:
    """--timeout: a per-test alarm around setup, call and teardown (main thread only; the runner watches the rest)."""

    __test__ = False

    def __init__(self, limit: float) -> None:
        self.limit = limit

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, Any]:
        if threading.current_thread() is not threading.main_thread():
            return (yield)
        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, self.limit)
        try:
            return (yield)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
        report = yield
        if call.excinfo is not None and call.excinfo.errisinstance(TestTimeout):
            report.runtests_timeout = True
        return report


def on_alarm(signum: int, frame: Any) -> None:
    raise TestTimeout("runtests: the test ran past its --timeout")


def append_event(path: str | None, event: dict[str, Any]) -> None:
    """One line in one write() to a file opened for appending: whole, even beside the controller's writes."""
    if path:
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND)
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


def describe_report(report: pytest.TestReport) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "when": report.when,
        "outcome": report.outcome,
        "duration": report.duration,
        "start": getattr(report, "start", None),
        "stop": getattr(report, "stop", None),
    }
    if report.failed or report.skipped:
        entry["longrepr"] = describe_longrepr(report)
        if report.failed:
            entry["sections"] = [list(section) for section in report.sections]
            crash = getattr(report.longrepr, "reprcrash", None)
            if crash is not None:
                entry["crash"] = [str(crash.path), crash.lineno]
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
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.pending: dict[str, dict[str, Any]] = {}
        self.held_back: list[str] | None = None
        self.collected_sent = False

    def emit(self, event: dict[str, Any]) -> None:
        self.write(events.encode(event))

    def write(self, line: str) -> None:
        if self.fd >= 0:
            os.write(self.fd, line.encode("ascii"))

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
                "cache_dir": str(getattr(getattr(self.config, "cache", None), "_cachedir", "")) or None,
                "rootdir": str(self.config.rootpath),
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
        if HELD_BACK_KEY in output and self.held_back is None:  # the first worker to finish tells it
            self.held_back = list(output[HELD_BACK_KEY])
            self.emit({"e": "held_back", "ids": self.held_back})

    def send_collected(self, ids: list[str]) -> None:
        if not self.collected_sent:
            self.collected_sent = True
            self.emit({"e": "collected", "ids": [plain_nodeid(nodeid) for nodeid in ids]})

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self.write(events.encode_begin(plain_nodeid(nodeid)))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        test = self.pending.get(report.nodeid)
        if test is None:
            test = self.pending[report.nodeid] = {
                "e": "test",
                "nodeid": plain_nodeid(report.nodeid),
                "location": list(report.location) if report.location else None,
                "reports": [],
            }
            worker, group = worker_of(report), getattr(report, "runtests_group", None)
            if worker is not None:  # absent keys read as None: smaller lines, cheaper to write and read
                test["worker"] = worker
            if group is not None:
                test["group"] = group
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
        if report.passed and not hasattr(report, "wasxfail") and not getattr(report, "runtests_timeout", False):
            # The common case, kept as a tuple: see `compact`.
            test["reports"].append((report.when, report.duration, report.start, report.stop))
        else:
            test["reports"].append(describe_report(report))
        # Teardown closes a test; "???" is xdist's report for a test whose worker died mid-run.
        if report.when in ("teardown", "???"):
            self.emit(compact(self.pending.pop(report.nodeid)))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.emit({"e": "collect_error", "nodeid": report.nodeid, "longrepr": describe_longrepr(report)})

    def pytest_internalerror(self, excrepr: Any, excinfo: Any) -> None:
        self.emit({"e": "internal_error", "text": str(excrepr)})

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        for test in self.pending.values():  # interrupted mid-test: what we know is still a result
            test["unfinished"] = True
            self.emit(compact(test))
        self.pending.clear()
        self.emit({"e": "finish", "exitstatus": int(exitstatus)})

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
