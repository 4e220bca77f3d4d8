"""Diagnosis by replay: why a parallel failure failed, verified in fresh sequential processes, not guessed.

Each replay runs the failing test after a list of other tests, in the given order, in a fresh sequential pytest
process. From their outcomes (pure logic here; the processes are the caller's `run`):

| verdict              | what the replays show                                                            |
|----------------------|----------------------------------------------------------------------------------|
| `fails-alone`        | fails alone, and after its collection-order predecessors: a real failure           |
| `depends-on-earlier` | fails alone, passes after its collection-order predecessors: needs a state-setter  |
| `broken-by-earlier`  | passes alone, fails after what ran before it on its worker: a polluter             |
| `parallel-only`      | passes in every sequential replay: only concurrency with other workers breaks it;  |
|                      | replayed once beside its overlap suspects (under xdist), which, when it fails      |
|                      | again there, become its culprits                                                  |
| `flaky`              | identical replays disagree                                                        |
| `passed-on-retry`    | passed alone, but the budget ran out before every sequential order was replayed   |

The culprits of `depends-on-earlier` and `broken-by-earlier` are found by delta debugging (Zeller's ddmin) over
the predecessors, down to a minimal set (usually one test), then replayed once more to confirm. This is how
iDFlakies and iFixFlakies sort order-dependent tests into brittles and victims. Every replay counts against a
budget; when it runs out, the verdict is what the replays so far show and `complete` is false.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence

from runtests.results import (
    BROKEN_BY_EARLIER,
    DEPENDS_ON_EARLIER,
    FAILING,
    FAILS_ALONE,
    FLAKY,
    PARALLEL_ONLY,
    PASSED_ON_RETRY,
    UNDIAGNOSED,
    Outcome,
    Replay,
    RetryResult,
    TestResult,
)

DIAGNOSED_MAX = 5  # parallel failures diagnosed by replay in one run; the others keep the retry's own verdict
REPLAY_FLOOR_S = 20.0  # a run's replays may take as long as its parallel phase took, and at least this long
DIAGNOSE_BUDGET_S = 120.0  # `runtests diagnose`: one test, asked for by name


def budget_s(given: float | None, parallel_s: float) -> float:
    """Seconds of replays: as given (--replay-budget), else bounded by the run's own size: as long as the parallel
    phase took, and at least REPLAY_FLOOR_S (a small run's diagnosis still gets a few replays per failure)."""
    return given if given is not None else max(REPLAY_FLOOR_S, parallel_s)


ALONE, ALONE_AGAIN, WORKER_ORDER, COLLECTION_ORDER, BISECT, CONFIRM, BESIDE = (
    "alone", "alone-again", "worker-order", "collection-order", "bisect", "confirm", "beside-suspects"
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    verdict: str
    outcome: Outcome  # the test's outcome alone
    culprits: tuple[str, ...] = ()
    replays: tuple[Replay, ...] = ()
    complete: bool = True  # False: the budget ran out before the replays could say more
    where: str = ""  # where the culprits ran: "gw1", "collection order", "beside"

    def retry_result(self, longrepr: str | None = None) -> RetryResult:
        """The test's retry record, as the reports carry it."""
        return RetryResult(self.outcome, longrepr, self.verdict, self.culprits, self.where, self.replays,
                           self.complete)  # fmt: skip


class BudgetExhausted(Exception):
    pass


@dataclasses.dataclass
class Budget:
    """Replays left for the run and its deadline (monotonic seconds)."""

    replays: int
    deadline: float
    clock: Callable[[], float] = time.monotonic

    def take(self) -> None:
        if self.replays <= 0 or self.clock() >= self.deadline:
            raise BudgetExhausted
        self.replays -= 1


def ran_before(tests: Sequence[TestResult], failed: TestResult) -> list[TestResult]:
    """What ran before `failed` on its worker (its process), in the order it ran."""
    if failed.worker is None or failed.start is None:
        return []
    earlier = [t for t in tests if t.worker == failed.worker and t.start is not None and t.start < failed.start]
    return sorted(earlier, key=lambda t: t.start or 0.0)


def replays_for(candidates: int) -> int:
    """The replays one failure may take: alone twice, two orders, ddmin's ~2 log2(n) steps, a confirmation, and
    one beside its suspects."""
    return 6 + 2 * math.ceil(math.log2(candidates + 1))


RunReplay = Callable[[Sequence[str]], tuple[Outcome, float]]  # predecessors -> the test's outcome, seconds


def minimize(items: Sequence[str], reproduces: Callable[[list[str]], bool]) -> list[str]:
    """A minimal subsequence of `items` (order kept) for which `reproduces` holds, given that it holds for all of
    `items` and not for none of them: ddmin, testing chunks then complements, refining the split when neither."""
    current = list(items)
    chunks_n = 2
    while len(current) >= 2:
        size = math.ceil(len(current) / chunks_n)
        chunks = [current[i : i + size] for i in range(0, len(current), size)]
        reduced = False
        for chunk in chunks:
            if reproduces(chunk):
                current, chunks_n, reduced = chunk, 2, True
                break
        if not reduced and len(chunks) > 2:
            for index in range(len(chunks)):
                complement = [item for j, chunk in enumerate(chunks) if j != index for item in chunk]
                if reproduces(complement):
                    current, chunks_n, reduced = complement, max(chunks_n - 1, 2), True
                    break
        if not reduced:
            if chunks_n >= len(current):
                break
            chunks_n = min(len(current), chunks_n * 2)
    return current


def diagnose(
    worker_before: Sequence[str],
    collection_before: Sequence[str],
    run: RunReplay,
    budget: Budget,
    worker: str | None = None,
    first_alone: Outcome | None = None,
    suspects: Sequence[str] = (),
    run_beside: RunReplay | None = None,
) -> Diagnosis | None:
    """The verdict on one failing test from replays: `worker_before`, what ran before it on its worker, in that
    order; `collection_before`, its predecessors in collection order; `first_alone`, an alone replay already made
    (the retry phase's, when it retried this test only). None when the budget allowed not even the first
    replays."""
    replays: list[Replay] = []
    alone_fails = False

    def replay(kind: str, before: Sequence[str]) -> bool:
        """Whether the test failed."""
        budget.take()
        outcome, seconds = run(before)
        replays.append(Replay(kind, tuple(before), outcome, seconds))
        return outcome in FAILING

    def ends(verdict: str, culprits: Sequence[str] = (), complete: bool = True, where: str = "") -> Diagnosis:
        alone = replays[0].outcome if replays else Outcome.PASSED
        return Diagnosis(verdict, alone, tuple(culprits), tuple(replays), complete, where)

    try:
        if first_alone is not None:
            replays.append(Replay(ALONE, (), first_alone))
            alone_fails = first_alone in FAILING
        else:
            alone_fails = replay(ALONE, ())
        if replay(ALONE_AGAIN, ()) != alone_fails:
            return ends(FLAKY)
    except BudgetExhausted:
        return None if not replays else ends(FAILS_ALONE if alone_fails else PASSED_ON_RETRY, complete=False)
    # Passing alone is not yet parallel-only: that needs every sequential order replayed, passing.
    verdict = FAILS_ALONE if alone_fails else PASSED_ON_RETRY
    try:
        if alone_fails:
            if not collection_before or replay(COLLECTION_ORDER, collection_before):
                return ends(FAILS_ALONE)
            verdict = DEPENDS_ON_EARLIER
            return find_culprits(collection_before, False, replay, ends, verdict, "collection order")
        if worker_before and replay(WORKER_ORDER, worker_before):
            verdict = BROKEN_BY_EARLIER
            return find_culprits(worker_before, True, replay, ends, verdict, worker or "its worker")
        other_order = collection_before and list(collection_before) != list(worker_before)
        if other_order and replay(COLLECTION_ORDER, collection_before):
            verdict = BROKEN_BY_EARLIER
            return find_culprits(collection_before, True, replay, ends, verdict, "collection order")
        verdict = PARALLEL_ONLY
        if suspects and run_beside is not None:  # no sequential replay breaks it: try it beside its suspects
            budget.take()
            outcome, seconds = run_beside(suspects)
            replays.append(Replay(BESIDE, tuple(suspects), outcome, seconds))
            if outcome in FAILING:  # concurrency with them breaks it again: they are the culprits shown
                return ends(PARALLEL_ONLY, suspects, where="beside")
        return ends(PARALLEL_ONLY)
    except BudgetExhausted:
        return ends(verdict, complete=False)


def find_culprits(
    candidates: Sequence[str],
    fails_with: bool,
    replay: Callable[[str, Sequence[str]], bool],
    ends: Callable[..., Diagnosis],
    verdict: str,
    where: str,
) -> Diagnosis:
    """The minimal set of `candidates` whose running first makes the test fail (`fails_with`) or pass; confirmed
    by one identical replay, or the verdict is `flaky`. Out of budget mid-way: the set narrowed so far."""
    narrowed = list(candidates)

    def reproduces(subset: list[str]) -> bool:
        nonlocal narrowed
        if replay(BISECT, subset) == fails_with:
            narrowed = subset
            return True
        return False

    try:
        culprits = minimize(candidates, reproduces)
    except BudgetExhausted:
        return ends(verdict, narrowed, complete=False, where=where)
    try:
        if replay(CONFIRM, culprits) != fails_with:
            return ends(FLAKY)
    except BudgetExhausted:
        return ends(verdict, culprits, complete=False, where=where)
    return ends(verdict, culprits, where=where)


def describe_undiagnosed(tests: Sequence[TestResult], given_s: float | None, parallel_s: float) -> list[str]:
    """One line naming what the replays left undiagnosed: the failures past DIAGNOSED_MAX or the budget, whose
    verdict is only the retry's (passed-on-retry, failed-on-retry), never accepted as parallel-only."""
    retried = [test for test in tests if test.retry is not None]
    left = [test for test in retried if test.retry is not None and test.retry.verdict in UNDIAGNOSED]
    if not left:
        return []
    if given_s == 0:
        why = "--replay-budget 0: none was replayed"
    else:
        budget = budget_s(given_s, parallel_s)
        source = "--replay-budget" if given_s is not None else "the parallel phase's time, at least " \
            f"{REPLAY_FLOOR_S:g}s; --replay-budget S for more"  # fmt: skip
        why = f"replays stop after {DIAGNOSED_MAX} failures or {budget:g}s ({source})"
    names = ", ".join(test.nodeid for test in left[:3]) + (f" and {len(left) - 3} more" if len(left) > 3 else "")
    return [f"diagnosis: {len(left)} of {len(retried)} retried failure{'s' if len(retried) != 1 else ''} left "
            f"undiagnosed, their verdict only what the retry showed ({names}): {why}"]  # fmt: skip
