"""End to end: recorded durations drive the schedule and the worker count; the timeline and the time report. No timing
assertions: only which test started first, what was chosen, and what was written."""

from __future__ import annotations

import json
import sys
from unittest import mock

import pytest

from runtests.launch import prestart
from tests.helpers import run_command

pytestmark = pytest.mark.e2e

# Long tests collected last, in their own module; quick tests before them.
HEAVY_TAIL = {
    "test_quick.py": "import pytest\n\n@pytest.mark.parametrize('n', range(40))\ndef test_quick(n): pass\n",
    "test_zlong.py": "import time, pytest\n\n"
    "@pytest.mark.parametrize('n', range(2))\ndef test_long(n): time.sleep(0.3)\n",
}


def durations_for(project, long_s: float = 5.0) -> dict[str, float]:
    recorded = {f"test_quick.py::test_quick[{n}]": 0.01 for n in range(40)}
    recorded |= {f"test_zlong.py::test_long[{n}]": long_s for n in range(2)}
    return recorded


def first_per_worker(report: dict) -> dict[str, str]:
    """The node id each worker started first, from the JSON report's start times."""
    firsts: dict[str, str] = {}
    for test in sorted(report["tests"], key=lambda t: t["start"]):
        firsts.setdefault(test["worker"], test["nodeid"])
    return firsts


def test_durations_are_recorded_in_pytests_cache_and_drive_the_worker_count(sample_project):
    suite = "import pytest\n\n@pytest.mark.parametrize('n', range(30))\ndef test(n): pass\n"
    project = sample_project({"test_a.py": suite, "pytest.ini": "[pytest]\n"})
    first = project.run().assert_exit(0)
    assert "-n auto:" not in first.stdout  # no history yet: xdist's own auto
    store = project.path / ".pytest_cache" / "v" / "runtests" / "durations"
    recorded = json.loads(store.read_text())
    assert set(recorded) == set(first.outcomes())
    second = project.run().assert_exit(0)
    assert "-n auto: 1 worker (sequential, one process): recorded durations of 30 tests" in second.stdout
    assert [(p["workers"], p["dist"]) for p in second.report["phases"] if p["ran"]] == [(1, None)]
    explicit = project.run("-n", "2").assert_exit(0)  # an explicit count is always obeyed
    assert explicit.report["phases"][0]["workers"] == 2 and "-n auto:" not in explicit.stdout


