"""The terminal report: a live view per phase (or plain lines), failure details, tables, the pass rate."""

from __future__ import annotations

import os
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable

from rich import box
from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from runtests.gitcheck import Pollution, WorktreeState, describe_paths
from runtests.plan import Phase
from runtests.report import trace
from runtests.results import (
    BROKEN_BY_EARLIER,
    COUNT_KEYS,
    DEPENDS_ON_EARLIER,
    FAILING,
    FLAKY,
    PASSED_ON_RETRY,
    Outcome,
    PhaseResult,
    RunSummary,
    TestResult,
)

REFRESH_PER_S = 8
STYLE = {key: "green" if key == "passed" else "yellow" if key in ("skipped", "xfailed", "xpassed") else "red"
         for key in COUNT_KEYS}  # fmt: skip
OUTPUT_TAIL_LINES = 30
HOLD_S = 1.0  # the opening lines wait at most this long for the first phase's pytest to begin its session
OUTPUT_TAIL_BYTES = 64 * 1024
SESSIONLESS_OUTPUT_BYTES = 1 << 20  # pytest's --help is long; its usage errors are short
ADVICE = """\
To fix a parallel-only failure, either
  - run it after the parallel phase, alone: mark it with the serial marker
        @pytest.mark.{marker}                # on the test or its class
        pytestmark = pytest.mark.{marker}    # for a whole module
  - or isolate what it shares per worker: name database files, directories and ports after the `worker_id`
    fixture (or the PYTEST_XDIST_WORKER environment variable), and write files under `tmp_path`."""


def make_console(color: str, live: bool = False) -> Console:
    """`never`: no colour at all; `always`: colour even into a pipe; `auto`: rich decides (and honours NO_COLOR).
    No emoji codes: a test id such as `test_x[:fire:]` is printed as it is. Plain output (no live view: a pipe, CI)
    is never wrapped, so that a line, and a node id in it, stays whole for grep."""
    settings: dict[str, object] = {"highlight": False, "emoji": False, "soft_wrap": not live}
    if color == "never":
        settings |= {"no_color": True, "color_system": None}
    elif color == "always":
        settings["force_terminal"] = True
    return Console(**settings)  # type: ignore[arg-type]


def describe_counts(counts: dict[str, int], always: Iterable[str] = ("passed", "failed")) -> str:
    """pytest's style: `858 passed, 2 failed, 3 skipped`; zero counts left out except `always`."""
    keys = set(always)
    return ", ".join(f"{counts[key]} {key}" for key in COUNT_KEYS if counts[key] or key in keys)


def describe_phase_setup(phase: Phase) -> str:
    if phase.workers == 0:
        return "sequential, one process"
    return f"-n {phase.workers} --dist {phase.dist}"


class LiveLine:
    """The live view of a running phase: its progress line, then a line per running test (its worker, how long,
    SLOW past --slow)."""

    def __init__(self, name: str, setup: str, running: dict[str, tuple[str | None, float]], slow_s: float) -> None:
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
        for nodeid, (worker, since) in sorted(self.running.items(), key=lambda item: (item[1][0] or "", item[1][1])):
            elapsed = now - since
            line = Text(f"  {worker or 'running':>7} ", "grey50")
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


