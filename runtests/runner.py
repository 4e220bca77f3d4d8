"""Run one phase: spawn pytest with the plugin, stream its events into the phase's recorder, handle Ctrl-C and
time limits; start the next phase's process ahead, held at its gate."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from runtests import events, leaks
from runtests.config import Options
from runtests.launch.prestart import Launcher, make_env
from runtests.plan import Phase, make_plan
from runtests.recorder import Ended, PhaseRecorder
from runtests.results import PhaseResult

Process = subprocess.Popen[bytes]

POLL_INTERVAL_S = 0.02  # how soon a finished phase is noticed; each poll is one read of the events file
TERMINATE_TIMEOUT_S = 10.0  # from the polite SIGINT to SIGKILL
HUNG_TEST_GRACE_S = 5.0  # past --timeout, for a test stuck where the in-process alarm cannot interrupt it

EventCallback = Callable[[dict[str, Any]], None]


@dataclasses.dataclass
class Limits:
    """When to stop a phase that does not end by itself; monotonic seconds."""

    run_deadline: float | None = None
    test_timeout_s: float | None = None


def nothing_running() -> float | None:
    return None


class Watch:
    """Turns signals, deadlines and hung tests into a stop: SIGINT to pytest's group, then SIGKILL. What runs, and
    since when, it reads from the phase's recorder (`oldest_running`: when the longest-running test began)."""

    def __init__(self, limits: Limits, oldest_running: Callable[[], float | None] = nothing_running) -> None:
        self.limits = limits
        self.oldest_running = oldest_running
        self.interrupts = 0
        self.kill_at: float | None = None
        self.reason: str | None = None

    def on_signal(self, signum: int, frame: Any) -> None:
        self.interrupts += 1

    def why_stop(self, now: float) -> str | None:
        if self.interrupts:
            return "interrupted"
        deadline = self.limits.run_deadline
        if deadline is not None and now > deadline:
            return "timed_out"
        limit, oldest = self.limits.test_timeout_s, self.oldest_running()
        if limit is not None and oldest is not None and now - oldest > limit + HUNG_TEST_GRACE_S:
            return "timed_out"
        return None

    def check(self, process: Process) -> None:
        now = time.monotonic()
        if self.reason is None:
            self.reason = self.why_stop(now)
            if self.reason is not None:
                signal_group(process, signal.SIGINT)  # pytest stops and writes what it has, as on Ctrl-C
                self.kill_at = now + TERMINATE_TIMEOUT_S
        elif self.interrupts >= 2 or (self.kill_at is not None and now > self.kill_at):
            signal_group(process, signal.SIGKILL)


class OutputTail:
    """Relays what a process appends to its output file, whole lines at a time, while `relaying()` says so (under
    -s, once the process's pytest has said so)."""

    MAX_CHUNK = 1 << 20

    def __init__(self, write: Callable[[str], None], relaying: Callable[[], bool]) -> None:
        self.write = write
        self.relaying = relaying
        self.offset = 0
        self.partial = b""

    def poll(self, path: Path | None, final: bool = False) -> None:
        if path is None or not self.relaying():
            return
        try:
            with open(path, "rb") as source:
                source.seek(self.offset)
                while chunk := source.read(self.MAX_CHUNK):
                    self.offset += len(chunk)
                    lines = (self.partial + chunk).split(b"\n")
                    self.partial = lines.pop()
                    if len(self.partial) > self.MAX_CHUNK:  # a line without end: relay it in pieces
                        lines.append(self.partial)
                        self.partial = b""
                    for line in lines:
                        self.write(line.decode("utf-8", "replace"))
        except OSError:
            return
        if final and self.partial:
            self.write(self.partial.decode("utf-8", "replace"))
            self.partial = b""


def make_command(phase: Phase, events_path: Path) -> list[str]:
    return [sys.executable, "-m", "pytest", f"{events.EVENTS_OPTION}={events_path}", *phase.argv]


class EventReader:
    """Reads whole lines appended to the events file; keeps a torn last line until it is complete."""

    def __init__(self, stream: IO[bytes], on_event: EventCallback) -> None:
        self.stream = stream
        self.on_event = on_event
        self.partial = b""

    CHUNK = 4 << 20  # bytes read at once: a huge events file streams through in bounded memory

    def read_available(self) -> None:
        while chunk := self.stream.read(self.CHUNK):
            lines = (self.partial + chunk).split(b"\n")
            self.partial = lines.pop()
            for line in lines:
                self.deliver(line)

    def finish(self) -> None:
        self.read_available()
        if self.partial:  # a writer killed mid-line: decode drops it unless it happens to be whole
            self.deliver(self.partial)
            self.partial = b""

    def deliver(self, line: bytes) -> None:
        event = events.decode(line.decode("utf-8", "replace"))
        if event is not None:
            self.on_event(event)


