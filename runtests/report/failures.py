"""Failures in the end summary, as pytest words them: their texts and headings, pytest's short summary, its
PASSES sections, and a pytest that ended in a way its events do not explain (or before its session began)."""

from __future__ import annotations

import os
import re
import sys
from collections import Counter
from collections.abc import Mapping

from rich.markup import escape

from runtests.report.console import Writer
from runtests.results import BROKEN_BY_EARLIER, DEPENDS_ON_EARLIER, FLAKY, Outcome, PhaseResult, TestResult
from runtests.summary import RunSummary

OUTPUT_TAIL_LINES = 30
OUTPUT_TAIL_BYTES = 64 * 1024
SESSIONLESS_OUTPUT_BYTES = 1 << 20  # pytest's --help is long; its usage errors are short


class Failures(Writer):
    """The failing part of the end summary (runtests.report.terminal.EndSummary adds the rest)."""

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
        self.out(text)

    def show_failures(self, summary: RunSummary) -> None:
        never = [test for test in summary.tests if test.outcome is Outcome.NOT_RUN]
        for phase in summary.phases:  # one line per phase for what never ran, not a section per test
            mine = [test for test in never if test.phase == phase.name]
            if mine:
                self.print(f"[red]{phase.name} phase: {len(mine)} test{'s' if len(mine) != 1 else ''} never ran: "
                           f"{escape(mine[0].longrepr or '')}[/]")  # fmt: skip
        failing = [test for test in summary.tests if test.is_retryable]  # what never ran: one line above
        errors = summary.collect_errors()
        if not failing and not errors:
            return
        for error in errors:
            self.heading(f"ERROR collecting {error.nodeid} ({error.phase} phase)", "red")
            self.out(error.longrepr)
        tbstyle = summary.terminal.get("tbstyle")
        if tbstyle == "no":  # --tb=no: no failure texts (the short summary still names them)
            return
        if tbstyle == "line":  # --tb=line: one line per failure, where it was raised
            for test in failing:
                place = f"{test.crash_path}:{test.crash_line}" if test.crash_path else test.nodeid
                self.out(f"{place}: {test.crash_message or test.outcome.value}")
            return
        for test in failing:
            where = ", ".join(filter(None, (f"{test.phase} phase", test.worker)))
            self.heading(f"{headline(test)} ({where})", "red")
            self.out(test.longrepr or "(no details)")
            if test.retry is not None:
                self.say(f"retried: {test.retry.outcome.value}; verdict: {test.retry.verdict}")
                if test.retry.verdict in (DEPENDS_ON_EARLIER, BROKEN_BY_EARLIER, FLAKY):
                    self.print(f"[bold]replays:[/] {escape(describe_verdict(test, summary.workers))}", soft_wrap=True)
            if test.suspects:
                self.print("[bold]ran at the same time on other workers:[/] " + escape(", ".join(test.suspects)))
            self.show_sections(test, summary)
            for sub in test.subtests:
                if sub.outcome == "failed" and sub.longrepr:
                    self.heading(f"subtest {sub.description}", "red", "--")
                    self.out(sub.longrepr)

    def show_sections(self, test: TestResult, summary: RunSummary) -> None:
        """A test's captured output, as --show-capture lets pytest show it."""
        show = str(summary.terminal.get("showcapture", "all"))
        for header, content in test.sections:
            if show == "no" or (show != "all" and show not in header):
                continue
            self.heading(header, "grey50", "--")
            self.out(content.rstrip("\n"))

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
            self.out(tail_of(phase))

    def show_short_summary(self, summary: RunSummary, reportchars: str) -> None:
        """pytest's short test summary (-r): the characters it was given, in their order."""
        lines = short_summary_lines(summary, reportchars)
        if lines:
            self.heading("short test summary info", "cyan", "==")
            for line in lines:
                self.out(line)


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


def describe_verdict(test: TestResult, workers: Mapping[str, str | None]) -> str:
    """`test_x depends on test_y (ran on gw1; it fails without it)`, `test_x is broken by test_z, which ran before
    it on gw0`, or what the replays of a flaky test showed."""
    retry = test.retry
    if retry is None:
        return test.nodeid
    names = ", ".join(retry.culprits) or "?"
    partial = " (not narrowed down: the replay budget ran out)" if not retry.complete else ""
    if retry.verdict == DEPENDS_ON_EARLIER:
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
