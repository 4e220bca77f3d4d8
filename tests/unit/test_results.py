"""RunSummary arithmetic: folding, counting, pass rate, exit codes."""

from __future__ import annotations

import pytest

from runtests.recorder import Ended, PhaseObserver, PhaseRecorder
from runtests.results import (
    COUNT_KEYS,
    CollectError,
    Outcome,
    PhaseResult,
    TestResult,
    compute_pass_rate,
    count_outcomes,
    fold_reports,
    format_pass_rate,
    make_test_result,
)
from runtests.summary import ExitPolicy, RunSummary


def tally(**counts: int) -> dict[str, int]:
    return {**dict.fromkeys(COUNT_KEYS, 0), **counts}


def rep(when: str, outcome: str, xfail: bool = False, **extra: object) -> dict[str, object]:
    return {"when": when, "outcome": outcome, "xfail": xfail, "duration": 0.1, **extra}


def ok(when: str) -> dict[str, object]:
    return rep(when, "passed")


@pytest.mark.parametrize(
    ("reports", "expected"),
    [
        ([ok("setup"), ok("call"), ok("teardown")], Outcome.PASSED),
        ([ok("setup"), rep("call", "failed"), ok("teardown")], Outcome.FAILED),
        ([rep("setup", "failed"), ok("teardown")], Outcome.ERROR),
        ([ok("setup"), ok("call"), rep("teardown", "failed")], Outcome.ERROR),
        ([ok("setup"), rep("call", "failed"), rep("teardown", "failed")], Outcome.FAILED),
        ([rep("setup", "skipped"), ok("teardown")], Outcome.SKIPPED),
        ([ok("setup"), rep("call", "skipped"), ok("teardown")], Outcome.SKIPPED),
        ([ok("setup"), rep("call", "skipped", xfail=True), ok("teardown")], Outcome.XFAILED),
        ([rep("setup", "skipped", xfail=True), ok("teardown")], Outcome.XFAILED),
        ([ok("setup"), rep("call", "passed", xfail=True), ok("teardown")], Outcome.XPASSED),
        ([ok("setup"), rep("???", "failed")], Outcome.ERROR),  # the xdist worker died mid-test
    ],
)
def test_fold_reports(reports, expected):
    assert fold_reports(reports)[0] is expected


def test_test_result_takes_times_worker_and_failure_text():
    event = {
        "nodeid": "t.py::test",
        "worker": "gw1",
        "location": ["t.py", 3, "test"],
        "reports": [
            {**ok("setup"), "start": 10.0, "stop": 10.1},
            {**rep("call", "failed", longrepr="assert 1 == 2", sections=[["Captured stdout call", "hi\n"]]),
             "start": 10.1, "stop": 10.5},
            {**ok("teardown"), "start": 10.5, "stop": 10.6},
        ],
    }  # fmt: skip
    test = make_test_result(event, "parallel")
    assert test.outcome is Outcome.FAILED
    assert (test.start, test.stop, test.worker, test.phase) == (10.0, 10.6, "gw1", "parallel")
    assert test.duration_s == pytest.approx(0.3)
    assert test.longrepr == "assert 1 == 2"
    assert test.sections == (("Captured stdout call", "hi\n"),)
    assert test.location == ("t.py", 3, "test")


def test_failed_subtest_fails_its_test_but_is_counted_apart():
    event = {
        "nodeid": "t.py::test",
        "reports": [ok("setup"), ok("call"), ok("teardown")],
        "subtests": [
            {"outcome": "passed", "description": "(i=0)"},
            {"outcome": "failed", "description": "(i=1)", "longrepr": "boom"},
        ],
    }
    test = make_test_result(event, "serial")
    assert test.outcome is Outcome.FAILED
    assert test.longrepr == "contains 1 failed subtest"
    summary = RunSummary([PhaseResult("serial", exit_code=1, tests=[test])])
    assert summary.counts()["failed"] == 1
    assert summary.subtest_counts() == {"passed": 1, "failed": 1, "skipped": 0, "xfailed": 0}


