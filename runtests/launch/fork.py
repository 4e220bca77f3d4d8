"""The first pytest process forked from runtests' own interpreter, instead of started as a second one.

A second interpreter's start (its `site` and .pth files included) is the one cost of the head start that runtests
can skip: the child of a fork is a running interpreter already. It then makes itself what a fresh
`python runtests/launch/prestart.py FD` would be: its own session, stdin from /dev/null, stdout and stderr to the output
file, no other inherited descriptor, the phase's environment and sys.path, and no runtests module loaded (so that
pytest imports the plugin afresh, under assertion rewriting). Only from a plain start: see is_safe().

This module, and what the entry point loads before the fork, import os, sys and itertools only.
"""

from __future__ import annotations

import itertools
import os
import sys

from runtests.launch.prestart import become_pytest, read_command

MAX_FD = max(os.sysconf("SC_OPEN_MAX"), 256) if hasattr(os, "sysconf") else 256


def is_safe() -> bool:
    """Whether a forked child would be indistinguishable from a fresh interpreter: not when Python was given options
    (`-O`, `-X`, `-W`: `python -m pytest` runs without them), with threads (only the forking one would survive), or
    once pytest is loaded (runtests called from a test); and only where a child's exit can be awaited (pidfd)."""
    if not hasattr(os, "fork") or not hasattr(os, "pidfd_open") or "pytest" in sys.modules:
        return False
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        return False
    argv = getattr(sys, "orig_argv", [])
    return len(argv) > 1 and (argv[1] == "-m" or not argv[1].startswith("-"))


def make_workdir() -> str:
    """A new private directory (mode 0700, a random name in $TMPDIR or /tmp), as tempfile.mkdtemp makes one, which
    would load tempfile (and what it imports) before the fork; tempfile's own when that fails."""
    base = os.path.abspath(os.environ.get("TMPDIR") or "/tmp")
    for _ in range(10):
        path = os.path.join(base, "runtests-" + os.urandom(6).hex())
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        except OSError:
            break
        return path
    import tempfile

    return tempfile.mkdtemp(prefix="runtests-")


class ForkedProcess:
    """The forked child, as much of subprocess.Popen as runtests uses: pid, returncode and wait()."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.pidfd = os.pidfd_open(pid)  # readable once the child has ended
        self.returncode: int | None = None

    def wait(self, timeout: float | None = None) -> int:
        """The exit code (minus the signal number when killed); subprocess.TimeoutExpired past `timeout`."""
        if self.returncode is None:
            import select
            import subprocess

            if not select.select([self.pidfd], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired([sys.executable, "-m", "pytest"], timeout or 0)
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
            os.close(self.pidfd)
        return self.returncode


def start(output_path: str, env: dict[str, str], command_read: int, gate_read: int) -> ForkedProcess:
    """Fork into the launcher (see the module's docstring), as prestart.spawn starts one. The child never returns
    here: it leaves through SystemExit only, so that no cleanup code of the parent's runs in it."""
    keep = (command_read, gate_read)
    output = os.open(output_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    ready_read, ready_write = os.pipe()
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()  # nothing buffered may be written twice
    try:
        pid = os.fork()
    except OSError:
        for descriptor in (output, ready_read, ready_write):
            os.close(descriptor)
        raise
    if pid == 0:
        try:
            become_launcher(output, keep, env)
        except SystemExit:
            raise
        except BaseException:
            import traceback

            traceback.print_exc()  # to the output file, as a fresh interpreter would print it
            raise SystemExit(1) from None
    os.close(output)
    os.close(ready_write)
    # As Popen, return once the child is on its own: its copy of ready_write closes when it has its own session
    # (os.killpg reaches it) and has closed every inherited descriptor.
    os.read(ready_read, 1)
    os.close(ready_read)
    return ForkedProcess(pid)


def become_launcher(output: int, keep: tuple[int, int], env: dict[str, str]) -> None:
    """In the child: become what `python prestart.py FD` would be, then pytest. Raises SystemExit with pytest's exit
    code, through the entry point's frames (none runs cleanup code on this path) to Python's own exit."""
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    for low, high in itertools.pairwise([2, *sorted(keep), MAX_FD]):  # as close_fds: the ready pipe's end among
        os.closerange(low + 1, high)  # them, which tells the parent
    streams = [getattr(sys, name) for name in ("stdin", "stdout", "stderr")]
    encoding = [getattr(stream, "encoding", None) for stream in streams]
    errors = [getattr(stream, "errors", None) for stream in streams]
    # As a fresh interpreter's: stdout block-buffered (not a terminal now), stderr line-buffered.
    sys.stdin = open(0, encoding=encoding[0], errors=errors[0], closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", encoding=encoding[1], errors=errors[1], closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", 1, encoding=encoding[2], errors=errors[2], closefd=False)  # noqa: SIM115
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr  # type: ignore[misc]
    os.environ.clear()
    os.environ.update(env)
    # sys.path as a fresh interpreter builds it from `env` (the PYTHONPATH make_env gives, then the rest), less the
    # entry point's own first entry, as prestart.py's script drops its own; become_pytest puts the run's first.
    sys.path[:] = list(dict.fromkeys([*env["PYTHONPATH"].split(os.pathsep), *sys.path[1:]]))
    for name in [name for name in sys.modules if name == "runtests" or name.startswith("runtests.")]:
        del sys.modules[name]  # pytest would find them imported already, and could not rewrite the plugin
    import pytest  # noqa: F401  the bulk of pytest's start-up, done while runtests reads its options

    command = read_command(keep[0])
    if command is None:
        os._exit(0)
    become_pytest(command)
    raise SystemExit(0)  # pytest's __main__ always raises SystemExit: not reached
