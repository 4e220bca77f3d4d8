"""runtests' xdist scheduler: the parallel phase balanced by recorded durations, by assignment only.

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
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
from xdist.scheduler import LoadScheduling, WorkStealingScheduling

from runtests.durations import estimate as estimate_recorded
from runtests.durations import recorded_for
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


class Balancer:
    """In xdist's controller under --order balanced: runtests' scheduler once durations are recorded, xdist's own
    until then; `emit` tells the events file which."""

    def __init__(self, emit: Callable[[dict[str, Any]], None] | None) -> None:
        self.emit = emit

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        recorded = recorded_for(config)
        scheduler = make_scheduler(config, log, recorded) if recorded else None
        if self.emit is not None:
            self.emit({"e": "scheduler", "name": "xdist" if scheduler is None else "runtests"})
        return scheduler


def make_scheduler(config: Any, log: Any, durations: Mapping[str, float]) -> Any:
    """The scheduler for xdist's --dist mode of `config`, or None for a mode runtests does not balance."""
    dist = config.getvalue("dist")
    if dist not in MODES:
        return None
    if MODES[dist].balance == STEAL:
        return BalancedWorkStealing(config, log, durations)
    return BalancedScheduling(config, log, durations)


class BalancedScheduling:
    """`load` and the scoped modes: each worker's planned units sent a little ahead of it, in collection order.

    Implements xdist's scheduler protocol (xdist.scheduler.protocol.Scheduling) as xdist's LoadScheduling does,
    whose collection checks it reuses; `node` is xdist's WorkerController.
    """

    def __init__(self, config: pytest.Config, log: Any, durations: Mapping[str, float]) -> None:
        self.xdist = LoadScheduling(config, log)  # node bookkeeping and the collection check, exactly as xdist's
        self.config = config  # as on xdist's schedulers: plugins read it (pytest-rerunfailures' crash handling)
        self.dist = config.getvalue("dist")
        self.durations = durations
        self.maxschedchunk: int | None = config.getoption("maxschedchunk", None)
        self.collection: list[str] | None = None
        self.seconds: list[float] = []
        self.queues: dict[Any, deque[Unit]] = {}  # planned, not yet sent
        self.orphans: list[Unit] = []  # a crashed worker's unfinished work, until a worker takes it
        self.last_sent: dict[Any, int] = {}  # the highest position sent to each worker
        self.started: dict[Any, float] = {}  # when each worker's running test started (about: its last report)
        self.held_s: dict[Any, float] = {}  # recorded seconds sent to each worker and not done: kept as they change
        self.clock: Callable[[], float] = time.monotonic

    # --- the protocol ------------------------------------------------------------------------------------------
    @property
    def nodes(self) -> list[Any]:
        return self.xdist.nodes

    @property
    def node2pending(self) -> dict[Any, list[int]]:
        return self.xdist.node2pending

    @property
    def collection_is_completed(self) -> bool:
        return self.xdist.collection_is_completed

    @property
    def tests_finished(self) -> bool:
        if not self.collection_is_completed or self.has_planned():
            return False
        return all(len(pending) < MIN_PENDING for pending in self.node2pending.values())

    @property
    def has_pending(self) -> bool:
        return self.has_planned() or any(self.node2pending.values())

    def add_node(self, node: Any) -> None:
        self.xdist.add_node(node)
        self.queues[node] = deque()
        self.last_sent[node] = -1
        self.held_s[node] = 0.0

    def add_node_collection(self, node: Any, collection: Sequence[str]) -> None:
        self.xdist.add_node_collection(node, collection)

    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
        self.node2pending[node].remove(item_index)
        self.held_s[node] -= self.seconds[item_index]
        self.started[node] = self.clock()  # its next test starts now
        self.check_schedule(node)

    def mark_test_pending(self, item: str) -> None:
        """A crashed test to run again (pytest_handlecrashitem): it waits with the orphans."""
        assert self.collection is not None
        index = self.collection.index(item)
        self.add_orphans([Unit([index], self.seconds[index])])
        for node in self.nodes:
            self.check_schedule(node)

    def remove_pending_tests_from_node(self, node: Any, indices: Sequence[int]) -> None:
        raise NotImplementedError()

    def remove_node(self, node: Any) -> str | None:
        """A worker is gone; when it crashed, its test is the crash and the rest of its work waits for a worker."""
        pending = self.node2pending.pop(node)
        left = list(self.queues.pop(node, ()))
        self.last_sent.pop(node, None)
        self.held_s.pop(node, None)
        crashitem = None
        if pending:
            assert self.collection is not None
            crashitem = self.collection[pending[0]]
            if pending[1:]:  # already sent, in order: it stays one unit, a scope's rest stays whole
                left.insert(0, Unit(pending[1:], sum(self.seconds[i] for i in pending[1:])))
        if left:
            self.add_orphans(left)
            for other in self.nodes:
                self.check_schedule(other)
        return crashitem

    def schedule(self) -> None:
        assert self.collection_is_completed
        if self.collection is not None:  # a replacement worker has collected: it takes what a crash left
            for node in self.ready_nodes():
                if self.orphans and not (node.shutting_down or self.queues[node] or self.node2pending[node]):
                    self.queues[node].extend(self.orphans)
                    self.orphans = []
            for node in self.nodes:
                self.check_schedule(node)
            return
        if not self.xdist._check_nodes_have_same_collection():
            self.xdist.log("**Different tests collected, aborting run**")
            return
        self.collection = list(next(iter(self.xdist.node2collection.values())))
        self.xdist.collection = self.collection
        if not self.collection:
            return
        self.seconds = estimate(self.collection, self.durations)
        nodes = self.ready_nodes()
        shares = plan_shares(make_units(self.collection, self.seconds, self.dist), len(nodes), self.dist)
        for node, share in zip(nodes, shares, strict=True):
            self.queues[node].extend(share)
        for node in nodes:
            self.check_schedule(node)

    # --- runtests' own ---------------------------------------------------------------------------------------
    def ready_nodes(self) -> list[Any]:
        """Workers whose collection matched: only they may be sent work (the indices are into that collection)."""
        return [node for node in self.nodes if node in self.xdist.node2collection]

    def has_planned(self) -> bool:
        return bool(self.orphans) or any(self.queues.values())

    def add_orphans(self, units: list[Unit]) -> None:
        self.orphans = sorted([*self.orphans, *units], key=lambda unit: unit.position)

    def held_left_s(self, node: Any) -> float:
        """Recorded seconds `node` has left of what it was sent."""
        pending = self.node2pending[node]
        if not pending:
            return 0.0
        return left_s(self.seconds[pending[0]], self.held_s[node], self.started.get(node), self.clock())

    def remaining_s(self, node: Any) -> float:
        """Recorded seconds of work `node` has left: the rest of its running test, what it was sent, its queue."""
        return self.held_left_s(node) + sum(unit.seconds for unit in self.queues[node])

    def check_schedule(self, node: Any) -> None:
        """Keep `node` a little ahead of itself: from its queue, else the end of another's, else stop it."""
        if node.shutting_down or self.collection is None or node not in self.xdist.node2collection:
            return
        pending, queue = self.node2pending[node], self.queues[node]
        queued_s = self.held_s[node] - self.seconds[pending[0]] if pending else 0.0  # beyond the running test
        if len(pending) >= MIN_PENDING and queued_s >= LEAD_S / 2:
            return
        if not queue and (len(pending) < MIN_PENDING or self.held_left_s(node) < LEAD_S):
            self.take_work(node)  # it runs dry (or would wait for a test to start the one it holds)
        # Half of what is left is sent at a time, at least LEAD_S of it: few messages, no worker waiting for its
        # next test, and the end of every queue, the half others may take, still unsent.
        send: list[int] = []
        lead_s = max(LEAD_S, sum(unit.seconds for unit in queue) / 2)
        cap = max(self.maxschedchunk or len(self.collection), MIN_PENDING - len(pending))
        while queue and len(send) < cap and (len(pending) + len(send) < MIN_PENDING or queued_s < lead_s):
            unit = queue.popleft()
            send += unit.tests
            queued_s += unit.seconds
        if send:
            if not pending:
                self.started[node] = self.clock()
            pending.extend(send)
            self.held_s[node] += sum(self.seconds[index] for index in send)
            self.last_sent[node] = send[-1]
            node.send_runtest_some(send)
        if len(pending) < MIN_PENDING and not queue:
            node.shutdown()  # nothing it may take: it runs its last test now instead of waiting for another

    def take_work(self, node: Any) -> None:
        """`node` runs dry: it takes the end of the queue with the most time left among those it may take from
        (past its last test, so that its order holds). Work a crash left takes any worker it may go to; when no
        replacement worker is coming, the first to run dry takes it whatever its position."""
        after, own_s = self.last_sent[node], self.remaining_s(node)
        donors = [
            (self.remaining_s(other), self.queues[other])
            for other in self.ready_nodes()
            if other is not node and self.queues[other] and self.queues[other][-1].position > after
        ]
        if donors:
            owner_s, donor = max(donors, key=lambda pair: pair[0])
            taken = [donor.pop() for _ in range(take_from_end(donor, after, own_s, owner_s))]
            self.queues[node].extend(reversed(taken))
        if self.queues[node] or not self.orphans:
            return
        replacement_coming = len(self.nodes) < self.xdist.numnodes  # it adopts what the crash left
        taken = [unit for unit in self.orphans if unit.position > after or not replacement_coming]
        self.orphans = [unit for unit in self.orphans if not (unit.position > after or not replacement_coming)]
        self.queues[node].extend(taken)


