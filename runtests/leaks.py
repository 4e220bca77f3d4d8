"""Processes a phase left behind: found in its session once its pytest process has exited, named, and stopped.

Every phase's pytest process leads a session of its own (runtests starts it so), and what its tests start joins
that session unless it leaves on purpose (`setsid`, a daemon's double fork): those are out of reach. Linux's /proc
only; elsewhere nothing is found. Standard library only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

PROC = Path("/proc")
SETTLE_S = 0.5  # what is on its way out when pytest exits (an xdist worker finishing) gets this long
GRACE_S = 2.0  # from SIGTERM to SIGKILL
POLL_S = 0.02


@dataclasses.dataclass(frozen=True)
class Leak:
    pid: int
    command: str
    test: str | None  # the test that started it, when its environment or its start time tells
    started_at: float | None  # wall clock
    stopped: str = ""  # how it was stopped: "SIGTERM", "SIGKILL", or "" (left running)


def read_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (which may hold spaces and parentheses)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def session_members(sid: int, exclude: Iterable[int] = ()) -> list[int]:
    """Live (not zombie) processes of session `sid`, but the session leader itself and `exclude`."""
    skip = {sid, os.getpid(), *exclude}
    members = []
    try:
        entries = [entry.name for entry in PROC.iterdir() if entry.name.isdigit()]
    except OSError:
        return []
    for name in entries:
        pid = int(name)
        fields = read_stat(pid)
        if pid in skip or fields is None or len(fields) < 20:
            continue
        state, session = fields[0], int(fields[3])
        if session == sid and state not in ("Z", "X"):
            members.append(pid)
    return sorted(members)


def boot_time() -> float | None:
    try:
        for line in (PROC / "stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        pass
    return None


def describe(pid: int, booted: float | None) -> Leak | None:
    """What one process is: its command line, the test in its environment (pytest's PYTEST_CURRENT_TEST is
    inherited by what a test starts), its start time. None when it has gone meanwhile."""
    fields = read_stat(pid)
    if fields is None:
        return None
    try:
        command = (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None
    test = None
    with contextlib.suppress(OSError):
        for entry in (PROC / str(pid) / "environ").read_bytes().split(b"\0"):
            if entry.startswith(b"PYTEST_CURRENT_TEST="):
                test = entry.partition(b"=")[2].decode(errors="replace").rsplit(" (", 1)[0]
    started = None
    if booted is not None:
        started = booted + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return Leak(pid, command or f"[pid {pid}]", test, started)


def alive(pid: int) -> bool:
    fields = read_stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def wait_gone(pids: Sequence[int], seconds: float, clock: Callable[[], float] = time.monotonic) -> list[int]:
    deadline = clock() + seconds
    left = [pid for pid in pids if alive(pid)]
    while left and clock() < deadline:
        time.sleep(POLL_S)
        left = [pid for pid in left if alive(pid)]
    return left


# How execnet starts an xdist worker: one still exiting after its controller is the run's own, not a leak.
XDIST_WORKER = "import sys;exec(eval(sys.stdin.readline()))"


def collect(sid: int, stop: bool = True) -> list[Leak]:
    """The processes session `sid` still holds after its leader exited (given a moment to go by themselves),
    described, then stopped when `stop`: SIGTERM, and SIGKILL to what outlives the grace. A lingering xdist
    worker is stopped too, but is not a leak of the tests'."""
    members = wait_gone(session_members(sid), SETTLE_S)
    if not members:
        return []
    booted = boot_time()
    described = [leak for pid in members if (leak := describe(pid, booted)) is not None]
    for worker in [leak for leak in described if XDIST_WORKER in leak.command]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(worker.pid, signal.SIGKILL)
    found = [leak for leak in described if XDIST_WORKER not in leak.command]
    if not stop:
        return found
    for leak in found:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(leak.pid, signal.SIGTERM)
    killed = set(wait_gone([leak.pid for leak in found], GRACE_S))
    for pid in killed:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    wait_gone(sorted(killed), GRACE_S)
    return [dataclasses.replace(leak, stopped="SIGKILL" if leak.pid in killed else "SIGTERM") for leak in found]


def attribute_leaks(found: Sequence[Leak], tests: Sequence[Any]) -> list[Leak]:
    """Each leaked process with the test that started it: from its environment, else the one test (with `nodeid`,
    `start` and `stop`) that was running when it started; "unknown" is left to the report when neither tells."""
    named = []
    for leak in found:
        if leak.test is None and leak.started_at is not None:
            running = [t.nodeid for t in tests if t.start is not None and t.stop is not None
                       and t.start <= leak.started_at <= t.stop]  # fmt: skip
            if len(running) == 1:
                leak = dataclasses.replace(leak, test=running[0])
        named.append(leak)
    return named
