"""runtests' scheduler for `worksteal`, as xdist calls it: xdist's own, planned and stealing by recorded time."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
from xdist.scheduler import WorkStealingScheduling

from runtests.plugin.scheduler.planner import MIN_PENDING, Unit, left_s, open_schedule, take_from_end


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
        """Recorded seconds `node` has left of what it holds, by the one rule (planner.left_s). Summed from its
        pending tests, not kept as they change as BalancedScheduling keeps them: xdist's steal protocol changes
        these lists itself, and this runs only when a worker is idle."""
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
        nodes = [node for node in self.node2pending if not node.shutting_down]
        opening = open_schedule(self, self.durations, self.config.getvalue("dist"), len(nodes))
        if opening is None:
            return
        self.collection, self.seconds = opening.collection, opening.seconds
        if not self.collection:
            return
        for node, share in zip(nodes, opening.shares, strict=True):
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
