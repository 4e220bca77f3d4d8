"""The terminal report: a live view per phase (or plain lines), failure details, tables, the pass rate."""

from __future__ import annotations

import time
from collections.abc import Iterable

from rich import box
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from runtests.gitcheck import Pollution, WorktreeState, describe_paths
from runtests.plan import Phase
from runtests.report import trace
from runtests.results import COUNT_KEYS, PhaseResult, RunSummary, TestResult, format_pass_rate

REFRESH_PER_S = 8
STYLE = {key: "green" if key == "passed" else "yellow" if key in ("skipped", "xfailed", "xpassed") else "red"
         for key in COUNT_KEYS}  # fmt: skip
OUTPUT_TAIL_LINES = 30
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
    """The one-line live view of a running phase."""

    def __init__(self, name: str, setup: str) -> None:
        self.name = name
        self.setup = setup
        self.total: int | None = None
        self.done = 0
        self.failing = 0
        self.started = time.monotonic()

    def __rich__(self) -> Text:
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
        return line


class TerminalReporter:
    """Writes the run to a rich Console; `live` animates, otherwise plain lines (CI, pipes, NO_COLOR)."""

    def __init__(self, console: Console, live: bool) -> None:
        self.console = console
        self.live_enabled = live
        self.live: Live | None = None
        self.line: LiveLine | None = None

    def print(self, *parts: object, **kwargs: object) -> None:
        self.console.print(*parts, highlight=False, **kwargs)  # type: ignore[arg-type]

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
        setup = describe_phase_setup(phase)
        if self.live_enabled:
            self.line = LiveLine(phase.name, setup)
            self.live = Live(self.line, console=self.console, refresh_per_second=REFRESH_PER_S, transient=True)
            self.live.start()
        else:
            self.print(f"{phase.name} phase: started ({setup})")

    def phase_collected(self, count: int) -> None:
        if self.line is not None:
            self.line.total = count

    def test_done(self, test: TestResult) -> None:
        if self.line is not None:
            self.line.done += 1
        if test.is_failing:
            if self.line is not None:
                self.line.failing += 1
            where = f" [{test.worker}]" if test.worker else ""
            self.print(f"[red]{test.outcome.value.upper()}[/] {escape(test.nodeid)}{escape(where)}")

    def phase_finished(self, result: PhaseResult) -> None:
        if self.live is not None:
            self.live.stop()
            self.live, self.line = None, None
        if result.interrupted:
            status = "interrupted"
        else:
            status = describe_counts(result.counts()) if result.tests else "no tests"
        workers = f", {result.workers} workers" if result.is_parallel else ""
        self.print(f"{result.name} phase: {status} in {result.duration_s:.2f}s{workers}")

    def phase_skipped(self, name: str, reason: str) -> None:
        self.print(f"{name} phase: skipped, {escape(reason)}")

    def show_annotations(self, lines: list[str]) -> None:
        """CI workflow commands go out exactly as written: no markup, no wrapping."""
        for line in lines:
            self.console.out(line, highlight=False)

    # --- after the run --------------------------------------------------------------------------------
    def show_summary(self, summary: RunSummary) -> None:
        self.show_failures(summary)
        self.show_unexplained(summary)
        self.print(self.make_table(summary))
        subtests = summary.subtest_counts()
        if any(subtests.values()):
            self.print("subtests: " + ", ".join(f"{n} {key}" for key, n in subtests.items() if n))
        self.show_time(summary)
        self.show_parallel_only(summary)
        for problem in summary.broken_guarantees:
            self.print(f"[bold red]warning: broken guarantee:[/] {escape(problem)}")
        pollution = summary.worktree.pollution if summary.worktree else None
        if pollution:
            self.show_pollution(pollution)
        if summary.worktree_refusal:
            self.print(f"[red]{escape(summary.worktree_refusal)}[/]")
        self.show_notes(summary.notes)
        counts = summary.counts()
        code = summary.exit_code()
        style = "green" if code == 0 else "red"
        self.print(Text.assemble("Pass rate: ", (format_pass_rate(counts), f"bold {style}")))
        if not summary.tests:
            self.print("[yellow]no tests ran[/]")
        self.print(f"[{style}]{describe_counts(counts)} in {summary.duration_s:.2f}s[/]")

    def show_time(self, summary: RunSummary) -> None:
        """The N slowest tests (--slowest) and, per parallel phase, each worker's busy share and the idle tail."""
        if summary.slowest:
            self.print(f"slowest {min(summary.slowest, len(summary.tests))} tests:")
            for test in trace.slowest(summary, summary.slowest):
                self.print(f"  {test.duration_s:8.2f}s  {escape(test.nodeid)} ({test.phase})", soft_wrap=True)
        for phase in summary.phases:
            shares, tail_s = trace.busy_shares(phase)
            if shares:
                busy = ", ".join(f"{worker} {share:.0%}" for worker, share in shares.items())
                balanced = "balanced by recorded durations; " if phase.scheduler == "runtests" else ""
                self.print(f"{phase.label} phase: {balanced}workers busy {busy}; idle tail {tail_s:.2f}s")

    def show_pollution(self, pollution: Pollution) -> None:
        for paths, label in ((pollution.created, "created"), (pollution.changed, "changed"),
                             (pollution.deleted, "deleted")):  # fmt: skip
            if not paths:
                continue
            named = [f"{path}{describe_phases(pollution.phases_of.get(path, []))}" for path in paths]
            self.print(
                f"[yellow]git: the tests {label} {len(paths)} file(s):[/] {escape(describe_paths(tuple(named)))}"
            )

    def show_parallel_only(self, summary: RunSummary) -> None:
        retried = summary.retried()
        if not retried:
            return
        alone = [test for test in retried if test.is_parallel_only]
        self.print(
            f"retried alone: {len(retried)} parallel failure(s): {len(alone)} passed alone (parallel-only), "
            f"{len(retried) - len(alone)} failed alone too"
        )
        if not alone:
            return
        accepted = " (counted as passed: --accept-parallel-only)" if summary.accept_parallel_only else ""
        self.print(
            f"[yellow bold]parallel-only failures{accepted}:[/] these tests pass alone: they share state with tests "
            "that ran at the same time on other workers, or before them on their own"
        )
        for test in alone:
            suspects = f"  ran beside: {', '.join(test.suspects)}" if test.suspects else ""
            self.print(f"  {escape(test.nodeid)}{escape(suspects)}", soft_wrap=True)
        self.print(escape(ADVICE.format(marker=summary.serial_marker)))

    def show_failures(self, summary: RunSummary) -> None:
        failing = [test for test in summary.tests if test.is_failing]
        errors = summary.collect_errors()
        if not failing and not errors:
            return
        for error in errors:
            self.heading(f"ERROR collecting {error.nodeid} ({error.phase} phase)", "red")
            self.console.out(error.longrepr, highlight=False)
        for test in failing:
            where = ", ".join(filter(None, (f"{test.phase} phase", test.worker)))
            self.heading(f"{test.outcome.value.upper()} {test.nodeid} ({where})", "red")
            self.console.out(test.longrepr or "(no details)", highlight=False)
            if test.retry is not None:
                verdict = "passes alone: parallel-only" if test.is_parallel_only else "fails alone too"
                self.print(f"[bold]retried alone:[/] {test.retry.outcome.value}, {verdict}")
            if test.suspects:
                self.print("[bold]ran at the same time on other workers:[/] " + escape(", ".join(test.suspects)))
            for header, content in test.sections:
                self.heading(header, "grey50", "--")
                self.console.out(content.rstrip("\n"), highlight=False)
            for sub in test.subtests:
                if sub.outcome == "failed" and sub.longrepr:
                    self.heading(f"subtest {sub.description}", "red", "--")
                    self.console.out(sub.longrepr, highlight=False)

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
            self.print(f"[red]{phase.name} phase: pytest exited with code {phase.exit_code}; its output ends:[/]")
            self.console.out(tail_of(phase), highlight=False)

    @staticmethod
    def make_table(summary: RunSummary) -> Table:
        """One row per phase that ran and a total; count columns that are zero everywhere are left out."""
        totals = summary.counts()
        keys = [key for key in COUNT_KEYS if totals[key] or key in ("passed", "failed")]
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        table.add_column("phase")
        table.add_column("workers")
        for key in keys:
            table.add_column(key, justify="right", style=STYLE[key])
        table.add_column("time", justify="right")
        for phase in summary.phases:
            if not phase.ran:
                continue
            counts = phase.counts()
            table.add_row(phase.label, phase.workers_label, *(str(counts[k]) for k in keys), f"{phase.duration_s:.2f}s")
        table.add_row(
            "total",
            "",
            *(str(totals[k]) for k in keys),
            f"{sum(p.duration_s for p in summary.phases):.2f}s",
            style="bold",
        )
        return table


def describe_phases(names: list[str]) -> str:
    """` (parallel phase)`, ` (parallel and serial phases)`, or nothing when unknown."""
    if not names:
        return ""
    return f" ({' and '.join(names)} phase{'s' if len(names) > 1 else ''})"


def tail_of(phase: PhaseResult) -> str:
    if phase.output_path is None:
        return "(pytest's output was streamed above)"
    try:
        lines = phase.output_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "(pytest's output is missing)"
    return "\n".join(lines[-OUTPUT_TAIL_LINES:]) or "(pytest printed nothing)"
