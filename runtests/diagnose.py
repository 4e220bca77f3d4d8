"""Reading the results for causes: suspects of parallel failures, retry verdicts, broken scheduling guarantees. Pure:
it returns what it finds, and changes nothing it is given."""

from __future__ import annotations

import bisect
import dataclasses
import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence

from runtests.modes import MODES, Mode, unit_of
from runtests.results import PhaseResult, RetryResult, TestResult

SUSPECTS_MAX = 5


def overlap_s(a: TestResult, b: TestResult) -> float:
    if a.start is None or a.stop is None or b.start is None or b.stop is None:
        return 0.0
    return min(a.stop, b.stop) - max(a.start, b.start)


def find_suspects(tests: list[TestResult], limit: int = SUSPECTS_MAX) -> dict[str, list[str]]:
    """For each failing test, the tests that ran at the same time on other workers, most overlap first.

    A worker runs one test at a time, so each worker's tests sorted by start time are disjoint: a bisection
    finds the few that can overlap, and the whole pass stays O(failures x workers x log n).
    """
    by_worker: dict[str, list[TestResult]] = defaultdict(list)
    for test in tests:
        if test.worker and test.start is not None and test.stop is not None:
            by_worker[test.worker].append(test)
    starts: dict[str, list[float]] = {}
    for worker, runs in by_worker.items():
        runs.sort(key=lambda t: t.start or 0.0)
        starts[worker] = [t.start or 0.0 for t in runs]
    suspects: dict[str, list[str]] = {}
    for failed in tests:
        if not failed.is_failing or failed.start is None or failed.stop is None:
            continue
        overlapping: list[tuple[float, str]] = []
        for worker, runs in by_worker.items():
            if worker == failed.worker:
                continue
            index = bisect.bisect_left(starts[worker], failed.stop) - 1
            while index >= 0 and (runs[index].stop or 0.0) > failed.start:
                shared = overlap_s(failed, runs[index])
                if shared > 0:
                    overlapping.append((shared, runs[index].nodeid))
                index -= 1
        overlapping.sort(key=lambda pair: (-pair[0], pair[1]))
        suspects[failed.nodeid] = [nodeid for _, nodeid in overlapping[:limit]]
    return suspects


def retry_verdicts(parallel: PhaseResult, retry: PhaseResult) -> dict[str, RetryResult]:
    """Each retried parallel failure's verdict: the replays' (runtests.replay) where it was diagnosed by them,
    else the retry phase's outcome alone."""
    again = {test.nodeid: test for test in retry.tests}
    verdicts = {}
    for test in parallel.tests:
        if not test.is_failing or test.nodeid not in again:
            continue
        found = retry.diagnoses.get(test.nodeid)
        if found is None:
            verdicts[test.nodeid] = RetryResult(again[test.nodeid].outcome, again[test.nodeid].longrepr)
            continue
        verdicts[test.nodeid] = found.retry_result(again[test.nodeid].longrepr)
    return verdicts


def diagnosed(phase: PhaseResult, retry: PhaseResult | None) -> PhaseResult:
    """`phase` with each failure's suspects (a parallel phase) and retry verdict (--retry-serially) on it."""
    if not phase.is_parallel:
        return phase
    suspects = find_suspects(phase.tests)
    verdicts = retry_verdicts(phase, retry) if retry is not None else {}
    if not suspects and not verdicts:
        return phase
    tests = [
        dataclasses.replace(test, suspects=suspects.get(test.nodeid, test.suspects), retry=verdicts.get(test.nodeid))
        if test.nodeid in suspects or test.nodeid in verdicts
        else test
        for test in phase.tests
    ]
    return dataclasses.replace(phase, tests=tests)


def check_guarantees(phases: Iterable[PhaseResult]) -> list[str]:
    """What the events show of broken promises: overlapping serial tests, groups or scopes split across workers."""
    problems: list[str] = []
    phases = [phase for phase in phases if phase.ran]
    parallel_stop = max((t.stop for p in phases if p.is_parallel for t in p.tests if t.stop is not None), default=None)
    for phase in phases:
        if phase.is_parallel:
            problems += check_scheduling(phase)
            continue
        timed = sorted(
            (t for t in phase.tests if t.start is not None and t.stop is not None), key=lambda t: t.start or 0
        )
        for before, after in itertools.pairwise(timed):
            if (after.start or 0) < (before.stop or 0):
                problems.append(f"{phase.name} phase: {after.nodeid} started before {before.nodeid} ended")
        if parallel_stop is not None and timed and (timed[0].start or 0) < parallel_stop:
            problems.append(f"{phase.name} phase: {timed[0].nodeid} started before the parallel phase ended")
    return problems


