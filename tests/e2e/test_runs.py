"""End to end: the real runtests command on sample projects, real pytest and xdist processes, real git."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import junitparser
import pytest

from tests.helpers import REPO_ROOT, git, run_command

pytestmark = pytest.mark.e2e

DEMO = REPO_ROOT / "examples" / "token_usage"
DIST_MODES = ["load", "loadscope", "loadfile", "loadgroup", "worksteal"]

# Every outcome pytest knows, a subtest, a class and a module marker, a teardown error, a setup error.
MIXED_SUITE = {
    "test_outcomes.py": """
        import pytest

        @pytest.fixture
        def broken_setup():
            raise RuntimeError("setup broke")

        @pytest.fixture
        def broken_teardown():
            yield
            raise RuntimeError("teardown broke")

        def test_pass(): pass
        def test_fail(): assert 1 == 2, "one is not two"
        def test_skip(): pytest.skip("not today")
        @pytest.mark.xfail(reason="known bug", strict=False)
        def test_xfail(): assert False
        @pytest.mark.xfail(reason="fixed meanwhile", strict=False)
        def test_xpass(): pass
        def test_setup_error(broken_setup): pass
        def test_teardown_error(broken_teardown): pass
        @pytest.mark.parametrize("n", range(5))
        def test_param(n): assert n < 4
        def test_subtests(subtests):
            for i in range(3):
                with subtests.test(i=i):
                    assert i < 3
    """,
    "test_serial_things.py": """
        import pytest

        @pytest.mark.serial
        def test_serial_pass(): pass

        @pytest.mark.serial
        def test_serial_fail(): assert False

        @pytest.mark.serial
        class TestMarkedClass:
            def test_a(self): pass
            def test_b(self): pytest.skip("skipped in class")
    """,
    "test_module_marked.py": """
        import pytest
        pytestmark = pytest.mark.serial

        def test_one(): pass
        @pytest.mark.xfail(strict=True)
        def test_two(): assert False
    """,
}
MIXED_EXPECTED = {
    "passed": 9, "failed": 3, "errors": 2, "skipped": 2, "xfailed": 2, "xpassed": 1, "timeout": 0, "not_run": 0
}  # fmt: skip
MIXED_SERIAL_IDS = {
    "test_serial_things.py::test_serial_pass",
    "test_serial_things.py::test_serial_fail",
    "test_serial_things.py::TestMarkedClass::test_a",
    "test_serial_things.py::TestMarkedClass::test_b",
    "test_module_marked.py::test_one",
    "test_module_marked.py::test_two",
}


def pytest_counts(cwd: Path, *args: str) -> dict[str, int]:
    """What plain sequential pytest says, from its summary line (only to compare against)."""
    done = run_command([sys.executable, "-m", "pytest", "-p", "no:xdist", "-q", *args], cwd=cwd)
    summary = done.stdout.strip().splitlines()[-1]
    counts = {key: 0 for key in MIXED_EXPECTED}
    for number, word in re.findall(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)\b", summary):
        counts["errors" if word.startswith("error") else word] = int(number)
    return counts


def test_demo_passes_with_serial_phase(tmp_path):
    demo = tmp_path / "demo"
    shutil.copytree(DEMO, demo, ignore=shutil.ignore_patterns("*.db", "__pycache__"))
    git(demo, "init", "-q")
    report = tmp_path / "demo.json"
    done = run_command(
        [sys.executable, "-m", "runtests", "-C", str(demo), "-n", "2", "--json-report", str(report)],
        cwd=REPO_ROOT,
        report_path=report,
    ).assert_exit(0)
    assert "Pass rate: 100.0% (37/37)" in done.stdout
    assert re.search(r"parallel phase: 31 passed, 0 failed", done.stdout)
    assert re.search(r"serial phase: 6 passed, 0 failed", done.stdout)
    # The demo's singleton leaves its database behind: that is reported as test pollution, never removed.
    assert "created 1 file(s): test_token_usage.db (parallel and serial phases)" in done.stdout
    assert (demo / "test_token_usage.db").exists()


@pytest.mark.parametrize("dist", DIST_MODES)
def test_token_usage_race_passes_in_every_dist_mode_and_fails_all_parallel(tmp_path, dist):
    demo = tmp_path / "demo"
    shutil.copytree(DEMO, demo, ignore=shutil.ignore_patterns("*.db", "__pycache__"))
    common = [sys.executable, "-m", "runtests", "-C", str(demo), "-n", "2", "--dist", dist, "--git-check", "off"]
    done = run_command(common, cwd=REPO_ROOT).assert_exit(0)
    assert "Pass rate: 100.0% (37/37)" in done.stdout
    if dist not in ("load", "loadfile"):  # all-parallel in two modes is enough; test_faults.py goes further
        return
    # The same suite with the marker ignored: the API tests race the monitoring tests' table resets.
    done = run_command([*common, "--serial-marker", "none-such"], cwd=REPO_ROOT).assert_exit(1)
    assert re.search(r"FAILED test_api\.py::", done.stdout)
    assert "serial phase: skipped, no selected test carries the 'none-such' marker" in done.stdout


def test_totals_equal_sequential_pytest_and_phases_split_by_marker(sample_project):
    project = sample_project(MIXED_SUITE)
    expected = pytest_counts(project.path)
    # The fold is one verdict per test, pytest prints teardown errors beside the test's pass: 1 error more.
    expected["passed"] -= 1
    assert expected == MIXED_EXPECTED
    for dist in ("load", "worksteal", "loadscope"):
        run = project.run("-n", "2", "--dist", dist).assert_exit(1)
        report = run.report
        assert report["totals"] == MIXED_EXPECTED, run
        phases = {phase["name"]: phase for phase in report["phases"]}
        assert phases["parallel"]["workers"] == 2 and phases["parallel"]["dist"] == dist
        # One number for one thing: `workers` is what the terminal's table shows, 1 for the sequential phase.
        assert (phases["serial"]["workers"], phases["serial"]["dist"]) == (1, None)
        assert re.search(rf"^parallel +2 \({dist}\) ", run.stdout, re.M) and re.search(r"^serial +1 ", run.stdout, re.M)
        serial_ids = {test["nodeid"] for test in report["tests"] if test["phase"] == "serial"}
        assert serial_ids == MIXED_SERIAL_IDS
        parallel = [test for test in report["tests"] if test["phase"] == "parallel"]
        assert {test["worker"] for test in parallel} <= {"gw0", "gw1"}
        assert len({test["nodeid"] for test in report["tests"]}) == len(report["tests"]) == 19
        assert report["subtests"]["passed"] == 3
        assert report["pass_rate"] == pytest.approx(100 * 12 / 17, abs=1e-3)
        assert "Pass rate: 70.6% (12/17)" in run.stdout
        # Serial tests never overlap a parallel one: the serial phase starts after the last parallel stop.
        assert max(t["stop"] for t in parallel) <= min(t["start"] for t in report["tests"] if t["phase"] == "serial")


def test_failure_details_are_pytests_own_text(sample_project):
    project = sample_project(
        {"test_x.py": "def test_fail():\n    print('captured words')\n    assert 1 == 2, 'one is not two'\n"}
    )
    run = project.run("-n", "2").assert_exit(1)
    assert "FAILED test_x.py::test_fail" in run.stdout
    assert "AssertionError: one is not two" in run.stdout
    assert "captured words" in run.stdout
    assert run.report["tests"][0]["longrepr"].count("one is not two") >= 1


def test_no_serial_tests_skips_the_serial_process(sample_project):
    project = sample_project({"test_a.py": "def test_a(): pass\ndef test_b(): pass\n"})
    run = project.run("-n", "2").assert_exit(0)
    assert "serial phase: skipped, no selected test carries the 'serial' marker" in run.stdout
    phases = {phase["name"]: phase for phase in run.report["phases"]}
    assert phases["serial"]["ran"] is False and phases["serial"]["exit_code"] is None
    assert run.report["pass_rate"] == 100.0


def test_only_serial_tests_gives_an_empty_parallel_phase(sample_project):
    project = sample_project({"test_a.py": "import pytest\npytestmark = pytest.mark.serial\ndef test_a(): pass\n"})
    run = project.run("-n", "2").assert_exit(0)
    phases = {phase["name"]: phase for phase in run.report["phases"]}
    assert phases["parallel"]["exit_code"] == 5  # empty, not failed
    assert phases["serial"]["counts"]["passed"] == 1


def test_nothing_selected_exits_5_with_no_pass_rate(sample_project):
    project = sample_project({"test_a.py": "def test_a(): pass\n"})
    run = project.run("-n", "2", "-k", "no_such_test").assert_exit(5)
    assert "no tests ran" in run.stdout
    assert "Pass rate: n/a" in run.stdout
    assert run.report["pass_rate"] is None and run.report["exit_code"] == 5


def test_user_args_reach_both_phases_and_m_composes_with_the_phase_filter(sample_project):
    project = sample_project(
        {
            "test_a.py": """
                import pytest
                @pytest.mark.slow
                def test_slow(): pass
                def test_fast(): pass
                @pytest.mark.serial
                def test_serial_fast(): pass
                @pytest.mark.serial
                @pytest.mark.slow
                def test_serial_slow(): pass
            """,
            "pytest.ini": "[pytest]\naddopts = -p no:cacheprovider -m 'not slow'\nmarkers = slow: slow\n",
        }
    )
    run = project.run("-n", "2").assert_exit(0)
    assert set(run.outcomes()) == {"test_a.py::test_fast", "test_a.py::test_serial_fast"}
    run = project.run("-n", "2", "-k", "serial", "-m", "slow").assert_exit(0)
    assert run.outcomes() == {"test_a.py::test_serial_slow": "passed"}


def test_dirty_tree_is_reported_and_never_modified(sample_project):
    project = sample_project({"test_a.py": "def test_a(): pass\n", "notes.txt": "v1\n"})
    (project.path / "notes.txt").write_text("v2, uncommitted\n")
    (project.path / "scratch.txt").write_text("untracked\n")
    status = project.status()
    run = project.run("-n", "2").assert_exit(0)
    assert "git: 1 unstaged: notes.txt" in run.stdout
    assert "git: 1 untracked: scratch.txt" in run.stdout
    assert project.status() == status
    assert (project.path / "notes.txt").read_text() == "v2, uncommitted\n"
    assert run.report["git"]["before"]["unstaged"] == ["notes.txt"]

    junit = project.path.parent / "refused.xml"
    refused = project.run("-n", "2", "--git-check", "require-clean", "--junitxml", str(junit)).assert_exit(6)
    assert "require-clean" in refused.stderr and "notes.txt" in refused.stderr
    assert "Traceback" not in refused.output
    assert project.status() == status
    # The reports a CI step collects exist all the same: nothing ran, and why.
    report = refused.report
    assert (report["exit_code"], report["phases"], report["tests"], report["pass_rate"]) == (6, [], [], None)
    assert "require-clean" in report["git"]["problem"] and "notes.txt" in report["git"]["problem"]
    assert sum(suite.tests for suite in junitparser.JUnitXml.fromfile(str(junit))) == 0


def test_files_the_tests_leave_behind_are_listed(sample_project):
    project = sample_project(
        {
            "test_a.py": """
                from pathlib import Path
                def test_writes(): Path("leftover.db").write_text("x")
                def test_edits(): Path("data.txt").write_text("edited")
            """,
            "data.txt": "original\n",
        }
    )
    run = project.run("-n", "2").assert_exit(0)
    assert "the tests created 1 file(s): leftover.db (parallel phase)" in run.stdout
    assert "the tests changed 1 file(s): data.txt (parallel phase)" in run.stdout
    assert run.report["git"]["changed_by_tests"] == {
        "created": ["leftover.db"],
        "changed": ["data.txt"],
        "deleted": [],
        "ignored": [],
        "phases": {"leftover.db": ["parallel"], "data.txt": ["parallel"]},
    }
    (project.path / "leftover.db").unlink()
    run_command(["git", "checkout", "data.txt"], cwd=project.path).assert_exit(0)
    strict = project.run("-n", "2", "--git-check", "require-clean").assert_exit(6)
    assert "the tests left 2 changed path(s)" in strict.stdout


def test_not_a_git_repository_is_a_note_or_a_refusal(tmp_path):
    (tmp_path / "test_a.py").write_text("def test_a(): pass\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    base = [sys.executable, "-m", "runtests", "-n", "2"]
    env = {"GIT_CEILING_DIRECTORIES": str(tmp_path.parent)}
    done = run_command(base, cwd=tmp_path, env=env).assert_exit(0)
    assert "is not inside a git repository" in done.stdout
    done = run_command([*base, "--git-check", "require-clean"], cwd=tmp_path, env=env).assert_exit(6)
    assert done.stderr.strip().count("\n") == 0 and "not inside a git repository" in done.stderr


def test_collection_error_exits_2_and_names_the_module(sample_project):
    project = sample_project({"test_ok.py": "def test_ok(): pass\n", "test_broken.py": "import no_such_module\n"})
    run = project.run("-n", "2").assert_exit(2)
    assert "ERROR collecting test_broken.py" in run.stdout
    assert "No module named 'no_such_module'" in run.stdout
    assert [error["nodeid"] for error in run.report["collect_errors"]] == ["test_broken.py"]


def test_exitfirst_skips_the_serial_phase_and_says_so(sample_project):
    project = sample_project(
        {"test_a.py": "import pytest\ndef test_fail(): assert False\n@pytest.mark.serial\ndef test_s(): pass\n"}
    )
    run = project.run("-n", "2", "-x").assert_exit(1)
    assert "serial phase: skipped, -x/--maxfail: the parallel phase had a failure" in run.stdout


def test_strict_markers_suite_and_custom_marker_name(sample_project):
    project = sample_project(
        {
            "test_a.py": "import pytest\n@pytest.mark.exclusive\ndef test_x(): pass\ndef test_y(): pass\n",
            "pyproject.toml": "[tool.runtests]\nserial_marker = 'exclusive'\nworkers = 2\n",
        }
    )
    run = project.run().assert_exit(0)
    assert {test["nodeid"]: test["phase"] for test in run.report["tests"]} == {
        "test_a.py::test_x": "serial",
        "test_a.py::test_y": "parallel",
    }


def test_bad_config_key_is_a_usage_error_naming_file_and_key(sample_project):
    project = sample_project({"test_a.py": "def test_a(): pass\n", "pyproject.toml": "[tool.runtests]\nworkerz = 2\n"})
    run = project.run().assert_exit(4)
    assert "pyproject.toml: unknown key tool.runtests.workerz" in run.stderr
    assert "Traceback" not in run.output


def test_sequential_mode_runs_everything_in_one_process(sample_project):
    project = sample_project(
        {"test_a.py": "import pytest\n@pytest.mark.serial\ndef test_s(): pass\ndef test_p(): pass\n"}
    )
    run = project.run("-n", "0").assert_exit(0)
    assert [phase["name"] for phase in run.report["phases"]] == ["serial"]
    assert {test["phase"] for test in run.report["tests"]} == {"serial"}
    assert run.report["totals"]["passed"] == 2


PROCESS_FACTS = """
import json, os, sys

