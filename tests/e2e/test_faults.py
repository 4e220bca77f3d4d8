"""End to end: diagnosing parallel-only failures, and surviving crashes, hangs, interrupts and bad input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT, RunningCommand, RunOutcome, git, run_command, start_command

pytestmark = pytest.mark.e2e

DEMO = REPO_ROOT / "examples" / "token_usage"


def copy_demo(tmp_path: Path) -> Path:
    demo = tmp_path / "demo"
    shutil.copytree(DEMO, demo, ignore=shutil.ignore_patterns("*.db", "__pycache__"))
    return demo


def processes_in(directory: Path) -> list[int]:
    """Processes whose working directory is `directory`: a pytest or xdist worker left behind."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "cwd")) == directory:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_retry_names_parallel_only_failures_and_the_table_clearing_suspects(tmp_path):
    demo = copy_demo(tmp_path)
    report = tmp_path / "r.json"
    argv = [sys.executable, "-m", "runtests", "-C", str(demo), "-n", "2", "--dist", "loadfile", "--git-check", "off",
            "--serial-marker", "none-such", "--retry-serially", "--json-report", str(report)]  # fmt: skip
    # Parallel-only failures still fail the run by default. A short replay budget: a few failures are replayed.
    done = run_command([*argv, "--replay-budget", "3"], cwd=REPO_ROOT, report_path=report).assert_exit(1)
    data = json.loads(report.read_text())
    failed = [t for t in data["tests"] if t["outcome"] == "failed"]
    # Both sides of the race can lose it: an API test reads back after a reset, a reset test after an API call.
    api_failures = [t for t in failed if t["nodeid"].startswith("test_api.py::")]
    assert api_failures and all(t["nodeid"].startswith(("test_api.py::", "test_monitoring.py::")) for t in failed)
    # Diagnosed by replay (five at most, within the budget): they pass alone, twice, after their worker's and their
    # collection-order predecessors: parallel-only, with the overlap suspects. What the budget left unreplayed is
    # only what the retry showed: passed-on-retry, never parallel-only.
    assert all(t["retry"]["outcome"] == "passed" for t in failed)
    assert {t["retry"]["verdict"] for t in failed} <= {"parallel-only", "passed-on-retry"}
    replayed = [t for t in failed if "replays" in t["retry"]]
    assert 1 <= len(replayed) <= 5
    sequential = [r for t in replayed for r in t["retry"]["replays"] if r["kind"] != "beside-suspects"]
    assert sequential and all(r["outcome"] == "passed" for r in sequential)
    for test in failed:
        kinds = {r["kind"] for r in test["retry"].get("replays", ())}
        if test["retry"]["verdict"] == "parallel-only":  # replayed, never on the retry's word alone
            assert {"alone", "alone-again"} <= kinds, test
    # The table-clearing tests ran beside each API failure, and longest: they come first among the suspects.
    for test in api_failures:
        assert test["suspects"][0].startswith("test_monitoring.py::test_reset_clears_usage"), test
    verdicts = [t["retry"]["verdict"] for t in failed]
    assert data["retries"]["parallel_only"] == verdicts.count("parallel-only") and data["retries"]["fails_alone"] == 0
    assert data["retries"]["undiagnosed"] == verdicts.count("passed-on-retry")
    if "parallel-only" in verdicts:
        assert "parallel-only failures" in done.stdout
        assert "@pytest.mark.none-such" in done.stdout and "worker_id" in done.stdout  # the configured marker
        assert "ran beside: test_monitoring.py::test_reset_clears_usage" in done.stdout

    # Without replays (budget 0) nothing is diagnosed: passing the retry is no verdict to accept.
    accepted = run_command([*argv, "--accept-parallel-only", "--replay-budget", "0"], cwd=REPO_ROOT,
                           report_path=report).assert_exit(1)  # fmt: skip
    assert "100.0%" not in accepted.stdout and "left undiagnosed" in accepted.stdout
    assert {t["retry"]["verdict"] for t in json.loads(report.read_text())["tests"] if "retry" in t} == {
        "passed-on-retry"
    }


