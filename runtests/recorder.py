"""The one event decoder: a phase's events (runtests.events), as they arrive, into its record.

PhaseRecorder is the only place that reads an event's kind. It builds the phase's record, keeps the one table of
what is running now (which the runner's watchdog and the live view read), and tells an observer (the reporter,
the step that starts the next phase ahead) what happened; `finish` returns the frozen PhaseResult.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from runtests import events
from runtests.leaks import Leak, attribute_leaks
from runtests.results import CollectError, Outcome, PhaseResult, PluginFile, TestResult, Warning_, make_test_result


@dataclasses.dataclass(frozen=True)
class Running:
    """A test that has begun and not reported: where, since when (monotonic), and what its begin event said."""

    worker: str | None
    since: float
    event: Mapping[str, Any]


class PhaseObserver:
    """What a phase's events tell as they come; each a no-op here, for observers to pick from."""

    def phase_began(self, terminal: Mapping[str, Any], seed: int | None, parallel: bool) -> None:
        """pytest started its session: its output settings, pytest-randomly's seed, whether xdist distributes."""

    def phase_collected(self, count: int) -> None:
        """The tests this phase will run are known."""

    def test_begun(self, nodeid: str, worker: str | None) -> None:
        pass

    def test_done(self, test: TestResult) -> None:
        pass


@dataclasses.dataclass(frozen=True)
class Ended:
    """How a phase's process ended, as the runner saw it (runtests.runner.PhaseRun)."""

    exit_code: int
    interrupted: bool = False
    timed_out: bool = False
    started_at: float | None = None
    duration_s: float = 0.0
    output_path: Path | None = None
    leaks: Sequence[Leak] = ()


# Told the tests left for a later phase, as soon as they are known (gw0 tells it while the other workers collect).
OnHeldBack = Callable[[Sequence[str]], None]


