"""The orchestrator: plan, check the work tree, run the phases, compare the work tree, report."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from rich.console import Console

from runtests import gitcheck
from runtests.config import Options
from runtests.diagnose import apply_retries, check_guarantees, find_suspects
from runtests.errors import GitUnavailableError
from runtests.plan import PARALLEL, Phase, Plan, make_plan, make_retry_phase
from runtests.report.jsonreport import check_writable, make_report, write_report
from runtests.report.terminal import TerminalReporter
from runtests.results import Outcome, PhaseRecorder, PhaseResult, RunSummary
from runtests.runner import Limits, run_phase


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
    if previous.pytest_exit(3) or previous.pytest_exit(4):
        return f"the parallel phase's pytest exited with code {previous.exit_code}"
    if plan.stops_at_first_failure and any(test.is_failing for test in previous.tests):
        return "-x/--maxfail: the parallel phase had a failure"
    return None


class WorktreeWatch:
    """The work tree before the run and after each phase, to tell which phase left which file behind."""

    def __init__(self, cwd: Path, before: gitcheck.WorktreeState | None) -> None:
        self.cwd = cwd
        self.before = before
        self.latest = before
        self.phases_of: dict[str, list[str]] = {}
        self.problem: str | None = None

    def after_phase(self, name: str) -> None:
        if self.latest is None:
            return
        try:
            state = gitcheck.read_worktree(self.cwd)
        except GitUnavailableError as exc:
            self.problem = f"could not re-check the work tree after the {name} phase: {exc}"
            self.latest = None
            return
        for path in gitcheck.compare_worktrees(self.latest, state).paths():
            self.phases_of.setdefault(path, []).append(name)
        self.latest = state

    def pollution(self) -> gitcheck.Pollution | None:
        if self.before is None or self.latest is None:
            return None
        found = gitcheck.compare_worktrees(self.before, self.latest)
        return dataclasses.replace(found, phases_of={path: self.phases_of.get(path, []) for path in found.paths()})


def execute_phase(
    phase: Phase,
    options: Options,
    reporter: TerminalReporter,
    workdir: Path,
    environ: Mapping[str, str],
    limits: Limits,
    only_ids: list[str] | None = None,
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
            phase,
            cwd=options.cwd,
            workdir=workdir,
            on_event=on_event,
            stream_output=options.stream,
            environ=environ,
            limits=limits,
            only_ids=only_ids,
        )
    finally:
        result.duration_s = time.monotonic() - began
    result.output_path = run.output_path
    for test in recorder.finish(run.exit_code, run.interrupted, run.timed_out):
        reporter.test_done(test)
    reporter.phase_finished(result)
    return result


def retry_candidates(parallel: PhaseResult) -> list[str]:
    """Parallel failures worth re-running alone: everything failing except what never started."""
    return [test.nodeid for test in parallel.tests if test.is_failing and test.outcome is not Outcome.NOT_RUN]


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

    summary = RunSummary(
        phases=[],
        min_pass_rate=options.min_pass_rate,
        accept_parallel_only=options.accept_parallel_only,
        strict_guarantees=options.strict_guarantees,
        serial_marker=options.serial_marker,
    )
    worktree = WorktreeWatch(options.cwd, before)
    started_at, began = time.time(), time.monotonic()
    limits = Limits(
        run_deadline=None if options.run_timeout is None else began + options.run_timeout,
        test_timeout_s=options.timeout,
    )
    workdir = Path(tempfile.mkdtemp(prefix="runtests-"))
    try:
        for phase in plan.phases:
            skip = reason_to_skip(phase, summary.phases, plan)
            if skip is not None:
                summary.phases.append(PhaseResult(phase.name, skipped_because=skip))
                reporter.phase_skipped(phase.name, skip)
                continue
            result = execute_phase(phase, options, reporter, workdir, environ, limits)
            summary.phases.append(result)
            worktree.after_phase(phase.name)
            if result.interrupted or result.timed_out:
                break
            if phase.name == PARALLEL and options.retry_serially and retry_candidates(result):
                retry = make_retry_phase(options)
                summary.retry = execute_phase(
                    retry, options, reporter, workdir, environ, limits, retry_candidates(result)
                )
                apply_retries(result, summary.retry)
                worktree.after_phase(retry.name)
                if summary.retry.interrupted or summary.retry.timed_out:
                    break
        for phase_result in summary.phases:
            if phase_result.workers:
                find_suspects(phase_result.tests)
        summary.broken_guarantees = check_guarantees(summary.phases)
        if worktree.problem:
            summary.notes.append(worktree.problem)
    finally:
        try:
            duration_s = time.monotonic() - began
            pollution = worktree.pollution()
            if pollution and options.git_check == "require-clean":
                summary.worktree_refusal = (
                    f"--git-check require-clean: the tests left {len(pollution.paths())} changed path(s) in the "
                    f"work tree: {gitcheck.describe_paths(pollution.paths())}"
                )
            if options.json_report is not None:
                report = make_report(
                    summary, options, before, worktree.latest, pollution, git_problem, started_at, duration_s
                )
                write_report(options.json_report, report)
            reporter.show_summary(summary, pollution, duration_s)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)  # runtests' own event and output files only
    return summary.exit_code()
