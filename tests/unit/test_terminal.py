"""The terminal report in-process, on a console that records what it would print."""

from __future__ import annotations

import io

from runtests.gitcheck import Pollution, WorktreeReport, WorktreeState
from runtests.plan import Phase
from runtests.recorder import Running
from runtests.report.console import make_console
from runtests.report.live import TerminalReporter
from runtests.report.terminal import EndSummary
from runtests.results import Outcome, PhaseResult, RetryResult, SubtestResult, TestResult
from runtests.summary import ExitPolicy, RunSummary

LONG_ID = "tests/test_ids.py::test_value[" + "x" * 200 + "]"


def reporter(live: bool = False, color: str = "never", **kw) -> tuple[TerminalReporter, io.StringIO]:
    console = make_console(color, live)
    console.file = out = io.StringIO()
    return TerminalReporter(console, live, **kw), out


def running(*tests: tuple[str, str | None, float]) -> dict[str, Running]:
    """A recorder's table of running tests, from (node id, worker, since)."""
    return {nodeid: Running(worker, since, {}) for nodeid, worker, since in tests}


def result(nodeid: str, outcome: Outcome = Outcome.PASSED, **kw) -> TestResult:
    return TestResult(nodeid, kw.pop("phase", "parallel"), outcome, **kw)


