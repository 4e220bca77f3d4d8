"""Where the time went: a Chrome trace-event timeline of the run (opens in Perfetto)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runtests.files import write_atomically
from runtests.results import TestResult
from runtests.summary import RunSummary


def timed(tests: Sequence[TestResult]) -> list[TestResult]:
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
