"""The orchestrator: plan, check the work tree, run the phases, compare the work tree, report."""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runtests import durations, gitcheck, sizing
from runtests.config import Options
from runtests.diagnose import apply_retries, check_guarantees, find_suspects
from runtests.errors import DirtyWorktreeError, GitUnavailableError, UsageError
from runtests.launch import Launcher, take_prestarted
from runtests.plan import PARALLEL, Phase, Plan, make_plan, make_retry_phase
from runtests.report.jsonreport import check_writable, describe_context, make_report, write_report
from runtests.results import Outcome, PhaseRecorder, PhaseResult, RunSummary
from runtests.runner import Limits, PhaseProcess

if TYPE_CHECKING:
    from runtests.report.terminal import TerminalReporter


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
            state = gitcheck.read_worktree(self.cwd, root=self.latest.root)
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


class PhaseStarter:
    """Starts each phase's pytest process, held at its gate; the next phase ahead of time when it will run."""

    def __init__(
        self, options: Options, workdir: Path, environ: Mapping[str, str], launcher: Launcher | None = None
    ) -> None:
        self.options = options
        self.workdir = workdir
        self.environ = environ
        self.waiting: dict[str, PhaseProcess] = {}
        self.launcher = launcher  # started by the entry point, already importing pytest: for the first phase

    def start(self, phase: Phase, only_ids: list[str] | None = None) -> None:
        if phase.name not in self.waiting:
            launcher, self.launcher = self.launcher, None
            if launcher is not None and not launcher.fits(self.environ, self.options.stream):
                launcher.discard()
                launcher = None
            self.waiting[phase.name] = PhaseProcess(
                phase,
                cwd=self.options.cwd,
                workdir=self.workdir,
                stream_output=self.options.stream,
                environ=self.environ,
                only_ids=only_ids,
                launcher=launcher,
            )

    def start_ahead(self, phases: Sequence[Phase], held_back: list[str]) -> None:
        """Some tests wait for a later phase: start its process now, to wait at the gate."""
        if held_back:
            for phase in phases:
                self.start(phase)

    def release(self, phase: Phase, limits: Limits) -> None:
        """Let the phase's pytest go on before runtests takes it to run (see run_started)."""
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


def execute_phase(
    phase: Phase,
    process: PhaseProcess,
    reporter: TerminalReporter,
    limits: Limits,
    on_held_back: Callable[[list[str]], None] = lambda ids: None,
) -> PhaseResult:
    result = PhaseResult(phase.name, dist=phase.dist)
    recorder = PhaseRecorder(result)

    def on_event(event: dict[str, object]) -> None:
        test = recorder.add(event)
        if test is not None:
            reporter.test_done(test)
        elif event.get("e") == "collected":
            reporter.phase_collected(len(result.collected or ()))
        elif event.get("e") == "held_back":
            on_held_back(result.held_back or [])

    reporter.phase_started(phase)
    run = process.run(on_event, limits)
    # From its gate's opening, which may have come before this call (the first phase: see run_started).
    result.started_at, result.duration_s = run.started_at, run.duration_s
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
    starter: PhaseStarter,
    limits: Limits,
) -> None:
    for index, phase in enumerate(plan.phases):
        skip = reason_to_skip(phase, summary.phases, plan)
        if skip is not None:
            starter.cancel(phase.name)
            summary.phases.append(PhaseResult(phase.name, skipped_because=skip))
            reporter.phase_skipped(phase.name, skip)
            continue
        # The parallel phase's collection tells early whether serial tests exist: start that process now.
        start_ahead = functools.partial(starter.start_ahead, plan.phases[index + 1 :])
        result = execute_phase(phase, starter.take(phase), reporter, limits, start_ahead)
        summary.phases.append(result)
        worktree.after_phase(phase.name)
        if result.interrupted or result.timed_out:
            return
        if phase.name == PARALLEL and options.retry_serially and retry_candidates(result):
            retry = make_retry_phase(options)
            process = starter.take(retry, retry_candidates(result))
            summary.retry = execute_phase(retry, process, reporter, limits)
            apply_retries(result, summary.retry)
            worktree.after_phase(retry.name)
            if summary.retry.interrupted or summary.retry.timed_out:
                return


def diagnose(summary: RunSummary, worktree: WorktreeWatch) -> None:
    for phase in summary.phases:
        if phase.is_parallel:
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
    context = describe_context(options, worktree.before, worktree.latest, pollution, git_problem)
    write_report_files(options, summary, started_at, duration_s, context)
    if options.trace is not None:
        from runtests.report.trace import write_trace

        write_trace(options.trace, summary)
    if environ.get("GITHUB_ACTIONS") == "true":
        from runtests.report import github

        rootdir = next((Path(p.rootdir) for p in summary.phases if p.rootdir), options.cwd)
        reporter.show_annotations(github.make_annotations(summary, rootdir, environ))
        if environ.get("GITHUB_STEP_SUMMARY"):
            github.append_step_summary(Path(environ["GITHUB_STEP_SUMMARY"]), summary, duration_s)
    reporter.show_summary(summary, pollution, duration_s)