class PhaseRecorder:
    """Folds one phase's events into its record as they arrive; `finish` makes the record."""

    def __init__(
        self,
        name: str,
        observer: PhaseObserver | None = None,
        dist: str | None = None,
        report_only: bool = False,
        on_held_back: OnHeldBack | None = None,
    ) -> None:
        self.name = name
        self.observer = observer or PhaseObserver()
        self.on_held_back = on_held_back
        self.fields: dict[str, Any] = {"dist": dist, "report_only": report_only}
        self.tests: list[TestResult] = []
        self.lists: dict[str, list[Any]] = {key: [] for key in LISTS}
        self.running: dict[str, Running] = {}  # begun, not yet reported
        self.reported: set[str] = set()
        self.pytest_output: Path | None = None
        self.clock = time.monotonic

    @property
    def terminal(self) -> Mapping[str, Any]:
        """pytest's output settings, once its session has begun."""
        return self.fields.get("terminal", {})

    @property
    def parallel(self) -> bool:
        return bool(self.fields.get("xdist_workers"))

    def oldest_running(self) -> float | None:
        """When the longest-running test began (monotonic), for the runner's watchdog."""
        return min((running.since for running in self.running.values()), default=None)

    def add(self, event: Mapping[str, Any]) -> None:
        """Take one event."""
        kind, fields, lists = event.get(events.KIND), self.fields, self.lists
        if kind == events.TEST:
            nodeid = event["nodeid"]
            if event.get("unfinished"):  # the session ended mid-test: finish() decides what it was
                self.running[nodeid] = Running(event.get("worker"), self.clock(), event)
                return
            test = make_test_result(event, self.name)
            self.running.pop(test.nodeid, None)
            self.reported.add(test.nodeid)
            self.tests.append(test)
            self.observer.test_done(test)
        elif kind == events.BEGIN:
            worker = event.get("worker")
            self.running[event["nodeid"]] = Running(worker, self.clock(), event)
            self.observer.test_begun(event["nodeid"], worker)
        elif kind == events.START:
            workers = int(event.get("workers") or 0)
            fields |= {"began": True, "cache_dir": event.get("cache_dir"), "rootdir": event.get("rootdir"),
                       "xdist_workers": workers, "dist": event.get("dist") if workers else None,
                       "terminal": dict(event.get("terminal") or {}), "seed": event.get("seed"),
                       "coverage": bool(event.get("coverage"))}  # fmt: skip
            self.observer.phase_began(fields["terminal"], fields["seed"], workers > 0)
        elif kind == events.WARNING:
            message, where = str(event.get("message")), str(event.get("location") or "")
            lists["warnings"].append(Warning_(message, where, self.name, str(event.get("when") or "runtest")))
        elif kind == events.SUMMARY:
            lists["summaries"].append((int(event["start"]), int(event["end"])))
        elif kind == events.FILE:
            target, part = Path(str(event["target"])), Path(str(event["part"]))
            lists["files"].append(PluginFile(str(event.get("option")), target, part, self.name))
        elif kind == events.OUTPUT:
            self.pytest_output = Path(str(event["path"]))
        elif kind == events.REFUSED:
            lists["refusals"].append(str(event.get("text")))
        elif kind == events.SCHEDULER:
            fields["scheduler"] = event.get("name")
        elif kind == events.COLLECTED:
            fields["collected"] = tuple(event.get("ids") or ())
            if "serial" in event:
                fields["serial_ids"] = tuple(event["serial"] or ())
            self.observer.phase_collected(len(fields["collected"]))
        elif kind == events.HELD_BACK:
            fields["held_back"] = tuple(event.get("ids") or ())
            if self.on_held_back is not None:
                self.on_held_back(fields["held_back"])
        elif kind == events.DESELECTED:
            fields["deselected"] = int(event.get("count") or 0)
        elif kind == events.COLLECT_ERROR:
            nodeid, longrepr = str(event.get("nodeid")), str(event.get("longrepr") or "")
            lists["collect_errors"].append(CollectError(nodeid, longrepr, self.name))
        elif kind == events.INTERNAL_ERROR:
            lists["internal_errors"].append(str(event.get("text")))
        elif kind == events.FINISH:
            fields["ended"] = True

    def finish(self, ended: Ended) -> PhaseResult:
        """The phase's record, closed: a test running when the process died is an error, when a time limit struck a
        timeout; collected tests that never started are `not_run`. A session that ended by itself (`-x`, say)
        adds nothing. Leaked processes are named after the test that started them."""
        stopped = ended.interrupted or ended.timed_out
        broken = bool(self.lists["internal_errors"]) or (ended.exit_code == 3 and self.fields.get("ended", False))
        if not (self.fields.get("ended") and not stopped and not broken):
            self.close_unfinished(ended, stopped, broken)
        self.running.clear()
        tests = tuple(self.tests)
        return PhaseResult(
            self.name,
            exit_code=ended.exit_code,
            interrupted=ended.interrupted,
            timed_out=ended.timed_out,
            started_at=ended.started_at,
            duration_s=ended.duration_s,
            output_path=self.pytest_output or ended.output_path,
            leaks=tuple(attribute_leaks(ended.leaks, tests)),
            tests=tests,
            **{key: tuple(values) for key, values in self.lists.items()},  # type: ignore[arg-type]
            **self.fields,
        )

    def close_unfinished(self, ended: Ended, stopped: bool, broken: bool) -> None:
        if ended.timed_out:
            outcome, message = Outcome.TIMEOUT, "still running when runtests stopped the phase at its time limit"
        elif ended.interrupted:
            outcome, message = Outcome.NOT_RUN, "still running when the run was interrupted"
        else:
            outcome = Outcome.ERROR
            message = f"the pytest process died while running this test (exit code {ended.exit_code})"
        added = [
            TestResult(nodeid, self.name, outcome, worker=running.worker, longrepr=message, crashed=not stopped)
            for nodeid, running in self.running.items()
            if nodeid not in self.reported
        ]
        seen = self.reported | set(self.running)
        why = "interrupted" if ended.interrupted else "timed out" if ended.timed_out else \
            f"crashed (exit code {ended.exit_code})"  # fmt: skip
        if broken and not stopped:
            why = "ended in an internal error of pytest or a plugin"
        added += [
            TestResult(nodeid, self.name, Outcome.NOT_RUN, longrepr=f"never started: the phase {why}")
            for nodeid in self.fields.get("collected") or ()
            if nodeid not in seen
        ]
        self.tests.extend(added)
        for test in added:
            self.observer.test_done(test)


LISTS = ("warnings", "summaries", "files", "refusals", "collect_errors", "internal_errors")
