"""The pytest plugin under pytester, with and without xdist: selection, the events it writes, and their folding."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from runtests import events
from runtests.recorder import Ended, PhaseRecorder
from runtests.results import Outcome, PhaseResult

MIXED = """
import pytest

@pytest.fixture
def broken_setup():
    raise RuntimeError("setup broke")

@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown broke")
def test_pass(): pass
def test_fail(): assert 0, "plain failure"
def test_setup_error(broken_setup): pass
def test_teardown_error(broken_teardown): pass
def test_skip(): pytest.skip("skipped inside")
@pytest.mark.skip(reason="skipped by mark")
def test_skip_mark(): pass
@pytest.mark.xfail(reason="known bug")
def test_xfail(): assert 0
@pytest.mark.xfail(reason="maybe fixed")
def test_xpass(): pass
@pytest.mark.parametrize("n", [1, 2])
def test_param(n): pass
@pytest.mark.serial
def test_serial_function(): pass
@pytest.mark.serial
class TestSerialClass:
    def test_in_class(self): pass
class TestPlain:
    def test_plain_method(self): pass
"""
SERIAL_MODULE = """
import pytest
pytestmark = pytest.mark.serial
def test_module_marked(): pass
"""
UNMARKED_OUTCOMES = {
    "test_mixed.py::test_pass": Outcome.PASSED,
    "test_mixed.py::test_fail": Outcome.FAILED,
    "test_mixed.py::test_setup_error": Outcome.ERROR,
    "test_mixed.py::test_teardown_error": Outcome.ERROR,
    "test_mixed.py::test_skip": Outcome.SKIPPED,
    "test_mixed.py::test_skip_mark": Outcome.SKIPPED,
    "test_mixed.py::test_xfail": Outcome.XFAILED,
    "test_mixed.py::test_xpass": Outcome.XPASSED,
    "test_mixed.py::test_param[1]": Outcome.PASSED,
    "test_mixed.py::test_param[2]": Outcome.PASSED,
    "test_mixed.py::TestPlain::test_plain_method": Outcome.PASSED,
}
MARKED_IDS = {
    "test_mixed.py::test_serial_function",
    "test_mixed.py::TestSerialClass::test_in_class",
    "test_serial_module.py::test_module_marked",
}

PLUGIN_ARGS = ("-p", "runtests.plugin", "-p", "no:cacheprovider", "--runtests-phase=parallel")


def run_plugin(
    pytester: pytest.Pytester, *args: str, select: str = "unmarked", marker: str = "serial"
) -> tuple[pytest.RunResult, list[dict[str, Any]]]:
    """Run pytest with the plugin in a subprocess; every line of the events file must decode."""
    path = pytester.path / "events.jsonl"
    path.unlink(missing_ok=True)
    options = (f"--runtests-events={path}", f"--runtests-select={select}", f"--runtests-marker={marker}")
    result = pytester.runpytest_subprocess(*PLUGIN_ARGS, *options, *args, timeout=120)
    lines = path.read_text(encoding="utf-8").splitlines()
    decoded = [events.decode(line) for line in lines]
    assert None not in decoded, lines
    return result, [event for event in decoded if event is not None]


def of_kind(all_events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [event for event in all_events if event["e"] == kind]


def only(all_events: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = of_kind(all_events, kind)
    assert len(found) == 1, (kind, all_events)
    return found[0]


def assert_held_back(all_events: list[dict[str, Any]], expected: set[str], workers: int) -> None:
    """Sequential pytest says it once; under xdist gw0 says it early, and the first worker to shut down once more
    (in case gw0's early word was lost)."""
    held = of_kind(all_events, "held_back")
    assert len(held) == (2 if workers else 1), held
    for event in held:
        assert sorted(event["ids"]) == sorted(expected)


def record(all_events: list[dict[str, Any]], exit_code: int) -> PhaseResult:
    recorder = PhaseRecorder("parallel")
    for event in all_events:
        recorder.add(event)
    return recorder.finish(Ended(exit_code))


def xdist_args(workers: int) -> tuple[str, ...]:
    return ("-n", str(workers)) if workers else ()


@pytest.mark.parametrize("workers", [0, 2], ids=["sequential", "xdist"])
def test_unmarked_phase(pytester: pytest.Pytester, workers: int) -> None:
    pytester.makepyfile(test_mixed=MIXED, test_serial_module=SERIAL_MODULE)
    result, got = run_plugin(pytester, *xdist_args(workers))

    start = only(got, "start")
    assert (start["v"], start["phase"], start["workers"]) == (events.WIRE_VERSION, "parallel", workers)
    assert got[0] is start and got[-1] == {"e": "finish", "exitstatus": 1}
    assert result.ret == 1
    assert sorted(only(got, "collected")["ids"]) == sorted(UNMARKED_OUTCOMES)
    assert_held_back(got, MARKED_IDS, workers)

    tests = of_kind(got, "test")
    assert Counter(test["nodeid"] for test in tests) == Counter(UNMARKED_OUTCOMES.keys())  # each exactly once
    assert Counter(begin["nodeid"] for begin in of_kind(got, "begin")) == Counter(UNMARKED_OUTCOMES.keys())
    assert {test.get("worker") for test in tests} == ({"gw0", "gw1"} if workers else {None})
    assert not any(test.get("unfinished") for test in tests)
    teardown_error = next(test for test in tests if test["nodeid"].endswith("test_teardown_error"))
    steps = [(report["when"], report["outcome"]) for report in teardown_error["reports"]]
    assert steps == [("setup", "passed"), ("call", "passed"), ("teardown", "failed")]
    assert "teardown broke" in teardown_error["reports"][-1]["longrepr"]

    phase = record(got, result.ret)
    assert len(phase.tests) == len(UNMARKED_OUTCOMES)
    assert {test.nodeid: test.outcome for test in phase.tests} == UNMARKED_OUTCOMES
    assert (phase.xdist_workers, phase.workers, phase.ended) == (workers, workers or 1, True)
    assert phase.held_back is not None
    pytest_counts = result.parseoutcomes()
    # Under xdist the workers deselect, and the controller's summary line does not count them.
    assert pytest_counts.pop("deselected", 0) == (0 if workers else len(MARKED_IDS))
    assert pytest_counts == {"passed": 5, "failed": 1, "errors": 2, "skipped": 2, "xfailed": 1, "xpassed": 1}
    counts = phase.counts()
    # pytest counts test_teardown_error as passed and as an error; runtests folds it into one error.
    assert counts["passed"] == pytest_counts["passed"] - 1
    for key in ("failed", "errors", "skipped", "xfailed", "xpassed"):
        assert counts[key] == pytest_counts[key], key
    assert counts["timeout"] == counts["not_run"] == 0


@pytest.mark.parametrize("workers", [0, 2], ids=["sequential", "xdist"])
def test_marked_phase_keeps_only_serial_tests(pytester: pytest.Pytester, workers: int) -> None:
    pytester.makepyfile(test_mixed=MIXED, test_serial_module=SERIAL_MODULE)
    result, got = run_plugin(pytester, *xdist_args(workers), select="marked")
    assert result.ret == 0
    result.assert_outcomes(passed=3, deselected=0 if workers else len(UNMARKED_OUTCOMES))
    assert sorted(only(got, "collected")["ids"]) == sorted(MARKED_IDS)
    assert_held_back(got, set(UNMARKED_OUTCOMES), workers)
    assert sorted(test["nodeid"] for test in of_kind(got, "test")) == sorted(MARKED_IDS)
    assert only(got, "finish")["exitstatus"] == 0
    assert {test.outcome for test in record(got, 0).tests} == {Outcome.PASSED}


@pytest.mark.parametrize("workers", [0, 2], ids=["sequential", "xdist"])
def test_collection_error(pytester: pytest.Pytester, workers: int) -> None:
    pytester.makepyfile(
        test_broken="import no_such_module_for_runtests\ndef test_never(): pass\n",
        test_fine="def test_fine(): pass\n",
    )
    result, got = run_plugin(pytester, *xdist_args(workers))
    assert result.ret in (1, 2)
    errors = of_kind(got, "collect_error")
    assert errors, got
    assert {error["nodeid"] for error in errors} == {"test_broken.py"}  # once per worker under xdist
    assert all("no_such_module_for_runtests" in error["longrepr"] for error in errors)
    assert only(got, "finish")["exitstatus"] == result.ret
    assert "test_broken.py::test_never" not in {test["nodeid"] for test in of_kind(got, "test")}
    phase = record(got, result.ret)
    assert [error.nodeid for error in phase.collect_errors] == [error["nodeid"] for error in errors]


def test_worker_crash_is_reported_and_the_rest_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_crash="""
        import os, pytest
        def test_crash(): os._exit(1)
        @pytest.mark.parametrize("n", range(6))
        def test_other(n): pass
        """
    )
    result, got = run_plugin(pytester, "-n", "2")
    assert result.ret == 1
    tests = of_kind(got, "test")
    others = {f"test_crash.py::test_other[{n}]" for n in range(6)}
    assert Counter(test["nodeid"] for test in tests) == Counter({"test_crash.py::test_crash", *others})
    crashed = next(test for test in tests if test["nodeid"] == "test_crash.py::test_crash")
    assert "???" in [report["when"] for report in crashed["reports"]]
    assert crashed["worker"] in ("gw0", "gw1")
    assert only(got, "finish")["exitstatus"] == 1

    phase = record(got, result.ret)
    assert len(phase.tests) == 1 + len(others)
    outcomes = {test.nodeid: test for test in phase.tests}
    assert outcomes["test_crash.py::test_crash"].outcome is Outcome.ERROR
    assert outcomes["test_crash.py::test_crash"].crashed
    assert "crashed" in (outcomes["test_crash.py::test_crash"].longrepr or "")
    assert {outcomes[nodeid].outcome for nodeid in others} == {Outcome.PASSED}