def make(outcome: Outcome, phase: str = "parallel") -> TestResult:
    return TestResult(nodeid=f"t.py::{outcome.value}", phase=phase, outcome=outcome)


def counts_of(*outcomes: Outcome) -> dict[str, int]:
    return count_outcomes(make(o) for o in outcomes)


def test_pass_rate_counts_xfail_and_xpass_as_passing_and_ignores_skips():
    counts = counts_of(Outcome.PASSED, Outcome.XFAILED, Outcome.XPASSED, Outcome.SKIPPED, Outcome.FAILED, Outcome.ERROR)
    assert counts == {
        "passed": 1, "failed": 1, "errors": 1, "skipped": 1, "xfailed": 1, "xpassed": 1, "timeout": 0, "not_run": 0
    }  # fmt: skip
    assert compute_pass_rate(counts) == pytest.approx(60.0)
    assert format_pass_rate(counts) == "60.0% (3/5)"


def test_pass_rate_format_matches_the_spec_example():
    counts = tally(passed=858, failed=2)
    assert format_pass_rate(counts) == "99.8% (858/860)"


def test_pass_rate_never_shows_100_with_a_failure_or_0_with_a_pass():
    almost = tally(passed=99999, failed=1)
    assert format_pass_rate(almost) == "99.9% (99999/100000)"
    barely = tally(passed=1, failed=99999)
    assert format_pass_rate(barely) == "0.1% (1/100000)"


@pytest.mark.parametrize("outcomes", [(), (Outcome.SKIPPED, Outcome.SKIPPED)])
def test_no_pass_rate_without_passes_or_failures(outcomes):
    counts = counts_of(*outcomes)
    assert compute_pass_rate(counts) is None
    assert format_pass_rate(counts).startswith("n/a")


def phase(name: str, exit_code: int | None, *outcomes: Outcome, **fields: object) -> PhaseResult:
    """A phase whose pytest began its session (when it ran), as every phase that ran tests or collected none."""
    fields.setdefault("began", exit_code is not None)
    return PhaseResult(name, exit_code=exit_code, tests=[make(o, name) for o in outcomes], **fields)  # type: ignore[arg-type]


def test_exit_code_all_passed_and_empty_phase_is_fine():
    summary = RunSummary([phase("parallel", 0, Outcome.PASSED), phase("serial", 5)])
    assert summary.exit_code() == 0


def test_exit_code_nothing_ran_is_5():
    assert RunSummary([phase("parallel", 5), phase("serial", 5)]).exit_code() == 5
    assert RunSummary([phase("parallel", 5), PhaseResult("serial", skipped_because="x")]).exit_code() == 5


def test_exit_code_all_skipped_is_0_like_pytest():
    assert RunSummary([phase("parallel", 0, Outcome.SKIPPED)]).exit_code() == 0


def test_exit_code_failures_and_min_pass_rate():
    phases = [phase("parallel", 1, *([Outcome.PASSED] * 499), Outcome.FAILED)]
    assert RunSummary(phases, ExitPolicy(min_pass_rate=100.0)).exit_code() == 1
    assert RunSummary(phases, ExitPolicy(min_pass_rate=99.8)).exit_code() == 0
    assert RunSummary(phases, ExitPolicy(min_pass_rate=99.9)).exit_code() == 1


def test_exit_code_collection_error_is_2_whatever_the_phases_say():
    error = CollectError("test_x.py", "ImportError", "parallel")
    errored = phase("parallel", 1, Outcome.PASSED, collect_errors=[error])
    assert RunSummary([errored]).exit_code() == 2


def test_collection_errors_count_once_per_module():
    first = phase("parallel", 1, collect_errors=[CollectError("test_x.py", "boom", "parallel")] * 2)
    second = phase("serial", 2, collect_errors=[CollectError("test_x.py", "boom", "serial")])
    assert [e.nodeid for e in RunSummary([first, second]).collect_errors()] == ["test_x.py"]


