"""runtests' scheduler: the plan (pure) and the schedule a simulated xdist session gets from it, against xdist's own."""

from __future__ import annotations

import itertools
import random

import pytest
from xdist.scheduler import LoadFileScheduling, LoadScheduling, LoadScopeScheduling, WorkStealingScheduling

from runtests.modes import DIST_MODES, scope_of
from runtests.plugin.scheduler import BalancedScheduling, BalancedWorkStealing, make_scheduler
from runtests.plugin.scheduler.planner import Unit, assign_longest_first, make_units, split_stretches, take_from_end
from tests.unit.schedsim import FakeConfig, Session

XDIST = {"load": LoadScheduling, "loadscope": LoadScopeScheduling, "loadfile": LoadFileScheduling,
         "worksteal": WorkStealingScheduling}  # fmt: skip


def best_stretches(seconds: list[float], parts: int) -> float:
    """The shortest longest stretch, by trying every set of cuts."""
    best = sum(seconds)
    for cuts in itertools.combinations(range(len(seconds) + 1), parts - 1):
        bounds = [0, *cuts, len(seconds)]
        best = min(best, max(sum(seconds[a:b]) for a, b in itertools.pairwise(bounds)))
    return best


@pytest.mark.parametrize("seed", range(40))
def test_stretches_are_contiguous_cover_everything_and_are_optimal(seed):
    rng = random.Random(seed)
    count, parts = rng.randint(1, 9), rng.randint(1, 4)
    seconds = [rng.choice([0.01, 0.1, 1.0, 3.0]) * rng.uniform(0.5, 1.5) for _ in range(count)]
    bounds = split_stretches(seconds, parts)
    assert len(bounds) == parts
    assert bounds[0][0] == 0 and bounds[-1][1] == count
    assert all(start <= stop for start, stop in bounds)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    longest = max(sum(seconds[a:b]) for a, b in bounds)
    assert longest == pytest.approx(best_stretches(seconds, parts), rel=1e-6)


def test_stretches_cut_at_even_shares_when_the_tests_are_small():
    seconds = [0.01] * 1000 + [1.0] * 10  # the long ones collected last
    (a, cut), (cut2, b) = split_stretches(seconds, 2)
    assert (a, cut2, b) == (0, cut, 1010)
    halves = sum(seconds[:cut]), sum(seconds[cut:])
    assert abs(halves[0] - halves[1]) <= 0.01 + 1e-9  # within one small test of equal
    assert split_stretches([1.0, 1.0], 4) == [(0, 1), (1, 2), (2, 2), (2, 2)] or sorted(
        stop - start for start, stop in split_stretches([1.0, 1.0], 4)
    ) == [0, 0, 1, 1]
    assert split_stretches([], 3) == [(0, 0)] * 3
    assert split_stretches([0.0] * 4, 2) == [(0, 2), (2, 4)]  # nothing known but the count: equal counts


def test_longest_first_balances_whole_units_and_keeps_each_workers_in_collection_order():
    units = [Unit([i], s) for i, s in enumerate([1, 8, 2, 7, 3, 6, 4, 5])]
    shares = assign_longest_first(units, 2)
    assert sorted(u.position for share in shares for u in share) == list(range(8))
    assert [sum(u.seconds for u in share) for share in shares] == [18, 18]
    assert all([u.position for u in share] == sorted(u.position for u in share) for share in shares)


def test_units_follow_the_modes_scope():
    collection = ["a.py::t1", "a.py::C::t2", "a.py::C::t3", "b.py::t4@g", "c.py::t5@g", "a.py::t6"]
    seconds = [1.0] * len(collection)
    assert [u.tests for u in make_units(collection, seconds, "load")] == [[i] for i in range(6)]
    assert [u.tests for u in make_units(collection, seconds, "loadfile")] == [[0, 1, 2, 5], [3], [4]]
    assert [u.tests for u in make_units(collection, seconds, "loadscope")] == [[0, 5], [1, 2], [3], [4]]
    assert [u.tests for u in make_units(collection, seconds, "loadgroup")] == [[0], [1], [2], [3, 4], [5]]
    assert scope_of("t.py::test[a@b]", "loadgroup") == "t.py::test[a@b]"  # "@" in parameters: no group


