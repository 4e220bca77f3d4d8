"""A whole run, summed up once: its phases' records, its diagnosis, the counts every output reads, its exit code.

Frozen, and pure: each number of the run is computed here, once (the tally, the retry statistics, the table's
columns, the workers' busy shares), and the writers in runtests.report only format them.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from runtests import errors
from runtests.gitcheck import WorktreeReport
from runtests.leaks import Leak
from runtests.results import (
    COUNT_KEYS,
    FAILING,
    UNDIAGNOSED,
    VERDICTS,
    CollectError,
    PhaseResult,
    Tally,
    TestResult,
    Warning_,
    compute_pass_rate,
    count_subtests,
    make_tally,
    passing_and_failing,
)


@dataclasses.dataclass(frozen=True)
class ExitPolicy:
    """What the exit code weighs besides the tests' verdicts (the run's options that judge it)."""

    min_pass_rate: float = 100.0
    accept_parallel_only: bool = False  # a verified parallel-only failure counts as passed
    strict_guarantees: bool = False  # a broken scheduling guarantee is an internal error (exit 3)
    leaks_fail: bool = False  # a process the tests left running fails the run


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
    policy: ExitPolicy = ExitPolicy()
    notes: Sequence[str] = ()
    worktree_refusal: str | None = None  # --git-check require-clean refused: before the run (no phases) or after it
    retry: PhaseResult | None = None  # --retry-serially; its verdicts are on the parallel tests
    broken_guarantees: Sequence[str] = ()
    shard: tuple[int, int] | None = None
    started_at: float = 0.0  # wall clock
    duration_s: float = 0.0
    worktree: WorktreeReport | None = None  # None: a combined report, which has no work tree

    @property
    def leaks(self) -> list[tuple[str, Leak]]:
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
            accept = self.policy.accept_parallel_only
            tallies[phase.label] = make_tally(phase.tests, len(errors), accept, phase.deselected)
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

    @functools.cached_property
    def busy(self) -> dict[str, tuple[dict[str, float], float]]:
        """Each parallel phase's workers' busy shares of its test span, and its idle tail (busy_shares)."""
        return {phase.label: busy_shares(phase) for phase in self.phases if phase.is_parallel}

    def slowest(self, count: int) -> list[TestResult]:
        """The `count` slowest tests of the run (--durations, --slowest)."""
        return sorted(self.tests, key=lambda test: -test.duration_s)[:count]

    @property
    def workers(self) -> dict[str, str | None]:
        """Each test's worker (who ran a culprit, for the diagnosis' sentences)."""
        return {test.nodeid: test.worker for test in self.tests}

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
    def terminal(self) -> Mapping[str, Any]:
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
        if self.policy.strict_guarantees and self.broken_guarantees:
            return errors.EXIT_INTERNAL_ERROR
        if any(phase.pytest_exit(4) or phase.refusals for phase in self.phases):
            return errors.EXIT_USAGE_ERROR
        if rate is not None and passing_and_failing(counts)[1] and rate < self.policy.min_pass_rate:
            return errors.EXIT_TESTS_FAILED
        unexplained = self.unexplained_exit()
        if unexplained is not None:
            code = unexplained[1]
            return code if 0 < code < 256 else errors.EXIT_INTERNAL_ERROR
        if self.policy.leaks_fail and self.leaks:
            return errors.EXIT_TESTS_FAILED
        if not self.tests:
            return errors.EXIT_NO_TESTS
        if self.worktree_refusal:
            return errors.EXIT_DIRTY_WORKTREE
        return errors.EXIT_OK


def busy_shares(phase: PhaseResult) -> tuple[dict[str, float], float]:
    """Each worker's busy share of the phase's test span, and the idle tail: from the first worker to run
    out of work to the end of the last test."""
    tests = [test for test in phase.tests if test.start is not None and test.stop is not None]
    if not tests or not phase.is_parallel:
        return {}, 0.0
    span_start = min(test.start or 0.0 for test in tests)
    span_stop = max(test.stop or 0.0 for test in tests)
    span = max(span_stop - span_start, 1e-9)
    busy: dict[str, float] = defaultdict(float)
    last_stop: dict[str, float] = {}
    for test in tests:
        worker = test.worker or "main"
        busy[worker] += (test.stop or 0.0) - (test.start or 0.0)
        last_stop[worker] = max(last_stop.get(worker, 0.0), test.stop or 0.0)
    shares = {worker: min(1.0, seconds / span) for worker, seconds in sorted(busy.items())}
    return shares, span_stop - min(last_stop.values())
