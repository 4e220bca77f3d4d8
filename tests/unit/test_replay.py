"""Diagnosis by replay, the pure part (runtests.diagnosis.replay): verdicts and culprits from replay outcomes, with a
model of the test standing in for the pytest processes."""

from __future__ import annotations

import itertools
import math

import pytest

from runtests.diagnosis.replay import Budget, diagnose, minimize, replays_for
from runtests.results import Outcome

PREDECESSORS = [f"t{i}" for i in range(25)]


def model(fails: callable):  # type: ignore[valid-type]
    calls: list[list[str]] = []

    def run(before):
        calls.append(list(before))
        return (Outcome.FAILED if fails(list(before)) else Outcome.PASSED), 0.1

    return run, calls


def budget(replays: int = 100) -> Budget:
    return Budget(replays, float("inf"))


@pytest.mark.parametrize("culprit", ["t0", "t7", "t24"])
def test_minimize_finds_one_culprit_in_about_two_log2_n_replays(culprit):
    tried = []

    def reproduces(subset):
        tried.append(subset)
        return culprit in subset

    assert minimize(PREDECESSORS, reproduces) == [culprit]
    assert len(tried) <= 2 * math.ceil(math.log2(len(PREDECESSORS)))


def test_minimize_keeps_a_pair_that_only_works_together_and_the_order():
    found = minimize(PREDECESSORS, lambda subset: "t3" in subset and "t19" in subset)
    assert found == ["t3", "t19"]


def test_a_state_setter_makes_it_depends_on_earlier_with_the_setter_as_culprit():
    run, calls = model(lambda before: "t2" not in before)  # fails unless t2 ran first
    diagnosis = diagnose(["t5"], PREDECESSORS, run, budget())
    assert diagnosis is not None
    assert (diagnosis.verdict, diagnosis.culprits, diagnosis.where) == (
        "depends-on-earlier",
        ("t2",),
        "collection order",
    )
    kinds = [replay.kind for replay in diagnosis.replays]
    assert kinds[:3] == ["alone", "alone-again", "collection-order"] and kinds[-1] == "confirm"
    assert len(calls) <= replays_for(len(PREDECESSORS))


def test_a_polluter_on_its_worker_makes_it_broken_by_earlier():
    worker_before = ["t1", "t4", "t9", "t13", "t20"]
    run, _ = model(lambda before: "t9" in before)
    diagnosis = diagnose(worker_before, PREDECESSORS, run, budget(), worker="gw1")
    assert diagnosis is not None
    assert (diagnosis.verdict, diagnosis.culprits, diagnosis.where) == ("broken-by-earlier", ("t9",), "gw1")
    assert diagnosis.outcome is Outcome.PASSED


def test_passing_every_sequential_replay_is_parallel_only_and_failing_every_one_is_fails_alone():
    run, _ = model(lambda before: False)
    diagnosis = diagnose(["t1"], PREDECESSORS, run, budget())
    assert diagnosis is not None and (diagnosis.verdict, diagnosis.culprits) == ("parallel-only", ())
    assert [r.kind for r in diagnosis.replays] == ["alone", "alone-again", "worker-order", "collection-order"]
    run, _ = model(lambda before: True)
    diagnosis = diagnose(["t1"], PREDECESSORS, run, budget())
    assert diagnosis is not None and diagnosis.verdict == "fails-alone"


def test_identical_replays_that_disagree_are_flaky():
    outcomes = itertools.cycle([Outcome.PASSED, Outcome.FAILED])
    diagnosis = diagnose([], PREDECESSORS, lambda before: (next(outcomes), 0.1), budget())
    assert diagnosis is not None and diagnosis.verdict == "flaky"
    # A culprit that does not hold up when its replay is repeated: flaky too.
    answers = iter([Outcome.PASSED, Outcome.PASSED, Outcome.FAILED] + [Outcome.FAILED] * 40)
    run_once = [True]

    def run(before):
        if before == ["t0"] and not run_once[0]:
            return Outcome.PASSED, 0.1
        if before == ["t0"]:
            run_once[0] = False
        return next(answers), 0.1

    diagnosis = diagnose(["t0", "t1"], ["t0", "t1"], run, budget())
    assert diagnosis is not None and diagnosis.verdict == "flaky"


