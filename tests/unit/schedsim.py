"""A simulated xdist session for runtests' scheduler: the controller's calls, workers that run their queues.

The workers behave as xdist's (xdist/remote.py): each runs the tests it was sent in the order it got them, and
starts one only once it holds the next one or was told to shut down; `steal` removes tests from its queue only
when all of them are still queued. Time is simulated: each test takes its `actual` seconds, messages arrive at once.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

SHUTDOWN = object()


class FakeConfig:
    """What the schedulers read of pytest's config under `-n WORKERS --dist DIST`."""

    def __init__(self, dist: str, workers: int, maxschedchunk: int | None = None) -> None:
        self.values = {"dist": dist, "tx": [f"{workers}*popen"], "maxschedchunk": maxschedchunk}
        self.collect_reports: list[Any] = []
        self.hook = self
        self.option = self
        self.loadscopereorder = True  # xdist's default

    def getvalue(self, name: str) -> Any:
        return self.values[name]

    def getoption(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def pytest_collectreport(self, report: Any) -> None:
        self.collect_reports.append(report)


@dataclasses.dataclass(eq=False)
class FakeNode:
    """A worker: what the controller sent it, what it ran, when."""

    name: str
    session: Session
    queue: deque[Any] = dataclasses.field(default_factory=deque)
    ran: list[tuple[int, float, float]] = dataclasses.field(default_factory=list)  # (index, start, stop)
    running: int | None = None
    sends: list[list[int]] = dataclasses.field(default_factory=list)
    shutdown_sent: bool = False
    crashed: bool = False

    @property
    def gateway(self) -> Any:
        return self

    @property
    def id(self) -> str:
        return self.name

    @property
    def shutting_down(self) -> bool:
        return self.shutdown_sent or self.crashed

    def send_runtest_some(self, indices: Sequence[int]) -> None:
        assert not self.shutting_down, f"{self.name}: tests sent after shutdown"
        self.sends.append(list(indices))
        self.queue.extend(indices)

    def shutdown(self) -> None:
        if not self.shutdown_sent:
            self.shutdown_sent = True
            self.queue.append(SHUTDOWN)

    def send_steal(self, indices: Sequence[int]) -> None:
        wanted = set(indices)
        queued = [index for index in self.queue if index in wanted]
        stolen = queued if len(queued) == len(wanted) else []
        if stolen:
            self.queue = deque(index for index in self.queue if index not in wanted)
        self.session.later.append(lambda: self.session.sched.remove_pending_tests_from_node(self, stolen))

    def order(self) -> list[int]:
        return [index for index, _, _ in self.ran]


class Session:
    """Drives a scheduler as xdist's DSession does, to the end; the test `crash` kills its worker."""

    def __init__(
        self,
        make: Callable[[FakeConfig], Any],
        collection: Sequence[str],
        actual: Sequence[float],
        config: FakeConfig,
        crash: int | None = None,  # the index of the test that kills its worker
        on_crash: Callable[[Any, str], None] | None = None,  # as pytest_handlecrashitem: (scheduler, the test)
    ) -> None:
        self.on_crash = on_crash
        self.config = config
        self.sched = make(config)
        self.collection = list(collection)
        self.actual = list(actual)
        self.crash = crash
        self.later: list[Callable[[], None]] = []
        self.now = 0.0
        self.finishing: list[tuple[float, int, FakeNode]] = []  # (stop time, sequence, node)
        self.sequence = 0
        workers = len(config.getvalue("tx")) and int(config.getvalue("tx")[0].split("*")[0])
        self.nodes = [FakeNode(f"gw{number}", self) for number in range(workers)]
        self.dead: list[FakeNode] = []
        self.spawned = len(self.nodes)
        self.shutting = False

    def run(self, collections: Sequence[Sequence[str]] | None = None, limit_s: float = 1e6) -> Session:
        for node in self.nodes:
            self.sched.add_node(node)
        for node, collection in zip(self.nodes, collections or [self.collection] * len(self.nodes), strict=True):
            self.sched.add_node_collection(node, list(collection))
        self.sched.schedule()
        self.settle()
        while self.finishing:
            stop, _, node = heapq.heappop(self.finishing)
            assert stop < limit_s, "the simulated session did not end"
            self.now = stop
            index, node.running = node.running, None
            assert index is not None
            if self.crash == index:
                self.crash_node(node)
            else:
                node.ran[-1] = (index, node.ran[-1][1], stop)
                self.sched.mark_test_complete(node, index, self.actual[index])
            self.settle()
        return self

    def crash_node(self, node: FakeNode) -> None:
        """As DSession.worker_errordown: the scheduler hears of it, a replacement worker comes up and collects."""
        node.crashed = True
        node.ran.pop()
        crashitem = self.sched.remove_node(node)
        assert self.crash is not None and crashitem == self.collection[self.crash], crashitem
        self.crashed_item, self.crash = crashitem, None  # run again, it passes
        if self.on_crash is not None:
            self.on_crash(self.sched, crashitem)
        self.nodes.remove(node)
        self.dead.append(node)
        clone = FakeNode(f"gw{self.spawned}", self)
        self.spawned += 1
        self.nodes.append(clone)
        self.sched.add_node(clone)
        self.sched.add_node_collection(clone, self.collection)
        self.sched.schedule()

    def settle(self) -> None:
        """Deliver what is in flight, start what can start, shut everything down when the scheduler is done."""
        while True:
            while self.later:
                self.later.pop(0)()
            if self.sched.tests_finished and not self.shutting:
                self.shutting = True
                for node in self.sched.nodes:
                    node.shutdown()
            started = False
            for node in self.nodes:
                if node.running is None and node.queue and node.queue[0] is not SHUTDOWN and len(node.queue) > 1:
                    index = node.queue.popleft()
                    node.running = index
                    node.ran.append((index, self.now, self.now))
                    self.sequence += 1
                    heapq.heappush(self.finishing, (self.now + self.actual[index], self.sequence, node))
                    started = True
            if not started and not self.later:
                return

    @property
    def makespan(self) -> float:
        return max((stop for node in self.all_nodes() for _, _, stop in node.ran), default=0.0)

    def all_nodes(self) -> list[FakeNode]:
        return [*self.dead, *self.nodes]

    def ran(self) -> list[int]:
        return sorted(index for node in self.all_nodes() for index in node.order())
