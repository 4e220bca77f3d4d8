"""The compatibility matrix: plain pytest and runtests on the same sample project, with the real plugins installed
(the test extras pin them: pytest-cov, pytest-randomly, pytest-reportlog, pytest-rerunfailures, pytest-html,
pytest-timeout). What pytest shows and what its plugins keep must come out of runtests the same.

The sample looks like a small real project: a package, a session-scoped SQLite fixture shared by the serial tests,
a module-scoped fixture, warnings raised in both phases, skips and an xfail, and code that only the serial tests
reach (so that coverage of one phase alone differs from the whole run's).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from tests.helpers import PLUGINS_OFF

pytestmark = pytest.mark.e2e

INVENTORY = {
    "pytest.ini": """
        [pytest]
        addopts = --strict-markers -p no:cacheprovider
        markers =
            serial: runs alone, after the parallel tests
            isolated: needs the machine to itself
        filterwarnings = default
    """,
    "inventory/__init__.py": """
        import sqlite3
        import warnings


        def connect(path):
            connection = sqlite3.connect(path)
            connection.execute("create table if not exists items (name text primary key, count integer)")
            return connection


        def add(connection, name, count):
            if count < 0:
                raise ValueError("negative count")
            connection.execute("insert or replace into items values (?, ?)", (name, count))


        def total(connection):
            return connection.execute("select coalesce(sum(count), 0) from items").fetchone()[0]


        def legacy_total(connection):
            warnings.warn("legacy_total is deprecated; use total", DeprecationWarning, stacklevel=2)
            return total(connection)


        def export(connection):
            rows = connection.execute("select name, count from items order by name").fetchall()
            if not rows:
                return ""
            return "\\n".join(f"{name},{count}" for name, count in rows)


        def vacuum(connection):
            connection.commit()
            connection.execute("vacuum")
            return True


        def migrate(connection, version):  # no test reaches it yet
            if version > 1:
                raise NotImplementedError(version)
            return version
    """,
    "tests/conftest.py": """
        import pytest

        import inventory


        @pytest.fixture(scope="session")
        def shared_db(tmp_path_factory):
            \"\"\"One SQLite file for the session: the serial tests share it.\"\"\"
            return inventory.connect(tmp_path_factory.mktemp("db") / "shared.sqlite")


        @pytest.fixture
        def db(tmp_path):
            \"\"\"A fresh inventory database per test.\"\"\"
            return inventory.connect(tmp_path / "test.sqlite")
    """,
    "tests/test_items.py": """
        import pytest

        import inventory


        @pytest.fixture(scope="module")
        def catalogue():
            return {"apple": 3, "pear": 2}


        def test_add_and_total(db, catalogue):
            for name, count in catalogue.items():
                inventory.add(db, name, count)
            assert inventory.total(db) == 5


        def test_negative_count_is_refused(db):
            with pytest.raises(ValueError):
                inventory.add(db, "plum", -1)


        def test_legacy_total_warns(db):
            assert inventory.legacy_total(db) == 0


        @pytest.mark.parametrize("count", [0, 1, 7])
        def test_counts(db, count):
            inventory.add(db, "fig", count)
            assert inventory.total(db) == count


        @pytest.mark.skip(reason="exports to S3 are not set up here")
        def test_upload():
            pass


        @pytest.mark.xfail(reason="totals overflow is not handled", strict=False)
        def test_overflow(db):
            inventory.add(db, "grain", 2**70)
    """,
    "tests/test_reports.py": """
        import warnings

        import inventory

        # At import: raised while collecting, in every process that collects this module.
        warnings.warn("the report layout is provisional", FutureWarning)


        def test_empty_export(db):
            assert inventory.export(db) == ""


        def test_report_header_warns():
            warnings.warn("report headers will change in 2.0", UserWarning)
    """,
    "tests/test_shared.py": """
        import pytest

        import inventory

        pytestmark = pytest.mark.serial


        def test_shared_write(shared_db):
            print("writing to the shared database")
            inventory.add(shared_db, "bolt", 10)
            assert inventory.total(shared_db) == 10


        def test_shared_export(shared_db):
            assert inventory.export(shared_db) == "bolt,10"


        def test_vacuum(shared_db):
            assert inventory.vacuum(shared_db)
    """,
}
ALL_TESTS = 13
SERIAL_TESTS = {"tests/test_shared.py::test_shared_write", "tests/test_shared.py::test_shared_export",
                "tests/test_shared.py::test_vacuum"}  # fmt: skip


# The matrix's plugins are installed and active here, as in a user's environment; pytest-randomly only where a
# test asks for it.
PLUGINS_ON = {"PYTEST_ADDOPTS": "-p no:randomly"}


@pytest.fixture
def with_plugins(sample_project):
    def make(files):
        project = sample_project(files)
        project.env = dict(PLUGINS_ON)
        return project

    return make


@pytest.fixture
def inventory_project(with_plugins):
    return with_plugins({**INVENTORY, ".gitignore": ".coverage*\ncoverage.xml\n*.jsonl\n*.xml\n*.html\n"})


def last_line(output: str) -> str:
    return [line for line in output.splitlines() if line.strip()][-1]


def warnings_in(line: str) -> int:
    found = re.search(r"(\d+) warnings?", line)
    return int(found.group(1)) if found else 0


def total_line(output: str) -> str:
    (line,) = [line for line in output.splitlines() if line.startswith("TOTAL")]
    return line


def test_warnings_coverage_report_log_durations_and_v_as_sequential_pytest(inventory_project):
    """One run through most rows of the matrix: the same warnings (counted in the last line), the same coverage
    TOTAL with the serial phase's lines in it, every test in the --report-log, --durations, -v and -s."""
    project = inventory_project
    plain = project.pytest("--cov=inventory", "--report-log=plain.jsonl", "--durations=3")
    assert plain.exit_code == 0, plain
    plain_total = total_line(plain.stdout)
    (project.path / ".coverage").unlink()

    run = project.run("-n", "2", "--", "--cov=inventory", "--report-log=rt.jsonl", "--durations=3", "-v", "-s")
    run.assert_exit(0)
    out = run.stdout
    # Warnings: as many as pytest counts, each in the summary once, counted in the last line and the JSON.
    # A warning raised at import is counted once, as sequential pytest counts it, though both xdist workers and
    # the serial phase's process import the module.
    assert warnings_in(last_line(plain.stdout)) == 3
    assert warnings_in(last_line(out)) == 3, run
    # The last line's counts are pytest's (runtests adds "0 failed").
    plain_counts = dict(re.findall(r"(\d+) (passed|skipped|xfailed|warnings)", last_line(plain.stdout)))
    assert dict(re.findall(r"(\d+) (passed|skipped|xfailed|warnings)", last_line(out))) == plain_counts, run
    assert run.report["warnings"] == 3
    assert "legacy_total is deprecated; use total" in out and "report headers will change in 2.0" in out
    assert out.count("FutureWarning: the report layout is provisional") == 1
    assert "tests/test_items.py::test_legacy_total_warns" in out.split("warnings summary")[1]
    # Coverage: pytest-cov's table once, its TOTAL the sequential run's (the serial-only lines are in it).
    assert out.count("tests coverage") == 1, run
    assert total_line(out) == plain_total, run
    data = run_coverage_report(project)  # the data file itself holds the whole run
    assert data.split()[-1] == plain_total.split()[-1], data
    # --report-log: one file, every test of both phases, one session start and finish.
    records = [json.loads(line) for line in (project.path / "rt.jsonl").read_text().splitlines()]
    kinds = [record["$report_type"] for record in records]
    assert kinds[0] == "SessionStart" and kinds[-1] == "SessionFinish" and kinds.count("SessionStart") == 1
    logged = {r["nodeid"] for r in records if r["$report_type"] == "TestReport"}
    plain_logged = {
        json.loads(line)["nodeid"]
        for line in (project.path / "plain.jsonl").read_text().splitlines()
        if json.loads(line)["$report_type"] == "TestReport"
    }
    assert logged == plain_logged and len(logged) == ALL_TESTS
    assert records[-1]["exitstatus"] == 0
    assert "rt.jsonl holds the parallel and serial phases" in out
    # --durations=3: pytest's list, over both phases; -v: a line per test; -s: a serial test's print.
    assert "== slowest 3 durations ==" in out
    listed = out.split("slowest 3 durations")[1].splitlines()[1:4]
    assert all(re.match(r"\d+\.\d\ds tests/", line) for line in listed), listed
    for nodeid in ("tests/test_items.py::test_add_and_total", "tests/test_shared.py::test_vacuum"):
        assert any(line.startswith(f"PASSED {nodeid} (") for line in out.splitlines()), run
    assert "writing to the shared database" in out
    assert "what tests print in the parallel phase is not shown" in out  # -s, said once
    assert out.count("-s: xdist keeps no output") == 1


