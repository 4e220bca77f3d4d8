"""Where the time went: a Chrome trace-event timeline (opens in Perfetto), workers' busy shares, slowest tests."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from runtests.files import write_atomically
from runtests.results import PhaseResult, RunSummary, TestResult


def timed(tests: list[TestResult]) -> list[TestResult]:
    return [test for test in tests if test.start is not None and test.stop is not None]


def make_trace(summary: RunSummary) -> dict[str, Any]:
    """One process per phase, one thread per xdist worker (or the phase's single process), one slice per test."""
    phases = [phase for phase in summary.phases if phase.ran]
    if summary.retry is not None:
        phases.append(summary.retry)
    starts = [test.start or 0.0 for phase in phases for test in timed(phase.tests)]
    origin = min(starts, default=0.0)
    trace: list[dict[str, Any]] = []
    for pid, phase in enumerate(phases, start=1):
        label = f"{phase.label} phase" + (f" ({phase.workers} workers, {phase.dist})" if phase.is_parallel else "")
        trace.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": label}})
        trace.append({"ph": "M", "name": "process_sort_index", "pid": pid, "tid": 0, "args": {"sort_index": pid}})
        threads: dict[str, int] = {}
        for test in sorted(timed(phase.tests), key=lambda t: t.start or 0.0):
            track = test.worker or "main"
            if track not in threads:
                threads[track] = len(threads)
                meta = {"ph": "M", "name": "thread_name", "pid": pid, "tid": threads[track], "args": {"name": track}}
                trace.append(meta)
            trace.append(
                {
                    "ph": "X",
                    "name": test.nodeid,
                    "cat": test.outcome.value,
                    "pid": pid,
                    "tid": threads[track],
                    "ts": round(((test.start or 0.0) - origin) * 1e6),
                    "dur": max(1, round(((test.stop or 0.0) - (test.start or 0.0)) * 1e6)),
                    "args": {"outcome": test.outcome.value, "phase": phase.name, "worker": test.worker},
                }
            )
    return {"traceEvents": trace, "displayTimeUnit": "ms"}


def write_trace(path: Path, summary: RunSummary) -> None:
    trace = make_trace(summary)
    write_atomically(path, lambda stream: json.dump(trace, stream, separators=(",", ":")))


def busy_shares(phase: PhaseResult) -> tuple[dict[str, float], float]:
    """Each worker's busy share of the phase's test span, and the idle tail: from the first worker to run
    out of work to the end of the last test."""
    tests = timed(phase.tests)
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


def slowest(summary: RunSummary, count: int) -> list[TestResult]:
    return sorted(summary.tests, key=lambda test: -test.duration_s)[:count]