class BalancedWorkStealing(WorkStealingScheduling):
    """`worksteal`: xdist's WorkStealingScheduling, its steal protocol and crash handling; the first split (as
    `load`'s plan) and each steal (from the worker with the most time left, what balances the two) by recorded
    durations."""

    collection: list[str] | None
    steal_requested_from_node: Any

    def __init__(self, config: pytest.Config, log: Any, durations: Mapping[str, float]) -> None:
        super().__init__(config, log)
        self.durations = durations
        self.seconds: list[float] | None = None
        self.started: dict[Any, float] = {}  # when each worker's running test started (about: its last report)
        self.clock: Callable[[], float] = time.monotonic

    def mark_test_complete(self, node: Any, item_index: int, duration: float | None = None) -> None:
        self.started[node] = self.clock()  # its next test starts now
        super().mark_test_complete(node, item_index, duration)

    def left_s(self, node: Any, seconds: Sequence[float]) -> float:
        """Recorded seconds `node` has left of what it holds (summed here: only when a worker is idle)."""
        pending = self.node2pending[node]
        if not pending:
            return 0.0
        held = sum(seconds[index] for index in pending)
        return left_s(seconds[pending[0]], held, self.started.get(node), self.clock())

    def schedule(self) -> None:
        assert self.collection_is_completed
        if self.collection is not None:
            self.check_schedule()
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        self.collection = next(iter(self.node2collection.values()))
        if not self.collection:
            return
        self.seconds = estimate(self.collection, self.durations)
        nodes = [node for node in self.node2pending if not node.shutting_down]
        dist = self.config.getvalue("dist")
        units = make_units(self.collection, self.seconds, dist)
        for node, share in zip(nodes, plan_shares(units, len(nodes), dist), strict=True):
            indices = [index for unit in share for index in unit.tests]
            if indices:
                self.node2pending[node].extend(indices)
                node.send_runtest_some(indices)
        self.check_schedule()

    def check_schedule(self) -> None:
        """xdist's, with the victim (the most time left) and the share (what balances them) by recorded time."""
        seconds = self.seconds
        if seconds is None:
            super().check_schedule()
            return
        up = [(node, pending) for node, pending in self.node2pending.items() if not node.shutting_down]
        if all(len(pending) >= MIN_PENDING for _, pending in up):
            return
        if self.pending:  # a crashed worker's tests: spread over the idle workers, as xdist does
            idle = [node for node, pending in up if len(pending) < MIN_PENDING]
            for number, node in enumerate(idle):
                self._send_tests(node, len(self.pending) // (len(idle) - number))
            if all(len(pending) >= MIN_PENDING for _, pending in up):
                return
        if self.steal_requested_from_node is not None:
            return
        # The idle worker that is free soonest takes, from the worker with the most time left, while it helps.
        thief_s = min(self.left_s(node, seconds) for node, pending in up if len(pending) < MIN_PENDING)
        left = [(self.left_s(node, seconds), node, pending) for node, pending in up]
        victim_s, victim, pending = max(left, key=lambda entry: entry[0], default=(0.0, None, []))
        stealable = [Unit([index], seconds[index]) for index in pending[MIN_PENDING:]]  # not its next two
        count = take_from_end(stealable, -1, thief_s, victim_s)
        if not count or victim is None:
            for node, pending in up:
                if len(pending) < MIN_PENDING:
                    node.shutdown()
            return
        victim.send_steal(pending[len(pending) - count :])
        self.steal_requested_from_node = victim
