"""End to end: recorded durations drive ordering and worker count; the timeline and the time report. No timing
assertions: only which test started first, what was chosen, and what was written."""

from __future__ import annotations

import json

import pytest

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


@pytest.mark.parametrize("dist", ["load", "worksteal", "loadfile", "loadscope"])
def test_longest_first_starts_the_long_tests_first(sample_project, tmp_path, dist):
    project = sample_project(HEAVY_TAIL)
    durations_file = tmp_path / "durations.json"
    durations_file.write_text(json.dumps(durations_for(project)))
    args = ("-n", "2", "--dist", dist, "--durations-file", str(durations_file))
    run = project.run(*args).assert_exit(0)
    tests = sorted(run.report["tests"], key=lambda t: t["start"])
    first_per_worker = {}
    for test in tests:
        first_per_worker.setdefault(test["worker"], test["nodeid"])
    long_first = [nodeid for nodeid in first_per_worker.values() if nodeid.startswith("test_zlong.py")]
    assert long_first, first_per_worker  # a long test opened the run instead of waiting at the end
    if dist in ("load", "worksteal"):  # scoped modes start both modules at once either way
        collection = project.run(*args, "--order", "collection").assert_exit(0)
        first = min(collection.report["tests"], key=lambda t: t["start"])
        assert first["nodeid"].startswith("test_quick.py")


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
    assert [phase["workers"] for phase in second.report["phases"] if phase["ran"]] == [0]
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
    assert "slowest 2 tests:" in run.stdout and "test_zlong.py::test_long" in run.stdout
    assert "parallel phase: workers busy gw0 " in run.stdout and "idle tail" in run.stdout
