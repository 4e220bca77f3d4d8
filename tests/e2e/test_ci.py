"""End to end: shards and combine, JUnit XML, GitHub Actions output, CI shard variables, the pre-commit hook."""

from __future__ import annotations

import json
import os
import random
import re
import sys
from pathlib import Path

import junitparser
import pytest

from tests.helpers import REPO_ROOT, RunOutcome, git, run_command

pytestmark = pytest.mark.e2e

TESTS = 630  # 21 modules x 30 tests


def generated_suite() -> dict[str, str]:
    """630 quick tests: a few fail, a few skip, one module's tests are serial."""
    files = {}
    for module in range(21):
        marker = "import pytest\npytestmark = pytest.mark.serial\n" if module == 20 else "import pytest\n"
        body = [marker]
        for n in range(30):
            if n == 7 and module % 5 == 0:
                body.append(f"def test_{n}(): assert False, 'planned failure'\n")
            elif n == 9 and module % 4 == 0:
                body.append(f"def test_{n}(): pytest.skip('planned skip')\n")
            else:
                body.append(f"def test_{n}(): pass\n")
        files[f"test_m{module:02d}.py"] = "".join(body)
    return files


def heavy_tailed_durations() -> dict[str, float]:
    """Recorded durations: most tests short, a few long ones, the long ones all in the last modules."""
    rng = random.Random(7)
    recorded = {}
    for module in range(21):
        for n in range(30):
            seconds = rng.uniform(0.01, 0.2) if module < 18 or n % 10 else rng.uniform(5, 12)
            recorded[f"test_m{module:02d}.py::test_{n}"] = round(seconds, 4)
    return recorded


@pytest.fixture
def sharded(sample_project, tmp_path):
    project = sample_project(generated_suite())
    durations_file = tmp_path / "durations.json"
    durations_file.write_text(json.dumps(heavy_tailed_durations()))
    return project, durations_file


def test_shards_cover_every_test_once_balanced_and_combine_equals_one_run(sharded, tmp_path):
    project, durations_file = sharded
    recorded = json.loads(durations_file.read_text())
    whole = project.run("-n", "2").assert_exit(1)
    reports = []
    for k in (1, 2, 3):
        path = tmp_path / f"shard{k}.json"
        shard = run_command(
            [sys.executable, "-m", "runtests", "-n", "2", "--shard", f"{k}/3", "--durations-file", str(durations_file),
             "--json-report", str(path)],
            cwd=project.path, report_path=path,
        )  # fmt: skip
        assert shard.exit_code in (0, 1), shard
        assert f"shard {k}/3 of the suite" in shard.stdout
        reports.append(path)
    assert json.loads(durations_file.read_text()) == recorded  # shards read the durations, never rewrite them
    ids_per_shard = [[t["nodeid"] for t in json.loads(p.read_text())["tests"]] for p in reports]
    everything = [nodeid for ids in ids_per_shard for nodeid in ids]
    assert len(everything) == len(set(everything)) == TESTS
    assert set(everything) == set(whole.outcomes())
    serial = [[n for n in ids if n.startswith("test_m20.py")] for ids in ids_per_shard]
    assert all(serial)  # serial tests are sharded too, into each shard's own serial phase
    loads = [sum(recorded[nodeid] for nodeid in ids) for ids in ids_per_shard]
    ideal = sum(recorded.values()) / 3
    assert max(loads) <= 1.15 * ideal, (loads, ideal)

    combined_json, combined_xml = tmp_path / "combined.json", tmp_path / "combined.xml"
    done = run_command(
        [sys.executable, "-m", "runtests", "combine", *map(str, reports), "--json-report", str(combined_json),
         "--junitxml", str(combined_xml)],
        cwd=REPO_ROOT, report_path=combined_json,
    ).assert_exit(whole.exit_code)  # fmt: skip
    combined = done.report
    assert combined["totals"] == whole.report["totals"]
    assert combined["pass_rate"] == whole.report["pass_rate"]
    assert "Pass rate: " + format_rate(whole.report) in done.stdout
    # One time for the combined run: the table's total row says what the last line says.
    (total_row,) = [line for line in done.stdout.splitlines() if line.startswith("total ")]
    last_time = re.search(r" in (\d+\.\d\ds)$", done.stdout.splitlines()[-1])
    assert last_time is not None and total_row.split()[-1] == last_time.group(1) == f"{combined['duration_s']:.2f}s"
    assert combined["duration_s"] != pytest.approx(sum(p["duration_s"] for p in combined["phases"]), abs=0.005), done
    xml = junitparser.JUnitXml.fromfile(str(combined_xml))
    assert sum(suite.tests for suite in xml) == TESTS


