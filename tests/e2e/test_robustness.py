"""End to end: leaked processes, what runs now, worker counts, and runs that end in a complete report however
their tests misbehave (50 MB of output, closed fds, a SIGTERM to their own pytest, runtests' work directory
deleted, an internal error)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def live_commands(marker: str) -> list[tuple[int, str]]:
    """Live (not zombie) processes whose command line holds `marker`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if marker in command and state not in ("Z", "X"):
            found.append((int(entry.name), command))
    return found


def running_in(directory: Path) -> list[int]:
    """Live processes whose working directory is `directory` (every process of a run in a sample project)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
            if entry.name.isdigit() and state not in ("Z", "X") and Path(os.readlink(entry / "cwd")) == directory:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


LEAKY = {
    "test_server.py": """
        import subprocess
        import pytest

        def test_starts_a_server_and_returns():
            subprocess.Popen(["sleep", "301.5"])  # never waited for

        @pytest.mark.serial
        def test_serial_starts_one_too():
            subprocess.Popen(["sleep", "302.5"], stdout=None)

        def test_clean():
            subprocess.run(["true"], check=True)
    """
}


def test_a_leaked_process_is_named_stopped_and_reported(sample_project):
    project = sample_project(LEAKY)
    run = project.run("-n", "2").assert_exit(0)
    leaks = {leak["command"]: leak for leak in run.report["leaks"]}
    assert set(leaks) == {"sleep 301.5", "sleep 302.5"}, run
    assert leaks["sleep 301.5"]["test"] == "test_server.py::test_starts_a_server_and_returns"
    assert leaks["sleep 301.5"]["phase"] == "parallel" and leaks["sleep 302.5"]["phase"] == "serial"
    assert all(leak["stopped"] == "SIGTERM" and leak["pid"] > 0 for leak in leaks.values())
    assert "LEAK pid " in run.stdout and "started by test_server.py::test_starts_a_server_and_returns" in run.stdout
    # Nothing of the run is alive once runtests has exited: no leaked process, no pytest process, no worker.
    assert live_commands("sleep 301.5") == [] and live_commands("sleep 302.5") == []
    assert running_in(project.path) == []

    ignored = project.run("-n", "2", "--leaks", "ignore").assert_exit(0)
    try:
        assert ignored.report["leaks"] == [] and len(live_commands("sleep 301.5")) == 1
    finally:
        for pid, _ in live_commands("sleep 30"):
            os.kill(pid, 9)


def test_plain_output_says_what_is_still_running(sample_project):
    project = sample_project({"test_slow.py": "import time\n\ndef test_slow():\n    time.sleep(2.3)\n\n"
                                              "def test_quick():\n    pass\n"})  # fmt: skip
    run = project.run("-n", "2", "--slow", "1", env={"CI": "true"}).assert_exit(0)
    lines = [line for line in run.stdout.splitlines() if line.startswith("still running")]
    # One line per --slow period the test ran, as runtests saw it run: from 1 s on, none skipped, none said twice,
    # and no more than its duration (by the events) allows, with room for the events' latency.
    duration = next(t["duration_s"] for t in run.report["tests"] if t["nodeid"] == "test_slow.py::test_slow")
    assert 2 <= len(lines) <= duration + 2, run
    for period, line in enumerate(lines, start=1):
        assert line.startswith(f"still running after {period} s: test_slow.py::test_slow [gw"), run
    assert not any("test_quick" in line for line in lines)


def test_more_workers_than_tests_are_capped(sample_project):
    project = sample_project({"test_two.py": "def test_a(): pass\n\ndef test_b(): pass\n"})
    began = time.monotonic()
    run = project.run("-n", "400").assert_exit(0)
    assert time.monotonic() - began < 30  # uncapped, 400 workers took minutes on 2 CPUs
    assert "note: -n 400 capped at 2: the parallel phase has 2 tests" in run.stdout
    assert run.report["phases"][0]["workers"] == 2
    # Between the CPU count and the test count, and at or below the CPUs: unit tests (tests/unit/test_resolve.py).


def test_a_durations_file_that_is_not_json_is_left_as_it_is(sample_project):
    project = sample_project({"test_a.py": "def test_a(): pass\n"})
    store = project.path.parent / "durations.json"
    store.write_text('{"test_a.py::test_a": 0.1,\n<<<<<<< HEAD\n')
    run = project.run("-n", "0", "--durations-file", str(store)).assert_exit(0)
    assert store.read_text() == '{"test_a.py::test_a": 0.1,\n<<<<<<< HEAD\n'
    (line,) = [line for line in run.stdout.splitlines() if f"--durations-file {store}" in line]
    assert "not valid JSON" in line and "left as it is" in line


MISBEHAVING = {
    "test_loud.py": """
        import sys

        def test_prints_50_mb():
            sys.stdout.write("x" * (50 * 1024 * 1024))
            assert False, "after the noise"
    """,
    "test_fds.py": """
        import os

        def test_closes_its_output():
            os.close(1)
            os.close(2)

        def test_after_it():
            print("still here")
    """,
    "test_kill.py": """
        import os
        import signal
        import pytest

        @pytest.mark.serial
        def test_terminates_its_own_pytest():
            os.kill(os.getpid(), signal.SIGTERM)

        @pytest.mark.serial
        def test_never_gets_its_turn():
            pass
    """,
    "test_workdir.py": """
        import os
        import shutil
        from pathlib import Path

        def test_deletes_runtests_work_directory():
            # Its xdist worker's parent is the phase's pytest process, which holds runtests' events file open.
            fds = Path(f"/proc/{os.getppid()}/fd")
            (events,) = {os.readlink(fd) for fd in fds.iterdir() if os.readlink(fd).endswith(".events.jsonl")}
            shutil.rmtree(Path(events).parent)
            assert not Path(events).parent.exists()
    """,
}


def test_misbehaving_tests_still_end_in_a_complete_report(sample_project):
    project = sample_project(MISBEHAVING)
    run = project.run("-n", "2", timeout=180).assert_exit(1)
    outcomes = run.outcomes()
    assert outcomes == {
        "test_loud.py::test_prints_50_mb": "failed",
        "test_fds.py::test_closes_its_output": "passed",
        "test_fds.py::test_after_it": "passed",
        "test_workdir.py::test_deletes_runtests_work_directory": "passed",
        "test_kill.py::test_terminates_its_own_pytest": "error",
        "test_kill.py::test_never_gets_its_turn": "not_run",
    }, run
    # The 50 MB of captured output are cut to their head and tail, and the cut is said.
    assert "[... runtests cut 52,166,656 characters of this text here ...]" in run.stdout
    assert len(run.stdout) < 2 * 1024 * 1024
    assert "the pytest process died while running this test" in run.stdout
    assert "serial phase: 1 test never ran" in run.stdout


def test_an_internal_error_is_the_headline_and_its_tests_not_run(sample_project):
    project = sample_project(
        {
            "conftest.py": """
                def pytest_runtest_logreport(report):
                    if report.when == "call" and not hasattr(report, "node") and report.nodeid.endswith("t3"):
                        raise RuntimeError("the reporting plugin broke")
            """,
            "test_many.py": "".join(f"def test_t{i}(): pass\n" for i in range(8)),
        }
    )
    run = project.run("-n", "0").assert_exit(3)
    totals = run.report["totals"]
    assert totals["not_run"] >= 1 and totals["passed"] + totals["not_run"] + totals["errors"] == 8, run
    assert "INTERNALERROR: RuntimeError: the reporting plugin broke" in run.stdout
    assert "no tests ran" not in run.stdout


def run_on_a_terminal(project, *args: str, timeout: float = 60, columns: int = 160) -> str:
    """runtests with a pseudo-terminal as its stdout, as a person at a terminal runs it: what it drew."""
    import pty
    import select
    import subprocess
    import sys

    from tests.helpers import clean_environ

    leader, follower = pty.openpty()
    env = clean_environ({"TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": "40"})
    process = subprocess.Popen([sys.executable, "-m", "runtests", *args], cwd=project.path, env=env,
                               stdin=subprocess.DEVNULL, stdout=follower, stderr=follower)  # fmt: skip
    os.close(follower)
    drawn = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the terminal's other end closed: runtests is done
                    break
                if not chunk:
                    break
                drawn += chunk
            elif process.poll() is not None:
                break
    finally:
        process.wait(timeout=30)
        os.close(leader)
    return drawn.decode(errors="replace")


def test_on_a_terminal_the_live_view_shows_what_runs_where_and_slow(sample_project):
    """At 120 columns a running test's 150-character id stays on its line, its middle elided."""
    long_id = "x" * 150
    project = sample_project({"test_slow.py": "import time\nimport pytest\n\n"
                                              f"@pytest.mark.parametrize('p', [1], ids=['{long_id}'])\n"
                                              "def test_slow(p):\n    time.sleep(2.5)\n\n"
                                              "def test_quick():\n    pass\n"})  # fmt: skip
    drawn = run_on_a_terminal(project, "-n", "2", "--slow", "1", "--color", "never", columns=120)
    assert re.search(r"gw[01] +\d+\.\ds SLOW test_slow\.py::test_slow\[x+…x+\]", drawn), drawn[-3000:]
    assert "still running after" not in drawn  # that is for plain output; a terminal gets the live view
    assert "Pass rate: 100.0% (2/2)" in drawn