def test_retry_tells_real_failures_apart(sample_project):
    project = sample_project({"test_a.py": "def test_real(): assert False\ndef test_ok(): pass\n"})
    run = project.run("-n", "2", "--retry-serially").assert_exit(1)
    (test,) = [t for t in run.report["tests"] if t["outcome"] == "failed"]
    assert (test["retry"]["outcome"], test["retry"]["verdict"]) == ("failed", "fails-alone")
    # First in collection order: alone twice says it all.
    assert [r["kind"] for r in test["retry"]["replays"]] == ["alone", "alone-again"]
    assert "retried: failed; verdict: fails-alone" in run.stdout


CRASHERS = {
    "exit": "import os\n\ndef test_crash():\n    os._exit(3)\n",
    "segfault": "import ctypes\n\ndef test_crash():\n    ctypes.string_at(0)\n",
}


@pytest.mark.parametrize("how", sorted(CRASHERS))
def test_worker_crash_is_an_error_and_the_run_goes_on(sample_project, how):
    project = sample_project(
        {
            "test_crash.py": CRASHERS[how],
            "test_fine.py": "import pytest\n\n@pytest.mark.parametrize('n', range(6))\ndef test_fine(n): pass\n",
            "test_serial.py": "import pytest\n\n@pytest.mark.serial\ndef test_after(): pass\n",
        }
    )
    run = project.run("-n", "2").assert_exit(1)
    outcomes = run.outcomes()
    assert outcomes["test_crash.py::test_crash"] == "error"
    assert [outcomes[f"test_fine.py::test_fine[{n}]"] for n in range(6)] == ["passed"] * 6
    assert outcomes["test_serial.py::test_after"] == "passed"
    crash = next(t for t in run.report["tests"] if t["nodeid"] == "test_crash.py::test_crash")
    assert crash["crashed"] is True and "crashed while running 'test_crash.py::test_crash'" in crash["longrepr"]
    assert "crashed while running" in run.stdout


def test_crash_in_the_serial_phase_reports_what_never_ran(sample_project):
    project = sample_project(
        {
            "test_s.py": """
                import os
                import pytest
                pytestmark = pytest.mark.serial

                def test_first(): pass
                def test_dies(): os._exit(3)
                def test_never_a(): pass
                def test_never_b(): pass
            """,
            "test_p.py": "def test_parallel(): pass\n",
        }
    )
    run = project.run("-n", "2").assert_exit(1)
    assert run.outcomes() == {
        "test_p.py::test_parallel": "passed",
        "test_s.py::test_first": "passed",
        "test_s.py::test_dies": "error",
        "test_s.py::test_never_a": "not_run",
        "test_s.py::test_never_b": "not_run",
    }
    assert run.report["totals"]["not_run"] == 2
    assert "NOT_RUN test_s.py::test_never_a" in run.stdout
    assert "Pass rate: 40.0% (2/5)" in run.stdout


def test_per_test_timeout_stops_a_hanging_test_and_the_phase_goes_on(sample_project):
    project = sample_project(
        {
            "test_h.py": """
                import time
                import pytest

                def test_hangs():
                    try:
                        time.sleep(60)
                    except Exception:  # a broad except cannot swallow the timeout
                        time.sleep(60)

                @pytest.mark.parametrize("n", range(4))
                def test_quick(n): pass

                @pytest.mark.serial
                def test_serial_hangs(): time.sleep(60)
            """
        }
    )
    began = time.monotonic()
    run = project.run("-n", "2", "--timeout", "1").assert_exit(1)
    assert time.monotonic() - began < 40, run
    outcomes = run.outcomes()
    assert outcomes["test_h.py::test_hangs"] == "timeout"
    assert outcomes["test_h.py::test_serial_hangs"] == "timeout"
    assert [outcomes[f"test_h.py::test_quick[{n}]"] for n in range(4)] == ["passed"] * 4
    assert run.report["totals"]["timeout"] == 2


def test_run_timeout_stops_everything_and_writes_the_reports(sample_project):
    project = sample_project(
        {
            "test_slow.py": """
                import time
                import pytest

                @pytest.mark.parametrize("n", range(8))
                def test_slow(n): time.sleep(20)
            """
        }
    )
    began = time.monotonic()
    run = project.run("-n", "2", "--run-timeout", "4").assert_exit(1)
    assert time.monotonic() - began < 40, run
    outcomes = run.outcomes()
    assert sorted(outcomes.values()).count("timeout") == 2  # one in flight per worker
    assert sorted(outcomes.values()).count("not_run") == 6
    assert run.report["phases"][0]["timed_out"] is True
    assert processes_in(project.path) == []