def test_the_retry_phases_outcome_serves_as_the_first_alone_replay():
    run, calls = model(lambda before: "t2" not in before)
    diagnosis = diagnose([], PREDECESSORS, run, budget(), first_alone=Outcome.FAILED)
    assert diagnosis is not None and diagnosis.verdict == "depends-on-earlier"
    assert calls[0] == []  # alone-again: one process, not two
    assert diagnosis.replays[0].kind == "alone" and diagnosis.replays[1].kind == "alone-again"


def test_out_of_budget_the_verdict_is_what_the_replays_showed_and_incomplete():
    run, calls = model(lambda before: "t2" not in before)
    diagnosis = diagnose([], PREDECESSORS, run, budget(replays=5))
    assert diagnosis is not None and diagnosis.verdict == "depends-on-earlier" and not diagnosis.complete
    assert "t2" in diagnosis.culprits and len(diagnosis.culprits) < len(PREDECESSORS)
    assert len(calls) == 5
    assert diagnose([], PREDECESSORS, run, budget(replays=0)) is None
    ticks = iter([0.0, 0.0, 99.0, 99.0])
    timed = Budget(100, 10.0, clock=lambda: next(ticks))
    run, calls = model(lambda before: True)
    late = diagnose([], PREDECESSORS, run, timed)
    assert late is not None and late.verdict == "fails-alone" and not late.complete and len(calls) == 2


def test_a_parallel_only_failure_is_replayed_beside_its_suspects_who_become_culprits_when_it_fails_again():
    run, _ = model(lambda before: False)
    besides = []

    def beside(suspects):
        besides.append(list(suspects))
        return Outcome.FAILED, 0.5

    diagnosis = diagnose([], [], run, budget(), suspects=["s.py::reset"], run_beside=beside)
    assert diagnosis is not None
    assert (diagnosis.verdict, diagnosis.culprits, diagnosis.where) == ("parallel-only", ("s.py::reset",), "beside")
    assert besides == [["s.py::reset"]] and diagnosis.replays[-1].kind == "beside-suspects"
    calm = diagnose([], [], run, budget(), suspects=["s.py::reset"], run_beside=lambda s: (Outcome.PASSED, 0.5))
    assert calm is not None and (calm.verdict, calm.culprits) == ("parallel-only", ())


def test_the_replay_budget_is_bounded_by_the_runs_own_size():
    from runtests.diagnosis.replay import REPLAY_FLOOR_S, budget_s

    assert budget_s(None, 8.4) == REPLAY_FLOOR_S  # a small run still gets a few replays per failure
    assert budget_s(None, 300.0) == 300.0  # a long one: at most as long again
    assert budget_s(0, 300.0) == 0 and budget_s(7.5, 300.0) == 7.5  # as given


def test_what_was_left_undiagnosed_is_said_in_one_line():
    from runtests.diagnosis.replay import describe_undiagnosed
    from runtests.results import Outcome, RetryResult, TestResult

    retries = [RetryResult(Outcome.PASSED, diagnosed="parallel-only")] + [RetryResult(Outcome.PASSED)] * 4
    tests = [TestResult(f"t.py::t{i}", "parallel", Outcome.FAILED, retry=retry) for i, retry in enumerate(retries)]
    (line,) = describe_undiagnosed(tests, None, 8.4)
    assert line == (
        "diagnosis: 4 of 5 retried failures left undiagnosed, their verdict only what the retry showed (t.py::t1, "
        "t.py::t2, t.py::t3 and 1 more): replays stop after 5 failures or 20s (the parallel phase's time, at least "
        "20s; --replay-budget S for more)"
    )
    assert "--replay-budget 0: none was replayed" in describe_undiagnosed(tests, 0, 8.4)[0]
    assert describe_undiagnosed(tests[:1], None, 8.4) == []