def test_where_am_i(worker_id):
    facts = {
        "cwd": os.getcwd(),
        "cwd_on_path": os.getcwd() in sys.path,
        "argv0": sys.argv[0],
        "runtests_modules": sorted(name for name in sys.modules if name.split(".")[0] == "runtests"),
        "worker": worker_id,
    }
    with open(f"facts-{worker_id}.json", "w") as out:
        json.dump(facts, out)
"""


@pytest.mark.parametrize("workers", ["0", "2"])
def test_the_pytest_process_is_as_python_m_pytest_started_it(sample_project, tmp_path, workers):
    """The first phase's process is started ahead, before runtests has read its options (runtests/launch/prestart.py):
    it must still be what `python -m pytest` in the run directory is, warnings as errors included."""
    project = sample_project(
        {
            "pytest.ini": "[pytest]\naddopts = --strict-markers -p no:cacheprovider\nfilterwarnings = error\n",
            "tests/test_facts.py": PROCESS_FACTS,
        }
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run_command(
        [sys.executable, "-m", "runtests", "-C", str(project.path), "-n", workers, "--git-check", "off"], cwd=elsewhere
    ).assert_exit(0)
    # The one test runs on whichever worker xdist hands it to: gw0, or gw1 when that one came up first.
    (written,) = project.path.glob("facts-master.json" if workers == "0" else "facts-gw*.json")
    facts = json.loads(written.read_text())
    if workers == "0":
        assert facts["cwd_on_path"]  # as `python -m` puts the run directory on sys.path
        assert facts["argv0"].endswith(os.path.join("pytest", "__main__.py"))
    assert facts["cwd"] == str(project.path)
    # The pytest side and the shared modules only: runtests' own side (click, rich, git) stays out of the tests.
    assert sorted(facts["runtests_modules"]) == [
        "runtests", "runtests.durations", "runtests.errors", "runtests.events", "runtests.files", "runtests.modes",
        "runtests.plugin", "runtests.plugin.eventwriter", "runtests.plugin.fidelity", "runtests.plugin.selection",
    ]  # fmt: skip


def test_stream_shows_pytests_own_output(sample_project):
    project = sample_project({"test_a.py": "def test_a(): pass\n"})
    run = project.run("-n", "2", "--stream").assert_exit(0)
    assert re.search(r"=+ 1 passed in", run.stdout)
    assert "Pass rate: 100.0% (1/1)" in run.stdout


def test_bin_shim_runs_from_a_checkout(sample_project):
    project = sample_project({"test_a.py": "def test_a(): pass\n"})
    done = run_command(
        [sys.executable, str(REPO_ROOT / "bin" / "runtests"), "-n", "0", "--git-check", "off"], cwd=project.path
    ).assert_exit(0)
    assert "Pass rate: 100.0% (1/1)" in done.stdout


def test_project_addopts_with_xdist_and_worker_id_fixture_work_in_both_phases(sample_project):
    project = sample_project(
        {
            "pytest.ini": "[pytest]\naddopts = -n 3 --dist loadfile -p no:cacheprovider\n",
            "test_a.py": """
                import pytest

                def test_parallel(worker_id):
                    assert worker_id.startswith("gw")

                def test_parallel_too(worker_id):
                    assert worker_id.startswith("gw")

                @pytest.mark.serial
                def test_serial(worker_id):
                    assert worker_id == "master"
            """,
        }
    )
    run = project.run("-n", "2", "--dist", "load").assert_exit(0)
    phases = {phase["name"]: phase for phase in run.report["phases"]}
    assert (phases["parallel"]["workers"], phases["parallel"]["dist"]) == (2, "load")
    assert run.outcomes() == {"test_a.py::test_parallel": "passed", "test_a.py::test_parallel_too": "passed",
                              "test_a.py::test_serial": "passed"}  # fmt: skip


def test_plain_output_never_splits_a_node_id(sample_project):
    """In CI (and into a pipe) every line is whole: a 200-character node id, and the FAILED line naming it."""
    long_id = "x" * 180
    suite = f"import pytest\n\n@pytest.mark.parametrize('v', [1], ids=['{long_id}'])\ndef test_v(v): assert not v\n"
    project = sample_project({"test_long.py": suite})
    run = project.run("-n", "2", "--slowest", "1", env={"CI": "true"}).assert_exit(1)
    nodeid = f"test_long.py::test_v[{long_id}]"
    assert len(nodeid) > 200
    lines = run.stdout.splitlines()
    assert any(line.startswith(f"FAILED {nodeid} [gw") and line.endswith("]") for line in lines), run
    assert any(line.startswith(f"__ FAILED {nodeid} (parallel phase, gw") for line in lines), run
    assert any(line.endswith(f"s {nodeid} (parallel, gw0)") or line.endswith(f"s {nodeid} (parallel, gw1)")
               for line in lines), run  # --slowest  # fmt: skip
    assert any(line == f"FAILED {nodeid} - assert not 1" for line in lines), run  # the short test summary
