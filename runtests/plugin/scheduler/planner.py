"""runtests' xdist scheduler, the pure part: which worker runs what, from recorded durations, never reordering.

xdist hands out work in collection order, so a few long tests collected last can leave a worker idle at the end.
Reordering the tests to start the long ones first changes what suites rely on: pytest runs a module's tests in the
order they are written, and under `load` each xdist worker runs its tests in collection order. So runtests never
reorders. It decides *which worker* runs which work, and *when* a worker starts it, from recorded durations:

- `load`: W contiguous stretches of the collection order with equal recorded time (a linear partition, solved
  exactly). A module's tests stay together, so its fixtures are set up about as often as under xdist's own chunks.
- `loadscope`, `loadfile`, `loadgroup`: whole units (scope, file, group) assigned longest-processing-time first;
  each worker runs its units in collection order.
- `worksteal`: contiguous blocks of equal recorded time instead of equal count; an idle worker steals the end of the
  queue with the most time left (xdist's own steal, by time instead of by count).

Under `load` and the scoped modes each worker is sent half of its queue at a time, never the end of it: a worker
that runs dry takes the end of a queue further along the collection order, which keeps its own order (a queue
behind it would not). xdist drives the scheduler (`pytest_xdist_make_scheduler`), crashes, `--max-worker-restart`, `-x`
and interruptions included. The planning functions are pure; the schedulers are what xdist calls.
"""

from __future__ import annotations

import bisect
import dataclasses
import heapq
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from runtests.durations import estimate as estimate_recorded
from runtests.modes import MODES, STEAL, STRETCHES, plain_nodeid, scope_of

MIN_PENDING = 2  # an xdist worker starts a test only once it holds the next one (or is told to shut down)
LEAD_S = 0.25  # recorded seconds of work kept queued on a worker beyond the running test (refilled at half)
MAX_STRETCHES_PER_WORKER = 4  # more would cut modules (and their fixtures) more often than xdist's own chunks
STRETCH_SLACK = 0.01  # a longest share this much over the best or the ideal is as good: fewer stretches win
PER_TEST_S = 0.0012  # a worker's own time per test beyond its recorded duration (docs/benchmarks.md, makespan)
PRECISION = 1e-9  # relative: the linear partition's bisection stops this close to the optimum


@dataclasses.dataclass
class Unit:
    """What xdist keeps on one worker: one test under load, a scope, file or group under the scoped modes."""

    tests: list[int]  # indices into the collection, in collection order
    seconds: float

    @property
    def position(self) -> int:
        return self.tests[0]


def make_units(collection: Sequence[str], seconds: Sequence[float], dist: str) -> list[Unit]:
    """The collection cut into `dist`'s units, in the order of their first test."""
    if not MODES[dist].is_scoped:
        return [Unit([index], seconds[index]) for index in range(len(collection))]
    units: dict[str, Unit] = {}
    for index, nodeid in enumerate(collection):
        unit = units.setdefault(scope_of(nodeid, dist), Unit([], 0.0))
        unit.tests.append(index)
        unit.seconds += seconds[index]
    return list(units.values())


def cuts_within(prefix: Sequence[float], parts: int, limit: float) -> list[int] | None:
    """Greedy: each stretch as long as it can be within `limit`; its end positions, or None when `parts` do not do."""
    cuts: list[int] = []
    start, total = 0, len(prefix) - 1
    while start < total:
        if len(cuts) == parts:
            return None
        end = bisect.bisect_right(prefix, prefix[start] + limit, lo=start + 1) - 1
        if end == start:  # one item alone is over the limit
            return None
        cuts.append(end)
        start = end
    return cuts


def split_stretches(seconds: Sequence[float], parts: int) -> list[tuple[int, int]]:
    """`parts` contiguous (start, stop) stretches of `seconds` whose longest is as short as possible, each cut as
    near an equal share as that allows. Some are empty when there are fewer items than parts."""
    count = len(seconds)
    if parts <= 1 or count == 0:
        return [(0, count)] + [(count, count)] * max(parts - 1, 0)
    if sum(seconds) <= 0:  # nothing known but the count
        seconds = [1.0] * count
    prefix = [0.0, *itertools.accumulate(seconds)]
    total = prefix[-1]
    # The shortest feasible longest stretch lies between the even share (or the longest item) and the whole.
    low, high = max(total / parts, max(seconds)), total
    if cuts_within(prefix, parts, low) is not None:
        high = low
    while high - low > PRECISION * total:
        middle = (low + high) / 2
        if cuts_within(prefix, parts, middle) is None:
            low = middle
        else:
            high = middle
    # Among the partitions within `high`: each cut as near its even share as the stretch before it (at most
    # `high`) and the stretches after it (which must hold the rest within `high`) allow.
    earliest = earliest_starts(prefix, parts, high)
    bounds, start = [], 0
    for part in range(1, parts):
        share = total * part / parts
        target = bisect.bisect_left(prefix, share)
        if target > 0 and prefix[target] - share > share - prefix[target - 1]:
            target -= 1
        reach = bisect.bisect_right(prefix, prefix[start] + high) - 1
        cut = min(max(target, earliest[part], start), reach)
        bounds.append((start, cut))
        start = cut
    bounds.append((start, count))
    return bounds


