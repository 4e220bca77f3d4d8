"""Run one phase: spawn pytest with the plugin, stream its events to a callback, handle Ctrl-C."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from runtests import events
from runtests.plan import Phase

POLL_INTERVAL_S = 0.05
TERMINATE_TIMEOUT_S = 10.0
PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)

EventCallback = Callable[[dict[str, Any]], None]


@dataclasses.dataclass(frozen=True)
class PhaseRun:
    """What the process did, apart from its events."""

    exit_code: int
    output_path: Path | None  # pytest's own terminal output, when not streamed
    interrupted: bool


def make_command(phase: Phase, events_path: Path) -> list[str]:
    return [sys.executable, "-m", "pytest", f"{events.EVENTS_OPTION}={events_path}", *phase.argv]


def make_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The child's environment: importable runtests.plugin, even from a checkout that is not installed."""
    env = dict(environ)
    paths = [PACKAGE_PARENT, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


class EventReader:
    """Reads whole lines appended to the events file; keeps a torn last line until it is complete."""

    def __init__(self, stream: IO[bytes], on_event: EventCallback) -> None:
        self.stream = stream
        self.on_event = on_event
        self.partial = b""

    def read_available(self) -> None:
        chunk = self.stream.read()
        if not chunk:
            return
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


def signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def run_phase(
    phase: Phase,
    *,
    cwd: Path,
    workdir: Path,
    on_event: EventCallback,
    stream_output: bool,
    environ: Mapping[str, str],
) -> PhaseRun:
    """Run one phase to the end; the first Ctrl-C asks pytest to stop, a second kills its process group."""
    events_path = workdir / f"{phase.name}.events.jsonl"
    events_path.touch()
    output_path = None if stream_output else workdir / f"{phase.name}.output.txt"
    output = open(output_path, "wb") if output_path else None  # noqa: SIM115
    interrupted = False
    try:
        # A session of its own: Ctrl-C reaches runtests only, which then stops the whole group (xdist workers too).
        process = subprocess.Popen(
            make_command(phase, events_path),
            cwd=cwd,
            env=make_env(environ),
            stdin=subprocess.DEVNULL if output else None,
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
            start_new_session=True,
        )
        with open(events_path, "rb") as source:
            reader = EventReader(source, on_event)
            deadline: float | None = None
            while True:
                try:
                    exit_code = process.wait(timeout=POLL_INTERVAL_S)
                    break
                except subprocess.TimeoutExpired:
                    reader.read_available()
                    if deadline is not None and time.monotonic() > deadline:
                        signal_group(process, signal.SIGKILL)
                except KeyboardInterrupt:
                    if interrupted:
                        signal_group(process, signal.SIGKILL)
                    else:
                        interrupted = True
                        signal_group(process, signal.SIGINT)
                        deadline = time.monotonic() + TERMINATE_TIMEOUT_S
            reader.finish()
        if interrupted:
            signal_group(process, signal.SIGKILL)  # leave no worker behind
    finally:
        if output:
            output.close()
    return PhaseRun(exit_code=exit_code, output_path=output_path, interrupted=interrupted)
