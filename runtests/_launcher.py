"""Run as a script, never imported: a Python process that imports pytest, then becomes `python -m pytest ARGS`.

    python runtests/_launcher.py FD

It reads one JSON object from file descriptor FD, `{"argv": [...], "cwd": "..."}`, until runtests closes the
pipe; then it changes to `cwd`, puts it first on sys.path (as `python -m` does) and runs pytest's `__main__`
with `argv` through runpy, as `python -m pytest` would. Nothing of the runtests package is imported here, so
pytest sees the same modules as in a fresh `python -m pytest` (its assertion rewriting included). An empty read
(runtests decided against the run, or died) exits at once. See runtests/launch.py for the other side.
"""

import json
import os
import runpy
import sys

del sys.path[0]  # this script's directory, the runtests package: none of its modules may shadow others

import pytest  # noqa: E402, F401  the bulk of pytest's start-up, done while runtests reads its options


def main() -> None:
    command_fd = int(sys.argv[1])
    chunks = []
    while chunk := os.read(command_fd, 65536):
        chunks.append(chunk)
    os.close(command_fd)
    if not chunks:
        os._exit(0)
    command = json.loads(b"".join(chunks))
    os.chdir(command["cwd"])
    sys.path.insert(0, os.getcwd())
    sys.argv = [sys.argv[0], *command["argv"]]
    runpy.run_module("pytest", run_name="__main__", alter_sys=True)


main()