def earliest_starts(prefix: Sequence[float], parts: int, limit: float) -> list[int]:
    """For each stretch k, the earliest position it may start at for stretches k.. to hold the rest within
    `limit` (a greedy from the end; a later start leaves them less)."""
    count = len(prefix) - 1
    earliest = [0] * (parts + 1)
    earliest[parts] = stop = count
    for part in range(parts - 1, 0, -1):
        stop = earliest[part] = bisect.bisect_left(prefix, prefix[stop] - limit, hi=stop)
    return earliest


def assign_longest_first(units: Sequence[Unit], workers: int) -> list[list[Unit]]:
    """Longest-processing-time first: each unit, longest first, to the worker with the least time so far; each
    worker's units then in collection order. Ties go by collection order and worker number, so it is repeatable."""
    loads = [(0.0, worker) for worker in range(workers)]
    shares: list[list[Unit]] = [[] for _ in range(workers)]
    for unit in sorted(units, key=lambda u: (-u.seconds, u.position)):
        load, worker = heapq.heappop(loads)
        shares[worker].append(unit)
        heapq.heappush(loads, (load + unit.seconds, worker))
    return [sorted(share, key=lambda u: u.position) for share in shares]


def plan_stretches(units: Sequence[Unit], workers: int) -> list[list[Unit]]:
    """`load`: as few contiguous stretches per worker as balance needs. One each (the linear partition) when that
    is within STRETCH_SLACK of the best; otherwise k stretches per worker of equal time, assigned longest first.
    Each worker gets its stretches' units, in collection order."""
    seconds = [unit.seconds for unit in units]
    if workers < 2 or not units:
        return [list(units)] + [[] for _ in range(workers - 1)]
    ideal = max(sum(seconds) / workers, max(seconds))
    best: tuple[float, list[list[Unit]]] | None = None
    for per_worker in range(1, MAX_STRETCHES_PER_WORKER + 1):
        blocks = [units[start:stop] for start, stop in split_stretches(seconds, workers * per_worker) if stop > start]
        stretches = [Unit([unit.position for unit in block], sum(unit.seconds for unit in block)) for block in blocks]
        assigned = assign_longest_first(stretches, workers)
        longest = max(sum(stretch.seconds for stretch in share) for share in assigned)
        by_position = {block[0].position: block for block in blocks}
        shares = [[unit for stretch in share for unit in by_position[stretch.position]] for share in assigned]
        if best is None or longest < best[0] * (1 - STRETCH_SLACK):
            best = (longest, shares)
        if best[0] <= ideal * (1 + STRETCH_SLACK):
            break
    assert best is not None
    return best[1]


def plan_shares(units: Sequence[Unit], workers: int, dist: str) -> list[list[Unit]]:
    """Each worker's units, in collection order, for `dist`."""
    if MODES[dist].balance in (STRETCHES, STEAL):
        return plan_stretches(units, workers)
    return assign_longest_first(units, workers)


def take_from_end(queue: Sequence[Unit], after: int, own_s: float, owner_s: float) -> int:
    """How many units a worker with `own_s` of work left, that has been sent work up to position `after`, takes
    from the end of `queue`, whose owner has `owner_s` left (the queue included): only units past `after`, so the
    worker's own order holds, and only while it then still has less to do than the owner."""
    taken, taken_s = 0, 0.0
    for unit in reversed(queue):
        if unit.position <= after or own_s + taken_s + unit.seconds >= owner_s - taken_s:
            break
        taken += 1
        taken_s += unit.seconds
    return taken


def left_s(running_s: float, held_s: float, started: float | None, now: float) -> float:
    """Recorded seconds a worker has left of the `held_s` it was sent: the rest of the test it runs (`running_s`
    long, running since `started` when that is known) and the others whole."""
    elapsed = now - started if started is not None else 0.0
    return max(0.0, running_s - elapsed) + held_s - running_s


def estimate(collection: Sequence[str], durations: Mapping[str, float]) -> list[float]:
    """Each test's expected seconds on a worker: its recorded duration (the mean of the recorded ones when it has
    none) and what pytest and xdist spend on any test beside it."""
    ids = [plain_nodeid(nodeid) for nodeid in collection]
    expected = estimate_recorded(ids, durations)  # the one rule for a test without a record, shards' too
    return [expected[nodeid] + PER_TEST_S for nodeid in ids]


@dataclasses.dataclass(frozen=True)
class Opening:
    """What both schedulers start from once every worker has collected: the collection, each test's expected
    seconds, and each worker's planned share."""

    collection: list[str]
    seconds: list[float]
    shares: list[list[Unit]]


def open_schedule(xdist: Any, durations: Mapping[str, float], dist: str, workers: int) -> Opening | None:
    """xdist's own check that the workers collected the same tests (its private `_check_nodes_have_same_collection`:
    with worksteal's `_send_tests`, the only private xdist API runtests uses), then the plan; None when they
    differ (xdist's message is logged, as its own schedulers log it)."""
    if not xdist._check_nodes_have_same_collection():
        xdist.log("**Different tests collected, aborting run**")
        return None
    collection = list(next(iter(xdist.node2collection.values())))
    seconds = estimate(collection, durations)
    shares = plan_shares(make_units(collection, seconds, dist), workers, dist) if collection else []
    return Opening(collection, seconds, shares)
