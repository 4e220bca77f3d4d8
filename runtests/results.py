"""The records of a run: each test's verdict, each phase's result, and the one rule that counts them. Values, pure:
nothing here prints, and nothing changes a record once it is made (runtests.recorder builds them)."""

from __future__ import annotations

import dataclasses
import enum
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from runtests.leaks import Leak


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
# The verdicts on a parallel failure run again (--retry-serially; runtests.diagnosis.replay): JSON names scripts read.
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


@dataclasses.dataclass(frozen=True, slots=True)
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
    diagnosed by replay, after its predecessors (runtests.diagnosis.replay)."""

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


@dataclasses.dataclass(frozen=True, slots=True)
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
    sections: Sequence[tuple[str, str]] = ()
    reason: str | None = None  # why it was skipped or xfailed
    subtests: Sequence[SubtestResult] = ()
    crashed: bool = False
    group: str | None = None  # its xdist_group
    crash_path: str | None = None  # where the failure was raised, when pytest knows
    crash_line: int | None = None
    crash_message: str | None = None  # pytest's one-line account of the failure (-r's short summary)
    skip_where: tuple[str, int] | None = None  # where a skip was raised: path and line, as -rs shows it
    retry: RetryResult | None = None
    suspects: Sequence[str] = ()
    when: str | None = None  # the stage of the report that decided a failure: setup, call, teardown, ??? (a crash)
    reruns: int = 0  # attempts pytest-rerunfailures made before the one that decided the verdict

    @property
    def is_failing(self) -> bool:
        return self.outcome in FAILING

    @property
    def is_parallel_only(self) -> bool:
        return self.retry is not None and self.retry.verdict == PARALLEL_ONLY

    @property
    def is_retryable(self) -> bool:
        """A failure worth running again alone: failing, and not one that never started."""
        return self.outcome in FAILING and self.outcome is not Outcome.NOT_RUN


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


def make_test_result(event: Mapping[str, Any], phase: str) -> TestResult:
    """One test's record from its `test` event (runtests.events): its reports folded into one verdict."""
    reports: list[dict[str, Any]] = event.get("reports") or []
    outcome, decisive = fold_reports(reports)
    starts = [r["start"] for r in reports if r.get("start")]
    stops = [r["stop"] for r in reports if r.get("stop")]
    subtests = tuple(
        SubtestResult(
            outcome="xfailed" if sub.get("xfail") else str(sub.get("outcome")),
            description=str(sub.get("description") or ""),
            longrepr=sub.get("longrepr"),
        )
        for sub in event.get("subtests") or ()
    )
    fields: dict[str, Any] = {}
    if decisive is not None:
        fields["when"] = decisive.get("when")
        if outcome in FAILING:
            fields["longrepr"] = decisive.get("longrepr")
            if decisive.get("crash"):
                crash = decisive["crash"]
                fields |= {"crash_path": crash[0], "crash_line": crash[1],
                           "crash_message": crash[2] if len(crash) > 2 else None}  # fmt: skip
            fields["sections"] = tuple(tuple(section) for section in decisive.get("sections") or ())
        else:
            # An xfail's reason is pytest's, even when empty (its report's longrepr is the traceback).
            fields["reason"] = decisive["reason"] if "reason" in decisive else decisive.get("longrepr")
            if decisive.get("where"):
                fields["skip_where"] = (str(decisive["where"][0]), int(decisive["where"][1] or 0))
    if outcome in PASSING:
        # Kept by the plugin only under -rP / -rX (pytest's PASSES and XPASSES sections): the call's captured
        # output, then the teardown's.
        fields["sections"] = tuple(tuple(s) for r in reports for s in r.get("sections") or ()
                                   if r.get("when") == "call" or "teardown" in s[0])  # fmt: skip
    failed_subtests = [sub for sub in subtests if sub.outcome == "failed"]
    if failed_subtests and outcome not in FAILING:
        # pytest fails a test that contains failed subtests; under xdist the controller may not know yet.
        outcome = Outcome.FAILED
        fields["longrepr"] = f"contains {len(failed_subtests)} failed subtest" + ("s" * (len(failed_subtests) > 1))
    return TestResult(
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
        **fields,
    )


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


@dataclasses.dataclass(frozen=True)
class PhaseResult:
    """What one pytest process ran and how it ended (runtests.recorder.PhaseRecorder makes it)."""

    name: str
    xdist_workers: int = 0  # 0: a sequential phase (no xdist)
    dist: str | None = None
    exit_code: int | None = None  # None: the phase did not run
    duration_s: float = 0.0
    started_at: float | None = None
    tests: Sequence[TestResult] = ()
    collect_errors: Sequence[CollectError] = ()
    internal_errors: Sequence[str] = ()
    collected: Sequence[str] | None = None
    held_back: Sequence[str] | None = None
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
    terminal: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # pytest's output settings, as it read them
    seed: int | None = None  # pytest-randomly's, when it was active
    coverage: bool = False  # pytest-cov measured the phase
    report_only: bool = False  # ran no test: its process combined and reported the run's coverage
    warnings: Sequence[Warning_] = ()
    summaries: Sequence[tuple[int, int]] = ()  # where plugins' terminal summary is, in its output
    files: Sequence[PluginFile] = ()
    refusals: Sequence[str] = ()
    leaks: Sequence[Leak] = ()  # processes its session still held after it
    serial_ids: Sequence[str] | None = None  # under --collect-only: the collected tests the serial phase takes
    deselected: int = 0  # tests the user's -k, -m, --lf ... deselected (not runtests' phase split)
    diagnoses: Mapping[str, RetryResult] = dataclasses.field(default_factory=dict)  # the retry's, by replay

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
