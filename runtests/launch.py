"""Start the first pytest process before runtests knows its command line.

Most of a pytest process's start-up is importing pytest. The `runtests` entry point starts a process at once,
before it imports Click or reads any configuration; that process (runtests/_launcher.py) imports pytest, then
waits on a pipe for its command line and working directory, and becomes `python -m pytest ARGS` there, as if
started so. A process that is never told (--help, a usage error, a phase that needs other settings) is killed
before it has run any code but pytest's imports.

From a plain start (`runtests ...` or `python -m runtests ...`: no interpreter options, one thread, nothing but
the standard library loaded) the entry point forks: the child is a running interpreter already, and skips the
40-70 ms a second one takes to start (its `site` and .pth files included). The child then makes itself what a
fresh `python -m pytest` would be: its own session, stdin from /dev/null, stdout and stderr to the output file,
no other inherited descriptor, the phase's environment and sys.path, and no runtests module loaded. Otherwise
(interpreter options such as -O or -X, threads, tests calling this module) it starts `python _launcher.py`.

The runtests side runs before anything else is loaded, and imports only what the fork needs before the fork
(os, sys and gc, all loaded with the interpreter): the rest of the standard library it uses (pathlib, subprocess,
json, tempfile: 20-40 ms in a fresh interpreter) only afterwards, where it is not in pytest's way.
"""

from __future__ import annotations

import gc
import os
import sys

TYPE_CHECKING = False  # typing itself costs a fresh interpreter 6 ms before the fork
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path
    from typing import NoReturn, Protocol

    class Process(Protocol):
        """What runtests uses of a phase's process: subprocess.Popen, or the forked launcher."""

        pid: int

        def poll(self) -> int | None: ...

        def wait(self, timeout: float | None = None) -> int: ...


PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_launcher.py")
NOT_A_RUN = {"--help", "-h", "--version"}  # these never start pytest
MAX_FD = max(os.sysconf("SC_OPEN_MAX"), 256) if hasattr(os, "sysconf") else 256

_prestarted: Launcher | None = None