def test_take_from_end_only_past_the_takers_position_and_only_while_it_helps():
    queue = [Unit([i], s) for i, s in [(10, 1.0), (11, 1.0), (12, 1.0), (13, 1.0)]]
    assert take_from_end(queue, after=5, own_s=0.0, owner_s=4.0) == 2  # 2 s each
    assert take_from_end(queue, after=5, own_s=0.0, owner_s=3.0) == 1  # 1 s against 2 s; two would be 2 against 1
    assert take_from_end(queue, after=5, own_s=0.0, owner_s=10.0) == 4
    assert take_from_end(queue, after=12, own_s=0.0, owner_s=10.0) == 1  # 12 and before are behind it
    assert take_from_end(queue, after=13, own_s=0.0, owner_s=10.0) == 0
    assert take_from_end(queue, after=5, own_s=3.0, owner_s=4.0) == 0  # it would finish later than the owner


# --- simulated sessions ------------------------------------------------------------------------------------
def suite(seed: int, modules: int = 12, per_module: int = 10, shape: str = "heavy-tail", noise: float = 0.3):
    """Node ids, recorded durations and actual ones (off by up to 30%): long tests end the last modules."""
    rng = random.Random(seed)
    collection, recorded, actual = [], {}, []
    for module in range(modules):
        for number in range(per_module):
            nodeid = f"test_m{module:02d}.py::test_{number:02d}"
            seconds = rng.uniform(0.005, 0.05)
            if shape == "heavy-tail" and module >= modules - 3 and number == per_module - 1:
                seconds = rng.uniform(1.0, 2.0)
            elif shape == "random":
                seconds = rng.choice([0.01, 0.1, 0.5, 2.0])
            collection.append(nodeid)
            recorded[nodeid] = seconds
            actual.append(seconds * rng.uniform(1 - noise, 1 + noise))
    return collection, recorded, actual


def ours(recorded, session_holder):
    def make(config):
        scheduler = make_scheduler(config, None, recorded)
        scheduler.clock = lambda: session_holder[0].now  # the simulated time
        return scheduler

    return make


def simulate(dist, collection, recorded, actual, workers=2, **kwargs):
    holder: list[Session] = []
    session = Session(ours(recorded, holder), collection, actual, FakeConfig(dist, workers, kwargs.pop("chunk", None)),
                      **kwargs)  # fmt: skip
    holder.append(session)
    return session.run()


def setups(session: Session, collection: list[str]) -> int:
    """Module fixture set-ups: pytest sets a module up again whenever a worker's next test is in another module."""
    count = 0
    for node in session.all_nodes():
        modules = [collection[index].split("::")[0] for index in node.order()]
        count += sum(1 for _ in itertools.groupby(modules))
    return count


@pytest.mark.parametrize("dist", ["load", "loadscope", "loadfile", "loadgroup", "worksteal"])
@pytest.mark.parametrize("shape", ["heavy-tail", "random"])
@pytest.mark.parametrize("workers", [2, 3])
def test_every_test_runs_once_in_the_order_the_mode_keeps(dist, shape, workers):
    collection, recorded, actual = suite(seed=workers, shape=shape)
    session = simulate(dist, collection, recorded, actual, workers=workers)
    assert session.ran() == list(range(len(collection)))
    if dist != "worksteal":  # each worker in collection order; xdist's own worksteal keeps none across a steal
        assert all(node.order() == sorted(node.order()) for node in session.all_nodes())
    scopes = {}
    for node in session.all_nodes():
        for index in node.order():
            scopes.setdefault(scope_of(collection[index], dist), set()).add(node.name)
    if dist in ("loadscope", "loadfile"):
        assert all(len(names) == 1 for names in scopes.values())


@pytest.mark.parametrize("dist", ["load", "loadscope", "loadfile", "worksteal"])
@pytest.mark.parametrize("seed", range(3))
def test_as_fast_as_xdist_and_no_more_module_setups(dist, seed):
    """On a heavy tail (the long tests collected last, the records off by up to 10%), the balanced schedule is at
    least as short as xdist's own in the simulation, and sets modules up no more often."""
    collection, recorded, actual = suite(seed, noise=0.1)
    balanced = simulate(dist, collection, recorded, actual)
    raw = Session(XDIST[dist], collection, actual, FakeConfig(dist, 2)).run()
    assert raw.ran() == balanced.ran()
    if dist == "worksteal":  # both steal at the end; a steal cuts a module anywhere
        assert balanced.makespan <= raw.makespan * 1.05, (balanced.makespan, raw.makespan)
    else:
        assert balanced.makespan <= raw.makespan * 1.02, (balanced.makespan, raw.makespan)
        assert setups(balanced, collection) <= setups(raw, collection)