def find_durations(options: Options) -> Path | None:
    """The durations file runtests keeps: the one given, or pytest's cache at or above the run directory."""
    if options.durations_file is not None:
        return options.durations_file
    for directory in (options.cwd, *options.cwd.parents):
        candidate = durations.cache_path(directory / ".pytest_cache")
        if candidate.is_file():
            return candidate
    return None


def with_chosen_workers(options: Options) -> tuple[Options, str | None]:
    """`-n auto` with a history: the worker count the recorded durations say is fastest, and why."""
    if options.workers != "auto" or options.phase == "serial":
        return options, None
    history = durations.load_durations(find_durations(options))
    if options.shard is not None and history:  # this job runs its share only
        share = durations.split_shards(history, history, options.shard[1])[options.shard[0] - 1]
        history = {nodeid: history[nodeid] for nodeid in share}
    choice = sizing.choose_workers(history, os.cpu_count() or 1)
    if choice is None:
        return options, None
    workers = 0 if choice.workers == 1 else choice.workers
    return dataclasses.replace(options, workers=workers), choice.describe()


def run(options: Options, environ: Mapping[str, str], live: bool) -> int:
    """One whole run; returns the exit code."""
    options = with_detected_shard(options, environ)
    options, sizing_note = with_chosen_workers(options)
    plan = make_plan(options)
    if sizing_note:
        plan = dataclasses.replace(plan, notes=(*plan.notes, sizing_note))
    outputs = ((options.json_report, "--json-report"), (options.junitxml, "--junitxml"), (options.trace, "--trace"))
    for path, flag in outputs:
        if path is not None:
            check_writable(path, flag)
    launcher = take_prestarted()
    workdir = launcher.workdir if launcher is not None else Path(tempfile.mkdtemp(prefix="runtests-"))
    starter = PhaseStarter(options, workdir, environ, launcher)
    try:
        if plan.phases:  # pytest starts up, held at its gate, while runtests checks the work tree
            starter.start(plan.phases[0])
        return run_started(plan, options, environ, live, starter)
    finally:
        starter.cancel()
        shutil.rmtree(workdir, ignore_errors=True)  # runtests' own event and output files only


def new_summary(options: Options) -> RunSummary:
    return RunSummary(
        phases=[],
        min_pass_rate=options.min_pass_rate,
        accept_parallel_only=options.accept_parallel_only,
        strict_guarantees=options.strict_guarantees,
        serial_marker=options.serial_marker,
        shard=options.shard,
        slowest=options.slowest,
    )


def write_report_files(
    options: Options, summary: RunSummary, started_at: float, duration_s: float, context: dict[str, object]
) -> None:
    """The --json-report (results, then `context`: the options and git keys) and --junitxml files, if asked for."""
    if options.json_report is not None:
        write_report(options.json_report, make_report(summary, started_at, duration_s) | context)
    if options.junitxml is not None:
        from runtests.report.junit import write_junit

        write_junit(options.junitxml, summary, duration_s)


def write_refused_reports(options: Options, refusal: str) -> None:
    """The JSON and JUnit reports of a run that --git-check require-clean refused: no phase, no test, exit code 6,
    and the reason, so that a CI step that collects them finds them (the terminal gets the one-line error)."""
    summary = dataclasses.replace(new_summary(options), worktree_refusal=refusal)
    write_report_files(options, summary, time.time(), 0.0, describe_context(options, None, None, None, refusal))


def run_started(plan: Plan, options: Options, environ: Mapping[str, str], live: bool, starter: PhaseStarter) -> int:
    staged_expected = environ.get("PRE_COMMIT") == "1"
    try:
        before, git_problem = inspect_worktree(options, staged_expected)
    except (DirtyWorktreeError, GitUnavailableError) as refusal:  # under require-clean: nothing runs
        write_refused_reports(options, str(refusal))
        raise
    started_at, began = time.time(), time.monotonic()
    limits = Limits(None if options.run_timeout is None else began + options.run_timeout, options.timeout)
    if plan.phases and not options.stream:
        # The work tree is read: the first phase may run. pytest loads the conftests and collects while runtests
        # loads rich and prints its opening lines; its events wait in the file until execute_phase reads them.
        # (Not when pytest writes to the terminal itself: its lines would come before runtests' opening ones.)
        starter.release(plan.phases[0], limits)

    from runtests.report.terminal import TerminalReporter, make_console

    reporter = TerminalReporter(make_console(options.color, live), live)
    reporter.show_notes(plan.notes)
    if options.shard is not None:
        reporter.show_notes(
            [f"shard {options.shard[0]}/{options.shard[1]} of the suite, balanced by recorded durations"]
        )
    reporter.show_worktree(before, git_problem, staged_expected)

    summary = new_summary(options)
    worktree = WorktreeWatch(options.cwd, before)
    try:
        run_phases(plan, options, summary, worktree, reporter, starter, limits)
        diagnose(summary, worktree)
    finally:
        duration_s = time.monotonic() - began
        write_outputs(options, summary, worktree, git_problem, started_at, duration_s, reporter, environ)
    return summary.exit_code()
