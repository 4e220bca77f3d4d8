"""The first pytest process, started before runtests knows its command line (runtests/prestart.py)."""

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

from runtests import prestart
from tests.helpers import clean_environ, run_command


@pytest.fixture
def launcher(tmp_path: Path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    started = prestart.Launcher(workdir, clean_environ())
    yield started
    started.discard()
    if started.process.poll() is None:
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
    assert not launcher.fits(clean_environ(), stream_output=False)


def test_a_dead_launcher_is_told_without_an_error(launcher, tmp_path: Path) -> None:
    os.killpg(launcher.process.pid, signal.SIGKILL)
    launcher.process.wait()
    launcher.launch(["-q"], tmp_path)  # the phase then reports the exit code and output, as for any crash
    assert launcher.command == -1


def test_it_fits_only_the_environment_it_was_started_with_and_captured_output(launcher) -> None:
    assert launcher.fits(clean_environ(), stream_output=False)
    assert not launcher.fits(clean_environ(), stream_output=True)  # --stream: pytest writes to the terminal
    assert not launcher.fits(clean_environ({"EXTRA": "1"}), stream_output=False)


@pytest.mark.parametrize(
    ("argv", "started"),
    [
        ([], True),
        (["tests", "-k", "token"], True),
        (["--help"], False),
        (["-n", "2", "--version"], False),
        (["combine", "a.json", "b.json"], False),
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
    assert "runtests.prestart" not in facts["runtests_modules"]
    assert "runtests.plugin" in facts["runtests_modules"]
    assert facts["session_leader"]
    assert facts["stdin"] == list(os.stat(os.devnull)[1:3])
    assert facts["stdout"] == facts["stderr"] == list(os.stat(launcher.output_path)[1:3])
    assert facts["stdout_buffered"]


def test_a_launcher_that_cannot_start_is_no_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The head start is an optimisation: when its process cannot be made, the run goes on without it (and its
    own start of pytest reports the problem in one line); no descriptor or directory is left behind."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    descriptors = sorted(os.listdir("/proc/self/fd"))
    assert prestart.prestart([], clean_environ()) is None
    assert sorted(os.listdir("/proc/self/fd")) == descriptors
    assert list(tmp_path.iterdir()) == []