def test_exit_code_interrupted_is_2_and_internal_error_is_3():
    assert RunSummary([phase("parallel", 2, Outcome.PASSED, interrupted=True)]).exit_code() == 2
    assert RunSummary([phase("parallel", 3, Outcome.PASSED)]).exit_code() == 3
    assert RunSummary([phase("parallel", 0, Outcome.PASSED, internal_errors=["x"])]).exit_code() == 3
    assert RunSummary([phase("parallel", 4)]).exit_code() == 4


def test_a_nonzero_pytest_exit_is_never_hidden_by_a_green_report():
    # e.g. a coverage plugin failing the session after every test passed
    summary = RunSummary([phase("parallel", 1, Outcome.PASSED)])
    assert summary.exit_code() == 1
    assert summary.unexplained_exit() is not None
    assert RunSummary([phase("serial", -11, Outcome.PASSED)]).exit_code() == 3


def test_worktree_refusal_only_when_tests_otherwise_passed():
    passed = RunSummary([phase("parallel", 0, Outcome.PASSED)], worktree_refusal="dirty")
    assert passed.exit_code() == 6
    failed = RunSummary([phase("parallel", 1, Outcome.FAILED)], worktree_refusal="dirty")
    assert failed.exit_code() == 1
    refused_before = RunSummary([], worktree_refusal="dirty")
    assert refused_before.exit_code() == 6  # not 5: nothing ran because runtests refused


def test_recorder_turns_a_test_lost_with_its_process_into_an_error():
    done = []

    class Observer(PhaseObserver):
        def test_done(self, test):
            done.append(test)

    recorder = PhaseRecorder("serial", Observer())
    recorder.add({"e": "start", "workers": 0, "dist": "no"})
    recorder.add({"e": "begin", "nodeid": "t.py::a"})
    recorder.add({"e": "test", "nodeid": "t.py::a", "reports": [ok("setup"), ok("call"), ok("teardown")]})
    recorder.add({"e": "begin", "nodeid": "t.py::b"})
    assert list(recorder.running) == ["t.py::b"] and recorder.oldest_running() is not None
    result = recorder.finish(Ended(-11))
    assert [t.outcome for t in result.tests] == [Outcome.PASSED, Outcome.ERROR]
    lost = result.tests[1]
    assert lost.nodeid == "t.py::b" and "exit code -11" in (lost.longrepr or "")
    assert done == list(result.tests)  # the observer heard of both, the lost one when the phase closed
    assert recorder.running == {}


def test_recorder_keeps_collection_and_phase_facts():
    held = []
    recorder = PhaseRecorder("parallel", on_held_back=held.append)
    recorder.add({"e": "start", "workers": 2, "dist": "loadfile"})
    recorder.add({"e": "collected", "ids": ["a", "b"]})
    recorder.add({"e": "held_back", "ids": ["c"]})
    recorder.add({"e": "collect_error", "nodeid": "x.py", "longrepr": "E"})
    recorder.add({"e": "finish"})
    result = recorder.finish(Ended(1))
    assert (result.workers, result.dist, result.collected, result.held_back) == (2, "loadfile", ("a", "b"), ("c",))
    assert result.collect_errors == (CollectError("x.py", "E", "parallel"),)
    assert held == [("c",)]


def test_accept_parallel_only_accepts_that_verdict_alone():
    """--accept-parallel-only counts as passed the failures whose replays say parallel-only, and only those: a
    failure that passed alone but was broken by an earlier test, or is flaky, still fails."""
    from runtests.results import VERDICTS, RetryResult, count_outcomes

    tests = [
        TestResult(f"t.py::{verdict}", "parallel", Outcome.FAILED, retry=RetryResult(Outcome.PASSED, None, verdict))
        for verdict in VERDICTS
    ]
    counts = count_outcomes(tests, accept_parallel_only=True)
    assert (counts["passed"], counts["failed"]) == (1, len(VERDICTS) - 1)
    assert [t.nodeid for t in tests if t.is_parallel_only] == ["t.py::parallel-only"]
    # Not replayed (past the five diagnosed, or --replay-budget 0): passing the retry, beside the other failures
    # and without what ran before it, proves nothing; never accepted. (A real suite: 10 such tests were accepted.)
    undiagnosed = TestResult("t.py::x", "parallel", Outcome.FAILED, retry=RetryResult(Outcome.PASSED))
    assert undiagnosed.retry is not None and undiagnosed.retry.verdict == "passed-on-retry"
    assert not undiagnosed.is_parallel_only
    assert count_outcomes([undiagnosed], accept_parallel_only=True)["failed"] == 1


