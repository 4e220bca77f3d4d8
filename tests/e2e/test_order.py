"""End to end: runtests' scheduler balances the parallel phase by recorded durations and never changes an order the
xdist mode keeps; raw xdist runs on the same suite inside the test, for the verdicts and the fixture set-ups."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import suites

pytestmark = pytest.mark.e2e

MODULES, TESTS = 12, 10


def reproduction() -> dict[str, str]:
    """benchmarks/suites.py's order-dependent suite, its long tests shorter (0.3 s): quick enough for the suite."""
    return suites.order_suite(modules=MODULES, tests=TESTS, long_s=0.3)


def setups(log: Path) -> int:
    count = len(log.read_text().splitlines()) if log.exists() else 0
    log.unlink(missing_ok=True)
    return count


def per_worker(report: dict) -> dict[str, list[str]]:
    """Each worker's tests in the order they started."""
    workers: dict[str, list[str]] = {}
    for test in sorted(report["tests"], key=lambda t: t["start"]):
        workers.setdefault(test["worker"], []).append(test["nodeid"])
    return workers


@pytest.mark.parametrize("dist", ["load", "loadscope", "loadfile"])
def test_the_reproduction_passes_from_the_second_run_on_with_no_more_setups_than_raw_xdist(
    sample_project, tmp_path, dist
):
    project = sample_project(reproduction())
    log = tmp_path / "setups.log"
    env = {"SETUP_LOG": str(log)}
    first = project.run("-n", "2", "--dist", dist, env=env).assert_exit(0)  # no history: xdist's own scheduler
    assert first.report["phases"][0]["scheduler"] == "xdist"
    store = project.path / ".pytest_cache/v/runtests/durations"
    assert store.is_file()  # recorded for the second run
    recorded = json.loads(store.read_text())
    setups(log)
    collection = [f"test_m{m:02d}.py::test_{n:02d}" for m in range(MODULES) for n in range(TESTS)]
    raw = project.pytest("-n", "2", "--dist", dist, "-p", "no:cacheprovider", env=env).assert_exit(0)
    assert f"{MODULES * TESTS} passed" in raw.stdout
    raw_setups = setups(log)
    second = project.run("-n", "2", "--dist", dist, env=env).assert_exit(0)
    assert second.outcomes() == dict.fromkeys(collection, "passed"), second
    (parallel,) = [phase for phase in second.report["phases"] if phase["ran"]]
    assert parallel["scheduler"] == "runtests", second
    assert second.report["broken_guarantees"] == [], second
    assert "balanced by recorded durations" in second.stdout
    assert setups(log) <= raw_setups, raw_setups
    workers = per_worker(second.report)
    assert all(ids == sorted(ids, key=collection.index) for ids in workers.values()), workers
    long_tests = {f"test_m{m:02d}.py::test_{TESTS - 1:02d}" for m in range(MODULES - 3, MODULES)}
    # Spread: both workers get long tests, when the first run recorded them as the long ones. On a loaded machine
    # a stall can make a short test look long in that run, and the balance is then the recorded one's.
    others = sorted(seconds for nodeid, seconds in recorded.items() if nodeid not in long_tests)
    if min(recorded[nodeid] for nodeid in long_tests) > 3 * others[-1]:
        assert all(any(nodeid in long_tests for nodeid in ids) for ids in workers.values()), workers
    # Always: by the record it balanced on, no worker holds more than half the work plus one test (contiguous
    # stretches in collection order can miss the even split by at most one test).
    held = [sum(recorded.get(nodeid, 0.0) for nodeid in ids) for ids in workers.values()]
    assert max(held) <= sum(held) / 2 + max(recorded.values()) + 1e-9, (held, workers)


# A suite whose long tests sit at the end; durations recorded in a file, so the first run is balanced already.
HEAVY = {
    "test_a.py": "import pytest\n\n@pytest.mark.parametrize('n', range(30))\ndef test_quick(n): pass\n",
    "test_b.py": "import time\n\ndef test_long_1(): time.sleep(0.2)\n\ndef test_long_2(): time.sleep(0.2)\n",
}
HEAVY_DURATIONS = {f"test_a.py::test_quick[{n}]": 0.01 for n in range(30)} | {
    "test_b.py::test_long_1": 3.0,
    "test_b.py::test_long_2": 3.0,
}


@pytest.fixture
def heavy(sample_project, tmp_path):
    durations = tmp_path / "durations.json"
    durations.write_text(json.dumps(HEAVY_DURATIONS))
    return sample_project(HEAVY), ("-n", "2", "--durations-file", str(durations), "--git-check", "off")


@pytest.mark.parametrize("dist", ["load", "worksteal"])
def test_the_long_tests_go_to_different_workers_in_collection_order(heavy, dist):
    project, args = heavy
    run = project.run(*args, "--dist", dist).assert_exit(0)
    assert run.report["phases"][0]["scheduler"] == "runtests"
    workers = per_worker(run.report)
    assert sorted(len([i for i in ids if "long" in i]) for ids in workers.values()) == [1, 1], workers
    collection = list(HEAVY_DURATIONS)
    assert all(ids == sorted(ids, key=collection.index) for ids in workers.values()), workers
    if dist == "load":  # xdist's own with --order collection: no word from runtests, no balancing line
        plain = project.run(*args, "--dist", dist, "--order", "collection").assert_exit(0)
        assert plain.report["phases"][0]["scheduler"] is None and "balanced" not in plain.stdout


def test_a_worker_crash_under_the_balanced_schedule(heavy):
    """The crashed test is an error, its worker is replaced, every other test runs once; --max-worker-restart 0
    stops the phase instead, as xdist does."""
    project, args = heavy
    project.write({"test_b.py": "import os\n\ndef test_long_1(): os._exit(3)\n\ndef test_long_2(): pass\n"})
    project.commit()
    run = project.run(*args).assert_exit(1)
    assert run.report["phases"][0]["scheduler"] == "runtests"
    outcomes = run.outcomes()
    assert outcomes.pop("test_b.py::test_long_1") == "error"
    assert set(outcomes.values()) == {"passed"} and len(outcomes) == 31
    stopped = project.run(*args, "--", "--max-worker-restart", "0").assert_exit(1)
    assert stopped.outcomes()["test_b.py::test_long_1"] == "error"
    assert len(stopped.report["tests"]) == len({test["nodeid"] for test in stopped.report["tests"]})


def test_exitfirst_and_maxschedchunk_under_the_balanced_schedule(heavy):
    project, args = heavy
    project.write({"test_a.py": "import pytest\n\n@pytest.mark.parametrize('n', range(30))\n"
                                "def test_quick(n): assert n != 0\n"})  # fmt: skip
    project.commit()
    run = project.run(*args, "-x").assert_exit(1)
    assert run.outcomes()["test_a.py::test_quick[0]"] == "failed"
    assert len(run.report["tests"]) < 32  # its worker stopped at the failure, as under xdist's own scheduler
    chunked = project.run(*args, "--", "--maxschedchunk", "1").assert_exit(1)
    assert len(chunked.report["tests"]) == 32 and chunked.report["phases"][0]["scheduler"] == "runtests"


def test_workers_that_collect_differently_are_a_collection_error(heavy):
    project, args = heavy
    project.write({"test_c.py": "import os, pytest\n\n@pytest.mark.parametrize('p', [os.getpid()])\n"
                                "def test_pid(p): pass\n"})  # fmt: skip
    project.commit()
    run = project.run(*args).assert_exit(2)
    assert "Different tests were collected" in run.stdout, run
