"""The first pytest process, started before runtests knows its command line.

Most of a pytest process's start-up is importing pytest. The entry point starts this module as a script at once,
before it imports Click or reads any configuration:

    python runtests/launch/prestart.py FD

That process imports pytest, then reads one JSON object from file descriptor FD, `{"argv": [...], "cwd": "..."}`,
until runtests closes the pipe; then it changes to `cwd`, puts it first on sys.path (as `python -m` does) and runs
pytest's `__main__` with `argv` through runpy, as `python -m pytest` would. An empty read (runtests decided
against the run, or died) exits at once, having run nothing but pytest's imports. As a script it imports the
standard library only, and no runtests module, so pytest sees the modules of a fresh `python -m pytest` (its
assertion rewriting of the runtests plugin included). `Launcher` below is runtests' side of it; runtests/launch/fork.py
forks it instead, from a plain start. What the entry point loads before either is os and sys.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # above runtests/
NOT_A_RUN = {"--help", "-h", "--version"}  # these never start pytest


def make_env(environ: Mapping[str, str]) -> dict[str, str]:
    """A pytest process's environment: importable runtests.plugin, even from a checkout that is not installed."""
    env = dict(environ)
    paths = [PACKAGE_PARENT, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


class Launcher:
    """A process importing pytest ahead of time, its output going to a file in runtests' own workdir; `command` is
    the write end of the pipe it reads its command line from, `gate` the write end of its gate."""

    def __init__(self, workdir: str, env: dict[str, str], process: Any, command: int, gate: int, gate_read: int):
        from pathlib import Path  # after the process has started: not in its way

        self.workdir, self.output_path = Path(workdir), Path(workdir) / OUTPUT_NAME
        self.env, self.process, self.command, self.gate, self.gate_read = env, process, command, gate, gate_read

    def fits(self, environ: Mapping[str, str], stream_output: bool) -> bool:
        return not stream_output and self.command >= 0 and make_env(environ) == self.env

    def launch(self, argv: Sequence[str], cwd: Any) -> None:
        """Become `python -m pytest ARGV` in `cwd`; pytest then waits at the gate (fd `gate_read`)."""
        import json

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
            import contextlib
            import signal

            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


OUTPUT_NAME = "pytest.output.txt"
Start = Callable[[str, dict[str, str], int, int], Any]  # (output file, env, command read end, gate read end)


def spawn(output_path: str, env: dict[str, str], command_read: int, gate_read: int) -> Any:
    """Start `python runtests/launch/prestart.py FD` (see the module's docstring)."""
    import subprocess

    with open(output_path, "wb") as output:
        return subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), str(command_read)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # as every phase: Ctrl-C reaches runtests, which stops the group
            pass_fds=(command_read, gate_read),  # the gate fd keeps its number in the child
        )


def make_workdir() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="runtests-")


def prestart(
    argv: Sequence[str],
    environ: Mapping[str, str],
    start: Start = spawn,
    workdir: Callable[[], str] = make_workdir,
) -> Launcher | None:
    """From the entry point: a launcher started by `start` (spawn, or runtests.launch.fork's), unless the command line
    cannot be a run, or it cannot be started (the run then starts its first pytest process itself, and reports
    what fails in one line)."""
    head = list(argv[: argv.index("--")] if "--" in argv else argv)
    if head[:1] in (["combine"], ["diagnose"]) or NOT_A_RUN.intersection(head):
        return None
    try:
        directory = workdir()
    except OSError:
        return None
    env = make_env(environ)
    command_read, command = os.pipe()
    gate_read, gate = os.pipe()
    # No `finally` here: a forked child leaves through this frame by SystemExit, and must run no cleanup of ours.
    try:
        process = start(os.path.join(directory, OUTPUT_NAME), env, command_read, gate_read)
    except OSError:
        for descriptor in (command, gate, command_read, gate_read):
            os.close(descriptor)
        import shutil

        shutil.rmtree(directory, ignore_errors=True)  # runtests' own: the output file, empty
        return None
    os.close(command_read)  # the child's now
    os.close(gate_read)
    return Launcher(directory, env, process, command, gate, gate_read)


def read_command(command_fd: int) -> dict[str, Any] | None:
    """The command runtests sends, read until it closes the pipe; None when it sent nothing (no run)."""
    import json

    chunks = []
    while chunk := os.read(command_fd, 65536):
        chunks.append(chunk)
    os.close(command_fd)
    return json.loads(b"".join(chunks)) if chunks else None


def become_pytest(command: dict[str, Any]) -> None:
    """`python -m pytest ARGV` in the command's directory; raises SystemExit with pytest's exit code."""
    import runpy

    os.chdir(command["cwd"])
    sys.path.insert(0, os.getcwd())
    sys.argv = [sys.argv[0], *command["argv"]]
    runpy.run_module("pytest", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    del sys.path[0]  # this script's directory, the runtests package: none of its modules may shadow others

    import pytest  # noqa: F401  the bulk of pytest's start-up, done while runtests reads its options

    received = read_command(int(sys.argv[1]))
    if received is None:
        os._exit(0)
    become_pytest(received)