def check_scheduling(phase: PhaseResult) -> list[str]:
    """What the mode promises: its units whole on one worker, and each worker (under load) or each unit (under
    the scoped modes) in collection order. A crash moves a dead worker's tests elsewhere: those are let be."""
    mode = MODES.get(phase.dist or "")
    if mode is None:
        return []
    return check_units(phase, mode) + check_order(phase, mode)


def check_units(phase: PhaseResult, mode: Mode) -> list[str]:
    if not mode.is_scoped:
        return []
    workers: dict[str, set[str]] = defaultdict(set)
    crashed: set[str] = set()
    for test in phase.tests:
        key = unit_of(test.nodeid, test.group, mode.name)
        if test.crashed:
            crashed.add(key)  # xdist moves a dead worker's remaining tests to its replacement
        if test.worker:
            workers[key].add(test.worker)
    what = mode.unit
    problems = []
    for key, ran_on in sorted(workers.items()):
        if len(ran_on) > 1 and key not in crashed:
            hint = " (pytest-xdist #1386: pytest 9.2 with xdist 3.8 drops the groups)" if what == "xdist_group" else ""
            problems.append(
                f"--dist {mode.name}: {what} {key!r} ran on {len(ran_on)} workers ({', '.join(sorted(ran_on))}), "
                f"not one{hint}"
            )
    return problems


def check_order(phase: PhaseResult, mode: Mode) -> list[str]:
    """The first test that ran after one collected later than it: on the same worker under load, in the same
    unit under the scoped modes (worksteal keeps no order across a steal)."""
    if not (mode.keeps_order or mode.is_scoped) or not phase.collected or any(t.crashed for t in phase.tests):
        return []
    position = {nodeid: index for index, nodeid in enumerate(phase.collected)}
    last: dict[tuple[str, str], TestResult] = {}
    problems = []
    for test in sorted((t for t in phase.tests if t.worker and t.start is not None), key=lambda t: t.start or 0.0):
        key = (test.worker or "", "" if mode.keeps_order else unit_of(test.nodeid, test.group, mode.name))
        before = last.get(key)
        if before is not None and position.get(test.nodeid, -1) < position.get(before.nodeid, -1):
            where = "worker" if mode.keeps_order else "unit"
            problems.append(
                f"--dist {mode.name}: {test.nodeid} ran after {before.nodeid} on {test.worker}, though collected "
                f"before it (each {where} runs its tests in collection order)"
            )
            break
        last[key] = test
    return problems


STARVING_SHARE = 0.5  # one unit with more than this share of a phase's test time leaves the other workers idle


def starving_unit(phase: PhaseResult) -> str | None:
    """When one unit the mode keeps whole (a file under loadfile, a scope, a group) holds most of a parallel
    phase's test time, one worker runs it while the others wait: say so, and name the mode that would spread it."""
    mode = MODES.get(phase.dist or "")
    if mode is None or not mode.is_scoped or phase.workers < 2:
        return None
    seconds: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for test in phase.tests:
        key = unit_of(test.nodeid, test.group, mode.name)
        seconds[key] += test.duration_s
        counts[key] += 1
    total = sum(seconds.values())
    if not seconds or total <= 0:
        return None
    unit, biggest = max(seconds.items(), key=lambda item: item[1])
    if biggest / total <= STARVING_SHARE or counts[unit] < 2:
        return None
    waited = wait_for(phase, [t for t in phase.tests if unit_of(t.nodeid, t.group, mode.name) == unit])
    if waited is None:
        return None
    spread = "--dist load (or worksteal)" if mode.unit != "xdist_group" else "fewer tests in that xdist_group"
    return (
        f"--dist {mode.name}: {mode.unit} {unit!r} holds {biggest / total:.0%} of the {phase.label} phase's test "
        f"time ({counts[unit]} tests, {biggest:.2f}s), and its tests ran on one worker while the others waited "
        f"{waited:.2f}s at the end; {spread} would spread them"
    )


STARVED_SHARE = 0.2  # of the phase's span: a wait this long at the end is the unit's doing, not noise
STARVED_MIN_S = 0.5


def wait_for(phase: PhaseResult, unit: Sequence[TestResult]) -> float | None:
    """How long every other worker sat idle at the end while the worker of `unit` ran on, from the events; None
    when they did not (the unit's worker was not the last to finish, or the others were busy to near the end)."""
    timed = [t for t in phase.tests if t.worker and t.start is not None and t.stop is not None]
    workers = {t.worker for t in unit if t.worker}
    if len(workers) != 1 or not timed:
        return None
    (worker,) = workers
    last: dict[str, float] = {}
    for test in timed:
        last[test.worker or ""] = max(last.get(test.worker or "", 0.0), test.stop or 0.0)
    others = [stop for name, stop in last.items() if name != worker]
    if not others:
        return None
    waited = last[worker] - max(others)
    span = max(last.values()) - min(t.start or 0.0 for t in timed)
    return waited if waited >= max(STARVED_MIN_S, STARVED_SHARE * span) else None
