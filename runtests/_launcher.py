"""The launcher's side: a Python process that imports pytest, then becomes `python -m pytest ARGS`.

    python runtests/_launcher.py FD

It reads one JSON object from file descriptor FD, `{"argv": [...], "cwd": "..."}`, until runtests closes the
pipe; then it changes to `cwd`, puts it first on sys.path (as `python -m` does) and runs pytest's `__main__`
with `argv` through runpy, as `python -m pytest` would. An empty read (runtests decided against the run, or died)
exits at once. See runtests/launch.py for the other side.

Run as a script, it is a fresh interpreter. runtests/launch.py also forks its own process at start-up and calls
these functions in the child: the same, without starting a second interpreter. Either way this module imports
the standard library only, and the child forgets the runtests modules before pytest starts, so pytest sees the
modules of a fresh `python -m pytest` (its assertion rewriting of the runtests plugin included).
"""

import json
import os
import runpy
import sys


def read_command(command_fd: int) -> dict | None:
    """The command runtests sends, read until it closes the pipe; None when it sent nothing (no run)."""
    chunks = []
    while chunk := os.read(command_fd, 65536):
        chunks.append(chunk)
    os.close(command_fd)
    return json.loads(b"".join(chunks)) if chunks else None


def become_pytest(command: dict) -> None:
    """`python -m pytest ARGV` in the command's directory; raises SystemExit with pytest's exit code."""
    os.chdir(command["cwd"])
    sys.path.insert(0, os.getcwd())
    sys.argv = [sys.argv[0], *command["argv"]]
    runpy.run_module("pytest", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    del sys.path[0]  # this script's directory, the runtests package: none of its modules may shadow others

    import pytest  # noqa: F401  the bulk of pytest's start-up, done while runtests reads its options

    command = read_command(int(sys.argv[1]))
    if command is None:
        os._exit(0)
    become_pytest(command)