def test_trace_slowest_and_busy_shares(sample_project, tmp_path):
    project = sample_project(HEAVY_TAIL | {"test_s.py": "import pytest\n\n@pytest.mark.serial\ndef test_s(): pass\n"})
    trace = tmp_path / "trace.json"
    run = project.run("-n", "2", "--trace", str(trace), "--slowest", "2").assert_exit(0)
    events = json.loads(trace.read_text())["traceEvents"]
    slices = [event for event in events if event["ph"] == "X"]
    assert sorted(event["name"] for event in slices) == sorted(run.outcomes())
    threads = {(e["pid"], e["args"]["name"]) for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    assert threads == {(1, "gw0"), (1, "gw1"), (2, "main")}
    processes = {e["args"]["name"] for e in events if e["name"] == "process_name"}
    assert processes == {"parallel phase (2 workers, load)", "serial phase"}
    assert all(event["dur"] > 0 and event["ts"] >= 0 for event in slices)
    assert "== slowest 2 durations ==" in run.stdout and "test_zlong.py::test_long" in run.stdout
    assert "parallel phase: workers busy gw0 " in run.stdout and "idle tail" in run.stdout


EXIT_FACTS = {
    "conftest.py": """
        import atexit, gc, os, pathlib

        def record_at_exit():  # registered before runtests' handler, so it runs after it
            name = os.environ.get("PYTEST_XDIST_WORKER", "main")
            pathlib.Path(f"exit-{name}-{os.getpid()}").write_text(str(gc.get_freeze_count()))

        atexit.register(record_at_exit)
    """,
    "test_cycle.py": """
        import atexit, os, pathlib, pytest

        class Cycle:
            def __init__(self):
                self.me = self

            def __del__(self):
                pathlib.Path(f"finalized-{os.getpid()}").touch()

        held = []

        def leave_a_cycle():
            pathlib.Path(f"ran-{os.getpid()}").touch()
            if not held:
                held.append(Cycle())
                atexit.register(held.clear)  # runs before runtests' handler: garbage when it collects

        @pytest.mark.parametrize("n", range(4))
        def test_parallel(n):
            leave_a_cycle()

        @pytest.mark.serial
        def test_serial():
            leave_a_cycle()
    """,
}


def test_pytest_processes_collect_then_freeze_at_exit_and_finalize_their_garbage(sample_project):
    """Each pytest process of a run (controller, workers, serial phase) collects at exit, then freezes the heap
    so that Python's shutdown skips its collections; garbage that exists at exit is still finalized."""
    project = sample_project(EXIT_FACTS)
    project.run("-n", "2", "--git-check", "off").assert_exit(0)
    facts = {path.name: path.read_text() for path in project.path.glob("exit-*")}
    assert len(facts) == 4, facts  # the controller, two workers, the serial phase
    assert all(int(count) > 0 for count in facts.values()), facts
    assert pids(project, "finalized-") == pids(project, "ran-") and len(pids(project, "ran-")) >= 2


def pids(project, prefix: str) -> set[str]:
    return {path.name.removeprefix(prefix) for path in project.path.glob(f"{prefix}*")}


def test_plain_pytest_exits_as_before(sample_project):
    """The runtests plugin is registered with pytest (for the marker): outside a run it changes nothing at exit."""
    project = sample_project(EXIT_FACTS)
    project.pytest("-p", "no:cacheprovider").assert_exit(0)
    (fact,) = project.path.glob("exit-main-*")
    assert fact.read_text() == "0"
    assert pids(project, "finalized-") == pids(project, "ran-") and len(pids(project, "ran-")) == 1


def test_ff_runs_the_last_failures_first_under_the_balanced_schedule(sample_project, tmp_path):
    """pytest's --ff moves the last failures to the front of the collection; runtests' scheduler keeps that order,
    so a worker opens with them. Without --ff they run where they are collected."""
    failing = "import pathlib\n\ndef test_flaky():\n    assert not pathlib.Path('fail-now').exists()\n"
    # Collected between the quick tests and the long ones.
    project = sample_project({**HEAVY_TAIL, "test_r_flaky.py": failing, "pytest.ini": "[pytest]\n"})
    durations_file = tmp_path / "durations.json"
    durations_file.write_text(json.dumps(durations_for(project) | {"test_r_flaky.py::test_flaky": 0.01}))
    args = ("-n", "2", "--dist", "load", "--durations-file", str(durations_file), "--git-check", "off")
    (project.path / "fail-now").touch()
    project.run(*args).assert_exit(1)  # pytest's cache now holds the failure
    (project.path / "fail-now").unlink()
    with_ff = project.run(*args, "--ff").assert_exit(0)
    assert with_ff.report["phases"][0]["scheduler"] == "runtests"
    assert "test_r_flaky.py::test_flaky" in first_per_worker(with_ff.report).values()
    without = first_per_worker(project.run(*args).assert_exit(0).report)
    assert "test_r_flaky.py::test_flaky" not in without.values(), without


# The test writes the command line its interpreter was started with.
ORIG_ARGV = {
    "pytest.ini": "[pytest]\naddopts = -p no:cacheprovider\n"
    "filterwarnings = error::pytest.PytestAssertRewriteWarning\n",
    "test_argv.py": """
        import json, sys

        def test_record():
            with open("argv.json", "w") as stream:
                json.dump(sys.orig_argv, stream)
    """,
}


@pytest.mark.parametrize("interpreter_options", [[], ["-O"]], ids=["plain", "-O"])
def test_the_first_phase_is_forked_from_a_plain_start(sample_project, interpreter_options):
    """`python -m runtests` forks its first pytest process (runtests/launch/fork.py): no second interpreter to
    start. Under interpreter options it starts `python prestart.py FD` instead (`python -m pytest` would run without
    them).
    Either way the plugin is rewritten (warnings are errors here)."""
    project = sample_project(ORIG_ARGV)
    argv = [sys.executable, *interpreter_options, "-m", "runtests", "-n", "0", "--git-check", "off"]
    run_command(argv, cwd=project.path, timeout=120).assert_exit(0)
    started = json.loads((project.path / "argv.json").read_text())
    if interpreter_options:
        assert started == [sys.executable, prestart.__file__, mock.ANY], started
    else:
        assert started[1:] == ["-m", "runtests", "-n", "0", "--git-check", "off"], started