def make_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The child's environment: importable runtests.plugin, even from a checkout that is not installed."""
    env = dict(environ)
    paths = [PACKAGE_PARENT, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


class ForkedProcess:
    """A forked launcher, as much of subprocess.Popen as runtests uses: pid, returncode, poll() and wait()."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.args = [sys.executable, "-m", "pytest"]
        self.returncode: int | None = None

    def reap(self, options: int) -> int | None:
        """os.waitpid with `options` (WNOHANG: without waiting), once the exit code is known no more."""
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, options)
            except ChildProcessError:  # reaped elsewhere: as subprocess.Popen, call it a success
                self.returncode = 0
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def poll(self) -> int | None:
        return self.reap(os.WNOHANG)

    def wait(self, timeout: float | None = None) -> int:
        """The exit code (minus the signal number when killed); subprocess.TimeoutExpired past `timeout`."""
        if timeout is None:
            while (code := self.reap(0)) is None:
                pass  # without WNOHANG, waitpid blocks until the child has ended: one pass
            return code
        import subprocess
        import time

        deadline = time.monotonic() + timeout
        delay = 0.0005  # as subprocess.Popen.wait: short sleeps, doubling
        while (code := self.poll()) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout)
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.05)
        return code


class Launcher:
    """A process importing pytest ahead of time, its output going to a file in runtests' own workdir."""

    def __init__(self, workdir: str | Path, environ: Mapping[str, str], fork: bool = False) -> None:
        self.env = make_env(environ)
        output_path = os.path.join(workdir, "pytest.output.txt")
        command_read, self.command = os.pipe()
        self.gate_read, self.gate = os.pipe()  # the gate fd keeps its number in the child (pass_fds)
        self.process: Process
        try:
            self.process = self.fork(command_read, output_path) if fork else self.spawn(command_read, output_path)
        except OSError:  # never in the forked child: it leaves through SystemExit only
            os.close(self.command)
            os.close(self.gate)
            raise
        from pathlib import Path

        self.workdir, self.output_path = Path(workdir), Path(output_path)

    def spawn(self, command_read: int, output_path: str) -> Process:
        """Start `python _launcher.py` (see the module's docstring)."""
        import subprocess

        try:
            with open(output_path, "wb") as output:
                return subprocess.Popen(
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

    def fork(self, command_read: int, output_path: str) -> ForkedProcess:
        """Fork this process into the launcher (see the module's docstring); the child never returns here."""
        keep = (command_read, self.gate_read)
        output = os.open(output_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        ready_read, ready_write = os.pipe()
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()  # nothing buffered may be written twice
        try:
            pid = os.fork()
        except OSError:
            for descriptor in (output, ready_read, ready_write, *keep):
                os.close(descriptor)
            raise
        if pid == 0:  # the child: no cleanup code of the parent's may run on its way out, so only SystemExit leaves
            try:
                become_launcher(output, keep, self.env)
            except SystemExit:
                raise
            except BaseException:
                import traceback

                traceback.print_exc()  # to the output file, as a fresh interpreter would print it
                raise SystemExit(1) from None
        for descriptor in (output, ready_write, *keep):
            os.close(descriptor)
        # Popen returns once the child is on its own; so does this: the child's copy of ready_write closes when
        # it has its own session (os.killpg reaches it) and has closed every inherited descriptor.
        os.read(ready_read, 1)
        os.close(ready_read)
        return ForkedProcess(pid)

    def fits(self, environ: Mapping[str, str], stream_output: bool) -> bool:
        return not stream_output and self.command >= 0 and make_env(environ) == self.env

    def launch(self, argv: Sequence[str], cwd: Path) -> None:
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


def become_launcher(output: int, keep: tuple[int, int], env: Mapping[str, str]) -> NoReturn:
    """In the forked child: become what `python _launcher.py` would be, then pytest. Raises SystemExit with
    pytest's exit code, which unwinds through the entry point's frames (none runs cleanup code on this path) to
    Python's own exit: atexit handlers, non-daemon threads and buffered output as in any pytest process."""
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    close_inherited(keep)  # the ready pipe's end among them: that tells the parent
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
    # sys.path as a fresh interpreter would build it from `env`: the PYTHONPATH make_env gives, then the rest. The
    # entry point's own first entry (its script's directory, or the directory of `python -m`) goes, as in
    # _launcher.py; become_pytest puts the run's directory first.
    sys.path[:] = list(dict.fromkeys([*env["PYTHONPATH"].split(os.pathsep), *sys.path[1:]]))
    from runtests._launcher import become_pytest, read_command

    for name in [name for name in sys.modules if name == "runtests" or name.startswith("runtests.")]:
        del sys.modules[name]  # the plugin is imported afresh, under pytest's assertion rewriting
    import pytest  # noqa: F401  the bulk of pytest's start-up, done while runtests reads its options

    command = read_command(keep[0])
    if command is None:
        os._exit(0)
    become_pytest(command)
    raise SystemExit(0)  # pytest's __main__ always raises SystemExit: not reached


def close_inherited(keep: tuple[int, ...]) -> None:
    """Close every descriptor above stderr but `keep`, as subprocess's close_fds: those open, as listed in
    /proc/self/fd (/dev/fd elsewhere), else every number up to the limit (which can be huge: not the first way)."""
    import contextlib
    import itertools

    try:
        listed = os.listdir("/proc/self/fd")
    except OSError:
        try:
            listed = os.listdir("/dev/fd")
        except OSError:
            listed = []
    if listed:
        for descriptor in {int(name) for name in listed} - {0, 1, 2, *keep}:
            with contextlib.suppress(OSError):  # the listing's own descriptor, closed already
                os.close(descriptor)
        return
    for low, high in itertools.pairwise([2, *sorted(keep), MAX_FD]):
        os.closerange(low + 1, high)


def fork_is_safe() -> bool:
    """Whether the entry point may fork its launcher: a child indistinguishable from a fresh interpreter.

    Not when the interpreter was given options (`python -O`, `-X ...`, `-W ...`: `python -m pytest` would run
    without them), with threads (only the forking thread would survive), or once pytest is loaded (this module
    called from a test).
    """
    if not hasattr(os, "fork") or "pytest" in sys.modules:
        return False
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        return False
    argv = getattr(sys, "orig_argv", [])
    return len(argv) > 1 and (argv[1] == "-m" or not argv[1].startswith("-"))


def prestart(argv: Sequence[str], environ: Mapping[str, str], fork: bool = False) -> None:
    """From the entry point: start a launcher unless the command line cannot be a run."""
    global _prestarted
    head = list(argv[: argv.index("--")] if "--" in argv else argv)
    if head[:1] == ["combine"] or NOT_A_RUN.intersection(head):
        return
    # No head start when this fails: the run then starts its first pytest process itself, and reports what fails
    # in one line (here it would be a traceback).
    try:
        workdir = make_workdir()
    except OSError:
        return
    try:
        _prestarted = Launcher(workdir, environ, fork)
    except OSError:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)  # runtests' own: the output file, empty


def make_workdir() -> str:
    """A new private directory for runtests' own files, as tempfile.mkdtemp makes one (a fresh random name, mode
    0700, in $TMPDIR or /tmp), without loading tempfile before the fork; tempfile itself when that fails."""
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
        import shutil

        shutil.rmtree(launcher.workdir, ignore_errors=True)


def main() -> int:
    """The `runtests` entry point: the launcher first, then everything else."""
    argv = sys.argv[1:]
    prestart(argv, os.environ, fork=fork_is_safe())
    try:
        from runtests.cli import main as cli_main

        return cli_main(argv)
    finally:
        discard_prestarted()
        # Everything is written and every child waited for: spare Python's shutdown its collections over
        # Click's, rich's and GitPython's modules and the run's results (50-100 ms after the last line).
        gc.freeze()