class TerminalReporter:
    """Writes the run to a rich Console; `live` animates, otherwise plain lines (CI, pipes, NO_COLOR).

    `verbosity` is pytest's (-v: a line per test; -q: fewer lines; -qq: the verdict only), from runtests' reading
    of the arguments until the first phase's pytest says what it resolved (addopts included)."""

    def __init__(
        self, console: Console, live: bool, verbosity: int = 0, slow_s: float = 60.0, hold: bool = False
    ) -> None:
        self.console = console
        self.live_enabled = live
        self.live: Live | None = None
        self.line: LiveLine | None = None
        self.verbosity = verbosity
        self.slow_s = slow_s
        self.running: dict[str, tuple[str | None, float]] = {}  # node id -> (worker, when it began)
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
        self.console.print(*parts, highlight=False, **kwargs)  # type: ignore[arg-type]

    def say(self, text: str, style: str | None = None) -> None:
        """A line of plain text: no markup read in it (a node id's `[param]` is no tag), never wrapped."""
        self.print(Text(text, style=style or ""), soft_wrap=True)

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
            self.print(f"[yellow]note:[/] {escape(note)}")

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
    def phase_started(self, phase: Phase) -> None:
        self.running.clear()
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

    def phase_began(self, result: PhaseResult) -> None:
        """Its pytest has started: what it resolved of the output settings, the seed of pytest-randomly."""
        if "verbosity" in result.terminal:
            self.verbosity = int(result.terminal["verbosity"])
        self.release()
        if result.seed is not None and result.seed != self.seed_shown:
            self.seed_shown = result.seed
            self.print(f"Using --randomly-seed={result.seed} (pytest-randomly), in every phase")
        if result.terminal.get("capture") == "no" and result.is_parallel and not self.capture_noted:
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

    def test_begun(self, nodeid: str, worker: str | None) -> None:
        self.running[nodeid] = (worker, time.monotonic())

    def tick(self, now: float | None = None) -> None:
        """Between events: in plain output, "still running after 60 s: <id> [gw1]" at each --slow period, so that
        a CI log shows where a run hangs (the live view shows it by itself)."""
        now = time.monotonic() if now is None else now
        if self.held_since is not None and self.held is not None and now - self.held_since > HOLD_S:
            self.release()
        if self.live_enabled:
            return
        for nodeid, (worker, since) in list(self.running.items()):
            periods = int((now - since) // self.slow_s)
            if periods > self.said_running.get(nodeid, 0):
                self.said_running[nodeid] = periods
                where = f" [{worker}]" if worker else ""
                self.print(f"[yellow]still running after {periods * self.slow_s:g} s:[/] {escape(nodeid + where)}",
                           soft_wrap=True)  # fmt: skip

    def test_done(self, test: TestResult) -> None:
        self.running.pop(test.nodeid, None)
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
            self.print(f"[red]{word}[/] {escape(test.nodeid)}{escape(where)}")

    def phase_finished(self, result: PhaseResult) -> None:
        if self.held is not None or self.pending is not None:
            self.release(discard=result.sessionless)
        if result.sessionless:
            return  # its error is the run's headline (show_sessionless)
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
        self.show_leaks(result)

    def show_leaks(self, result: PhaseResult) -> None:
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
            self.console.out(line, highlight=False)

    # --- after the run --------------------------------------------------------------------------------
    def show_summary(self, summary: RunSummary) -> None:
        if self.held is not None or self.pending is not None:
            self.release()
        sessionless = summary.sessionless()
        if sessionless is not None:
            self.show_sessionless(sessionless)
            return
        self.show_failures(summary)
        self.show_unexplained(summary)
        reportchars = str(summary.terminal.get("reportchars", "wfE"))
        if "w" in reportchars:
            self.show_warnings(summary)
        self.show_passes(summary, reportchars)
        if self.verbosity > -2:
            table = self.make_table(summary)
            # Whole at any width: a narrow terminal (or a pipe's 80 columns) must not cut "skipped" to "skipp…".
            needed = Measurement.get(self.console, self.console.options.update_width(10_000), table).maximum
            width = self.console.width
            self.console.width = max(width, needed)
            try:
                self.print(table)
            finally:
                self.console.width = width
        subtests = summary.subtest_counts()
        if any(subtests.values()):
            self.print("subtests: " + ", ".join(f"{n} {key}" for key, n in subtests.items() if n))
        self.show_time(summary)
        self.show_parallel_only(summary)
        for problem in summary.broken_guarantees:
            self.print(f"[bold red]warning: broken guarantee:[/] {escape(problem)}")
        pollution = summary.worktree.pollution if summary.worktree else None
        if pollution is not None:
            self.show_pollution(pollution)
        if summary.worktree_refusal:
            self.print(f"[red]{escape(summary.worktree_refusal)}[/]")
        if summary.leaks:
            fail = " (--leaks fail: the run fails)" if summary.leaks_fail else ""
            named = ", ".join(f"{leak.test or 'unknown'} (pid {leak.pid})" for _, leak in summary.leaks)
            count = len(summary.leaks)
            self.print(f"[red]{count} process(es) the tests started outlived their phase{fail}: {escape(named)}[/]",
                       soft_wrap=True)  # fmt: skip
        self.show_notes(summary.notes)
        self.show_plugin_summaries(summary)
        self.show_short_summary(summary, reportchars)
        tally = summary.tally
        code = summary.exit_code()
        style = "green" if code == 0 else "red"
        self.print(Text.assemble("Pass rate: ", (tally.format_pass_rate(), f"bold {style}")))
        if not summary.tests and not tally.failing:
            self.print("[yellow]no tests ran[/]")
        self.say(f"{tally.describe()} in {summary.duration_s:.2f}s", style)

    def show_sessionless(self, phase: PhaseResult) -> None:
        """A pytest that ended before its session started: its own output is the whole story (a usage error, to
        standard error as pytest writes it), or its error's last line first, then the end of its output."""
        if phase.refusals or phase.exit_code in (0, 4):
            if phase.refusals:  # runtests' own refusal of a plugin option, made inside pytest: said as runtests'
                text = "\n".join(f"runtests: refused: {refusal}" for refusal in phase.refusals)
            else:  # pytest's usage error, its --help or its --version: as pytest printed it, byte for byte
                text = output_of(phase, SESSIONLESS_OUTPUT_BYTES)
            stream = sys.stderr if phase.exit_code else sys.stdout
            stream.write(text if text.endswith("\n") or not text else text + "\n")
            stream.flush()
            return
        text = tail_of(phase)
        self.say(f"{phase.name} phase: pytest exited with code {phase.exit_code} before its session started: "
                 f"{error_line(text)}", "bold red")  # fmt: skip
        self.console.out(text, highlight=False)

    def show_warnings(self, summary: RunSummary) -> None:
        """pytest's warnings summary, over every phase: each message once, under the places it arose."""
        if not summary.warnings:
            return
        self.heading("warnings summary", "yellow", "==")
        grouped: dict[str, list[str]] = {}
        for warning in summary.warnings:
            grouped.setdefault(warning.message, []).append(warning.location)
        for message, locations in grouped.items():
            places = [place for place in locations if place]
            if len(places) >= 10:  # as pytest collapses them: a count per file
                per_file = Counter(place.split("::", 1)[0] for place in places)
                places = [f"{name}: {n} warning{'s' if n > 1 else ''}" for name, n in per_file.items()]
            if places:
                self.console.out("\n".join(places), highlight=False)
                message = "\n".join("  " + line for line in message.splitlines()).rstrip()
            self.console.out(message.rstrip() + "\n", highlight=False)
        self.console.out("-- Docs: https://docs.pytest.org/en/stable/how-to/capture-warnings.html", highlight=False)

    def show_plugin_summaries(self, summary: RunSummary) -> None:
        """What plugins wrote in their terminal summary (pytest-cov's table, a snapshot plugin's pointer to its
        report), once per phase that wrote any; lines naming runtests' own scratch files are left out."""
        texts = [(phase, text) for phase in summary.phases if (text := plugin_summary_of(phase))]
        for phase, text in texts:
            if len(texts) > 1:
                self.heading(f"{phase.name} phase", "grey50", "--")
            self.console.out(text, highlight=False)

    def show_short_summary(self, summary: RunSummary, reportchars: str) -> None:
        """pytest's short test summary (-r): the characters it was given, in their order."""
        lines = short_summary_lines(summary, reportchars)
        if lines:
            self.heading("short test summary info", "cyan", "==")
            for line in lines:
                self.console.out(line, highlight=False)

    def show_time(self, summary: RunSummary) -> None:
        """The slowest tests (--durations, --slowest) and, per parallel phase, each worker's busy share and the
        idle tail."""
        durations = summary.terminal.get("durations")
        if summary.slowest:  # runtests' own: every test counts, however quick
            self.show_durations(summary, summary.slowest, 0.0)
        elif isinstance(durations, int):
            minimum = summary.terminal.get("durations_min")
            self.show_durations(summary, durations, 0.005 if minimum is None else float(minimum))
        if self.verbosity <= -2:
            return
        for phase in summary.phases:
            shares, tail_s = trace.busy_shares(phase)
            if shares:
                busy = ", ".join(f"{worker} {share:.0%}" for worker, share in shares.items())
                balanced = "balanced by recorded durations; " if phase.scheduler == "runtests" else ""
                self.print(f"{phase.label} phase: {balanced}workers busy {busy}; idle tail {tail_s:.2f}s")

    def show_durations(self, summary: RunSummary, count: int, minimum: float) -> None:
        """As pytest's --durations=N (0: all), over both phases; below `minimum` (--durations-min) hidden unless
        -vv. pytest lists setup, call and teardown apart; runtests lists each test's whole time."""
        ranked = trace.slowest(summary, count or len(summary.tests))
        shown = [test for test in ranked if self.verbosity >= 2 or test.duration_s >= minimum]
        self.heading(f"slowest {count} durations" if count else "slowest durations", "bold", "==")
        for test in shown:
            where = ", ".join(filter(None, (test.phase, test.worker)))
            self.print(f"{test.duration_s:.2f}s {escape(test.nodeid)} ({escape(where)})", soft_wrap=True)
        hidden = len(ranked) - len(shown)
        if hidden:
            self.print(f"({hidden} durations < {minimum:g}s hidden.  Use -vv to show these durations.)")

    def show_pollution(self, pollution: Pollution) -> None:
        for paths, label in ((pollution.created, "created"), (pollution.changed, "changed"),
                             (pollution.deleted, "deleted")):  # fmt: skip
            if not paths:
                continue
            named = [f"{path}{describe_phases(pollution.phases_of.get(path, []))}" for path in paths]
            self.print(
                f"[yellow]git: the tests {label} {len(paths)} file(s):[/] {escape(describe_paths(tuple(named)))}"
            )
        if pollution.ignored:  # not dirt (never refused), but what the tests leave is worth a name
            count = len(pollution.ignored)
            named = [f"{path}{describe_phases(pollution.phases_of.get(path, []))}" for path in pollution.ignored]
            self.say(f"git: the tests left {count} ignored file{'s' if count != 1 else ''}: "
                     f"{describe_paths(tuple(named))}")  # fmt: skip

    def show_parallel_only(self, summary: RunSummary) -> None:
        """The retried failures by verdict, the replays it took, and the advice that fits each verdict."""
        retried = summary.retried()
        if not retried:
            return
        alone = [test for test in retried if test.is_parallel_only]
        stats = summary.retry_stats
        where = "alone" if stats.retried == 1 else "together, in one sequential process"
        self.print(f"retried {where}: {stats.retried} parallel failure{'s' if stats.retried != 1 else ''}: "
                   f"{stats.passed} passed, {stats.retried - stats.passed} failed again")  # fmt: skip
        if stats.replays:
            verdicts = ", ".join(f"{n} {verdict}" for verdict, n in stats.verdicts.items() if n)
            budget = "; the replay budget ran out before the end (--replay-budget)" if stats.incomplete else ""
            self.print(f"diagnosis by replay: {verdicts}; {stats.replays} replays in {stats.replay_s:.2f}s{budget}")
        for verdict in (DEPENDS_ON_EARLIER, BROKEN_BY_EARLIER, FLAKY, PASSED_ON_RETRY):
            tests = [test for test in retried if test.retry is not None and test.retry.verdict == verdict]
            if tests:
                self.print(f"[yellow bold]{verdict}:[/] " + VERDICT_ADVICE[verdict])
                for test in tests:
                    self.print(f"  {escape(describe_verdict(test, summary))}", soft_wrap=True)
        if not alone:
            return
        accepted = " (counted as passed: --accept-parallel-only)" if summary.accept_parallel_only else ""
        self.print(
            f"[yellow bold]parallel-only failures{accepted}:[/] these tests pass in every sequential replay: they "
            "share state with tests that ran at the same time on other workers"
        )
        for test in alone:
            suspects = f"  ran beside: {', '.join(test.suspects)}" if test.suspects else ""
            if test.retry is not None and test.retry.where == "beside":
                suspects += "  (fails again beside them)"
            self.print(f"  {escape(test.nodeid)}{escape(suspects)}", soft_wrap=True)
        self.print(escape(ADVICE.format(marker=summary.serial_marker)))

    def show_failures(self, summary: RunSummary) -> None:
        never = [test for test in summary.tests if test.outcome is Outcome.NOT_RUN]
        for phase in summary.phases:  # one line per phase for what never ran, not a section per test
            mine = [test for test in never if test.phase == phase.name]
            if mine:
                self.print(f"[red]{phase.name} phase: {len(mine)} test{'s' if len(mine) != 1 else ''} never ran: "
                           f"{escape(mine[0].longrepr or '')}[/]")  # fmt: skip
        failing = [test for test in summary.tests if test.is_failing and test.outcome is not Outcome.NOT_RUN]
        errors = summary.collect_errors()
        if not failing and not errors:
            return
        for error in errors:
            self.heading(f"ERROR collecting {error.nodeid} ({error.phase} phase)", "red")
            self.console.out(error.longrepr, highlight=False)
        tbstyle = summary.terminal.get("tbstyle")
        if tbstyle == "no":  # --tb=no: no failure texts (the short summary still names them)
            return
        if tbstyle == "line":  # --tb=line: one line per failure, where it was raised
            for test in failing:
                place = f"{test.crash_path}:{test.crash_line}" if test.crash_path else test.nodeid
                self.console.out(f"{place}: {test.crash_message or test.outcome.value}", highlight=False)
            return
        for test in failing:
            where = ", ".join(filter(None, (f"{test.phase} phase", test.worker)))
            self.heading(f"{headline(test)} ({where})", "red")
            self.console.out(test.longrepr or "(no details)", highlight=False)
            if test.retry is not None:
                self.say(f"retried: {test.retry.outcome.value}; verdict: {test.retry.verdict}")
                if test.retry.verdict in (DEPENDS_ON_EARLIER, BROKEN_BY_EARLIER, FLAKY):
                    self.print(f"[bold]replays:[/] {escape(describe_verdict(test, summary))}", soft_wrap=True)
            if test.suspects:
                self.print("[bold]ran at the same time on other workers:[/] " + escape(", ".join(test.suspects)))
            self.show_sections(test, summary)
            for sub in test.subtests:
                if sub.outcome == "failed" and sub.longrepr:
                    self.heading(f"subtest {sub.description}", "red", "--")
                    self.console.out(sub.longrepr, highlight=False)

    def show_sections(self, test: TestResult, summary: RunSummary) -> None:
        """A test's captured output, as --show-capture lets pytest show it."""
        show = str(summary.terminal.get("showcapture", "all"))
        for header, content in test.sections:
            if show == "no" or (show != "all" and show not in header):
                continue
            self.heading(header, "grey50", "--")
            self.console.out(content.rstrip("\n"), highlight=False)

    def show_passes(self, summary: RunSummary, reportchars: str) -> None:
        """-rP, -rX: pytest's PASSES and XPASSES sections, the captured output of each passing test that had any."""
        if summary.terminal.get("tbstyle") == "no":
            return
        for char, outcome, title in (("P", Outcome.PASSED, "PASSES"), ("X", Outcome.XPASSED, "XPASSES")):
            tests = [test for test in summary.tests if test.outcome is outcome]
            if char not in reportchars or not tests:
                continue
            self.heading(title, "green", "==")
            for test in tests:
                if test.sections:
                    where = ", ".join(filter(None, (f"{test.phase} phase", test.worker)))
                    self.heading(f"{test.nodeid} ({where})", "green")
                    self.show_sections(test, summary)

    def heading(self, title: str, style: str, mark: str = "__") -> None:
        """A section title that never truncates the node id (a rule would, at the console's width)."""
        self.console.print(Text(f"{mark} {title} {mark}", style=style), soft_wrap=True)

    def show_unexplained(self, summary: RunSummary) -> None:
        """pytest's own output when a phase ended in a way its events do not explain."""
        unexplained = summary.unexplained_exit()
        for phase in summary.phases:
            pytest_failed = phase.pytest_exit(3) or phase.pytest_exit(4)
            if not (phase.internal_errors or pytest_failed or (unexplained and unexplained[0] is phase)):
                continue
            if phase.summaries and phase.exit_code == 1 and not phase.internal_errors:  # --cov-fail-under, say
                self.print(
                    f"[red]{phase.name} phase: pytest exited with code 1 though no test failed: a plugin failed the "
                    "session (its summary is below)[/]"
                )
                continue
            for text in phase.internal_errors:  # the error itself first: the tail below is its traceback
                lines = [line.removeprefix("INTERNALERROR>").strip() for line in text.splitlines() if line.strip()]
                self.print(f"[bold red]{phase.name} phase: INTERNALERROR: {escape(lines[-1] if lines else text)}[/]",
                           soft_wrap=True)  # fmt: skip
            self.print(f"[red]{phase.name} phase: pytest exited with code {phase.exit_code}; its output ends:[/]")
            self.console.out(tail_of(phase), highlight=False)

    @staticmethod
    def make_table(summary: RunSummary) -> Table:
        """One row per phase that ran and a total, from the summary's tallies; its time the run's (the last
        line's). Count columns that are zero everywhere are left out."""
        keys = summary.count_columns()
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        table.add_column("phase")
        table.add_column("workers")
        for key in keys:
            table.add_column(key, justify="right", style=STYLE[key])
        table.add_column("time", justify="right")
        for phase in summary.phases:
            if not phase.ran or phase.report_only:
                continue
            counts = summary.phase_tallies[phase.label].counts
            table.add_row(phase.label, phase.workers_label, *(str(counts[k]) for k in keys), f"{phase.duration_s:.2f}s")
        totals = summary.tally.counts
        table.add_row("total", "", *(str(totals[k]) for k in keys), f"{summary.duration_s:.2f}s", style="bold")
        return table


EXCEPTION_LINE = re.compile(r"(?:[A-Za-z_][\w.]*\.)?[A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt|Warning)\b")


def error_line(output: str) -> str:
    """The line that says what went wrong: the last exception's (`pytest_cov.DistCovError: ...`), else the last."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    raised = [line for line in lines if EXCEPTION_LINE.match(line)]
    return (raised or lines or ["(no output)"])[-1]


def headline(test: TestResult) -> str:
    """A failure's heading, as pytest words it: `FAILED id`, `ERROR at setup of id`, `ERROR at teardown of id`."""
    if test.outcome is Outcome.ERROR and test.when in ("setup", "teardown"):
        return f"ERROR at {test.when} of {test.nodeid}"
    return f"{test.outcome.value.upper()} {test.nodeid}"


def describe_phases(names: list[str]) -> str:
    """` (parallel phase)`, ` (parallel and serial phases)`, or nothing when unknown."""
    if not names:
        return ""
    return f" ({' and '.join(names)} phase{'s' if len(names) > 1 else ''})"


VERDICT_ADVICE = {
    DEPENDS_ON_EARLIER: "these tests fail alone and pass after an earlier test: give each a fixture that sets up "
    "what it needs, instead of relying on the test that happens to run first",
    BROKEN_BY_EARLIER: "these tests pass alone and fail after an earlier test in the same process: that test "
    "leaves process state behind (a global, a singleton, an environment variable, a cache): reset it in a fixture",
    FLAKY: "identical replays of these tests disagree: not an order problem; look for randomness, time or the network",
    PASSED_ON_RETRY: "these tests passed when run again, but were not replayed after what ran before them: "
    "undiagnosed, so they still fail the run (--accept-parallel-only takes only verified parallel-only failures)",
}


def describe_verdict(test: TestResult, summary: RunSummary) -> str:
    """`test_x depends on test_y (ran on gw1; it fails without it)`, `test_x is broken by test_z, which ran before
    it on gw0`, or what the replays of a flaky test showed."""
    retry = test.retry
    if retry is None:
        return test.nodeid
    names = ", ".join(retry.culprits) or "?"
    partial = " (not narrowed down: the replay budget ran out)" if not retry.complete else ""
    if retry.verdict == DEPENDS_ON_EARLIER:
        workers = {t.nodeid: t.worker for t in summary.tests}
        ran_on = sorted({w for c in retry.culprits if (w := workers.get(c))})
        where = f"ran on {', '.join(ran_on)}; " if ran_on else ""
        return f"{test.nodeid} depends on {names} ({where}it fails without it){partial}"
    if retry.verdict == BROKEN_BY_EARLIER:
        where = f"which ran before it on {retry.where}" if retry.where.startswith("gw") else "which runs before it"
        if retry.where == "collection order":
            where += " in collection order"
        return f"{test.nodeid} is broken by {names}, {where}{partial}"
    if retry.verdict == FLAKY:
        shown = ", ".join(f"{r.kind}: {r.outcome.value}" for r in retry.replays)
        return f"{test.nodeid}: {shown}"
    return test.nodeid


def plugin_summary_of(phase: PhaseResult) -> str:
    """The part of a phase's pytest output its plugins wrote in their terminal summary, without lines that name
    runtests' scratch files (a plugin announcing the part of a file runtests merges)."""
    if phase.output_path is None or not phase.summaries:
        return ""
    scratch = str(phase.output_path.parent)
    chunks = []
    try:
        with open(phase.output_path, "rb") as output:
            for start, end in phase.summaries:
                output.seek(start)
                chunks.append(output.read(end - start).decode("utf-8", "replace"))
    except OSError:
        return ""
    lines = [line for chunk in chunks for line in chunk.splitlines() if scratch not in line]
    return "\n".join(lines).strip("\n")


# pytest's short summary; its "P" is the PASSES section instead (TerminalReporter.show_passes).
SHORT_WORDS = {"f": (Outcome.FAILED, Outcome.TIMEOUT, Outcome.NOT_RUN), "E": (Outcome.ERROR,),
               "x": (Outcome.XFAILED,), "X": (Outcome.XPASSED,), "p": (Outcome.PASSED,)}  # fmt: skip
SHORT_LABEL = {Outcome.XFAILED: "XFAIL", Outcome.XPASSED: "XPASS"}


def short_summary_lines(summary: RunSummary, reportchars: str) -> list[str]:
    """pytest's short test summary lines for `reportchars` (its -r, resolved): FAILED id - message, SKIPPED [n]
    place: reason (folded by place and reason), XFAIL id - reason..."""
    lines: list[str] = []
    done: set[str] = set()
    for char in reportchars:
        if char in done:
            continue
        done.add(char)
        if char == "s":
            folded = Counter(
                (f"{t.skip_where[0]}:{t.skip_where[1]}" if t.skip_where else t.nodeid, t.reason or "")
                for t in summary.tests
                if t.outcome is Outcome.SKIPPED
            )
            lines += [
                f"SKIPPED [{n}] {place}: {reason.removeprefix('Skipped: ')}" for (place, reason), n in folded.items()
            ]
            continue
        for test in summary.tests:
            if test.outcome not in SHORT_WORDS.get(char, ()):
                continue
            word = SHORT_LABEL.get(test.outcome, test.outcome.value.upper())
            detail = test.reason if test.outcome in (Outcome.XFAILED, Outcome.XPASSED) else test.crash_message
            if detail is None and test.is_failing and test.longrepr:
                detail = test.longrepr.strip().splitlines()[-1]
            first = (detail or "").strip().splitlines()[:1]  # pytest: the reason's first line, when there is one
            lines.append(f"{word} {test.nodeid}" + (f" - {first[0]}" if first else ""))
    return lines


def show_collection(console: Console, result: PhaseResult, expression: str, exit_code: int) -> int:
    """--collect-only (without -q, whose lines are pytest's own): every collected test under the phase it would
    run in; pytest's exit code. Collection errors are shown as pytest shows them."""
    for error in result.collect_errors:
        console.print(Text(f"__ ERROR collecting {error.nodeid} __", style="red"), soft_wrap=True)
        console.out(error.longrepr, highlight=False)
    collected = result.collected or []
    serial = set(result.serial_ids or ())
    parallel = [nodeid for nodeid in collected if nodeid not in serial]
    groups = (("parallel", parallel), ("serial", [nodeid for nodeid in collected if nodeid in serial]))
    for name, ids in groups:
        chosen = f" (chosen by {expression!r})" if name == "serial" else ""
        console.print(Text(f"{name} phase: {len(ids)} test{'s' if len(ids) != 1 else ''}{chosen}", style="bold"))
        for nodeid in ids:
            console.out(f"  {nodeid}", highlight=False)
    errors = len(result.collect_errors)
    tail = f", {errors} error{'s' if errors != 1 else ''}" if errors else ""
    console.print(f"{len(collected)} tests collected{tail}", highlight=False)
    return exit_code


def output_of(phase: PhaseResult, size: int = OUTPUT_TAIL_BYTES) -> str:
    """The last `size` bytes of a phase's pytest output, as written ("" when there is none to read)."""
    if phase.output_path is None:
        return ""
    try:
        with open(phase.output_path, "rb") as output:  # its end only: a test may have printed 50 MB into it
            output.seek(max(0, output.seek(0, os.SEEK_END) - size))
            return output.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def tail_of(phase: PhaseResult) -> str:
    """The end of a phase's pytest output: its last lines, to show under what went wrong."""
    if phase.output_path is None:
        return "(pytest's output was streamed above)"
    lines = output_of(phase).splitlines()
    return "\n".join(lines[-OUTPUT_TAIL_LINES:]) or "(pytest's output is missing or empty)"
