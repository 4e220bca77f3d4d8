"""End to end: diagnosis by replay names the test a parallel failure depends on or is broken by, verified in
fresh sequential processes. One synthetic project holds a case per verdict (the demo's race, parallel-only, is
test_faults' case):

- a state-setter on another worker: test_a_setup.py's first test switches on a process-wide flag, 24 short tests
  follow; test_b_uses.py asserts the flag. Under loadfile -n 2 they run on different workers;
- a polluter earlier on the same worker: test_c_env.py's first test leaves an environment variable behind; its
  last test asserts it is unset;
- a flake: test_d_flaky.py fails on every other run, counted in a file outside the project.

Sequential pytest passes the first case and fails the second (the polluter runs first there too).
"""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.e2e

SETTER = "test_a_setup.py::test_switches_the_cache_on"
NEEDY = "test_b_uses.py::test_the_cache_is_on"
POLLUTER = "test_c_env.py::test_legacy_mode"
VICTIM = "test_c_env.py::test_default_mode"
FLAKE = "test_d_flaky.py::test_sometimes"

ORDER_DEPENDENT = {
    "settings.py": "cache_enabled = False\n",
    "test_a_setup.py": """
        import settings


        def test_switches_the_cache_on():
            settings.cache_enabled = True
    """
    + "".join(f"\n\n        def test_short_{i}():\n            assert {i} >= 0\n" for i in range(24)),
    "test_b_uses.py": """
        import settings


        def test_the_cache_is_on():
            assert settings.cache_enabled, "the cache should be on"
    """,
    "test_c_env.py": """
        import os


        def test_legacy_mode():
            os.environ["APP_MODE"] = "legacy"


        def test_parse():
            assert int("3") == 3


        def test_format():
            assert f"{3:02d}" == "03"


        def test_default_mode():
            assert "APP_MODE" not in os.environ, os.environ.get("APP_MODE")
    """,
    "test_d_flaky.py": """
        import os
        import pathlib


        def test_sometimes():
            counter = pathlib.Path(os.environ["FLAKE_COUNTER"])
            runs = int(counter.read_text()) + 1 if counter.exists() else 1
            counter.write_text(str(runs))
            assert runs % 2 == 0, f"run {runs} fails"
    """,
}


def test_each_verdict_and_its_culprit(sample_project, tmp_path):
    project = sample_project(ORDER_DEPENDENT)
    env = {"FLAKE_COUNTER": str(tmp_path / "flake-counter")}
    run = project.run("-n", "2", "--dist", "loadfile", "--retry-serially", env=env).assert_exit(1)
    tests = {test["nodeid"]: test for test in run.report["tests"]}
    assert {nodeid for nodeid, t in tests.items() if t["outcome"] == "failed"} == {NEEDY, VICTIM, FLAKE}, run
    assert tests[NEEDY]["worker"] != tests[SETTER]["worker"]  # the sample must make its point

    needy = tests[NEEDY]["retry"]
    assert (needy["verdict"], needy["culprits"], needy["outcome"]) == ("depends-on-earlier", [SETTER], "failed")
    victim = tests[VICTIM]["retry"]
    assert (victim["verdict"], victim["culprits"], victim["outcome"]) == ("broken-by-earlier", [POLLUTER], "passed")
    assert victim["where"] == tests[VICTIM]["worker"]
    flake = tests[FLAKE]["retry"]
    assert flake["verdict"] == "flaky" and flake["culprits"] == []
    for retry in (needy, victim, flake):
        assert retry["complete"] and retry["replays"][0]["kind"] == "alone"
        assert retry["replays"][-1]["kind"] in ("confirm", "alone-again")
    retries = run.report["retries"]
    assert retries["verdicts"] == {"fails-alone": 0, "depends-on-earlier": 1, "broken-by-earlier": 1,
                                   "parallel-only": 0, "flaky": 1, "passed-on-retry": 0,
                                   "failed-on-retry": 0}  # fmt: skip
    assert retries["replays"] == sum(len(r["replays"]) for r in (needy, victim, flake))
    # The replays are bounded: about log2 of the candidates each.
    assert len(needy["replays"]) <= 5 + 2 * 5

    out = run.stdout
    setter_worker = tests[SETTER]["worker"]
    assert f"{NEEDY} depends on {SETTER} (ran on {setter_worker}; it fails without it)" in out, run
    assert f"{VICTIM} is broken by {POLLUTER}, which ran before it on {tests[VICTIM]['worker']}" in out
    assert "give each a fixture that sets up what it needs" in out
    assert "leaves process state behind" in out and "reset it in a fixture" in out
    assert "not an order problem" in out
    assert "diagnosis by replay: " in out and f"{retries['replays']} replays in " in out
    assert "parallel-only failures" not in out  # no verdict advises the serial marker here


def test_sequential_pytest_agrees_with_the_verdicts(sample_project, tmp_path):
    """The state-setter runs first in collection order, so sequential pytest passes the needy test; the polluter
    too, so it fails the victim: depends-on-earlier is a parallel-only symptom, broken-by-earlier a real bug."""
    project = sample_project(ORDER_DEPENDENT)
    plain = project.pytest("-p", "no:xdist", "-q", env={"FLAKE_COUNTER": str(tmp_path / "c")})
    assert f"FAILED {VICTIM}" in plain.stdout and NEEDY not in plain.stdout.split("short test summary")[-1]


def test_diagnose_one_test_without_a_run(sample_project, tmp_path):
    """`runtests diagnose NODEID` replays one test against the suite's collection order."""
    project = sample_project(ORDER_DEPENDENT)
    env = {"FLAKE_COUNTER": str(tmp_path / "c")}
    needy = project.run("diagnose", NEEDY, report=False, env=env).assert_exit(1)
    assert f"depends-on-earlier: {NEEDY} depends on {SETTER} (it fails without it)" in needy.stdout, needy
    assert re.search(r"^\d+ replays in [\d.]+s$", needy.stdout, re.M)
    fine = project.run("diagnose", "test_c_env.py::test_parse", report=False, env=env).assert_exit(0)
    assert "no order dependence shows" in fine.stdout
    missing = project.run("diagnose", "test_nope.py::test_x", report=False, env=env).assert_exit(4)
    assert missing.stderr.startswith("runtests: error: test_nope.py::test_x: not a collected test")


def test_the_retry_and_replays_import_only_the_modules_of_their_tests(sample_project, tmp_path):
    """A listed phase collects the files of its listed tests, not the whole suite: on a suite that takes long to
    import, a replay costs its tests' time only."""
    marker = tmp_path / "imported-by-a-listed-phase"
    project = sample_project(
        {
            "test_fails.py": "def test_real_bug():\n    assert 1 + 1 == 3\n",
            "test_z_heavy.py": f"""
                import sys

                if any(arg.startswith("--runtests-phase=re") for arg in sys.argv):  # the retry, a replay
                    with open({str(marker)!r}, "a") as seen:
                        seen.write(" ".join(sys.argv) + "\\n")

                def test_fine():
                    pass
            """,
        }
    )
    run = project.run("-n", "2", "--retry-serially").assert_exit(1)
    (failed,) = [t for t in run.report["tests"] if t["outcome"] == "failed"]
    assert failed["retry"]["verdict"] == "fails-alone" and len(failed["retry"]["replays"]) == 2
    assert not marker.exists(), marker.read_text()
