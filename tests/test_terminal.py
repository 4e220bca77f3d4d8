"""The terminal report in-process, on a console that records what it would print."""

from __future__ import annotations

import io

from runtests.gitcheck import Pollution, WorktreeReport, WorktreeState
from runtests.plan import Phase
from runtests.report.terminal import TerminalReporter, make_console
from runtests.results import Outcome, PhaseResult, RetryResult, RunSummary, SubtestResult, TestResult

LONG_ID = "tests/test_ids.py::test_value[" + "x" * 200 + "]"


def reporter(live: bool = False, color: str = "never") -> tuple[TerminalReporter, io.StringIO]:
    console = make_console(color, live)
    console.file = out = io.StringIO()
    return TerminalReporter(console, live), out


def result(nodeid: str, outcome: Outcome = Outcome.PASSED, **kw) -> TestResult:
    return TestResult(nodeid, kw.pop("phase", "parallel"), outcome, **kw)


def summary(**kw) -> RunSummary:
    failing = result(LONG_ID, Outcome.FAILED, worker="gw1", longrepr="E   assert 1 == 2", duration_s=1.5,
                   sections=[("Captured stdout call", "hello\n")], suspects=["tests/test_b.py::t"],
                   retry=RetryResult(Outcome.PASSED))  # fmt: skip
    parallel = PhaseResult("parallel", xdist_workers=2, dist="load", exit_code=1, duration_s=2.0,
                           scheduler="runtests", tests=[failing, result("tests/test_b.py::t", worker="gw0", start=0.0,
                                                                       stop=1.0, duration_s=1.0)])  # fmt: skip
    serial = PhaseResult(
        "serial",
        exit_code=0,
        duration_s=0.5,
        tests=[result("tests/test_s.py::t", phase="serial", subtests=[SubtestResult("passed", "a")])],
    )
    return RunSummary((parallel, serial), **{"duration_s": 2.6, **kw})


def test_the_summary_shows_failures_table_diagnosis_and_pass_rate():
    shown, out = reporter()
    state = WorktreeState("/r", "abc", "main", (), (), (), {})
    pollution = Pollution(created=("test_x.db",), phases_of={"test_x.db": ["parallel"]})
    shown.show_summary(summary(worktree=WorktreeReport(state, state, pollution), notes=("a note",),
                               broken_guarantees=("a broken promise",), serial_marker="exclusive"))  # fmt: skip
    lines = out.getvalue().splitlines()
    assert f"__ FAILED {LONG_ID} (parallel phase, gw1) __" in lines  # never wrapped, though over 200 characters
    assert "E   assert 1 == 2" in lines and "hello" in lines
    assert "retried alone: passed, passes alone: parallel-only" in lines
    assert any(line.startswith("parallel   2 (load)") for line in lines)  # the table: the JSON's `workers`
    assert any(line.startswith("serial     1 ") for line in lines)
    assert "subtests: 1 passed" in lines
    assert any("balanced by recorded durations; workers busy" in line for line in lines)
    assert "git: the tests created 1 file(s): test_x.db (parallel phase)" in lines
    assert "warning: broken guarantee: a broken promise" in lines
    assert "        @pytest.mark.exclusive                # on the test or its class" in lines
    assert "note: a note" in lines
    assert lines[-2:] == ["Pass rate: 66.7% (2/3)", "2 passed, 1 failed in 2.60s"]


def test_plain_lines_as_the_run_goes():
    shown, out = reporter()
    phase = Phase("parallel", "unmarked", 2, "load", ())
    shown.phase_started(phase)
    shown.test_done(result("t.py::ok", worker="gw0"))
    shown.test_done(result(LONG_ID, Outcome.ERROR, worker="gw1"))
    shown.phase_finished(PhaseResult("parallel", xdist_workers=2, dist="load", exit_code=1, duration_s=1.25,
                                     tests=[result("t.py::ok"), result(LONG_ID, Outcome.ERROR)]))  # fmt: skip
    shown.phase_skipped("serial", "no selected test carries the 'serial' marker")
    assert out.getvalue().splitlines() == [
        "parallel phase: started (-n 2 --dist load)",
        f"ERROR {LONG_ID} [gw1]",
        "parallel phase: 1 passed, 0 failed, 1 errors in 1.25s, 2 workers",
        "serial phase: skipped, no selected test carries the 'serial' marker",
    ]


def test_the_work_tree_before_the_run():
    shown, out = reporter()
    shown.show_worktree(WorktreeState("/r", None, None, ("a",), ("b", "c"), (), {}), None, staged_expected=True)
    shown.show_worktree(None, "cannot check the work tree: not a repository", staged_expected=False)
    shown.show_worktree(WorktreeState("/r", "abc", "main", (), (), (), {}), None, staged_expected=False)
    assert out.getvalue().splitlines() == [
        "git: the repository has no commit yet (unborn HEAD)",
        "git: 1 staged (expected under pre-commit): a",
        "git: 2 unstaged: b, c",
        "git: cannot check the work tree: not a repository",
        "git: work tree clean",
    ]


def test_nothing_ran_reads_n_a_and_says_so():
    shown, out = reporter()
    shown.show_summary(RunSummary((PhaseResult("parallel", xdist_workers=2, dist="load", exit_code=5),)))
    lines = out.getvalue().splitlines()
    assert "Pass rate: n/a (no test passed or failed)" in lines and "no tests ran" in lines


def test_ids_are_printed_as_they_are_markup_and_emoji_codes_included():
    shown, out = reporter(color="always")
    shown.test_done(result("t.py::test_x[:fire:-[bold]]", Outcome.FAILED))
    assert "t.py::test_x[:fire:-[bold]]" in out.getvalue()