def summary(**kw) -> RunSummary:
    failing = result(LONG_ID, Outcome.FAILED, worker="gw1", longrepr="E   assert 1 == 2", duration_s=1.5,
                   sections=[("Captured stdout call", "hello\n")], suspects=["tests/test_b.py::t"],
                   retry=RetryResult(Outcome.PASSED, diagnosed="parallel-only"))  # fmt: skip
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
    shown, out = reporter(serial_marker="exclusive")
    state = WorktreeState("/r", "abc", "main", (), (), (), {})
    pollution = Pollution(created=("test_x.db",), phases_of={"test_x.db": ["parallel"]})
    shown.show_summary(summary(worktree=WorktreeReport(state, state, pollution), notes=("a note",),
                               broken_guarantees=("a broken promise",)))  # fmt: skip
    lines = out.getvalue().splitlines()
    assert f"__ FAILED {LONG_ID} (parallel phase, gw1) __" in lines  # never wrapped, though over 200 characters
    assert "E   assert 1 == 2" in lines and "hello" in lines
    assert "retried: passed; verdict: parallel-only" in lines
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
    shown.phase_started(phase, {})
    shown.test_done(result("t.py::ok", worker="gw0"))
    shown.test_done(result(LONG_ID, Outcome.ERROR, worker="gw1"))
    shown.phase_finished(PhaseResult("parallel", xdist_workers=2, dist="load", exit_code=1, duration_s=1.25,
                                     tests=[result("t.py::ok"), result(LONG_ID, Outcome.ERROR)]))  # fmt: skip
    shown.phase_skipped("serial", "no selected test carries the 'serial' marker")
    assert out.getvalue().splitlines() == [
        "parallel phase: started (-n 2 --dist load)",
        f"ERROR {LONG_ID} [gw1]",
        "parallel phase: 1 passed, 0 failed, 1 error in 1.25s, 2 workers",
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
    shown.show_summary(RunSummary((PhaseResult("parallel", xdist_workers=2, dist="load", exit_code=5, began=True),)))
    lines = out.getvalue().splitlines()
    assert "Pass rate: n/a (no test passed or failed)" in lines and "no tests ran" in lines


def test_ids_are_printed_as_they_are_markup_and_emoji_codes_included():
    shown, out = reporter(color="always")
    shown.test_done(result("t.py::test_x[:fire:-[bold]]", Outcome.FAILED))
    assert "t.py::test_x[:fire:-[bold]]" in out.getvalue()


def test_warnings_are_summarized_and_counted_as_pytest_does():
    from runtests.results import Warning_

    parallel = PhaseResult("parallel", xdist_workers=2, dist="load", exit_code=0,
                           tests=[result(f"tests/test_w.py::t{i}", worker="gw0") for i in range(12)],
                           warnings=[Warning_("a.py:1: DeprecationWarning: old\n  old()\n", f"tests/test_w.py::t{i}",
                                              "parallel") for i in range(11)])  # fmt: skip
    once = Warning_("b.py:2: UserWarning: once\n", "tests/test_s.py::s", "serial")
    serial = PhaseResult("serial", exit_code=0, tests=[result("tests/test_s.py::s", phase="serial")], warnings=[once])
    shown, out = reporter()
    shown.show_summary(RunSummary((parallel, serial)))
    text = out.getvalue()
    assert "tests/test_w.py: 11 warnings\n  a.py:1: DeprecationWarning: old\n    old()" in text  # 10+: per file
    assert "tests/test_s.py::s\n  b.py:2: UserWarning: once" in text
    assert text.rstrip().splitlines()[-1].startswith("13 passed, 0 failed, 12 warnings in ")
    one, out = reporter()
    one.show_summary(RunSummary((serial,)))
    assert out.getvalue().rstrip().splitlines()[-1].startswith("1 passed, 0 failed, 1 warning in ")


def test_without_w_in_reportchars_no_warnings_summary_but_still_the_count():
    from runtests.results import Warning_

    phase = PhaseResult("serial", exit_code=0, tests=[result("t.py::t", phase="serial")],
                        terminal={"reportchars": "fE"}, warnings=[Warning_("m", "t.py::t", "serial")])  # fmt: skip
    shown, out = reporter()
    shown.show_summary(RunSummary((phase,)))
    assert "warnings summary" not in out.getvalue() and "1 warning in" in out.getvalue()


def test_short_summary_follows_the_reportchars_in_order():
    from runtests.report.failures import short_summary_lines

    tests = [
        result("t.py::bad", Outcome.FAILED, crash_message="assert 1 == 2\nmore"),
        result("t.py::err", Outcome.ERROR, longrepr="E   fixture 'db' not found"),
        result("t.py::s1", Outcome.SKIPPED, reason="Skipped: later", skip_where=("t.py", 4)),
        result("t.py::s2", Outcome.SKIPPED, reason="Skipped: later", skip_where=("t.py", 4)),
        result("t.py::xf", Outcome.XFAILED, reason="known bug"),
        result("t.py::xf_plain", Outcome.XFAILED, reason=""),
        result("t.py::ok"),
    ]
    summary_ = RunSummary((PhaseResult("parallel", exit_code=1, tests=tests),))
    assert short_summary_lines(summary_, "sfEx") == [
        "SKIPPED [2] t.py:4: later",
        "FAILED t.py::bad - assert 1 == 2",
        "ERROR t.py::err - E   fixture 'db' not found",
        "XFAIL t.py::xf - known bug",
        "XFAIL t.py::xf_plain",
    ]
    assert short_summary_lines(summary_, "p") == ["PASSED t.py::ok"]
    assert short_summary_lines(summary_, "") == []


def test_verbose_prints_every_test_with_phase_worker_and_duration():
    shown, out = reporter()
    shown.verbosity = 1
    shown.test_done(result("t.py::a", worker="gw1", duration_s=0.25))
    shown.test_done(result("t.py::b", Outcome.FAILED, phase="serial", duration_s=1.0))
    assert out.getvalue().splitlines() == ["PASSED t.py::a (parallel, gw1, 0.25s)", "FAILED t.py::b (serial, 1.00s)"]
    quiet, out = reporter()
    quiet.test_done(result("t.py::a"))
    assert out.getvalue() == ""


def test_tb_no_drops_the_failure_texts_and_tb_line_keeps_one_line_each():
    failing = result("t.py::bad", Outcome.FAILED, longrepr="def test_bad():\nE  assert 0", crash_path="/p/t.py",
                     crash_line=3, crash_message="assert 0")  # fmt: skip
    for style, present, absent in (("no", "FAILED t.py::bad - assert 0", "def test_bad"),
                                   ("line", "/p/t.py:3: assert 0", "def test_bad")):  # fmt: skip
        phase = PhaseResult("parallel", exit_code=1, tests=[failing], terminal={"tbstyle": style})
        shown, out = reporter()
        shown.show_summary(RunSummary((phase,)))
        assert present in out.getvalue() and absent not in out.getvalue(), out.getvalue()


def test_plugin_summaries_are_shown_once_without_runtests_scratch_lines(tmp_path):
    output = tmp_path / "serial.output.txt"
    before = b"collected 3 items\n...\n"
    summary_text = (b"==== tests coverage ====\nTOTAL   12   2   83%\n"
                    + f"---- generated report log file: {tmp_path}/serial.report_log ----\n".encode())  # fmt: skip
    output.write_bytes(before + summary_text + b"==== 3 passed ====\n")
    phase = PhaseResult("serial", exit_code=0, tests=[result("t.py::t", phase="serial")], output_path=output,
                        summaries=[(len(before), len(before) + len(summary_text))])  # fmt: skip
    report_only = PhaseResult("serial", exit_code=5, report_only=True)
    shown, out = reporter()
    shown.show_summary(RunSummary((phase,)))
    text = out.getvalue()
    assert "==== tests coverage ====\nTOTAL   12   2   83%\n" in text
    assert "generated report log file" not in text and "3 passed ====" not in text
    table = EndSummary.make_table(RunSummary((PhaseResult("parallel", exit_code=0), report_only)))
    assert len(table.rows) == 2  # the parallel phase and the total: a report-only process is not a phase row


def test_the_live_view_shows_each_running_test_its_worker_and_slow():
    from runtests.report.live import LiveLine

    table = running(("t.py::slow", "gw1", 100.0), ("t.py::quick", "gw0", 159.0))
    view = LiveLine("parallel", "-n 2 --dist load", table, slow_s=30.0)
    lines = [line.plain for line in view.running_lines(now=160.0)]
    assert lines == ["      gw0   1.0s t.py::quick", "      gw1  60.0s SLOW t.py::slow"]
    console = make_console("never", live=True)
    console.file, console.width = io.StringIO(), 120
    table[LONG_ID] = Running("gw0", 150.0, {})
    console.print(view)
    drawn = console.file.getvalue().splitlines()
    assert any(line.endswith("SLOW t.py::slow") for line in drawn)
    # A 230-character id at 120 columns: one line, its middle elided, its file and its end kept.
    (line,) = [line for line in drawn if "test_ids.py" in line]
    assert len(line) <= 120 and "…" in line and line.endswith("xxx]") and "tests/test_ids.py::test_value[x" in line
    assert len(drawn) == 4


def test_plain_output_says_still_running_once_per_slow_period():
    shown, out = reporter()
    shown.slow_s = 10.0
    start = 1000.0
    table = running(("t.py::hangs", "gw1", start))
    shown.phase_started(Phase("parallel", "unmarked", 2, "load", ()), table)
    for now in (start + 5, start + 10.5, start + 12, start + 21):
        shown.tick(now)
    assert out.getvalue().splitlines()[1:] == [
        "still running after 10 s: t.py::hangs [gw1]",
        "still running after 20 s: t.py::hangs [gw1]",
    ]
    table.clear()  # the recorder has its report
    shown.test_done(result("t.py::hangs"))
    shown.tick(start + 100)
    assert len(out.getvalue().splitlines()) == 3


def test_leaks_are_named_after_their_phase_and_summed_up_with_the_policy():
    from runtests.leaks import Leak

    leaked = Leak(4711, "sleep 300", "t.py::test_server", None, "SIGTERM")
    phase = PhaseResult("parallel", xdist_workers=2, dist="load", exit_code=0, duration_s=1.0,
                        tests=[result("t.py::test_server")], leaks=[leaked])  # fmt: skip
    shown, out = reporter()
    shown.phase_finished(phase)
    shown.show_summary(RunSummary((phase,), ExitPolicy(leaks_fail=True)))
    text = out.getvalue()
    assert ("LEAK pid 4711 started by t.py::test_server (parallel phase), still running after it, stopped (SIGTERM): "
            "sleep 300") in text  # fmt: skip
    assert (
        "1 process(es) the tests started outlived their phase (--leaks fail: the run fails): t.py::test_server" in text
    )


def test_the_opening_lines_wait_for_pytest_and_a_pytest_that_never_began_is_said_alone(tmp_path, capsys):
    console = make_console("never")
    console.file = out = io.StringIO()
    shown = TerminalReporter(console, live=False, hold=True)
    shown.show_notes(["-n 4 is above the 2 CPUs"])
    shown.show_worktree(WorktreeState("/r", "abc", "main", (), (), (), {}), None, staged_expected=False)
    shown.phase_started(Phase("parallel", "unmarked", 2, "load", ()), {})
    assert out.getvalue() == ""  # held: pytest may yet stop with a usage error
    output = tmp_path / "out.txt"
    output.write_text("ERROR: usage: python -m pytest [options]\npytest: error: unrecognized arguments: --dsit\n")
    usage = PhaseResult("parallel", exit_code=4, output_path=output)
    shown.phase_finished(usage)
    shown.show_summary(RunSummary((usage,)))
    assert out.getvalue() == ""  # nothing of runtests' own
    assert capsys.readouterr().err == output.read_text()  # pytest's error, byte for byte, where pytest writes it

    shown, out = reporter()
    shown.held = []
    shown.show_notes(["a note"])
    shown.phase_started(Phase("parallel", "unmarked", 2, "load", ()), {})
    shown.phase_began({}, None, True)
    assert out.getvalue().splitlines() == ["note: a note", "parallel phase: started (-n 2 --dist load)"]


def test_a_plugin_that_failed_to_configure_is_the_headline(tmp_path):
    from runtests.report.failures import error_line

    text = ('  File "engine.py", line 294, in start\n    raise DistCovError(\n'
            "pytest_cov.DistCovError: Detected dynamic_context=test_function\n"
            "It is recommended to use --cov-context.\n")  # fmt: skip
    assert error_line(text) == "pytest_cov.DistCovError: Detected dynamic_context=test_function"
    assert error_line("just a line\n") == "just a line"
