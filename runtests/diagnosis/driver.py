"""The replays' processes: runtests.diagnosis.replay decides which to run; here they run, each a fresh pytest."""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable, Mapping, Sequence

from runtests.config import Options
from runtests.diagnosis import replay
from runtests.diagnosis.suspects import find_suspects
from runtests.plan import Phase, make_beside_phase, make_replay_phase
from runtests.results import Outcome, PhaseResult, RetryResult
from runtests.runner import Limits, PhaseStarter, run_quietly

# Told of each replay as it ends: the replayed test, how many tests ran before (or beside) it, its outcome, the
# seconds it took, and whether it ran beside them under xdist.
OnReplay = Callable[[str, int, Outcome, float, bool], None]


class Replayer:
    """Runs replays as fresh pytest processes, numbered, each told to `on_replay` as it ends."""

    def __init__(self, options: Options, starter: PhaseStarter, limits: Limits, on_replay: OnReplay) -> None:
        self.options, self.starter, self.limits, self.on_replay = options, starter, limits, on_replay
        self.counter = itertools.count(1)

    def after(self, nodeid: str, before: Sequence[str]) -> tuple[Outcome, float]:
        """`nodeid` in a fresh sequential process, after `before`, in that order."""
        outcome, seconds = self.once(make_replay_phase(self.options, next(self.counter)), [*before, nodeid], nodeid)
        self.on_replay(nodeid, len(before), outcome, seconds, False)
        return outcome, seconds

    def beside(self, nodeid: str, suspects: Sequence[str]) -> tuple[Outcome, float]:
        """`nodeid` with `suspects`, under xdist: whether running them at the same time breaks it again."""
        phase = make_beside_phase(self.options, next(self.counter))
        outcome, seconds = self.once(phase, [nodeid, *suspects], nodeid)
        self.on_replay(nodeid, len(suspects), outcome, seconds, True)
        return outcome, seconds

    def once(self, phase: Phase, listed: list[str], nodeid: str) -> tuple[Outcome, float]:
        """The replayed test's outcome (not_run when its process never got there), and the process's seconds."""
        result = run_quietly(self.starter.take(phase, listed), phase.name, self.limits)
        outcome = next((test.outcome for test in result.tests if test.nodeid == nodeid), Outcome.NOT_RUN)
        return outcome, result.duration_s


def replay_failures(parallel: PhaseResult, retry: PhaseResult, replayer: Replayer) -> Mapping[str, RetryResult]:
    """Diagnose the first parallel failures by replaying them (runtests.diagnosis.replay): alone, after what ran
    before them on their worker, after their collection-order predecessors; culprits by delta debugging. Within
    the replay budget (replay.budget_s) and replay.DIAGNOSED_MAX failures. Each diagnosed test's retry record."""
    failing = [test for test in parallel.tests if test.is_retryable][: replay.DIAGNOSED_MAX]
    again = {test.nodeid: test for test in retry.tests}
    collected = list(parallel.collected or ())
    position = {nodeid: index for index, nodeid in enumerate(collected)}
    seconds = replay.budget_s(replayer.options.replay_budget, parallel.duration_s)
    budget = replay.Budget(sum(replay.replays_for(position.get(t.nodeid, 0)) for t in failing),
                           time.monotonic() + seconds)  # fmt: skip
    if replayer.limits.run_deadline is not None:
        budget.deadline = min(budget.deadline, replayer.limits.run_deadline)
    overlapping = find_suspects(parallel.tests)
    diagnoses: dict[str, RetryResult] = {}
    for test in failing:
        nodeid = test.nodeid
        collection_before = collected[: position[nodeid]] if nodeid in position else []
        worker_before = [t.nodeid for t in replay.ran_before(parallel.tests, test)]
        first = again[nodeid].outcome if len(retry.tests) == 1 and nodeid in again else None
        run: replay.RunReplay = functools.partial(replayer.after, nodeid)
        beside: replay.RunReplay = functools.partial(replayer.beside, nodeid)
        diagnosis = replay.diagnose(
            worker_before, collection_before, run, budget, test.worker, first, overlapping.get(nodeid, []), beside
        )
        if diagnosis is None:
            break
        diagnoses[nodeid] = diagnosis.retry_result(again[nodeid].longrepr if nodeid in again else None)
    return diagnoses