def start(project_path: Path, report: Path, *args: str) -> RunningCommand:
    return start_command(
        [sys.executable, "-m", "runtests", "-n", "2", "--json-report", str(report), *args],
        cwd=project_path, report_path=report,
    )  # fmt: skip


def wait_for_file(path: Path, timeout_s: float = 60) -> None:
    """Until a test has written `path`: proof that the tests are running, not still starting up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            return
        time.sleep(0.05)
    raise AssertionError(f"{path.name} never appeared: the tests never started")


def test_ctrl_c_stops_gracefully_with_a_partial_report_and_no_process_left(sample_project, tmp_path):
    project = sample_project(
        {
            "test_slow.py": """
                import pathlib, time, pytest

                @pytest.mark.parametrize("n", range(6))
                def test_s(n):
                    pathlib.Path(f"running-{n}").touch()
                    time.sleep(30)
            """
        }
    )
    report = tmp_path / "partial.json"
    running = start(project.path, report)
    wait_for_file(project.path / "running-0")
    running.process.send_signal(signal.SIGINT)
    stopped = running.finish(timeout=60).assert_exit(2)
    data = json.loads(report.read_text())
    assert data["exit_code"] == 2 and data["phases"][0]["interrupted"] is True
    assert "interrupted" in stopped.stdout
    assert processes_in(project.path) == []


def test_second_ctrl_c_kills_at_once(sample_project, tmp_path):
    project = sample_project(
        {
            "test_stubborn.py": """
                import pathlib, signal, time

                def test_ignores_ctrl_c():
                    signal.signal(signal.SIGINT, lambda *args: pathlib.Path("got-sigint").touch())
                    pathlib.Path("stubborn").touch()
                    for _ in range(600):
                        time.sleep(0.1)
            """
        }
    )
    report = tmp_path / "killed.json"
    running = start(project.path, report)
    wait_for_file(project.path / "stubborn")
    running.process.send_signal(signal.SIGINT)
    wait_for_file(project.path / "got-sigint")  # runtests passed the polite stop on, and the test swallowed it
    assert running.process.poll() is None, running.finish(timeout=30)  # so runtests still waits for pytest
    running.process.send_signal(signal.SIGINT)
    running.finish(timeout=30).assert_exit(2)
    assert json.loads(report.read_text())["exit_code"] == 2
    assert processes_in(project.path) == []


def test_unicode_and_non_utf8_ids(sample_project):
    project = sample_project(
        {
            "test_ids.py": """
                import pytest

                @pytest.mark.parametrize("value", ["🚀", "naïve", b"\\xff\\xfe", "日本", ":fire:"])
                def test_value(value): assert value not in ("日本", ":fire:")
            """
        }
    )
    run = project.run("-n", "2").assert_exit(1)
    outcomes = run.outcomes()
    assert outcomes["test_ids.py::test_value[\\U0001f680]"] == "passed"
    assert outcomes["test_ids.py::test_value[\\xff\\xfe]"] == "passed"
    assert outcomes["test_ids.py::test_value[\\u65e5\\u672c]"] == "failed"
    assert outcomes["test_ids.py::test_value[:fire:]"] == "failed"
    assert len(outcomes) == 5
    assert "FAILED test_ids.py::test_value[:fire:]" in run.stdout  # printed as it is, not as an emoji
    assert "🔥" not in run.stdout


def test_loadgroup_guarantee_is_checked_against_what_ran(sample_project):
    project = sample_project(
        {
            "test_g.py": """
                import time
                import pytest

                @pytest.mark.xdist_group("db")
                @pytest.mark.parametrize("n", range(6))
                def test_grouped(n): time.sleep(0.05)

                @pytest.mark.parametrize("n", range(6))
                def test_free(n): time.sleep(0.05)
            """
        }
    )

    def split(run: RunOutcome) -> bool:
        """Whether the group ran on both workers: xdist's call (pytest-xdist #1386 breaks the promise), not ours."""
        grouped = [t for t in run.report["tests"] if t.get("xdist_group") == "db"]
        assert len(grouped) == 6, run
        return len({t["worker"] for t in grouped}) > 1

    # Whichever way xdist went, every check runs: a split is said, loudly, and only a split.
    run = project.run("-n", "2", "--dist", "loadgroup").assert_exit(0)
    assert all("@" not in t["nodeid"] for t in run.report["tests"])
    broken = split(run)
    warning = "warning: broken guarantee: --dist loadgroup: xdist_group 'db' ran on 2 workers"
    assert (warning in run.stdout) == broken, run
    assert (run.report["broken_guarantees"] != []) == broken, run
    strict = project.run("-n", "2", "--dist", "loadgroup", "--strict-guarantees")
    strict.assert_exit(3 if split(strict) else 0)


