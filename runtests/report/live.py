"""The run as it goes: a live view per phase on a terminal (or plain lines in CI and pipes), the tests as they
finish, the replays, what still runs; at the end it hands over to the end summary (runtests.report.terminal)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from runtests.gitcheck import WorktreeState, describe_paths
from runtests.plan import Phase
from runtests.recorder import PhaseObserver, Running
from runtests.report.console import STYLE, Writer, make_console
from runtests.results import FAILING, Outcome, PhaseResult, TestResult

if TYPE_CHECKING:
    from runtests.summary import RunSummary

__all__ = ["TerminalReporter", "make_console"]

REFRESH_PER_S = 8
HOLD_S = 1.0  # the opening lines wait at most this long for the first phase's pytest to begin its session


def describe_phase_setup(phase: Phase) -> str:
    if phase.workers == 0:
        return "sequential, one process"
    return f"-n {phase.workers} --dist {phase.dist}"


class LiveLine:
    """The live view of a running phase: its progress line, then a line per running test (its worker, how long,
    SLOW past --slow), from the phase recorder's table of what runs."""

    def __init__(self, name: str, setup: str, running: Mapping[str, Running], slow_s: float) -> None:
        self.name = name
        self.setup = setup
        self.total: int | None = None
        self.done = 0
        self.failing = 0
        self.started = time.monotonic()
        self.running = running
        self.slow_s = slow_s

    def running_lines(self, now: float, width: int = 0) -> list[Text]:
        """A line per running test, each within `width` columns (0: no limit): a long node id loses its middle,
        never wraps onto a line of its own."""
        lines = []
        for nodeid, test in sorted(self.running.items(), key=lambda item: (item[1].worker or "", item[1].since)):
            elapsed = now - test.since
            line = Text(f"  {test.worker or 'running':>7} ", "grey50")
            line.append(f"{elapsed:5.1f}s ", "yellow bold" if elapsed >= self.slow_s else "grey50")
            if elapsed >= self.slow_s:
                line.append("SLOW ", "yellow bold")
            line.append(elide(nodeid, width - len(line)) if width else nodeid)
            line.no_wrap = True
            lines.append(line)
        return lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        elapsed = time.monotonic() - self.started
        total = "?" if self.total is None else str(self.total)
        line = Text.assemble((f"{self.name} ", "bold"), (f"{self.done}/{total}", "cyan"))
        if self.total:
            width = 24
            filled = min(width, width * self.done // self.total)
            line.append("  " + "━" * filled, "green" if not self.failing else "red")
            line.append("━" * (width - filled), "grey37")
        if self.failing:
            line.append(f"  {self.failing} failing", "red")
        line.append(f"  {elapsed:.1f}s  ({self.setup})", "grey50")
        yield line
        yield from self.running_lines(time.monotonic(), options.max_width)


def elide(text: str, width: int) -> str:
    """`text` within `width` columns: its middle replaced by an ellipsis (a node id's file and test name stay)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


class TerminalReporter(Writer, PhaseObserver):
    """Writes the run to a rich Console as it goes; `live` animates, otherwise plain lines (CI, pipes, NO_COLOR).

    `verbosity` is pytest's (-v: a line per test; -q: fewer lines; -qq: the verdict only), from runtests' reading
    of the arguments until the first phase's pytest says what it resolved (addopts included). It observes each
    phase's recorder (runtests.recorder), whose table of running tests it draws."""

    def __init__(
        self,
        console: Console,
        live: bool,
        verbosity: int = 0,
        slow_s: float = 60.0,
        hold: bool = False,
        serial_marker: str = "serial",
        slowest: int = 0,
    ) -> None:
        super().__init__(console)
        self.live_enabled = live
        self.live: Live | None = None
        self.line: LiveLine | None = None
        self.verbosity = verbosity
        self.slow_s = slow_s
        self.serial_marker, self.slowest = serial_marker, slowest  # for the end summary
        self.running: Mapping[str, Running] = {}  # the running phase's recorder's table
        self.said_running: dict[str, int] = {}  # node id -> how many slow periods were said of it
        self.seed_shown: int | None = None
        self.capture_noted = False
        # The opening lines (notes, the work tree) and the first phase's are held until its pytest has begun its
        # session (or HOLD_S has passed): a pytest that stops before it (a mistyped option, a plugin that fails to
        # configure) has its error said alone.
        self.held: list[tuple[tuple[object, ...], dict[str, object]]] | None = [] if hold else None
        self.held_since: float | None = None
        self.pending: Phase | None = None

    def print(self, *parts: object, **kwargs: object) -> None:
        if self.held is not None:
            self.held.append((parts, kwargs))
            return
        super().print(*parts, **kwargs)

    def release(self, discard: bool = False) -> None:
        """Show what was held (or drop it: `discard`), then the phase that waited to be shown."""
        held, self.held = self.held, None
        for parts, kwargs in [] if held is None or discard else held:
            self.print(*parts, **kwargs)
        phase, self.pending = self.pending, None
        if phase is not None and not discard:
            self.show_phase_start(phase)

    # --- before the run -------------------------------------------------------------------------------
    def show_notes(self, notes: Iterable[str]) -> None:
        for note in notes:
            self.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)

    def show_worktree(self, state: WorktreeState | None, problem: str | None, staged_expected: bool) -> None:
        if problem:
            self.print(f"[yellow]git:[/] {escape(problem)}")
            return
        if state is None:
            return
        if state.head is None:
            self.print("[yellow]git:[/] the repository has no commit yet (unborn HEAD)")
        parts = [
            (state.staged, "staged" + (" (expected under pre-commit)" if staged_expected else "")),
            (state.unstaged, "unstaged"),
            (state.untracked, "untracked"),
        ]
        dirty = [(paths, label) for paths, label in parts if paths]
        if not dirty:
            self.print("[green]git:[/] work tree clean")
            return
        for paths, label in dirty:
            self.print(f"[yellow]git:[/] {len(paths)} {label}: {escape(describe_paths(paths))}")

    # --- during a phase -------------------------------------------------------------------------------
    def phase_started(self, phase: Phase, running: Mapping[str, Running]) -> None:
        self.running = running
        self.said_running.clear()
        if self.held is not None:
            self.pending, self.held_since = phase, time.monotonic()
        else:
            self.show_phase_start(phase)

    def show_phase_start(self, phase: Phase) -> None:
        setup = describe_phase_setup(phase)
        if self.live_enabled:
            self.line = LiveLine(phase.name, setup, self.running, self.slow_s)
            self.live = Live(self.line, console=self.console, refresh_per_second=REFRESH_PER_S, transient=True)
            self.live.start()
        elif self.verbosity >= 0:
            self.print(f"{phase.name} phase: started ({setup})")

    def phase_began(self, terminal: Mapping[str, Any], seed: int | None, parallel: bool) -> None:
        """Its pytest has started: what it resolved of the output settings, the seed of pytest-randomly."""
        if "verbosity" in terminal:
            self.verbosity = int(terminal["verbosity"])
        self.release()
        if seed is not None and seed != self.seed_shown:
            self.seed_shown = seed
            self.print(f"Using --randomly-seed={seed} (pytest-randomly), in every phase")
        if terminal.get("capture") == "no" and parallel and not self.capture_noted:
            self.capture_noted = True
            self.print(
                "[yellow]note:[/] -s: xdist keeps no output of its workers, so what tests print in the parallel "
                "phase is not shown; a sequential phase's is, as it comes"
            )

    def relay(self, line: str) -> None:
        """A line a test printed under -s, as it came."""
        self.console.print(Text(line), soft_wrap=True, highlight=False)

    def phase_collected(self, count: int) -> None:
        if self.line is not None:
            self.line.total = count

    def tick(self, now: float | None = None) -> None:
        """Between events: in plain output, "still running after 60 s: <id> [gw1]" at each --slow period, so that
        a CI log shows where a run hangs (the live view shows it by itself)."""
        now = time.monotonic() if now is None else now
        if self.held_since is not None and self.held is not None and now - self.held_since > HOLD_S:
            self.release()
        if self.live_enabled:
            return
        for nodeid, test in list(self.running.items()):
            periods = int((now - test.since) // self.slow_s)
            if periods > self.said_running.get(nodeid, 0):
                self.said_running[nodeid] = periods
                where = f" [{test.worker}]" if test.worker else ""
                self.print(f"[yellow]still running after {periods * self.slow_s:g} s:[/] {escape(nodeid + where)}",
                           soft_wrap=True)  # fmt: skip

    def test_done(self, test: TestResult) -> None:
        self.said_running.pop(test.nodeid, None)
        if self.line is not None:
            self.line.done += 1
            if test.is_failing:
                self.line.failing += 1
        word = test.outcome.value.upper()
        if self.verbosity >= 1:  # -v: every test as it finishes: outcome, node id, phase, worker and duration
            where = ", ".join(filter(None, (test.phase, test.worker, f"{test.duration_s:.2f}s")))
            style = "red" if test.is_failing else STYLE.get(test.outcome.value, "green")
            self.print(f"[{style}]{word}[/] {escape(test.nodeid)} ({escape(where)})", soft_wrap=True)
        elif test.is_failing:
            where = f" [{test.worker}]" if test.worker else ""
            self.print(f"[red]{word}[/] {escape(test.nodeid)}{escape(where)}", soft_wrap=True)

    def phase_finished(self, result: PhaseResult) -> None:
        if self.held is not None or self.pending is not None:
            self.release(discard=result.sessionless)
        if result.sessionless:
            return  # its error is the run's headline (the end summary)
        if self.live is not None:
            self.live.stop()
            self.live, self.line = None, None
        if result.report_only and not result.interrupted:
            self.print(f"{result.name} phase: no tests; its process reported the run's coverage, in "
                       f"{result.duration_s:.2f}s")  # fmt: skip
            return
        if result.interrupted:
            status = "interrupted"
        else:
            tally = result.tally()
            status = tally.describe() if result.tests or tally.failing else "no tests"
        workers = f", {result.workers} workers" if result.is_parallel else ""
        if self.verbosity >= 0 or result.interrupted:
            self.print(f"{result.name} phase: {status} in {result.duration_s:.2f}s{workers}")
        for leak in result.leaks:
            how = f"stopped ({leak.stopped})" if leak.stopped else "left running"
            self.print(f"[red bold]LEAK[/] pid {leak.pid} started by {escape(leak.test or 'an unknown test')} "
                       f"({result.name} phase), still running after it, {how}: {escape(leak.command)}",
                       soft_wrap=True)  # fmt: skip

    def replay_done(self, nodeid: str, before: int, outcome: Outcome, seconds: float, beside: bool = False) -> None:
        """One replay of a diagnosis, as it ends: the live view's progress, a line in plain output."""
        if self.verbosity < 0:
            return
        after = f"after {before} test{'s' if before != 1 else ''}" if before else "alone"
        if beside:
            after = f"beside {before} test{'s' if before != 1 else ''} that ran at the same time, under xdist"
        style = "red" if outcome in FAILING else "green"
        self.print(f"replay: {escape(nodeid)} {after}: [{style}]{outcome.value}[/] ({seconds:.2f}s)", soft_wrap=True)

    def phase_skipped(self, name: str, reason: str, routine: bool = False) -> None:
        """A phase that will not run, and why; under -q not when that is routine (no serial test selected)."""
        if not (routine and self.verbosity < 0):
            self.say(f"{name} phase: skipped, {reason}")

    def show_annotations(self, lines: list[str]) -> None:
        """CI workflow commands go out exactly as written: no markup, no wrapping."""
        for line in lines:
            self.out(line)

    # --- after the run --------------------------------------------------------------------------------
    def show_summary(self, summary: RunSummary) -> None:
        """The end summary (runtests.report.terminal), once what was held is out."""
        from runtests.report.terminal import EndSummary

        if self.held is not None or self.pending is not None:
            self.release()
        EndSummary(self.console, self.verbosity, self.serial_marker, self.slowest).show(summary)
