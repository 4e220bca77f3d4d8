"""The first pytest process, started before runtests knows its command line (runtests/launch/prestart.py)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from unittest import mock

import pytest

from runtests.launch import fork, prestart
from tests.helpers import clean_environ, run_command


@pytest.fixture
def launcher(tmp_path: Path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    started = prestart.prestart([], clean_environ({"MARKER": "phase-env"}), workdir=lambda: str(workdir))
    assert started is not None
    yield started
    started.discard()
    try:
        started.process.wait(timeout=0)
    except subprocess.TimeoutExpired:  # still running: a test left it so
        os.killpg(started.process.pid, signal.SIGKILL)
        started.process.wait()


def test_it_becomes_python_m_pytest_in_the_directory_it_is_given(launcher, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_a.py").write_text("def test_one(): pass\ndef test_two(): pass\n")
    launcher.launch(["--collect-only", "-q", "-p", "no:cacheprovider"], project)
    assert launcher.process.wait(timeout=60) == 0
    output = launcher.output_path.read_text()
    assert "test_a.py::test_one" in output and "2 tests collected" in output, output


def test_a_launcher_never_told_is_stopped_without_a_trace(launcher) -> None:
    launcher.discard()
    assert launcher.process.returncode is not None  # reaped: no process left behind
    assert launcher.output_path.read_text() == ""  # it ran nothing that could print
    assert not launcher.fits(clean_environ({"MARKER": "phase-env"}), stream_output=False)


def test_a_dead_launcher_is_told_without_an_error(launcher, tmp_path: Path) -> None:
    os.killpg(launcher.process.pid, signal.SIGKILL)
    launcher.process.wait()
    launcher.launch(["-q"], tmp_path)  # the phase then reports the exit code and output, as for any crash
    assert launcher.command == -1


def test_it_fits_only_the_environment_it_was_started_with_and_captured_output(launcher) -> None:
    assert launcher.fits(clean_environ({"MARKER": "phase-env"}), stream_output=False)
    assert not launcher.fits(clean_environ({"MARKER": "phase-env"}), stream_output=True)  # --stream: to the terminal
    assert not launcher.fits(clean_environ(), stream_output=False)


@pytest.mark.parametrize(
    ("argv", "started"),
    [
        ([], True),
        (["tests", "-k", "token"], True),
        (["--help"], False),
        (["-n", "2", "--version"], False),
        (["combine", "a.json", "b.json"], False),
        (["diagnose", "t.py::test_x"], False),
        (["--", "--help"], True),  # pytest's own --help, after runtests' options
    ],
)
def test_prestart_only_for_a_run(argv: list[str], started: bool) -> None:
    launcher = prestart.prestart(argv, clean_environ())
    try:
        assert (launcher is not None) == started
    finally:
        if launcher is not None:
            launcher.discard()
            shutil.rmtree(launcher.workdir)


@pytest.mark.parametrize("argv", [["--version"], ["--no-such-option"]])
def test_the_entry_point_stops_an_unused_launcher_and_freezes_the_heap(argv: list[str], tmp_path: Path) -> None:
    """A launcher no run took (a usage error) is stopped and its workdir removed; after the last line, Python's
    shutdown need not collect runtests' own heap again."""
    script = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0))\n"  # runs after main() returned
        "from runtests.__main__ import main\n"
        f"sys.argv = ['runtests', *{argv!r}]\n"
        "sys.exit(main())\n"
    )
    done = run_command([sys.executable, "-c", script], cwd=tmp_path, env={"TMPDIR": str(tmp_path)})
    assert done.stdout.splitlines()[-1] == "frozen True", done
    assert list(tmp_path.iterdir()) == [], done  # no runtests-* workdir left


# A test that writes what its pytest process looks like from inside (run with -s: fd 1 is not captured).
FACTS_TEST = """
import json, os, sys

def test_facts():
    facts = {
        "orig_argv": sys.orig_argv,
        "sys_path": sys.path[:2],
        "pythonpath": os.environ.get("PYTHONPATH", "").split(os.pathsep),
        "marker": os.environ.get("MARKER"),
        "runtests_modules": sorted(name for name in sys.modules if name.split(".")[0] == "runtests"),
        "session_leader": os.getsid(0) == os.getpid(),
        "stdin": list(os.fstat(0)[1:3]),
        "stdout": list(os.fstat(1)[1:3]),
        "stderr": list(os.fstat(2)[1:3]),
        "stdout_buffered": not sys.stdout.line_buffering,
    }
    with open("facts.json", "w") as stream:
        json.dump(facts, stream)
"""


