"""The end summary: what the run did and what it means, after the failures (runtests.report.failures): warnings,
the table, time, diagnosis, the work tree, notes, plugins' summaries, the pass rate and pytest's last line. It
formats what the RunSummary computed; it counts nothing itself."""

from __future__ import annotations

from collections import Counter

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from runtests.gitcheck import Pollution, describe_paths
from runtests.report.console import STYLE
from runtests.report.failures import Failures, describe_verdict
from runtests.results import (
    BROKEN_BY_EARLIER,
    DEPENDS_ON_EARLIER,
    FLAKY,
    PASSED_ON_RETRY,
    PhaseResult,
)
from runtests.summary import RunSummary

ADVICE = """\
To fix a parallel-only failure, either
  - run it after the parallel phase, alone: mark it with the serial marker
        @pytest.mark.{marker}                # on the test or its class
        pytestmark = pytest.mark.{marker}    # for a whole module
  - or isolate what it shares per worker: name database files, directories and ports after the `worker_id`
    fixture (or the PYTEST_XDIST_WORKER environment variable), and write files under `tmp_path`."""


class EndSummary(Failures):
    """Writes a RunSummary at the end of a run (or of `runtests combine`). `verbosity` is pytest's; `serial_marker`
    names the marker the advice gives; `slowest`: --slowest N."""

    def __init__(self, console: Console, verbosity: int = 0, serial_marker: str = "serial", slowest: int = 0) -> None:
        super().__init__(console)
        self.verbosity, self.serial_marker, self.slowest = verbosity, serial_marker, slowest

    def show(self, summary: RunSummary) -> None:
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
            self.show_table(summary)
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
            fail = " (--leaks fail: the run fails)" if summary.policy.leaks_fail else ""
            named = ", ".join(f"{leak.test or 'unknown'} (pid {leak.pid})" for _, leak in summary.leaks)
            count = len(summary.leaks)
            self.print(f"[red]{count} process(es) the tests started outlived their phase{fail}: {escape(named)}[/]",
                       soft_wrap=True)  # fmt: skip
        for note in summary.notes:
            self.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
        self.show_plugin_summaries(summary)
        self.show_short_summary(summary, reportchars)
        tally = summary.tally
        style = "green" if summary.exit_code() == 0 else "red"
        self.print(Text.assemble("Pass rate: ", (tally.format_pass_rate(), f"bold {style}")))
        if not summary.tests and not tally.failing:
            self.print("[yellow]no tests ran[/]")
        self.say(f"{tally.describe()} in {summary.duration_s:.2f}s", style)

    def show_table(self, summary: RunSummary) -> None:
        """The table, whole at any width: a narrow terminal (or a pipe's 80 columns) must not cut "skipped" to
        "skipp…"."""
        table = self.make_table(summary)
        needed = Measurement.get(self.console, self.console.options.update_width(10_000), table).maximum
        width = self.console.width
        self.console.width = max(width, needed)
        try:
            self.print(table)
        finally:
            self.console.width = width

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
                self.out("\n".join(places))
                message = "\n".join("  " + line for line in message.splitlines()).rstrip()
            self.out(message.rstrip() + "\n")
        self.out("-- Docs: https://docs.pytest.org/en/stable/how-to/capture-warnings.html")

    def show_plugin_summaries(self, summary: RunSummary) -> None:
        """What plugins wrote in their terminal summary (pytest-cov's table, a snapshot plugin's pointer to its
        report), once per phase that wrote any; lines naming runtests' own scratch files are left out."""
        texts = [(phase, text) for phase in summary.phases if (text := plugin_summary_of(phase))]
        for phase, text in texts:
            if len(texts) > 1:
                self.heading(f"{phase.name} phase", "grey50", "--")
            self.out(text)

    def show_time(self, summary: RunSummary) -> None:
        """The slowest tests (--durations, --slowest) and, per parallel phase, each worker's busy share and the
        idle tail."""
        durations = summary.terminal.get("durations")
        if self.slowest:  # runtests' own: every test counts, however quick
            self.show_durations(summary, self.slowest, 0.0)
        elif isinstance(durations, int):
            minimum = summary.terminal.get("durations_min")
            self.show_durations(summary, durations, 0.005 if minimum is None else float(minimum))
        if self.verbosity <= -2:
            return
        for phase in summary.phases:
            shares, tail_s = summary.busy.get(phase.label, ({}, 0.0))
            if shares:
                busy = ", ".join(f"{worker} {share:.0%}" for worker, share in shares.items())
                balanced = "balanced by recorded durations; " if phase.scheduler == "runtests" else ""
                self.print(f"{phase.label} phase: {balanced}workers busy {busy}; idle tail {tail_s:.2f}s")

    def show_durations(self, summary: RunSummary, count: int, minimum: float) -> None:
        """As pytest's --durations=N (0: all), over both phases; below `minimum` (--durations-min) hidden unless
        -vv. pytest lists setup, call and teardown apart; runtests lists each test's whole time."""
        ranked = summary.slowest(count or len(summary.tests))
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
                    self.print(f"  {escape(describe_verdict(test, summary.workers))}", soft_wrap=True)
        if not alone:
            return
        accepted = " (counted as passed: --accept-parallel-only)" if summary.policy.accept_parallel_only else ""
        self.print(
            f"[yellow bold]parallel-only failures{accepted}:[/] these tests pass in every sequential replay: they "
            "share state with tests that ran at the same time on other workers"
        )
        for test in alone:
            suspects = f"  ran beside: {', '.join(test.suspects)}" if test.suspects else ""
            if test.retry is not None and test.retry.where == "beside":
                suspects += "  (fails again beside them)"
            self.print(f"  {escape(test.nodeid)}{escape(suspects)}", soft_wrap=True)
        self.print(escape(ADVICE.format(marker=self.serial_marker)))

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