BAD_INPUTS = [
    (["--dist", "roundrobin"], 4, "Invalid value for '--dist'"),
    (["-n", "many"], 4, "--workers 'many' is not valid"),
    (["--min-pass-rate", "120"], 4, "--min-pass-rate 120.0 is not valid"),
    (["-C", "no/such/dir"], 4, "no such directory"),
    (["--json-report", "missing/dir/r.json"], 4, "does not exist; create it first"),
    (["--json-report", "pytest.ini/r.json"], 4, "does not exist; create it first"),
    (["--", "-n", "3"], 4, "runtests sets xdist's options itself"),
    (["--", "--dist=loadfile"], 4, "runtests sets xdist's options itself"),
    (["-p", "no:xdist"], 4, "-p no:xdist: runtests disables xdist itself"),
    (["--timeout", "0"], 4, "--timeout 0.0 is not valid"),
]


@pytest.mark.parametrize(("args", "code", "message"), BAD_INPUTS, ids=[" ".join(a) for a, _, _ in BAD_INPUTS])
def test_bad_input_is_one_line_with_its_exit_code(sample_project, args, code, message):
    project = sample_project({"test_a.py": "def test_a(): pass\n"})
    run = project.run(*args, report=False).assert_exit(code)
    assert message in run.stderr
    assert "Traceback" not in run.output
    assert len(run.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("[tool.runtests\n", "pyproject.toml: not valid TOML"),
        ("[tool.runtests]\nwork = 2\n", "pyproject.toml: unknown key tool.runtests.work"),
        ("[tool.runtests]\nworkers = 'two'\n", "pyproject.toml: tool.runtests.workers = 'two' is not valid"),
    ],
)
def test_bad_configuration_is_one_line_exit_4(sample_project, config, message):
    project = sample_project({"test_a.py": "def test_a(): pass\n", "pyproject.toml": config})
    run = project.run(report=False).assert_exit(4)
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_no_git_binary_and_unborn_head(sample_project, tmp_path):
    project = sample_project({"test_a.py": "def test_a(): pass\n"})
    bare_path = tmp_path / "bin"
    bare_path.mkdir()
    (bare_path / "python").symlink_to(sys.executable)
    no_git = {"PATH": str(bare_path)}
    run = project.run("-n", "2", env=no_git).assert_exit(0)
    assert "no usable git binary" in run.stdout
    refused = project.run("-n", "2", "--git-check", "require-clean", env=no_git, report=False).assert_exit(6)
    assert "no usable git binary" in refused.stderr and "Traceback" not in refused.output

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "test_b.py").write_text("def test_b(): pass\n")
    git(fresh, "init", "-q")
    done = run_command([sys.executable, "-m", "runtests", "-n", "0"], cwd=fresh).assert_exit(0)
    assert "no commit yet (unborn HEAD)" in done.stdout


def test_pdb_falls_back_to_sequential_with_the_terminal(sample_project):
    project = sample_project(
        {"test_a.py": "import pytest\n\ndef test_a(): assert 1 == 2\n\n@pytest.mark.serial\ndef test_b(): pass\n"}
    )
    run = project.run("--pdb", input_text="p 6 * 7\ncontinue\n").assert_exit(1)
    assert "--pdb/--trace given: running every phase sequentially" in run.stdout
    assert [(p["workers"], p["dist"]) for p in run.report["phases"] if p["ran"]] == [(1, None)]
    assert "entering PDB" in run.stdout and "(Pdb) 42" in run.stdout  # the debugger read what we typed