def run_coverage_report(project) -> str:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "coverage", "report"], cwd=project.path, capture_output=True, text=True, check=True
    )
    return total_line(done.stdout)


def test_cov_fail_under_is_judged_once_on_the_combined_data(inventory_project):
    """A threshold the parallel phase alone misses but the whole run meets passes, as under sequential pytest; one
    the whole run misses fails the run (exit 1) once, though every test passed. Without serial tests in the
    selection, the serial process still runs, to report only, and a report file is written once."""
    project = inventory_project
    parallel_only = project.pytest("--cov=inventory", "-m", "not serial", "--cov-fail-under=85")
    assert parallel_only.exit_code == 1  # the sample must make the point: the parallel tests alone miss 85%
    run = project.run("-n", "2", "--", "--cov=inventory", "--cov-fail-under=85").assert_exit(0)
    assert "Required test coverage of 85% reached" in run.stdout, run

    args = ("-m", "not serial", "--", "--cov=inventory", "--cov-report=xml", "--cov-fail-under=100")
    missed = project.run("-n", "2", *args).assert_exit(1)
    assert missed.stdout.count("FAIL Required test coverage of 100% not reached") == 1, missed
    assert "a plugin failed the session" in missed.stdout
    assert missed.report["totals"]["failed"] == 0
    assert "its process reported the run's coverage" in missed.stdout, missed
    plain_xml = project.pytest("--cov=inventory", "--cov-report=xml:plain.xml", "-m", "not serial")
    assert plain_xml.exit_code == 0
    rate = ET.parse(project.path / "coverage.xml").getroot().get("line-rate")
    assert rate == ET.parse(project.path / "plain.xml").getroot().get("line-rate")


