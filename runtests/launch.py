"""Start the first pytest process before runtests knows its command line.

Most of a pytest process's start-up is importing pytest. The `runtests` entry point starts a Python process at
once, before it imports Click or reads any configuration; that process (runtests/_launcher.py, a script that
imports nothing of runtests) imports pytest, then waits on a pipe for its command line and working directory, and
becomes `python -m pytest ARGS` there, as if started so. A process that is never told (--help, a usage error, a
phase that needs other settings) is killed before it has run any code but pytest's imports.

The runtests side imports the standard library only: it runs before anything else is loaded.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_launcher.py")
NOT_A_RUN = {"--help", "-h", "--version"}  # these never start pytest

_prestarted: Launcher | None = None


def make_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The child's environment: importable runtests.plugin, even from a checkout that is not installed."""
    env = dict(environ)
    paths = [PACKAGE_PARENT, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


class Launcher:
    """A Python process importing pytest ahead of time, its output going to a file in runtests' own workdir."""

    def __init__(self, workdir: Path, environ: Mapping[str, str]) -> None:
        self.workdir = workdir
        self.env = make_env(environ)
        self.output_path = workdir / "pytest.output.txt"
        command_read, self.command = os.pipe()
        self.gate_read, self.gate = os.pipe()  # the gate fd keeps its number in the child (pass_fds)
        try:
            with open(self.output_path, "wb") as output:
                self.process = subprocess.Popen(
                    [sys.executable, LAUNCHER, str(command_read)],
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # as every phase: Ctrl-C reaches runtests, which stops the group
                    pass_fds=(command_read, self.gate_read),
                )
        finally:
            os.close(command_read)
            os.close(self.gate_read)

    def fits(self, environ: Mapping[str, str], stream_output: bool) -> bool:
        return not stream_output and self.command >= 0 and make_env(environ) == self.env

    def launch(self, argv: Sequence[str], cwd: Path) -> None:
        """Become `python -m pytest ARGV` in `cwd`; pytest then waits at the gate (fd `gate_read`)."""
        message = json.dumps({"argv": list(argv), "cwd": str(cwd)}).encode()
        try:
            while message:
                message = message[os.write(self.command, message) :]
        except BrokenPipeError:
            pass  # the child died (pytest not importable?): its exit code and output tell the story
        finally:
            os.close(self.command)
            self.command = -1

    def discard(self) -> None:
        """Never launched: stop it at once (it has run nothing but imports)."""
        if self.command >= 0:
            os.close(self.command)
            self.command = -1
            os.close(self.gate)
            self.gate = -1
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def prestart(argv: Sequence[str], environ: Mapping[str, str]) -> None:
    """From the entry point: start a launcher unless the command line cannot be a run."""
    global _prestarted
    head = list(argv[: argv.index("--")] if "--" in argv else argv)
    if head[:1] == ["combine"] or NOT_A_RUN.intersection(head):
        return
    _prestarted = Launcher(Path(tempfile.mkdtemp(prefix="runtests-")), environ)


def take_prestarted() -> Launcher | None:
    """The launcher for the run, if the entry point started one; it is the caller's from now on."""
    global _prestarted
    launcher, _prestarted = _prestarted, None
    return launcher


def discard_prestarted() -> None:
    """After the run: a launcher nobody took (a usage error, --help) is stopped and its workdir removed."""
    launcher = take_prestarted()
    if launcher is not None:
        launcher.discard()
        shutil.rmtree(launcher.workdir, ignore_errors=True)


def main() -> int:
    """The `runtests` entry point: the launcher first, then everything else."""
    argv = sys.argv[1:]
    prestart(argv, os.environ)
    try:
        from runtests.cli import main as cli_main

        return cli_main(argv)
    finally:
        discard_prestarted()
        # Everything is written and every child waited for: spare Python's shutdown its collections over
        # Click's, rich's and GitPython's modules and the run's results (50-100 ms after the last line).
        gc.freeze()
