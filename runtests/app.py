"""The orchestrator: plan, check the work tree, run the phases, compare the work tree, report."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from rich.console import Console

from runtests import durations, gitcheck
from runtests.config import Options
from runtests.diagnose import apply_retries, check_guarantees, find_suspects
from runtests.errors import GitUnavailableError, UsageError
from runtests.plan import PARALLEL, Phase, Plan, make_plan, make_retry_phase
from runtests.report import github
from runtests.report.jsonreport import check_writable, describe_context, make_report, write_report
from runtests.report.junit import write_junit
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


def with_detected_shard(options: Options, environ: Mapping[str, str]) -> Options:
    """A CI job's shard from GitLab's, CircleCI's or Buildkite's variables, when --shard was not given."""
    if options.shard is not None:
        return options
    try:
        shard = durations.detect_shard(environ)
    except ValueError as exc:
        raise UsageError(f"bad shard variables in the environment: {exc}; or pass --shard K/N") from None
    return options if shard is None else dataclasses.replace(options, shard=shard)


def run_phases(
    plan: Plan,
    options: Options,
    summary: RunSummary,
    worktree: WorktreeWatch,
    reporter: TerminalReporter,
    workdir: Path,
    environ: Mapping[str, str],
    limits: Limits,
) -> None:
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
            return
        if phase.name == PARALLEL and options.retry_serially and retry_candidates(result):
            retry = make_retry_phase(options)
            summary.retry = execute_phase(retry, options, reporter, workdir, environ, limits, retry_candidates(result))
            apply_retries(result, summary.retry)
            worktree.after_phase(retry.name)
            if summary.retry.interrupted or summary.retry.timed_out:
                return


def diagnose(summary: RunSummary, worktree: WorktreeWatch) -> None:
    for phase in summary.phases:
        if phase.workers:
            find_suspects(phase.tests)
    summary.broken_guarantees = check_guarantees(summary.phases)
    if worktree.problem:
        summary.notes.append(worktree.problem)


def record_durations(options: Options, summary: RunSummary) -> None:
    """Keep this run's test durations for sharding and ordering; a failure to write is a note, not an error.

    A shard never writes: its sibling shards must split the suite from the same durations (`runtests combine
    --durations-file` records a sharded run's durations once all shards are in).
    """
    if options.shard is not None:
        return
    cache_dir = next((phase.cache_dir for phase in summary.phases if phase.cache_dir), None)
    path = options.durations_file or (durations.cache_path(cache_dir) if cache_dir else None)
    if path is not None:
        note = durations.record(path, summary.tests)
        if note:
            summary.notes.append(note)


def write_outputs(
    options: Options,
    summary: RunSummary,
    worktree: WorktreeWatch,
    git_problem: str | None,
    started_at: float,
    duration_s: float,
    reporter: TerminalReporter,
    environ: Mapping[str, str],
) -> None:
    """Everything a run leaves: durations, JSON, JUnit, CI annotations and the terminal summary."""
    pollution = worktree.pollution()
    if pollution and options.git_check == "require-clean":
        summary.worktree_refusal = (
            f"--git-check require-clean: the tests left {len(pollution.paths())} changed path(s) in the "
            f"work tree: {gitcheck.describe_paths(pollution.paths())}"
        )
    record_durations(options, summary)
    if options.json_report is not None:
        report = make_report(summary, started_at, duration_s)
        report |= describe_context(options, worktree.before, worktree.latest, pollution, git_problem)
        write_report(options.json_report, report)
    if options.junitxml is not None:
        write_junit(options.junitxml, summary, duration_s)
    if environ.get("GITHUB_ACTIONS") == "true":
        rootdir = next((Path(p.rootdir) for p in summary.phases if p.rootdir), options.cwd)
        reporter.show_annotations(github.make_annotations(summary, rootdir, environ))
        if environ.get("GITHUB_STEP_SUMMARY"):
            github.append_step_summary(Path(environ["GITHUB_STEP_SUMMARY"]), summary, duration_s)
    reporter.show_summary(summary, pollution, duration_s)


def run(options: Options, console: Console, environ: Mapping[str, str], live: bool) -> int:
    """One whole run; returns the exit code."""
    options = with_detected_shard(options, environ)
    plan = make_plan(options)
    for path, flag in ((options.json_report, "--json-report"), (options.junitxml, "--junitxml")):
        if path is not None:
            check_writable(path, flag)
    reporter = TerminalReporter(console, live)
    reporter.show_notes(plan.notes)
    if options.shard is not None:
        reporter.show_notes(
            [f"shard {options.shard[0]}/{options.shard[1]} of the suite, balanced by recorded durations"]
        )
    staged_expected = environ.get("PRE_COMMIT") == "1"
    before, git_problem = inspect_worktree(options, staged_expected)
    reporter.show_worktree(before, git_problem, staged_expected)

    summary = RunSummary(
        phases=[],
        min_pass_rate=options.min_pass_rate,
        accept_parallel_only=options.accept_parallel_only,
        strict_guarantees=options.strict_guarantees,
        serial_marker=options.serial_marker,
        shard=options.shard,
    )
    worktree = WorktreeWatch(options.cwd, before)
    started_at, began = time.time(), time.monotonic()
    limits = Limits(None if options.run_timeout is None else began + options.run_timeout, options.timeout)
    workdir = Path(tempfile.mkdtemp(prefix="runtests-"))
    try:
        run_phases(plan, options, summary, worktree, reporter, workdir, environ, limits)
        diagnose(summary, worktree)
    finally:
        try:
            duration_s = time.monotonic() - began
            write_outputs(options, summary, worktree, git_problem, started_at, duration_s, reporter, environ)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)  # runtests' own event and output files only
    return summary.exit_code()