def test_a_launched_process_is_what_python_m_pytest_would_be(launcher, tmp_path: Path) -> None:
    """Its own session, stdin from /dev/null, stdout and stderr to the output file, the phase's environment, sys.path
    as `python -m pytest` builds it, and no runtests module but the plugin's, imported afresh under assertion
    rewriting (a warning about an already imported module would fail the run)."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_facts.py").write_text(FACTS_TEST)
    launcher.launch(["-s", "-p", "no:cacheprovider", "-W", "error::pytest.PytestAssertRewriteWarning"], project)
    assert launcher.process.wait(timeout=60) == 0, launcher.output_path.read_text()
    facts = json.loads((project / "facts.json").read_text())
    assert facts["orig_argv"][1:] == [prestart.__file__, mock.ANY]
    assert facts["sys_path"] == [str(project), prestart.PACKAGE_PARENT]  # as `python -m pytest` with PYTHONPATH
    assert facts["pythonpath"][0] == prestart.PACKAGE_PARENT
    assert facts["marker"] == "phase-env"
    assert "runtests.launch.prestart" not in facts["runtests_modules"]
    assert "runtests.plugin" in facts["runtests_modules"]
    assert facts["session_leader"]
    assert facts["stdin"] == list(os.stat(os.devnull)[1:3])
    assert facts["stdout"] == facts["stderr"] == list(os.stat(launcher.output_path)[1:3])
    assert facts["stdout_buffered"]


@pytest.mark.parametrize("forked", [False, True], ids=["spawn", "fork"])
def test_a_launcher_that_cannot_start_is_no_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forked) -> None:
    """The head start is an optimisation: when its process cannot be made, the run goes on without it (and its
    own start of pytest reports the problem in one line); no descriptor or directory is left behind."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setattr(os, "fork", refuse)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    descriptors = sorted(os.listdir("/proc/self/fd"))
    how = (fork.start, fork.make_workdir) if forked else ()
    assert prestart.prestart([], clean_environ(), *how) is None
    assert sorted(os.listdir("/proc/self/fd")) == descriptors
    assert list(tmp_path.iterdir()) == []


# A fresh interpreter, started plainly, that forks a launcher as the entry point does and runs FACTS_TEST in it.
FORKING_SCRIPT = """
import json, os, select, sys
from pathlib import Path
from runtests.launch import fork, prestart

workdir, project = sys.argv[1], Path(sys.argv[2])
stray_read, stray_write = os.pipe()  # a descriptor the child must not keep
launcher = prestart.prestart([], {**os.environ, "MARKER": "phase-env"}, fork.start, lambda: workdir)
os.close(stray_write)
# EOF: no copy of the write end is left open anywhere (a copy kept open would leave the read end silent).
stray_closed = bool(select.select([stray_read], [], [], 10)[0]) and os.read(stray_read, 1) == b""
launcher.launch(["-s", "-p", "no:cacheprovider", "-W", "error::pytest.PytestAssertRewriteWarning"], project)
try:
    code = launcher.process.wait(timeout=60)
except Exception:
    os.killpg(launcher.process.pid, 9)  # a child that kept a pipe's write end waits for itself: leave none behind
    raise
print(json.dumps({"code": code, "stray_closed": stray_closed, "output": launcher.output_path.read_text(),
                  "output_id": list(os.stat(launcher.output_path)[1:3])}))
"""


def test_a_forked_launcher_is_what_python_m_pytest_would_be(tmp_path: Path) -> None:
    """Forked from a plain interpreter: its own session, stdin from /dev/null, stdout and stderr to the output
    file, no inherited descriptor, the phase's environment and sys.path, and no runtests module but the plugin's,
    imported afresh under assertion rewriting (a warning about an already imported module would fail the run)."""
    workdir, project = tmp_path / "work", tmp_path / "project"
    workdir.mkdir()
    project.mkdir()
    (project / "test_facts.py").write_text(FACTS_TEST)
    script = tmp_path / "fork_it.py"
    script.write_text(FORKING_SCRIPT)
    argv = [sys.executable, str(script), str(workdir), str(project)]
    done = run_command(argv, cwd=tmp_path, input_text="").assert_exit(0)  # stdin: a pipe, not /dev/null
    told = json.loads(done.stdout)
    assert told["code"] == 0, told["output"]
    assert told["stray_closed"]
    facts = json.loads((project / "facts.json").read_text())
    assert facts["orig_argv"][1:] == [str(script), str(workdir), str(project)]  # forked, not started anew
    assert facts["sys_path"] == [str(project), prestart.PACKAGE_PARENT]  # as `python -m pytest` with PYTHONPATH
    assert facts["pythonpath"][0] == prestart.PACKAGE_PARENT
    assert facts["marker"] == "phase-env"
    assert not {"runtests.launch.fork", "runtests.launch.prestart"} & set(facts["runtests_modules"])
    assert "runtests.plugin" in facts["runtests_modules"]
    assert facts["session_leader"]
    assert facts["stdin"] == list(os.stat(os.devnull)[1:3])
    assert facts["stdout"] == facts["stderr"] == told["output_id"]
    assert facts["stdout_buffered"]