def signal_group(process: Process, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


class PhaseProcess:
    """One phase's pytest process, started held at a gate and released when runtests is ready.

    The gate is in the plugin, before pytest loads any conftest: Python and pytest start up (a few hundred
    milliseconds) while runtests checks the work tree or waits for the phase before, yet no test code runs
    before its turn.
    """

    def __init__(
        self,
        phase: Phase,
        *,
        cwd: Path,
        workdir: Path,
        stream_output: bool,
        environ: Mapping[str, str],
        only_ids: list[str] | None = None,
        launcher: Launcher | None = None,
    ) -> None:
        """Start the process; through `launcher` (already importing pytest) when one is given: it must fit."""
        self.phase = phase
        self.watch: Watch | None = None  # from the release on
        self.handlers: dict[int, Any] = {}
        self.released_at = (0.0, 0.0)  # time.time(), time.monotonic()
        self.output_path: Path | None  # pytest's own output, unless it goes to the terminal
        workdir.mkdir(parents=True, exist_ok=True)  # a test may have deleted it (it holds runtests' files only)
        self.events_path = workdir / f"{phase.name}.events.jsonl"
        self.events_path.touch()
        # Held open from the start: a test deleting the work directory takes the name, not the file.
        self.events = open(self.events_path, "rb")  # noqa: SIM115  (closed when the phase has run or is cancelled)
        command = make_command(phase, self.events_path)
        if only_ids is not None:
            listing = workdir / f"{phase.name}.only.txt"
            listing.write_text("".join(f"{nodeid}\n" for nodeid in only_ids), encoding="utf-8")
            command.append(f"{events.ONLY_OPTION}={listing}")
        if launcher is not None:
            command.append(f"{events.GATE_OPTION}={launcher.gate_read}")
            launcher.launch(command[3:], cwd)  # what follows `python -m pytest`
            self.process, self.gate, self.output_path = launcher.process, launcher.gate, launcher.output_path
            return
        self.output_path = None if stream_output else workdir / f"{phase.name}.output.txt"
        gate_read, self.gate = os.pipe()
        command.append(f"{events.GATE_OPTION}={gate_read}")
        with contextlib.ExitStack() as stack:
            stack.callback(os.close, gate_read)
            output = stack.enter_context(open(self.output_path, "wb")) if self.output_path else None
            # A session of its own: Ctrl-C reaches runtests only, which stops the whole group (xdist workers too).
            self.process = subprocess.Popen(
                command,
                cwd=cwd,
                env=make_env(environ),
                stdin=subprocess.DEVNULL if output else None,
                stdout=output,
                stderr=subprocess.STDOUT if output else None,
                start_new_session=True,
                pass_fds=(gate_read,),
            )

    def release(self, limits: Limits | None = None, word: bytes = events.GATE_GO) -> Watch:
        """Open the gate: pytest loads the conftests and runs. From here on Ctrl-C and SIGTERM stop it (they are
        counted now and acted on in run()), so runtests may go on preparing its report before calling run().
        `word` GATE_REPORT_ONLY: the process runs no test, only its plugins' reports (the run's coverage)."""
        if self.watch is None:
            self.watch = Watch(limits or Limits())
            self.handlers = install_handlers(self.watch.on_signal)
            self.released_at = (time.time(), time.monotonic())
            if self.gate >= 0:
                with contextlib.suppress(OSError):  # a child that already died: run() reports it
                    os.write(self.gate, word)
                os.close(self.gate)
                self.gate = -1
        return self.watch

    def cancel(self) -> None:
        """Never run: the child sees the gate close and exits before any test code is loaded. Released but never
        run (runtests failed in between): its process group is killed."""
        self.events.close()
        if self.gate >= 0:
            os.close(self.gate)
            self.gate = -1
        elif self.watch is not None:
            signal_group(self.process, signal.SIGKILL)
        try:
            self.process.wait(timeout=TERMINATE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            signal_group(self.process, signal.SIGKILL)
            self.process.wait()
        finally:
            restore_handlers(self.handlers)
            self.handlers = {}

    def run(
        self,
        recorder: PhaseRecorder,
        limits: Limits | None = None,
        word: bytes = events.GATE_GO,
        tail: OutputTail | None = None,
        find_leaks: bool = True,
        tick: Callable[[], None] | None = None,
    ) -> PhaseResult:
        """Release the gate and run to the end, the events into `recorder`, whose record of the phase it returns;
        the first Ctrl-C asks pytest to stop, a second kills its group. `tail`: relays what the process writes to
        its output as it comes (under -s)."""
        watch = self.release(limits, word)
        if limits is not None:
            watch.limits = limits
        watch.oldest_running = recorder.oldest_running
        process = self.process
        try:
            with self.events as source:
                reader = EventReader(source, recorder.add)
                while True:
                    try:
                        exit_code = process.wait(timeout=POLL_INTERVAL_S)
                        break
                    except subprocess.TimeoutExpired:
                        reader.read_available()
                        if tail is not None:
                            tail.poll(self.output_path)
                        if tick is not None:
                            tick()
                        watch.check(process)
                reader.finish()
                if tail is not None:
                    tail.poll(self.output_path, final=True)
            if watch.reason is not None:
                signal_group(process, signal.SIGKILL)  # leave no worker behind
            # What the tests started and left running is still in the process's session: name it, stop it.
            leaked = tuple(leaks.collect(process.pid)) if find_leaks else ()
        finally:
            restore_handlers(self.handlers)
            self.handlers = {}
        started_at, began = self.released_at
        # From its gate's opening, which may have come before this call (the first phase: see commands.run).
        ended = Ended(exit_code, watch.reason == "interrupted", watch.reason == "timed_out", started_at,
                      time.monotonic() - began, self.output_path, leaked)  # fmt: skip
        return recorder.finish(ended)


def run_quietly(process: PhaseProcess, name: str, limits: Limits | None = None) -> PhaseResult:
    """Run a process to its end, showing nothing: its record (collections, replays, pytest's information
    commands)."""
    return process.run(PhaseRecorder(name), limits)


def collect_suite(options: Options, starter: PhaseStarter) -> PhaseResult:
    """One sequential --collect-only process over the run's selection: the collected ids, and the serial ones."""
    listing = dataclasses.replace(options, pytest_args=(*options.pytest_args, "--collect-only"))
    collect = make_plan(listing).phases[0]
    return run_quietly(starter.take(collect), collect.name)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def install_handlers(handler: Callable[[int, Any], None]) -> dict[int, Any]:
    """Catch Ctrl-C and SIGTERM while a phase runs, so that pytest is stopped, never orphaned."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}


def restore_handlers(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


class PhaseStarter:
    """Starts each phase's pytest process, held at its gate; the next phase ahead of time when it will run."""

    def __init__(
        self,
        cwd: Path,
        workdir: Path,
        environ: Mapping[str, str],
        stream_output: bool,
        launcher: Launcher | None = None,
    ) -> None:
        self.cwd, self.workdir, self.environ, self.stream_output = cwd, workdir, environ, stream_output
        self.waiting: dict[str, PhaseProcess] = {}
        self.launcher = launcher  # started by the entry point, already importing pytest: for the first phase

    def start(self, phase: Phase, only_ids: list[str] | None = None) -> None:
        if phase.name not in self.waiting:
            launcher, self.launcher = self.launcher, None
            if launcher is not None and not launcher.fits(self.environ, self.stream_output):
                launcher.discard()
                launcher = None
            self.waiting[phase.name] = PhaseProcess(
                phase,
                cwd=self.cwd,
                workdir=self.workdir,
                stream_output=self.stream_output,
                environ=self.environ,
                only_ids=only_ids,
                launcher=launcher,
            )

    def start_ahead(self, phases: Sequence[Phase], held_back: Sequence[str]) -> None:
        """Some tests wait for a later phase: start its process now, to wait at the gate."""
        if held_back:
            for phase in phases:
                self.start(phase)

    def release(self, phase: Phase, limits: Limits) -> None:
        """Let the phase's pytest go on before runtests takes it to run (see PhaseProcess.release)."""
        self.start(phase)
        self.waiting[phase.name].release(limits)

    def take(self, phase: Phase, only_ids: list[str] | None = None) -> PhaseProcess:
        self.start(phase, only_ids)
        return self.waiting.pop(phase.name)

    def cancel(self, name: str | None = None) -> None:
        """Stop processes that will not run (one phase, or all); they exit at the gate, before any test code."""
        if name is None and self.launcher is not None:
            self.launcher.discard()
            self.launcher = None
        for key in [name] if name is not None else list(self.waiting):
            process = self.waiting.pop(key, None)
            if process is not None:
                process.cancel()