def format_rate(report: dict) -> str:
    totals = report["totals"]
    passing = totals["passed"] + totals["xfailed"] + totals["xpassed"]
    failing = sum(totals[k] for k in ("failed", "errors", "timeout", "not_run"))
    return f"{round(100 * passing / (passing + failing), 1):.1f}% ({passing}/{passing + failing})"


def test_combine_refuses_duplicates_mismatches_and_missing_shards(sharded, tmp_path):
    project, durations_file = sharded
    paths = {}
    for spec in ("1/3", "2/3", "1/2"):
        path = tmp_path / f"shard{spec.replace('/', 'of')}.json"
        shard = run_command(
            [sys.executable, "-m", "runtests", "-n", "0", "--shard", spec, "--durations-file", str(durations_file),
             "--json-report", str(path), "-k", "m00 or m01"],
            cwd=project.path,
        )  # fmt: skip
        assert path.is_file(), shard  # the combine runs below need every report
        paths[spec] = str(path)

    def combine(*args: str) -> RunOutcome:
        return run_command([sys.executable, "-m", "runtests", "combine", *args], cwd=REPO_ROOT)

    missing = combine(paths["1/3"], paths["2/3"]).assert_exit(4)
    assert "missing shard report(s): 3/3" in missing.stderr
    twice = combine(paths["1/3"], paths["1/3"], paths["2/3"]).assert_exit(4)
    assert "shard(s) 1/3 given more than once" in twice.stderr
    mixed = combine(paths["1/3"], paths["1/2"]).assert_exit(4)
    assert "different shard sets" in mixed.stderr
    # Shard 1/2 and a doctored copy of it as 2/2: the same tests in two shards.
    doctored = json.loads(Path(paths["1/2"]).read_text())
    doctored["shard"]["index"] = 2
    copy = tmp_path / "copy.json"
    copy.write_text(json.dumps(doctored))
    duplicated = combine(paths["1/2"], str(copy)).assert_exit(4)
    assert "is in two shard reports" in duplicated.stderr
    assert all("Traceback" not in r.stderr for r in (missing, twice, mixed, duplicated))


def test_junit_xml_round_trips_through_a_junit_parser(sample_project, tmp_path):
    project = sample_project(
        {
            "test_a.py": """
                import pytest

                def test_pass(): pass
                def test_fail(): assert 1 == 2, "one is not two"
                def test_skip(): pytest.skip("later")
                @pytest.mark.xfail(reason="known")
                def test_xfail(): assert False
                @pytest.fixture
                def broken(): raise RuntimeError("fixture broke")
                def test_error(broken): pass
                class TestGroup:
                    def test_in_class(self): print("<&> \\x07 output")
                @pytest.mark.serial
                def test_serial(): pass
            """
        }
    )
    junit = tmp_path / "junit.xml"
    run = project.run("-n", "2", "--junitxml", str(junit)).assert_exit(1)
    xml = junitparser.JUnitXml.fromfile(str(junit))
    suites = {suite.name: suite for suite in xml}
    assert set(suites) == {"parallel", "serial"}
    assert (suites["parallel"].tests, suites["parallel"].failures, suites["parallel"].errors) == (6, 1, 1)
    assert suites["parallel"].skipped == 2 and suites["serial"].tests == 1
    cases = {case.name: case for suite in xml for case in suite}
    failure = cases["test_fail"].result[0]
    assert isinstance(failure, junitparser.Failure) and "one is not two" in failure.message
    assert isinstance(cases["test_error"].result[0], junitparser.Error)
    assert isinstance(cases["test_skip"].result[0], junitparser.Skipped)
    assert cases["test_in_class"].classname == "test_a.TestGroup" and cases["test_pass"].classname == "test_a"
    assert cases["test_pass"].is_passed and cases["test_serial"].is_passed
    assert sum(suite.tests for suite in xml) == sum(run.report["totals"].values())