def test_an_xfail_without_a_reason_keeps_pytests_empty_reason_not_its_traceback():
    from runtests.results import make_test_result

    event = {
        "nodeid": "t.py::x",
        "reports": [
            {"when": "call", "outcome": "skipped", "xfail": True, "reason": "", "longrepr": "[gw1] linux -- Python"}
        ],
    }
    assert make_test_result(event, "parallel").reason == ""


def test_leaks_fail_makes_a_passing_run_exit_1_and_warn_does_not():
    from runtests.leaks import Leak
    from runtests.results import PhaseResult

    phase = PhaseResult("parallel", exit_code=0, tests=[TestResult("t.py::t", "parallel", Outcome.PASSED)],
                        leaks=[Leak(42, "sleep 300", "t.py::t", None, "SIGTERM")])  # fmt: skip
    assert RunSummary((phase,), ExitPolicy(leaks_fail=True)).exit_code() == 1
    assert RunSummary((phase,)).exit_code() == 0
    assert RunSummary((phase,)).leaks == [("parallel", phase.leaks[0])]


def test_the_last_line_words_counts_as_pytest_does():
    from runtests.results import Tally

    one = Tally({**tally(passed=21, errors=1)}, reruns=1, deselected=852, warnings=1)
    assert one.describe() == "21 passed, 0 failed, 1 error, 1 rerun, 852 deselected, 1 warning"
    many = Tally({**tally(passed=2, errors=3, not_run=1)}, reruns=2, warnings=3)
    assert many.describe() == "2 passed, 0 failed, 3 errors, 1 not_run, 2 rerun, 3 warnings"


def test_a_collection_error_is_one_error_of_the_run_however_often_it_is_reported():
    error = CollectError("t_broken.py", "ImportError", "parallel")
    parallel = phase("parallel", 1, Outcome.PASSED, Outcome.PASSED, collect_errors=[error, error])  # two workers
    serial = phase("serial", 2, Outcome.PASSED, collect_errors=[CollectError("t_broken.py", "ImportError", "serial")])
    summary = RunSummary([parallel, serial])
    assert summary.tally.counts["errors"] == 1 and summary.tally.pass_rate() == 75.0
    assert (
        summary.phase_tallies["parallel"].counts["errors"] == 1
        and summary.phase_tallies["serial"].counts["errors"] == 0
    )
    assert parallel.tally().counts["errors"] == 1  # the phase's own line: once, not per worker
    assert summary.exit_code() == 2


def test_a_pytest_that_ended_before_its_session_gives_the_runs_exit_code():
    usage = PhaseResult("parallel", exit_code=4)  # no start event: argparse, a plugin's configure
    assert usage.sessionless and RunSummary([usage, PhaseResult("serial", skipped_because="x")]).exit_code() == 4
    broken = PhaseResult("parallel", exit_code=1)
    assert RunSummary([broken]).exit_code() == 1  # pytest's, not "no tests ran"
    assert RunSummary([PhaseResult("parallel", exit_code=-9)]).exit_code() == 3
    interrupted = PhaseResult("parallel", exit_code=2, interrupted=True)
    assert not interrupted.sessionless  # Ctrl-C before the session: interrupted, as ever
    began = phase("parallel", 5)
    assert not began.sessionless and RunSummary([began]).exit_code() == 5