def test_collect_only_lists_every_test_by_phase(inventory_project):
    project = inventory_project
    plain = project.pytest("--co", "-q")
    assert plain.exit_code == 0
    plain_ids = [line for line in plain.stdout.splitlines() if "::" in line]
    run = project.run("--co", report=False).assert_exit(0)  # without -q: by phase (-q is pytest's own lines)
    lines = run.stdout.splitlines()
    serial_at = lines.index("serial phase: 3 tests (chosen by 'serial')")
    assert lines[0] == f"parallel phase: {ALL_TESTS - 3} tests"
    listed_parallel = [line.strip() for line in lines[1:serial_at]]
    listed_serial = [line.strip() for line in lines[serial_at + 1 : serial_at + 4]]
    assert set(listed_serial) == SERIAL_TESTS
    assert sorted(listed_parallel + listed_serial) == sorted(plain_ids)
    assert f"{ALL_TESTS} tests collected" in run.stdout


def test_information_commands_are_pytests_own(inventory_project):
    project = inventory_project
    for flag, expected in (("--fixtures", "A fresh inventory database per test."), ("--markers", "isolated:"),
                           ("--setup-show", "SETUP    S shared_db")):  # fmt: skip
        plain = project.pytest(flag)
        run = project.run(flag, report=False)
        assert (run.exit_code, plain.exit_code) == (0, 0), run
        assert expected in run.stdout and expected in plain.stdout, run


def test_one_seed_for_every_phase_and_it_reproduces(inventory_project):
    """With pytest-randomly active both phases use one seed, shown once; giving it back reproduces the run: the
    same order in the serial phase and the same verdicts (the shuffle may expose the sample's order dependence:
    test_shared_export needs test_shared_write first, and that is the point of a seed)."""
    project = inventory_project
    randomly = {"PYTEST_ADDOPTS": PLUGINS_OFF.replace("-p no:randomly", "")}  # pytest-randomly alone
    first = project.run("-n", "2", env=randomly)
    seeds = re.findall(r"Using --randomly-seed=(\d+) \(pytest-randomly\), in every phase", first.stdout)
    assert len(seeds) == 1, first
    assert first.report["randomly_seed"] == int(seeds[0])
    again = project.run("-n", "2", "--", "-p", "randomly", f"--randomly-seed={seeds[0]}", env=randomly)
    assert f"Using --randomly-seed={seeds[0]} " in again.stdout
    assert again.exit_code == first.exit_code and again.outcomes() == first.outcomes(), again

    def serial_order(run) -> list[str]:
        tests = [t for t in run.report["tests"] if t["phase"] == "serial"]
        return [t["nodeid"] for t in sorted(tests, key=lambda t: t["start"])]

    assert serial_order(again) == serial_order(first)