def test_the_makespan_is_near_the_best_an_order_keeping_schedule_can_do():
    """Equal tests, known exactly: two stretches, finished together."""
    collection = [f"t{i // 10}.py::test_{i}" for i in range(100)]
    recorded = {nodeid: 0.1 for nodeid in collection}
    session = simulate("load", collection, recorded, [0.1] * 100)
    assert session.makespan == pytest.approx(5.0, abs=0.11)
    assert [len(node.ran) for node in session.nodes] == [50, 50]


def test_a_worker_that_runs_dry_takes_from_the_end_of_a_queue_ahead_of_it():
    """The estimates are wrong (the first half is quicker than recorded): the first worker finishes early and takes
    the end of the second's queue, in order; the second never runs anything behind its own."""
    collection = [f"t.py::test_{i:03d}" for i in range(200)]
    recorded = {nodeid: 0.05 for nodeid in collection}
    actual = [0.01] * 100 + [0.05] * 100
    session = simulate("load", collection, recorded, actual)
    first, second = session.nodes
    assert first.order()[:100] == list(range(100)) and len(first.ran) > 100
    assert all(index > 100 for index in first.order()[100:])
    assert first.order() == sorted(first.order()) and second.order() == sorted(second.order())
    assert session.makespan < 100 * 0.05 * 0.75  # raw halves: 5 s on the second worker


@pytest.mark.parametrize("dist", ["load", "loadfile", "worksteal"])
def test_a_crashed_workers_work_goes_to_its_replacement(dist):
    collection, recorded, actual = suite(seed=7)
    session = simulate(dist, collection, recorded, actual, crash=30)
    assert session.ran() == [index for index in range(len(collection)) if index != 30]
    assert session.crashed_item == collection[30]
    replacement = session.nodes[-1]
    assert replacement.name == "gw2" and replacement.ran
    if dist != "worksteal":
        assert all(node.order() == sorted(node.order()) for node in session.all_nodes())


def test_max_sched_chunk_caps_every_send():
    collection = [f"t.py::test_{i:03d}" for i in range(300)]
    recorded = {nodeid: 0.0001 for nodeid in collection}
    session = simulate("load", collection, recorded, [0.0001] * 300, chunk=7)
    assert session.ran() == list(range(300))
    assert max(len(send) for node in session.nodes for send in node.sends) <= 7


def test_workers_with_other_collections_get_nothing_and_the_run_ends():
    collection = [f"t.py::test_{i}" for i in range(10)]
    recorded = dict.fromkeys(collection, 0.1)
    holder: list[Session] = []
    session = Session(ours(recorded, holder), collection, [0.1] * 10, FakeConfig("load", 2))
    holder.append(session)
    session.run(collections=[collection, collection[:-1]])
    assert session.config.collect_reports and "Different tests" not in str(session.config.collect_reports[0])
    assert session.ran() == [] and session.sched.tests_finished


def test_a_crashed_test_sent_back_runs_again():
    """pytest_handlecrashitem may hand a crashed test back (mark_test_pending): a worker runs it."""
    collection = [f"t.py::test_{i}" for i in range(20)]
    recorded = dict.fromkeys(collection, 0.1)
    holder: list[Session] = []
    retry = lambda sched, nodeid: sched.mark_test_pending(nodeid)  # noqa: E731
    session = Session(ours(recorded, holder), collection, [0.1] * 20, FakeConfig("load", 2), crash=15, on_crash=retry)
    holder.append(session)
    session.run()
    assert session.ran() == list(range(20))


def test_every_mode_has_a_scheduler():
    for dist in DIST_MODES:
        scheduler = make_scheduler(FakeConfig(dist, 2), None, {"t.py::t": 1.0})
        assert isinstance(scheduler, BalancedWorkStealing if dist == "worksteal" else BalancedScheduling)
    assert make_scheduler(FakeConfig("each", 2), None, {"t.py::t": 1.0}) is None