def test_plugin_registers_the_marker_for_strict_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_strict="import pytest\n@pytest.mark.serial\ndef test_serial(): pass\ndef test_plain(): pass\n"
    )
    without = pytester.runpytest_subprocess("-p", "no:runtests.plugin", "--strict-markers", timeout=120)
    assert without.ret != 0, "control: without the plugin the marker is unknown"
    without.stdout.fnmatch_lines(["*'serial' not found in `markers`*"])

    result, got = run_plugin(pytester, "--strict-markers", "-n", "2", select="marked")
    assert result.ret == 0
    result.assert_outcomes(passed=1)
    assert [test["nodeid"] for test in of_kind(got, "test")] == ["test_strict.py::test_serial"]


def test_custom_marker_name(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_custom="""
        import pytest
        @pytest.mark.exclusive
        def test_exclusive(): pass
        @pytest.mark.serial
        def test_serial_but_not_the_marker(): pass
        @pytest.mark.exclusive
        class TestExclusive:
            def test_method(self): pass
        """
    )
    result, got = run_plugin(pytester, "--strict-markers", marker="exclusive")
    assert result.ret == 0
    assert [test["nodeid"] for test in of_kind(got, "test")] == ["test_custom.py::test_serial_but_not_the_marker"]
    assert_held_back(got, {"test_custom.py::TestExclusive::test_method", "test_custom.py::test_exclusive"}, 0)


class AtexitRegistry:
    """Stands in for the atexit module: what would run at exit."""

    def __init__(self) -> None:
        self.handlers: list[Any] = []

    def register(self, handler: Any) -> None:
        self.handlers.append(handler)

    def unregister(self, handler: Any) -> None:
        self.handlers = [known for known in self.handlers if known is not handler]


def test_the_exit_collection_is_registered_once_per_process(pytester: pytest.Pytester, monkeypatch) -> None:
    from runtests import plugin

    registry = AtexitRegistry()
    monkeypatch.setattr(plugin, "atexit", registry)
    pytester.makepyfile(test_a="def test_a(): pass\n")
    events_option = f"--runtests-events={pytester.path / 'events.jsonl'}"
    for _ in range(2):  # pytest configured twice in one process
        pytester.runpytest_inprocess(*PLUGIN_ARGS, events_option).assert_outcomes(passed=1)
    assert registry.handlers == [plugin.collect_then_freeze]
    pytester.runpytest_inprocess(*PLUGIN_ARGS).assert_outcomes(passed=1)  # not under runtests: nothing more
    assert registry.handlers == [plugin.collect_then_freeze]