def test_per_run_files_are_merged_or_refused(inventory_project):
    """pytest's --junitxml (given to pytest) holds both phases; pytest-html's page is refused up front with the
    way out, and works as one process (-n 0)."""
    project = inventory_project
    run = project.run("-n", "2", "--", "--junitxml=pytest-junit.xml").assert_exit(0)
    suite = ET.parse(project.path / "pytest-junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == str(ALL_TESTS)
    names = {f"{case.get('classname')}::{case.get('name')}" for case in suite.iter("testcase")}
    assert "tests.test_shared::test_vacuum" in names and "tests.test_items::test_add_and_total" in names
    assert "pytest-junit.xml holds the parallel and serial phases" in run.stdout

    refused = project.run("-n", "2", "--", "--html=page.html").assert_exit(4)
    assert refused.stdout == ""  # the refusal alone, as a usage error is said
    (line,) = [line for line in refused.stderr.splitlines() if line.startswith("runtests: refused: --html")]
    assert "-n 0" in line and "--junitxml" in line
    assert not (project.path / "page.html").exists()
    assert refused.report["totals"]["passed"] == 0  # nothing ran
    project.run("-n", "0", "--", "--html=page.html").assert_exit(0)
    assert (project.path / "page.html").is_file()


def test_rerunfailures_and_last_failed_keep_working(with_plugins):
    project = with_plugins(
        {
            "test_flaky.py": """
                import os, pathlib

                def test_flaky(tmp_path_factory):
                    marker = pathlib.Path(os.environ["FLAKY_MARKER"])
                    if not marker.exists():
                        marker.write_text("failed once")
                        raise AssertionError("first try fails")

                def test_steady():
                    pass
            """,
            "test_broken.py": "def test_broken(): assert False\n",
        }
    )
    env = {"FLAKY_MARKER": str(project.path.parent / "flaky-marker")}
    reruns = project.run("-n", "2", "-k", "flaky or steady", "--", "--reruns", "2", env=env).assert_exit(0)
    assert reruns.outcomes()["test_flaky.py::test_flaky"] == "passed"
    ini = "[pytest]\naddopts = --strict-markers\n"  # --lf needs pytest's cache
    project.write({"pytest.ini": ini})
    project.commit()
    project.run("-n", "2", env=env).assert_exit(1)
    last_failed = project.run("-n", "2", "--", "--lf", env=env).assert_exit(1)
    assert set(last_failed.outcomes()) == {"test_broken.py::test_broken"}


def test_serial_tests_chosen_by_expression_or_xdist_group(sample_project):
    project = sample_project(
        {
            "pytest.ini": "[pytest]\naddopts = --strict-markers -p no:cacheprovider\nmarkers =\n    isolated: alone\n",
            "test_mix.py": """
                import pytest

                @pytest.mark.serial
                def test_marked(): pass

                @pytest.mark.isolated
                def test_isolated(): pass

                @pytest.mark.xdist_group(name="serial")
                def test_grouped(): pass

                @pytest.mark.xdist_group("db")
                def test_other_group(): pass

                def test_plain(): pass
            """,
        }
    )

    def serial_of(run) -> set[str]:
        return {t["nodeid"].split("::")[1] for t in run.report["tests"] if t["phase"] == "serial"}

    by_expression = project.run("-n", "2", "--serial", "serial or isolated").assert_exit(0)
    assert serial_of(by_expression) == {"test_marked", "test_isolated"}
    by_group = project.run("-n", "2", "--serial-marker", "isolated", "--serial-group", "serial").assert_exit(0)
    assert serial_of(by_group) == {"test_isolated", "test_grouped"}
    bad = project.run("--serial", "serial or", report=False).assert_exit(4)
    assert bad.stderr.startswith("runtests: error: --serial 'serial or' is not valid") and "Traceback" not in bad.output


def test_short_summary_tb_and_quiet_as_pytest(sample_project):
    project = sample_project(
        {
            "test_r.py": """
                import pytest

                def test_fails():
                    assert 1 + 1 == 3, "arithmetic"

                @pytest.mark.skip(reason="later")
                def test_skips(): pass

                @pytest.mark.xfail(reason="known bug")
                def test_xfails(): assert False
            """
        }
    )
    plain = project.pytest("-rfsx", "--tb=no")
    run = project.run("-n", "2", "--", "-rfsx", "--tb=no").assert_exit(1)
    plain_summary = plain.stdout.split("short test summary info")[1].splitlines()[1:4]
    ours = run.stdout.split("short test summary info")[1].splitlines()[1:4]
    assert ours == [line for line in plain_summary], run
    assert "def test_fails" not in run.stdout  # --tb=no: no traceback
    quiet = project.run("-n", "2", "--", "-qq", "--tb=line").assert_exit(1)
    assert "phase: started" not in quiet.stdout and "workers busy" not in quiet.stdout
    assert "parallel phase: 0 passed" not in quiet.stdout and "phase      workers" not in quiet.stdout  # no table
    assert "test_r.py:4: AssertionError: arithmetic" in quiet.stdout, quiet


def test_pytest_timeout_given_to_pytest_works_in_both_phases(with_plugins):
    """pytest-timeout's own --timeout (after `--`; runtests' --timeout is its own option) fails a hanging test in
    the parallel and in the serial phase, as plain pytest does."""
    project = with_plugins(
        {
            "test_hang.py": """
                import time
                import pytest

                def test_hangs_in_parallel():
                    time.sleep(30)

                @pytest.mark.serial
                def test_hangs_in_serial():
                    time.sleep(30)

                def test_quick():
                    pass
            """
        }
    )
    run = project.run("-n", "2", "--", "--timeout=1").assert_exit(1)
    assert run.outcomes() == {
        "test_hang.py::test_hangs_in_parallel": "failed",
        "test_hang.py::test_hangs_in_serial": "failed",
        "test_hang.py::test_quick": "passed",
    }
    assert "Timeout" in run.stdout


def test_a_worker_crash_under_runtests_scheduler_with_rerunfailures_installed(with_plugins):
    """pytest-rerunfailures handles every worker crash (it reads the scheduler's config): under runtests' own
    scheduler that was an INTERNALERROR. The crash is an error, the other tests run, the run ends in order."""
    tests = "".join(f"def test_{i}(): pass\n" for i in range(6))
    project = with_plugins({"test_crash.py": "import os\n\ndef test_dies():\n    os._exit(3)\n\n" + tests})
    durations = project.path.parent / "durations.json"
    durations.write_text(
        json.dumps({f"test_crash.py::test_{i}": 0.01 for i in range(6)} | {"test_crash.py::test_dies": 0.5})
    )
    run = project.run("-n", "2", "--durations-file", str(durations)).assert_exit(1)
    assert run.report["phases"][0]["scheduler"] == "runtests"
    outcomes = run.outcomes()
    assert outcomes.pop("test_crash.py::test_dies") == "error"
    assert set(outcomes.values()) == {"passed"} and len(outcomes) == 6
    assert "INTERNALERROR" not in run.output


def test_warning_filters_and_coverage_settings_act_as_in_pytest(inventory_project):
    """-W error turns a warning into the same failure; -p no:warnings records none; coverage's own
    `parallel = true` still gives one combined TOTAL."""
    project = inventory_project
    run = project.run("-n", "2", "--", "-W", "error::DeprecationWarning").assert_exit(1)
    # As `pytest -W error::DeprecationWarning`: the one test whose warning it is fails, and only it.
    assert [t for t, outcome in run.outcomes().items() if outcome == "failed"] == [
        "tests/test_items.py::test_legacy_total_warns"
    ]
    assert "1 failed" in last_line(run.stdout)
    silent = project.run("-n", "2", "--", "-p", "no:warnings").assert_exit(0)
    assert warnings_in(last_line(silent.stdout)) == 0 and "warnings summary" not in silent.stdout
    project.write({".coveragerc": "[run]\nparallel = true\n"})
    project.commit()
    plain = project.pytest("--cov=inventory")
    for leftover in project.path.glob(".coverage*"):
        if leftover.name != ".coveragerc":
            leftover.unlink()
    combined = project.run("-n", "2", "--", "--cov=inventory").assert_exit(0)
    assert total_line(combined.stdout) == total_line(plain.stdout)
