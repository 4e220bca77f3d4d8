"""Suspects, retry verdicts and scheduling guarantees, from hand-made results."""

from __future__ import annotations

from runtests.diagnosis.guarantees import check_guarantees
from runtests.diagnosis.suspects import diagnosed, find_suspects
from runtests.modes import scope_of
from runtests.results import Outcome, PhaseResult, TestResult


def run(
    nodeid: str, worker: str | None, start: float, stop: float, outcome: Outcome = Outcome.PASSED, **kw
) -> TestResult:
    return TestResult(nodeid, "parallel", outcome, worker=worker, start=start, stop=stop, **kw)


def test_suspects_are_tests_on_other_workers_ordered_by_overlap():
    failed = run("api::t", "gw0", 10.0, 11.0, Outcome.FAILED)
    tests = [
        run("before::t", "gw0", 9.0, 10.0),  # same worker: never a suspect
        failed,
        run("short::t", "gw1", 10.1, 10.2),  # 0.1 s overlap
        run("long::t", "gw1", 10.2, 12.0),  # 0.8 s overlap
        run("early::t", "gw2", 8.0, 10.5),  # 0.5 s overlap
        run("after::t", "gw2", 11.5, 12.0),  # no overlap
        run("ended::t", "gw1", 9.0, 10.0),  # ended as it started: no overlap
    ]
    assert find_suspects(tests) == {"api::t": ["long::t", "early::t", "short::t"]}
    assert all(t.suspects == () for t in tests)  # found, not written: the records are values


def test_suspects_are_capped_and_skip_tests_without_times():
    failed = run("f", "gw0", 0.0, 100.0, Outcome.ERROR)
    others = [run(f"o{i}", "gw1", float(i), i + 0.5 + i / 100) for i in range(50)]
    nameless = TestResult("no-times", "parallel", Outcome.PASSED, worker="gw2")
    assert find_suspects([failed, nameless, *others], limit=3) == {"f": ["o49", "o48", "o47"]}


def test_retry_verdicts_and_suspects_on_a_copy_of_the_phase():
    tests = [run("a", "gw0", 0, 1, Outcome.FAILED), run("b", "gw1", 0, 1, Outcome.FAILED), run("c", "gw1", 1, 2)]
    parallel = PhaseResult("parallel", xdist_workers=2, tests=tests)
    retry = PhaseResult("retry", tests=[run("a", None, 2, 3, Outcome.PASSED), run("b", None, 3, 4, Outcome.FAILED)])
    found = diagnosed(parallel, retry)
    assert all(test.retry is None and not test.suspects for test in parallel.tests)  # the given phase is unchanged
    a, b, c = found.tests
    assert a.suspects == ["b"] and b.suspects == ["a"] and c is tests[2]
    # Not replayed: what the retry showed, and no more; never parallel-only (that needs every sequential order).
    assert a.retry is not None and a.retry.verdict == "passed-on-retry" and not a.is_parallel_only
    assert b.retry is not None and b.retry.verdict == "failed-on-retry" and not b.is_parallel_only


def test_scope_of_matches_xdist():
    assert scope_of("tests/test_a.py::TestX::test_y[1]", "loadscope") == "tests/test_a.py::TestX"
    assert scope_of("tests/test_a.py::test_y", "loadscope") == "tests/test_a.py"
    assert scope_of("tests/test_a.py::TestX::test_y", "loadfile") == "tests/test_a.py"


def test_split_group_is_a_broken_guarantee():
    tests = [
        run("t.py::a", "gw0", 0, 1, group="db"),
        run("t.py::b", "gw1", 0, 1, group="db"),
        run("t.py::c", "gw1", 1, 2),
    ]
    problems = check_guarantees([PhaseResult("parallel", xdist_workers=2, dist="loadgroup", exit_code=0, tests=tests)])
    assert len(problems) == 1 and "xdist_group 'db' ran on 2 workers (gw0, gw1)" in problems[0]
    kept = [run("t.py::a", "gw0", 0, 1, group="db"), run("t.py::b", "gw0", 1, 2, group="db")]
    assert check_guarantees([PhaseResult("parallel", xdist_workers=2, dist="loadgroup", exit_code=0, tests=kept)]) == []


def test_split_scope_and_file():
    tests = [run("a.py::T::x", "gw0", 0, 1), run("a.py::T::y", "gw1", 0, 1), run("a.py::z", "gw0", 1, 2)]
    loadscope = check_guarantees([PhaseResult("parallel", xdist_workers=2, dist="loadscope", exit_code=0, tests=tests)])
    assert [p.split(":")[0] for p in loadscope] == ["--dist loadscope"] and "'a.py::T'" in loadscope[0]
    loadfile = check_guarantees([PhaseResult("parallel", xdist_workers=2, dist="loadfile", exit_code=0, tests=tests)])
    assert len(loadfile) == 1 and "file 'a.py'" in loadfile[0]
    assert check_guarantees([PhaseResult("parallel", xdist_workers=2, dist="load", exit_code=0, tests=tests)]) == []


