"""The orchestrator: plan, check the work tree, run the phases, compare the work tree, report."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from rich.console import Console

from runtests import gitcheck
from runtests.config import Options
from runtests.errors import GitUnavailableError
from runtests.plan import PARALLEL, Phase, Plan, make_plan
from runtests.report.jsonreport import check_writable, make_report, write_report
from runtests.report.terminal import TerminalReporter
from runtests.results import PhaseRecorder, PhaseResult, RunSummary
from runtests.runner import run_phase


def inspect_worktree(options: Options, staged_expected: bool) -> tuple[gitcheck.WorktreeState | None, str | None]:
    """The state before the run, or why there is none; refuses under require-clean."""
    if options.git_check == "off":
        return None, None
    try:
        state = gitcheck.read_worktree(options.cwd)
    except GitUnavailableError as exc:
        if options.git_check == "require-clean":
            raise
        return None, str(exc)
    if options.git_check == "require-clean":
        gitcheck.enforce_clean(state, staged_expected)
    return state, None


def reason_to_skip(phase: Phase, done: list[PhaseResult], plan: Plan) -> str | None:
    """Why a phase after the first should not start, or None."""
    previous = next((p for p in done if p.name == PARALLEL and p.ran), None)
    if previous is None:
        return None
    if previous.held_back == []:
        return f"no selected test carries the {plan.marker!r} marker"
    if previous.collect_errors:
        return "the parallel phase had collection errors"
    if previous.exit_code in (3, 4):
        return f"the parallel phase's pytest exited with code {previous.exit_code}"
    if plan.stops_at_first_failure and any(test.is_failing for test in previous.tests):
        return "-x/--maxfail: the parallel phase had a failure"
    return None


def execute_phase(
    phase: Phase, options: Options, reporter: TerminalReporter, workdir: Path, environ: Mapping[str, str]
) -> PhaseResult:
    result = PhaseResult(phase.name, workers=0, dist=phase.dist, started_at=time.time())
    recorder = PhaseRecorder(result)

    def on_event(event: dict[str, object]) -> None:
        test = recorder.add(event)
        if test is not None:
            reporter.test_done(test)
        elif event.get("e") == "collected":
            reporter.phase_collected(len(result.collected or ()))

    reporter.phase_started(phase)
    began = time.monotonic()
    try:
        run = run_phase(
            phase, cwd=options.cwd, workdir=workdir, on_event=on_event, stream_output=options.stream, environ=environ
        )
    finally:
        result.duration_s = time.monotonic() - began
    result.output_path = run.output_path
    for test in recorder.finish(run.exit_code, run.interrupted):
        reporter.test_done(test)
    reporter.phase_finished(result)
    return result


def run(options: Options, console: Console, environ: Mapping[str, str], live: bool) -> int:
    """One whole run; returns the exit code."""
    plan = make_plan(options)
    if options.json_report is not None:
        check_writable(options.json_report)
    reporter = TerminalReporter(console, live)
    reporter.show_notes(plan.notes)
    staged_expected = environ.get("PRE_COMMIT") == "1"
    before, git_problem = inspect_worktree(options, staged_expected)
    reporter.show_worktree(before, git_problem, staged_expected)

    summary = RunSummary(phases=[], min_pass_rate=options.min_pass_rate, notes=[])
    after: gitcheck.WorktreeState | None = None
    pollution: gitcheck.Pollution | None = None
    started_at, began = time.time(), time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="runtests-"))
    try:
        for phase in plan.phases:
            skip = reason_to_skip(phase, summary.phases, plan)
            if skip is not None:
                summary.phases.append(PhaseResult(phase.name, skipped_because=skip))
                reporter.phase_skipped(phase.name, skip)
                continue
            result = execute_phase(phase, options, reporter, workdir, environ)
            summary.phases.append(result)
            if result.interrupted:
                break
        if before is not None:
            after, pollution = read_changes(options, before, summary)
    finally:
        duration_s = time.monotonic() - began
        if options.json_report is not None:
            report = make_report(summary, options, before, after, pollution, git_problem, started_at, duration_s)
            write_report(options.json_report, report)
        reporter.show_summary(summary, pollution, duration_s)
        shutil.rmtree(workdir, ignore_errors=True)  # runtests' own event and output files only
    return summary.exit_code()


def read_changes(
    options: Options, before: gitcheck.WorktreeState, summary: RunSummary
) -> tuple[gitcheck.WorktreeState | None, gitcheck.Pollution | None]:
    try:
        after = gitcheck.read_worktree(options.cwd)
    except GitUnavailableError as exc:
        summary.notes.append(f"could not re-check the work tree after the run: {exc}")
        return None, None
    pollution = gitcheck.compare_worktrees(before, after)
    if pollution and options.git_check == "require-clean":
        summary.worktree_refusal = (
            f"--git-check require-clean: the tests left {len(pollution.paths())} changed path(s) in the work tree: "
            f"{gitcheck.describe_paths(pollution.paths())}"
        )
    return after, pollution
