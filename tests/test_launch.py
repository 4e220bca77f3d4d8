"""The launcher: a pytest process started before runtests knows its command line (runtests/launch.py)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from runtests import launch
from tests.conftest import clean_environ


@pytest.fixture
def launcher(tmp_path: Path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    started = launch.Launcher(workdir, clean_environ())
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
    launch.prestart(argv, clean_environ())
    launcher = launch.take_prestarted()
    try:
        assert (launcher is not None) == started
        assert launch.take_prestarted() is None  # taken once
    finally:
        if launcher is not None:
            launcher.discard()
            shutil.rmtree(launcher.workdir)


def test_discard_prestarted_removes_its_workdir() -> None:
    launch.prestart([], clean_environ())
    launcher = launch._prestarted
    assert launcher is not None and launcher.workdir.is_dir()
    launch.discard_prestarted()
    assert not launcher.workdir.exists()
    assert launcher.process.returncode is not None


@pytest.mark.parametrize("argv", [["--version"], ["--no-such-option"]])
def test_the_heap_is_frozen_once_runtests_is_done(argv: list[str]) -> None:
    """After the last line, Python's shutdown need not collect runtests' own heap again."""
    script = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0))\n"  # runs after main() returned
        "from runtests.launch import main\n"
        f"sys.argv = ['runtests', *{argv!r}]\n"
        "sys.exit(main())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], env=clean_environ(), capture_output=True, text=True)
    assert done.stdout.splitlines()[-1] == "frozen True", done.stdout + done.stderr