def test_crash_moves_are_not_broken_guarantees():
    tests = [run("a.py::x", "gw0", 0, 1, Outcome.ERROR, crashed=True), run("a.py::y", "gw2", 1, 2)]
    assert check_guarantees([PhaseResult("parallel", xdist_workers=2, dist="loadfile", exit_code=1, tests=tests)]) == []


def test_serial_tests_must_not_overlap_each_other_or_the_parallel_phase():
    parallel = PhaseResult("parallel", xdist_workers=2, dist="load", exit_code=0, tests=[run("p", "gw0", 0, 5)])
    fine = PhaseResult("serial", exit_code=0, tests=[run("s1", None, 6, 7), run("s2", None, 7, 8)])
    assert check_guarantees([parallel, fine]) == []
    overlapping = PhaseResult("serial", exit_code=0, tests=[run("s1", None, 4, 7), run("s2", None, 6.5, 8)])
    problems = check_guarantees([parallel, overlapping])
    assert "serial phase: s2 started before s1 ended" in problems
    assert "serial phase: s1 started before the parallel phase ended" in problems


def test_order_kept_by_the_mode_is_a_guarantee():
    """Under load each worker runs its tests in collection order; under the scoped modes each unit does;
    worksteal keeps none across a steal, and a crash moves tests: neither is checked."""
    collected = ["a.py::t1", "a.py::t2", "b.py::t3", "b.py::t4"]
    backwards = [run("a.py::t2", "gw0", 0, 1), run("a.py::t1", "gw0", 1, 2), run("b.py::t3", "gw1", 0, 1),
                 run("b.py::t4", "gw1", 1, 2)]  # fmt: skip

    def check(dist, tests, **kw):
        phase = PhaseResult("parallel", xdist_workers=2, dist=dist, exit_code=0, tests=tests, collected=collected)
        return check_guarantees([phase])

    (problem,) = check("load", backwards)
    assert problem.startswith("--dist load: a.py::t1 ran after a.py::t2 on gw0, though collected before it")
    assert check("loadfile", backwards) and check("loadscope", backwards)
    assert check("worksteal", backwards) == []
    crashed = [*backwards[:3], run("b.py::t4", "gw1", 1, 2, Outcome.ERROR, crashed=True)]
    assert check("load", crashed) == []
    # Units out of collection order on one worker: kept by no scoped mode of xdist's own (loadscope sorts them).
    units_swapped = [run("b.py::t3", "gw0", 0, 1), run("b.py::t4", "gw0", 1, 2), run("a.py::t1", "gw0", 2, 3),
                     run("a.py::t2", "gw0", 3, 4)]  # fmt: skip
    assert check("loadfile", units_swapped) == []
    assert check("load", units_swapped)


def test_a_unit_holding_most_of_the_time_is_named_with_the_mode_that_spreads_it():
    from runtests.diagnosis.guarantees import starving_unit
    from runtests.results import Outcome, PhaseResult, TestResult

    def timed(nodeid: str, worker: str, start: float, seconds: float) -> TestResult:
        return TestResult(nodeid, "parallel", Outcome.PASSED, seconds, worker, start, start + seconds)

    # One file's six 10 s tests on gw0, 4 s of others on gw1, which then waits 56 s: the events show the wait.
    snapshots = [timed(f"tests/test_snap.py::t{i}", "gw0", 10.0 * i, 10.0) for i in range(6)]
    others = [timed(f"tests/test_a.py::t{i}", "gw1", float(i), 1.0) for i in range(4)]
    phase = PhaseResult("parallel", xdist_workers=2, dist="loadfile", exit_code=0, tests=snapshots + others)
    note = starving_unit(phase)
    assert note is not None
    assert note.startswith("--dist loadfile: file 'tests/test_snap.py' holds 94% of the parallel phase's test time")
    assert "ran on one worker while the others waited 56.00s at the end" in note
    assert "--dist load (or worksteal) would spread them" in note
    # The same share, but the other worker busy to near the end (the seed's 85% busy, a short idle tail): no note.
    busy = [timed("tests/test_a.py::t0", "gw1", 0.0, 5.5), timed("tests/test_b.py::u", "gw1", 6.0, 53.0)]
    assert starving_unit(PhaseResult("parallel", xdist_workers=2, dist="loadfile", tests=snapshots + busy)) is None
    halves = [TestResult(f"tests/test_{name}.py::t{i}", "parallel", Outcome.PASSED, duration_s=1.0)
              for name in ("a", "b") for i in range(3)]  # fmt: skip
    for balanced in (PhaseResult("parallel", xdist_workers=2, dist="load", exit_code=0, tests=snapshots + others),
                     PhaseResult("parallel", xdist_workers=2, dist="loadfile", exit_code=0, tests=halves)):  # fmt: skip
        assert starving_unit(balanced) is None