def test_a_forked_process_waits_and_times_out_as_popen() -> None:
    def spawn(code: str) -> fork.ForkedProcess:
        argv = [sys.executable, "-c", code]
        return fork.ForkedProcess(os.posix_spawn(sys.executable, argv, clean_environ()))

    done = spawn("import sys; sys.exit(3)")
    assert done.wait() == 3 and done.wait(timeout=0) == 3 and done.returncode == 3
    running = spawn("import time; time.sleep(60)")
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            running.wait(timeout=0.05)
    finally:
        os.kill(running.pid, signal.SIGKILL)
    assert running.wait(timeout=30) == -signal.SIGKILL


@pytest.mark.parametrize(
    ("command", "body", "safe"),
    [
        (["check.py"], "", True),  # as the `runtests` script: `python .../bin/runtests`
        (["-m", "check"], "", True),  # `python -m runtests`
        (["-O", "check.py"], "", False),  # `python -m pytest` would run without it: asserts kept, rewriting on
        (["-X", "importtime", "-m", "check"], "", False),
        (["-W", "error", "check.py"], "", False),
        (
            ["check.py"],
            "import threading; threading.Thread(target=__import__('time').sleep, args=(5,), daemon=True).start()\n",
            False,
        ),
        (["check.py"], "import pytest\n", False),
    ],
    ids=["script", "-m", "-O", "-X", "-W", "threads", "pytest-loaded"],
)
def test_the_entry_point_forks_only_from_a_plain_start(
    tmp_path: Path, command: list[str], body: str, safe: bool
) -> None:
    check = "from runtests.launch.fork import is_safe\nprint(is_safe(), flush=True)\n"
    (tmp_path / "check.py").write_text(body + check)
    done = run_command([sys.executable, *command], cwd=tmp_path).assert_exit(0)
    assert done.stdout.split() == [str(safe)], done


def test_no_fork_from_inside_pytest() -> None:
    assert not fork.is_safe()  # pytest is loaded here, and xdist's threads may run


def test_the_workdir_is_private_and_new_each_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    first, second = fork.make_workdir(), fork.make_workdir()
    assert first != second
    for made in (first, second):
        assert Path(made).parent == tmp_path and Path(made).name.startswith("runtests-")
        assert os.stat(made).st_mode & 0o777 == 0o700


def test_an_unusable_tmpdir_falls_back_to_tempfile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a-file").touch()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "a-file"))
    made = Path(fork.make_workdir())
    try:
        assert made.is_dir() and made.name.startswith("runtests-")
        assert made.parent == Path(tempfile.gettempdir())
    finally:
        made.rmdir()


def test_a_forked_child_that_fails_before_pytest_exits_and_never_runs_on_as_runtests(tmp_path: Path) -> None:
    """An error in the child, even an OSError (which prestart would take for a failed start), ends the child with
    exit code 1 and the traceback; it must never fall back into the entry point's code, a second runtests."""
    script = (
        "import os, sys\n"
        "from runtests.launch import fork, prestart\n"
        "def broken(output, keep, env): raise OSError('broken child')\n"
        "fork.become_launcher = broken\n"
        "launcher = prestart.prestart([], dict(os.environ), fork.start, fork.make_workdir)\n"
        "print('runtests goes on', os.getpid(), flush=True)\n"
        "print('launcher exit', launcher.process.wait(timeout=60), flush=True)\n"
    )
    done = run_command([sys.executable, "-c", script], cwd=tmp_path, env={"TMPDIR": str(tmp_path)}).assert_exit(0)
    lines = done.stdout.splitlines()
    assert [line.split()[:3] for line in lines] == [["runtests", "goes", "on"], ["launcher", "exit", "1"]], done
    assert "OSError: broken child" in done.stderr