def test_github_actions_annotations_and_step_summary(sample_project, tmp_path):
    project = sample_project(
        {"tests/test_a.py": "def test_ok(): pass\n\ndef test_bad():\n    x = 1\n    assert x == 2\n"}
    )
    step_summary = tmp_path / "summary.md"
    step_summary.write_text("earlier step\n")
    env = {"GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_STEP_SUMMARY": str(step_summary),
           "GITHUB_WORKSPACE": str(project.path)}  # fmt: skip
    run = project.run("-n", "2", env=env).assert_exit(1)
    (line,) = [line for line in run.stdout.splitlines() if line.startswith("::error ")]
    assert line.startswith("::error file=tests/test_a.py,line=5,title=FAILED tests/test_a.py%3A%3Atest_bad::")
    assert "assert 1 == 2" in line
    summary = step_summary.read_text()
    assert summary.startswith("earlier step\n## runtests\n")
    assert "**Pass rate: 50.0% (1/2)**" in summary
    assert "| parallel | 2 (load) | 1 | 1 |" in summary
    assert "`tests/test_a.py::test_bad`" in summary
    assert "\x1b[" not in run.stdout  # CI: plain lines, no colour codes, no animation


@pytest.mark.parametrize(
    ("env", "shard"),
    [
        ({"CI_NODE_INDEX": "2", "CI_NODE_TOTAL": "3"}, (2, 3)),
        ({"CIRCLE_NODE_INDEX": "0", "CIRCLE_NODE_TOTAL": "2"}, (1, 2)),
        ({"BUILDKITE_PARALLEL_JOB": "2", "BUILDKITE_PARALLEL_JOB_COUNT": "3"}, (3, 3)),
    ],
)
def test_shard_is_detected_from_ci_variables(sample_project, env, shard):
    project = sample_project({f"test_{n}.py": "def test(): pass\n" for n in range(6)})
    run = project.run("-n", "0", env=env).assert_exit(0)
    assert (run.report["shard"]["index"], run.report["shard"]["total"]) == shard
    assert len(run.report["tests"]) == 6 // shard[1]


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--shard", "0/3"], {}, "--shard '0/3' is not valid"),
        (["--shard", "4/3"], {}, "--shard '4/3' is not valid"),
        (["--shard", "one/two"], {}, "--shard 'one/two' is not valid"),
        ([], {"CI_NODE_INDEX": "5", "CI_NODE_TOTAL": "3"}, "bad shard variables in the environment"),
    ],
)
def test_bad_shard_specs_are_usage_errors(sample_project, args, env, message):
    project = sample_project({"test_a.py": "def test(): pass\n"})
    run = project.run(*args, env=env, report=False).assert_exit(4)
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1


@pytest.mark.serial  # builds a virtualenv with pip: alone, after the parallel tests
def test_pre_commit_hook_runs_for_real(sample_project, tmp_path):
    project = sample_project({"test_a.py": "def test_a(): pass\n", "README": "v1\n"})
    (project.path / "README").write_text("v2\n")
    git(project.path, "add", "README")  # a staged change: what a commit hook sees
    env = {"PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"), "CI": "true"}
    done = run_command(
        [sys.executable, "-m", "pre_commit", "try-repo", str(REPO_ROOT), "runtests", "--verbose"],
        cwd=project.path, env=env, timeout=600,
    ).assert_exit(0)  # fmt: skip
    assert re.search(r"runtests\.+Passed", done.stdout)
    assert "staged (expected under pre-commit)" in done.stdout
    assert "Pass rate: 100.0% (1/1)" in done.stdout
    assert os.path.exists(project.path / "README")
