"""Per-test outcomes, per-phase and total counts, the pass rate and the exit code. Pure: nothing prints."""

from __future__ import annotations

import dataclasses
import enum
import functools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from runtests import errors
from runtests.gitcheck import WorktreeReport


class Outcome(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"
    XFAILED = "xfailed"
    XPASSED = "xpassed"
    TIMEOUT = "timeout"  # ran past --timeout, or was running when --run-timeout expired
    NOT_RUN = "not_run"  # collected, but its process crashed, timed out or was interrupted first


# The `counts` keys, in report order; an error counts under "errors".
COUNT_KEYS = ("passed", "failed", "errors", "skipped", "xfailed", "xpassed", "timeout", "not_run")
COUNT_KEY = {outcome: ("errors" if outcome is Outcome.ERROR else outcome.value) for outcome in Outcome}
PASSING = frozenset({Outcome.PASSED, Outcome.XFAILED, Outcome.XPASSED})  # what pytest treats as success
FAILING = frozenset({Outcome.FAILED, Outcome.ERROR, Outcome.TIMEOUT, Outcome.NOT_RUN})
# The verdicts on a parallel failure run again (--retry-serially; runtests.replay): JSON names scripts read.
FAILS_ALONE = "fails-alone"  # fails alone and after its collection-order predecessors: a real failure
DEPENDS_ON_EARLIER = "depends-on-earlier"  # fails alone, passes after its predecessors: needs a state-setter
BROKEN_BY_EARLIER = "broken-by-earlier"  # passes alone, fails after what ran before it on its worker: a polluter
PARALLEL_ONLY = "parallel-only"  # passes in every sequential replay: concurrency with other workers breaks it
FLAKY = "flaky"  # identical replays disagree
# Undiagnosed: only the retry phase ran it again (with the other failures, without its predecessors), or the replay
# budget ran out before its sequential replays could say more. What the retry showed, and no more.
PASSED_ON_RETRY = "passed-on-retry"
FAILED_ON_RETRY = "failed-on-retry"
VERDICTS = (FAILS_ALONE, DEPENDS_ON_EARLIER, BROKEN_BY_EARLIER, PARALLEL_ONLY, FLAKY, PASSED_ON_RETRY, FAILED_ON_RETRY)
UNDIAGNOSED = frozenset({PASSED_ON_RETRY, FAILED_ON_RETRY})
SUBTEST_KEYS = ("passed", "failed", "skipped", "xfailed")


@dataclasses.dataclass(slots=True)
class SubtestResult:
    outcome: str  # one of SUBTEST_KEYS
    description: str
    longrepr: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Replay:
    """One fresh sequential process of a diagnosis: `before` ran first, in order, then the failing test."""

    kind: str  # alone, alone-again, worker-order, collection-order, bisect, confirm
    before: tuple[str, ...]
    outcome: Outcome
    duration_s: float = 0.0


@dataclasses.dataclass(frozen=True, slots=True)
class RetryResult:
    """A parallel failure run again in fresh sequential processes: alone (the retry phase), and, when it was
    diagnosed by replay, after its predecessors (runtests.replay)."""

    outcome: Outcome  # in the retry phase (beside the other failures, when there were several)
    longrepr: str | None = None
    diagnosed: str | None = None  # the replays' verdict; None: not replayed, the retry phase's outcome alone
    culprits: tuple[str, ...] = ()  # the state-setters or polluters the replays found
    where: str = ""  # where the culprits ran: a worker id, or "collection order"
    replays: tuple[Replay, ...] = ()
    complete: bool = True  # False: the replay budget ran out first

    @property
    def verdict(self) -> str:
        if self.diagnosed is not None:
            return self.diagnosed
        return FAILED_ON_RETRY if self.outcome in FAILING else PASSED_ON_RETRY


@dataclasses.dataclass(slots=True)
class TestResult:
    """One test's verdict, its setup, call and teardown folded into one."""

    __test__ = False  # a name pytest would otherwise try to collect

    nodeid: str
    phase: str
    outcome: Outcome
    duration_s: float = 0.0
    worker: str | None = None
    start: float | None = None
    stop: float | None = None
    location: tuple[str, int | None, str] | None = None
    longrepr: str | None = None  # the failure or error text, as pytest shows it
    sections: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    reason: str | None = None  # why it was skipped or xfailed
    subtests: list[SubtestResult] = dataclasses.field(default_factory=list)
    crashed: bool = False
    group: str | None = None  # its xdist_group
    crash_path: str | None = None  # where the failure was raised, when pytest knows
    crash_line: int | None = None
    crash_message: str | None = None  # pytest's one-line account of the failure (-r's short summary)
    skip_where: tuple[str, int] | None = None  # where a skip was raised: path and line, as -rs shows it
    retry: RetryResult | None = None
    suspects: list[str] = dataclasses.field(default_factory=list)
    when: str | None = None  # the stage of the report that decided a failure: setup, call, teardown, ??? (a crash)
    reruns: int = 0  # attempts pytest-rerunfailures made before the one that decided the verdict

    @property
    def is_failing(self) -> bool:
        return self.outcome in FAILING

    @property
    def is_parallel_only(self) -> bool:
        return self.retry is not None and self.retry.verdict == PARALLEL_ONLY


@dataclasses.dataclass(frozen=True, slots=True)
class CollectError:
    nodeid: str
    longrepr: str
    phase: str


def fold_reports(reports: list[dict[str, Any]]) -> tuple[Outcome, dict[str, Any] | None]:
    """One verdict from a test's reports, and the report that decided it when it was not a plain pass."""
    outcome = Outcome.PASSED
    decisive: dict[str, Any] | None = None
    for report in reports:
        when, result, xfail = report.get("when"), report.get("outcome"), bool(report.get("xfail"))
        if report.get("timeout"):
            return Outcome.TIMEOUT, report
        if when == "call":
            if result == "failed":
                outcome, decisive = Outcome.FAILED, report
            elif result == "skipped":
                outcome, decisive = (Outcome.XFAILED if xfail else Outcome.SKIPPED), report
            elif xfail:
                outcome, decisive = Outcome.XPASSED, report
        elif result == "failed":  # setup, teardown, or "???" for a crashed xdist worker
            if outcome is not Outcome.FAILED:
                outcome, decisive = Outcome.ERROR, report
        elif result == "skipped" and when == "setup":
            outcome, decisive = (Outcome.XFAILED if xfail else Outcome.SKIPPED), report
    return outcome, decisive


def make_test_result(event: dict[str, Any], phase: str) -> TestResult:
    reports: list[dict[str, Any]] = event.get("reports") or []
    outcome, decisive = fold_reports(reports)
    starts = [r["start"] for r in reports if r.get("start")]
    stops = [r["stop"] for r in reports if r.get("stop")]
    subtests = [
        SubtestResult(
            outcome="xfailed" if sub.get("xfail") else str(sub.get("outcome")),
            description=str(sub.get("description") or ""),
            longrepr=sub.get("longrepr"),
        )
        for sub in event.get("subtests") or ()
    ]
    result = TestResult(
        nodeid=event["nodeid"],
        phase=phase,
        outcome=outcome,
        duration_s=sum(float(r.get("duration") or 0.0) for r in reports),
        worker=event.get("worker"),
        start=min(starts) if starts else None,
        stop=max(stops) if stops else None,
        location=tuple(event["location"]) if event.get("location") else None,
        subtests=subtests,
        crashed=any(r.get("when") == "???" for r in reports),
        group=event.get("group"),
        reruns=int(event.get("reruns") or 0),
    )
    if decisive is not None:
        result.when = decisive.get("when")
        if outcome in FAILING:
            result.longrepr = decisive.get("longrepr")
            if decisive.get("crash"):
                crash = decisive["crash"]
                result.crash_path, result.crash_line = crash[0], crash[1]
                result.crash_message = crash[2] if len(crash) > 2 else None
            result.sections = [tuple(s) for s in decisive.get("sections") or ()]
        else:
            # An xfail's reason is pytest's, even when empty (its report's longrepr is the traceback).
            result.reason = decisive["reason"] if "reason" in decisive else decisive.get("longrepr")
            if decisive.get("where"):
                result.skip_where = (str(decisive["where"][0]), int(decisive["where"][1] or 0))
    if outcome in PASSING and not result.sections:
        # Kept by the plugin only under -rP / -rX (pytest's PASSES and XPASSES sections): the call's captured
        # output, then the teardown's.
        result.sections = [tuple(s) for r in reports for s in r.get("sections") or ()
                           if r.get("when") == "call" or "teardown" in s[0]]  # fmt: skip
    failed_subtests = [sub for sub in subtests if sub.outcome == "failed"]
    if failed_subtests and outcome not in FAILING:
        # pytest fails a test that contains failed subtests; under xdist the controller may not know yet.
        result.outcome = Outcome.FAILED
        result.longrepr = f"contains {len(failed_subtests)} failed subtest" + ("s" if len(failed_subtests) > 1 else "")
    return result


def count_outcomes(tests: Iterable[TestResult], accept_parallel_only: bool = False) -> dict[str, int]:
    """Counts by outcome; with `accept_parallel_only`, a failure that passed alone counts as passed."""
    counts = dict.fromkeys(COUNT_KEYS, 0)
    for test in tests:
        outcome = Outcome.PASSED if accept_parallel_only and test.is_parallel_only else test.outcome
        counts[COUNT_KEY[outcome]] += 1
    return counts


def count_subtests(tests: Iterable[TestResult]) -> dict[str, int]:
    counts = Counter(sub.outcome for test in tests for sub in test.subtests)
    return {key: counts.get(key, 0) for key in SUBTEST_KEYS}


def passing_and_failing(counts: dict[str, int]) -> tuple[int, int]:
    passing = counts["passed"] + counts["xfailed"] + counts["xpassed"]
    return passing, counts["failed"] + counts["errors"] + counts["timeout"] + counts["not_run"]


def compute_pass_rate(counts: dict[str, int]) -> float | None:
    passing, failing = passing_and_failing(counts)
    total = passing + failing
    return None if total == 0 else 100.0 * passing / total


def format_pass_rate(counts: dict[str, int]) -> str:
    """`99.8% (858/860)`; `n/a` when nothing passed or failed. Never 100.0% with a failure, never 0.0% with a pass."""
    passing, failing = passing_and_failing(counts)
    rate = compute_pass_rate(counts)
    if rate is None:
        return "n/a (no test passed or failed)"
    shown = round(rate, 1)
    if failing and shown >= 100.0:
        shown = 99.9
    elif passing and shown <= 0.0:
        shown = 0.1
    return f"{shown:.1f}% ({passing}/{passing + failing})"


# pytest's nouns where one differs from many; the other counts read the same either way ("2 rerun", as pytest).
NOUNS = {"errors": ("error", "errors"), "warnings": ("warning", "warnings")}


def count_word(key: str, count: int) -> str:
    one, many = NOUNS.get(key, (key, key))
    return f"{count} {one if count == 1 else many}"


@dataclasses.dataclass(frozen=True)
class Tally:
    """What a run, or one phase of it, counts: the one rule every output reads (the phase lines, the table, the
    pass rate, the last line, the JSON, JUnit and GitHub reports), none counting for itself.

    - each test once, by its folded verdict; with --accept-parallel-only a `parallel-only` failure as passed;
    - each collector that failed to collect once per run, as an error: xdist reports it once per worker, and every
      phase collects the same modules;
    - beside the verdicts, as pytest's last line shows them: the attempts pytest-rerunfailures made again
      (reruns), the tests the user's -k, -m or --lf deselected (runtests' own phase split is no deselection), and
      the warnings.
    """

    counts: Mapping[str, int]
    reruns: int = 0
    deselected: int = 0
    warnings: int = 0

    @property
    def passing(self) -> int:
        return passing_and_failing(dict(self.counts))[0]

    @property
    def failing(self) -> int:
        return passing_and_failing(dict(self.counts))[1]

    def pass_rate(self) -> float | None:
        return compute_pass_rate(dict(self.counts))

    def format_pass_rate(self) -> str:
        return format_pass_rate(dict(self.counts))

    def describe(self, always: Iterable[str] = ("passed", "failed")) -> str:
        """As pytest's last line, in runtests' order: `21 passed, 0 failed, 1 error, 1 rerun, 852 deselected, 3
        warnings`; zero counts left out except `always`."""
        keys = set(always)
        words = [count_word(key, self.counts[key]) for key in COUNT_KEYS if self.counts[key] or key in keys]
        extra = (("rerun", self.reruns), ("deselected", self.deselected), ("warnings", self.warnings))
        return ", ".join(words + [count_word(key, count) for key, count in extra if count])


def make_tally(
    tests: Iterable[TestResult],
    collect_errors: int = 0,
    accept_parallel_only: bool = False,
    deselected: int = 0,
    warnings: int = 0,
) -> Tally:
    tests = list(tests)
    counts = count_outcomes(tests, accept_parallel_only)
    counts["errors"] += collect_errors
    return Tally(counts, sum(test.reruns for test in tests), deselected, warnings)


@dataclasses.dataclass(frozen=True, slots=True)
class Warning_:
    """One warning pytest recorded, as its terminal counts it: the formatted message and where it arose."""

    message: str
    location: str
    phase: str
    when: str = "runtest"  # or "collect", "config": raised once per process that collects or configures


@dataclasses.dataclass(frozen=True, slots=True)
class PluginFile:
    """A file a plugin writes once per pytest run, written by a phase in a part for runtests to merge."""

    option: str  # --report-log, --junitxml
    target: Path
    part: Path
    phase: str


@dataclasses.dataclass
class PhaseResult:
    """What one pytest process ran and how it ended."""

    name: str
    xdist_workers: int = 0  # 0: a sequential phase (no xdist)
    dist: str | None = None
    exit_code: int | None = None  # None: the phase did not run
    duration_s: float = 0.0
    started_at: float | None = None
    tests: list[TestResult] = dataclasses.field(default_factory=list)
    collect_errors: list[CollectError] = dataclasses.field(default_factory=list)
    internal_errors: list[str] = dataclasses.field(default_factory=list)
    collected: list[str] | None = None
    held_back: list[str] | None = None
    output_path: Path | None = None
    interrupted: bool = False
    timed_out: bool = False
    began: bool = False  # pytest started its session (the plugin's start event)
    cache_dir: str | None = None
    rootdir: str | None = None
    scheduler: str | None = None  # "runtests" or "xdist" under --order balanced; None when no one said
    ended: bool = False  # pytest reached the end of its session (the plugin's finish event)
    skipped_because: str | None = None
    shard: tuple[int, int] | None = None  # set when shard reports are combined
    terminal: dict[str, Any] = dataclasses.field(default_factory=dict)  # pytest's output settings, as it read them
    seed: int | None = None  # pytest-randomly's, when it was active
    coverage: bool = False  # pytest-cov measured the phase
    report_only: bool = False  # ran no test: its process combined and reported the run's coverage
    warnings: list[Warning_] = dataclasses.field(default_factory=list)
    summaries: list[tuple[int, int]] = dataclasses.field(default_factory=list)  # plugins' summary, in its output
    files: list[PluginFile] = dataclasses.field(default_factory=list)
    refusals: list[str] = dataclasses.field(default_factory=list)
    pytest_output: Path | None = None  # under -s: pytest's own lines, apart from what the tests printed
    diagnoses: dict[str, Any] = dataclasses.field(default_factory=dict)  # retry: nodeid -> replay.Diagnosis
    leaks: list[Any] = dataclasses.field(default_factory=list)  # runtests.leaks.Leak: what its session still held
    serial_ids: list[str] | None = None  # under --collect-only: the collected tests the serial phase takes
    deselected: int = 0  # tests the user's -k, -m, --lf ... deselected (not runtests' phase split)

    @property
    def label(self) -> str:
        return self.name if self.shard is None else f"{self.name} {self.shard[0]}/{self.shard[1]}"

    @property
    def ran(self) -> bool:
        return self.exit_code is not None

    @property
    def is_parallel(self) -> bool:
        return self.xdist_workers > 0

    @property
    def workers(self) -> int:
        """Processes that ran the phase's tests at once: its xdist workers (those that had a test to run: no more
        than it collected), 1 when sequential, 0 when it did not run. The JSON report's `workers` and the table's
        column."""
        if self.xdist_workers and self.collected is not None:
            return min(self.xdist_workers, max(len(self.collected), 1))
        return self.xdist_workers or int(self.ran)

    @property
    def workers_label(self) -> str:
        return f"{self.workers} ({self.dist})" if self.is_parallel else str(self.workers)

    def pytest_exit(self, code: int) -> bool:
        """Whether the process exited with pytest's `code`, not a test's `os._exit(code)` mid-session."""
        return self.exit_code == code and (self.ended or not self.began)

    @property
    def sessionless(self) -> bool:
        """Its pytest ended before its session started (a usage error, a plugin failing to configure), or ran none
        (`--help`): nothing it did is a phase's result, and no later phase may run."""
        stopped = self.interrupted or self.timed_out
        return self.ran and not (self.began or self.tests or self.collected is not None or stopped)

    def unique_collect_errors(self) -> list[CollectError]:
        """Each collector that failed once: xdist reports it once per worker."""
        unique: dict[str, CollectError] = {}
        for error in self.collect_errors:
            unique.setdefault(error.nodeid, error)
        return list(unique.values())

    def tally(self) -> Tally:
        """The phase's own count (runtests.results.Tally), as its line shows it while the run goes on."""
        return make_tally(self.tests, len(self.unique_collect_errors()), deselected=self.deselected)

    def counts(self) -> dict[str, int]:
        return dict(self.tally().counts)


class PhaseRecorder:
    """Folds one phase's events into a PhaseResult as they arrive."""

    def __init__(self, result: PhaseResult) -> None:
        self.result = result
        self.running: dict[str, dict[str, Any]] = {}  # begun, not yet reported: nodeid -> what is known
        self.reported: set[str] = set()

    def add(self, event: dict[str, Any]) -> TestResult | None:
        """Take one event; return the test it completed, if any."""
        kind = event.get("e")
        result = self.result
        if kind == "test":
            if event.get("unfinished"):  # the session ended mid-test: finish() decides what it was
                self.running[event["nodeid"]] = event
                return None
            test = make_test_result(event, result.name)
            self.running.pop(test.nodeid, None)
            self.reported.add(test.nodeid)
            result.tests.append(test)
            return test
        if kind == "begin":
            self.running[event["nodeid"]] = event
        elif kind == "start":
            result.began = True
            result.cache_dir = event.get("cache_dir")
            result.rootdir = event.get("rootdir")
            result.xdist_workers = int(event.get("workers") or 0)
            result.dist = event.get("dist") if result.xdist_workers else None
            result.terminal = dict(event.get("terminal") or {})
            result.seed = event.get("seed")
            result.coverage = bool(event.get("coverage"))
        elif kind == "warning":
            message, location = str(event.get("message")), str(event.get("location") or "")
            result.warnings.append(Warning_(message, location, result.name, str(event.get("when") or "runtest")))
        elif kind == "summary":
            result.summaries.append((int(event["start"]), int(event["end"])))
        elif kind == "file":
            target, part = Path(str(event["target"])), Path(str(event["part"]))
            result.files.append(PluginFile(str(event.get("option")), target, part, result.name))
        elif kind == "output":
            result.pytest_output = Path(str(event["path"]))
        elif kind == "refused":
            result.refusals.append(str(event.get("text")))
        elif kind == "scheduler":
            result.scheduler = event.get("name")
        elif kind == "collected":
            result.collected = list(event.get("ids") or ())
            if "serial" in event:
                result.serial_ids = list(event["serial"] or ())
        elif kind == "held_back":
            result.held_back = list(event.get("ids") or ())
        elif kind == "deselected":
            result.deselected = int(event.get("count") or 0)
        elif kind == "collect_error":
            result.collect_errors.append(
                CollectError(str(event.get("nodeid")), str(event.get("longrepr") or ""), result.name)
            )
        elif kind == "internal_error":
            result.internal_errors.append(str(event.get("text")))
        elif kind == "finish":
            result.ended = True
        return None

    def finish(self, exit_code: int, interrupted: bool = False, timed_out: bool = False) -> list[TestResult]:
        """Close the phase and return the tests it adds for what never reported.

        A test running when the process died is an error, when the time limit struck a timeout; collected
        tests that never started are `not_run`. A session that ended by itself (`-x`, say) adds nothing.
        """
        result = self.result
        result.exit_code, result.interrupted, result.timed_out = exit_code, interrupted, timed_out
        stopped = interrupted or timed_out
        broken = bool(result.internal_errors) or (exit_code == 3 and result.ended)
        if result.ended and not stopped and not broken:
            self.running.clear()
            return []
        if timed_out:
            outcome, message = Outcome.TIMEOUT, "still running when runtests stopped the phase at its time limit"
        elif interrupted:
            outcome, message = Outcome.NOT_RUN, "still running when the run was interrupted"
        else:
            outcome, message = Outcome.ERROR, f"the pytest process died while running this test (exit code {exit_code})"
        added = [
            TestResult(nodeid, result.name, outcome, worker=event.get("worker"), longrepr=message, crashed=not stopped)
            for nodeid, event in self.running.items()
            if nodeid not in self.reported
        ]
        seen = self.reported | set(self.running)
        why = "interrupted" if interrupted else "timed out" if timed_out else f"crashed (exit code {exit_code})"
        if broken and not stopped:
            why = "ended in an internal error of pytest or a plugin"
        added += [
            TestResult(nodeid, result.name, Outcome.NOT_RUN, longrepr=f"never started: the phase {why}")
            for nodeid in result.collected or ()
            if nodeid not in seen
        ]
        result.tests.extend(added)
        self.running.clear()
        return added


@dataclasses.dataclass(frozen=True)
class RetryStats:
    """What --retry-serially and its replays found, over the run: the terminal's and the JSON report's figures."""

    retried: int  # parallel failures run again in the retry phase
    passed: int  # of them, those that passed there (beside the other failures, when there were several)
    verdicts: Mapping[str, int]  # every verdict of VERDICTS, with its count
    replays: int  # replay processes run
    replay_s: float
    incomplete: bool  # the replay budget ran out before the replays could say more of some test

    @property
    def undiagnosed(self) -> int:
        return sum(self.verdicts[verdict] for verdict in UNDIAGNOSED)


def make_retry_stats(retried: Sequence[TestResult]) -> RetryStats:
    records = [test.retry for test in retried if test.retry is not None]
    verdicts = Counter(record.verdict for record in records)
    replays = [replay for record in records for replay in record.replays if replay.duration_s]
    return RetryStats(
        retried=len(records),
        passed=sum(record.outcome not in FAILING for record in records),
        verdicts={verdict: verdicts.get(verdict, 0) for verdict in VERDICTS},
        replays=len(replays),
        replay_s=sum(replay.duration_s for replay in replays),
        incomplete=any(not record.complete for record in records),
    )


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """A whole run, its diagnosis and verdict included: what the reports write, never changed after it is made."""

    phases: Sequence[PhaseResult]
    min_pass_rate: float = 100.0
    notes: Sequence[str] = ()
    worktree_refusal: str | None = None  # --git-check require-clean refused: before the run (no phases) or after it
    retry: PhaseResult | None = None  # --retry-serially; its verdicts are on the parallel tests
    accept_parallel_only: bool = False
    broken_guarantees: Sequence[str] = ()
    strict_guarantees: bool = False
    serial_marker: str = "serial"
    shard: tuple[int, int] | None = None
    slowest: int = 0  # how many of the slowest tests the report lists
    started_at: float = 0.0  # wall clock
    duration_s: float = 0.0
    worktree: WorktreeReport | None = None  # None: a combined report, which has no work tree
    leaks_fail: bool = False  # --leaks fail: a leaked process fails the run

    @property
    def leaks(self) -> list[tuple[str, Any]]:
        """(phase, Leak) for every process a phase (the retry too) left behind."""
        phases = [*self.phases, *([self.retry] if self.retry is not None else [])]
        return [(phase.name, leak) for phase in phases for leak in phase.leaks]

    @functools.cached_property
    def tests(self) -> list[TestResult]:
        """Every test, phase by phase, each phase's in its collection order (as sequential pytest lists them, not
        in the order xdist's workers happened to finish them): every output lists them so."""
        ordered = []
        for phase in self.phases:
            position = {nodeid: index for index, nodeid in enumerate(phase.collected or ())}
            ordered += sorted(phase.tests, key=lambda test: position.get(test.nodeid, len(position)))
        return ordered

    @functools.cached_property
    def phase_tallies(self) -> dict[str, Tally]:
        """Each phase's row of the table: its tests, and the collection errors it was the first to report."""
        seen: set[str] = set()
        tallies = {}
        for phase in self.phases:
            errors = [e.nodeid for e in phase.unique_collect_errors() if e.nodeid not in seen]
            seen.update(errors)
            tallies[phase.label] = make_tally(phase.tests, len(errors), self.accept_parallel_only, phase.deselected)
        return tallies

    @functools.cached_property
    def tally(self) -> Tally:
        """The run's count (see Tally): what every output of the run reads."""
        rows = self.phase_tallies.values()
        counts = {key: sum(row.counts[key] for row in rows) for key in COUNT_KEYS}
        # Every phase collects the same tests, so each deselects the same ones: counted once.
        deselected = max((row.deselected for row in rows), default=0)
        return Tally(counts, sum(row.reruns for row in rows), deselected, len(self.warnings))

    def counts(self) -> dict[str, int]:
        return dict(self.tally.counts)

    def count_columns(self) -> list[str]:
        """The count keys a table of the run shows: passed and failed always, the others where the run has any."""
        return [key for key in COUNT_KEYS if self.tally.counts[key] or key in ("passed", "failed")]

    @functools.cached_property
    def warnings(self) -> list[Warning_]:
        """The warnings pytest recorded in the phases, as one sequential pytest would count them: not the retry's
        (pytest alone would not have run it), and a warning raised while collecting or configuring once, though
        every xdist worker and each phase's process collects and configures."""
        seen: set[tuple[str, str]] = set()
        kept = []
        for warning in (warning for phase in self.phases for warning in phase.warnings):
            if warning.when != "runtest":
                if (warning.message, warning.location) in seen:
                    continue
                seen.add((warning.message, warning.location))
            kept.append(warning)
        return kept

    @property
    def terminal(self) -> dict[str, Any]:
        """pytest's output settings (-v, -r, --tb, --durations), as the first phase's pytest read them."""
        return next((phase.terminal for phase in self.phases if phase.terminal), {})

    @property
    def seed(self) -> int | None:
        return next((phase.seed for phase in self.phases if phase.seed is not None), None)

    def retried(self) -> list[TestResult]:
        return [test for test in self.tests if test.retry is not None]

    @functools.cached_property
    def retry_stats(self) -> RetryStats:
        return make_retry_stats(self.retried())

    def subtest_counts(self) -> dict[str, int]:
        return count_subtests(self.tests)

    def pass_rate(self) -> float | None:
        return self.tally.pass_rate()

    def sessionless(self) -> PhaseResult | None:
        """The phase whose pytest ended before its session started; the run stopped there (see
        PhaseResult.sessionless)."""
        return next((phase for phase in self.phases if phase.sessionless), None)

    def collect_errors(self) -> list[CollectError]:
        """Each erroring module once per run, though workers and both phases may report it."""
        unique: dict[str, CollectError] = {}
        for phase in self.phases:
            for error in phase.collect_errors:
                unique.setdefault(error.nodeid, error)
        return list(unique.values())

    def unexplained_exit(self) -> tuple[PhaseResult, int] | None:
        """A phase whose pytest exit code the events do not explain (a plugin failing the session, say)."""
        for phase in self.phases:
            code = phase.exit_code
            if code in (None, 0, 5) or phase.interrupted or phase.timed_out:
                continue
            if (code == 1 or not phase.ended) and any(test.is_failing for test in phase.tests):
                continue
            if phase.collect_errors:  # sequential pytest exits 2 on them, xdist 1: either way they are shown
                continue
            return phase, code
        return None

    def exit_code(self) -> int:
        if self.worktree_refusal and not self.phases:  # refused before the run: nothing else to say
            return errors.EXIT_DIRTY_WORKTREE
        sessionless = self.sessionless()
        if sessionless is not None and sessionless.exit_code is not None:  # pytest's own verdict, as it gave it
            return sessionless.exit_code if 0 <= sessionless.exit_code < 256 else errors.EXIT_INTERNAL_ERROR
        counts = self.counts()
        rate = compute_pass_rate(counts)
        if any(phase.interrupted for phase in self.phases) or self.collect_errors():
            return errors.EXIT_INTERRUPTED
        if any(phase.internal_errors or phase.pytest_exit(3) for phase in self.phases):
            return errors.EXIT_INTERNAL_ERROR
        if self.strict_guarantees and self.broken_guarantees:
            return errors.EXIT_INTERNAL_ERROR
        if any(phase.pytest_exit(4) or phase.refusals for phase in self.phases):
            return errors.EXIT_USAGE_ERROR
        if rate is not None and passing_and_failing(counts)[1] and rate < self.min_pass_rate:
            return errors.EXIT_TESTS_FAILED
        unexplained = self.unexplained_exit()
        if unexplained is not None:
            code = unexplained[1]
            return code if 0 < code < 256 else errors.EXIT_INTERNAL_ERROR
        if self.leaks_fail and self.leaks:
            return errors.EXIT_TESTS_FAILED
        if not self.tests:
            return errors.EXIT_NO_TESTS
        if self.worktree_refusal:
            return errors.EXIT_DIRTY_WORKTREE
        return errors.EXIT_OK
