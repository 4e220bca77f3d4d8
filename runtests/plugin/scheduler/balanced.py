"""runtests' scheduler for `load` and the scoped modes, as xdist calls it: each worker's planned units sent a
little ahead of it, in collection order (runtests.plugin.scheduler.planner plans them)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
from xdist.scheduler import LoadScheduling

from runtests.plugin.scheduler.planner import LEAD_S, MIN_PENDING, Unit, left_s, open_schedule, take_from_end


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
        nodes = self.ready_nodes()
        opening = open_schedule(self.xdist, self.durations, self.dist, len(nodes))
        if opening is None:
            return
        self.collection = self.xdist.collection = opening.collection
        self.seconds = opening.seconds
        if not self.collection:
            return
        for node, share in zip(nodes, opening.shares, strict=True):
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
