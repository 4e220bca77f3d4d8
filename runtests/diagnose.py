"""Reading the events for causes: suspects of parallel failures, retry verdicts, scheduling guarantees. Pure."""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Iterable

from runtests.results import PhaseResult, RetryResult, TestResult

SUSPECTS_MAX = 5


def overlap_s(a: TestResult, b: TestResult) -> float:
    if a.start is None or a.stop is None or b.start is None or b.stop is None:
        return 0.0
    return min(a.stop, b.stop) - max(a.start, b.start)


def find_suspects(tests: list[TestResult], limit: int = SUSPECTS_MAX) -> None:
    """For each failing test, name the tests that ran at the same time on other workers, most overlap first.

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
        failed.suspects = [nodeid for _, nodeid in overlapping[:limit]]


def apply_retries(parallel: PhaseResult, retry: PhaseResult) -> None:
    """Give each retried parallel failure its verdict from the retry phase."""
    again = {test.nodeid: test for test in retry.tests}
    for test in parallel.tests:
        rerun = again.get(test.nodeid)
        if rerun is not None and test.is_failing:
            test.retry = RetryResult(rerun.outcome, rerun.longrepr)


def scope_of(nodeid: str, dist: str) -> str:
    """The unit xdist keeps on one worker: the file for loadfile, the class or module for loadscope."""
    if dist == "loadfile":
        return nodeid.split("::", 1)[0]
    return nodeid.rsplit("::", 1)[0] if "::" in nodeid else nodeid


def check_guarantees(phases: Iterable[PhaseResult]) -> list[str]:
    """What the events show of broken promises: overlapping serial tests, groups or scopes split across workers."""
    problems: list[str] = []
    phases = [phase for phase in phases if phase.ran]
    parallel_stop = max((t.stop for p in phases if p.workers for t in p.tests if t.stop is not None), default=None)
    for phase in phases:
        if phase.workers:
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
    if phase.dist not in ("loadgroup", "loadscope", "loadfile"):
        return []
    workers: dict[str, set[str]] = defaultdict(set)
    crashed: set[str] = set()
    for test in phase.tests:
        if phase.dist == "loadgroup":
            if test.group is None:
                continue
            key = test.group
        else:
            key = scope_of(test.nodeid, phase.dist)
        if test.crashed:
            crashed.add(key)  # xdist moves a dead worker's remaining tests to its replacement
        if test.worker:
            workers[key].add(test.worker)
    what = {"loadgroup": "xdist_group", "loadscope": "scope", "loadfile": "file"}[phase.dist]
    problems = []
    for key, ran_on in sorted(workers.items()):
        if len(ran_on) > 1 and key not in crashed:
            hint = " (pytest-xdist #1386: pytest 9.2 with xdist 3.8 drops the groups)" if what == "xdist_group" else ""
            problems.append(
                f"--dist {phase.dist}: {what} {key!r} ran on {len(ran_on)} workers ({', '.join(sorted(ran_on))}), "
                f"not one{hint}"
            )
    return problems
