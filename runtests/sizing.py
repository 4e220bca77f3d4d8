"""How many xdist workers pay for themselves, from recorded durations. Pure.

On a small machine xdist is not free: each worker takes a while to start, and every test costs the controller its
traffic, so a suite of quick tests runs faster in one sequential process. `-n auto` with a history picks the count
the model says is fastest; the model's constants are measured (docs/benchmarks.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

SEQUENTIAL_PER_TEST_S = 0.00115  # pytest's own cost per test, in-process
XDIST_PER_TEST_S = 0.0024  # wall time per test under xdist, dominated by the controller's serial traffic
XDIST_STARTUP_S = 1.0  # bringing up xdist at all
XDIST_STARTUP_PER_WORKER_S = 0.25


@dataclasses.dataclass(frozen=True)
class Choice:
    workers: int  # 1: one sequential pytest process, no workers
    predicted_s: dict[int, float]
    tests: int
    total_s: float

    def describe(self) -> str:
        best = self.predicted_s[self.workers]
        others = ", ".join(
            f"{self.predicted_s[w]:.1f}s with {w}" for w in sorted(self.predicted_s) if w != self.workers
        )
        chosen = "1 worker (sequential, one process)" if self.workers == 1 else f"{self.workers} workers"
        return (
            f"-n auto: {chosen}: recorded durations of {self.tests} tests ({self.total_s:.1f}s of test time) "
            f"predict {best:.1f}s, against {others}"
        )


def predict_s(durations: Mapping[str, float], workers: int) -> float:
    count, total = len(durations), sum(durations.values())
    if workers <= 1:
        return total + count * SEQUENTIAL_PER_TEST_S
    longest = max(durations.values(), default=0.0)
    startup = XDIST_STARTUP_S + XDIST_STARTUP_PER_WORKER_S * workers
    return startup + max(longest, total / workers) + count * XDIST_PER_TEST_S


def choose_workers(durations: Mapping[str, float], cpus: int) -> Choice | None:
    """The fastest worker count from 1 to `cpus`; None without a history to go on."""
    if not durations or cpus < 1:
        return None
    predicted = {workers: predict_s(durations, workers) for workers in range(1, cpus + 1)}
    best = min(predicted, key=lambda workers: (predicted[workers], workers))
    return Choice(best, predicted, len(durations), sum(durations.values()))
