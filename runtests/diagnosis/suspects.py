"""Suspects of parallel failures (what ran beside them on other workers) and their retry verdicts. Pure: it
returns what it finds, and changes nothing it is given."""

from __future__ import annotations

import bisect
import dataclasses
from collections import defaultdict
from collections.abc import Sequence

from runtests.results import PhaseResult, RetryResult, TestResult

SUSPECTS_MAX = 5


def overlap_s(a: TestResult, b: TestResult) -> float:
    if a.start is None or a.stop is None or b.start is None or b.stop is None:
        return 0.0
    return min(a.stop, b.stop) - max(a.start, b.start)


def find_suspects(tests: Sequence[TestResult], limit: int = SUSPECTS_MAX) -> dict[str, list[str]]:
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
    """Each retried parallel failure's verdict: the replays' (runtests.diagnosis.replay) where it was diagnosed by them,
    else the retry phase's outcome alone."""
    again = {test.nodeid: test for test in retry.tests}
    verdicts = {}
    for test in parallel.tests:
        if not test.is_failing or test.nodeid not in again:
            continue
        found = retry.diagnoses.get(test.nodeid)
        verdicts[test.nodeid] = found or RetryResult(again[test.nodeid].outcome, again[test.nodeid].longrepr)
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
