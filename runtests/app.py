"""The orchestrator: one run as a pipeline of plain steps, each one's result the next one's input.

resolve(options, environ)  -> Options        the CI shard, the worker count -n auto stands for
make_plan(options)         -> Plan           which pytest processes, with which arguments (pure)
inspect_worktree(options)  -> the work tree before the run, or the refusal under require-clean
run_phases(plan, ...)      -> [PhaseResult]  the processes, Ctrl-C, the work tree after each phase
record_durations(...)      -> notes          this run's durations, kept for the next
summarize(...)             -> RunSummary     frozen: diagnosis, the work tree's verdict, the exit code
write_outputs(summary)                       JSON, JUnit, trace, CI annotations, the terminal: they only write
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runtests import durations, events, gitcheck
from runtests.config import Options
from runtests.diagnose import check_guarantees, diagnosed
from runtests.errors import DirtyWorktreeError, GitUnavailableError
from runtests.plan import PARALLEL, RETRY, Phase, Plan, make_plan, make_retry_phase
from runtests.resolve import read_if_present, resolve
from runtests.results import Outcome, PhaseRecorder, PhaseResult, RunSummary
from runtests.runner import Limits, OutputTail, PhaseProcess, PhaseStarter

if TYPE_CHECKING:
    from runtests.prestart import Launcher
    from runtests.report.terminal import TerminalReporter

OUTPUTS = (("json_report", "--json-report"), ("junitxml", "--junitxml"), ("trace", "--trace"))


def run(options: Options, environ: Mapping[str, str], live: bool, launcher: Launcher | None = None) -> int:
    """One whole run; returns the exit code. `launcher`: the first pytest process, started by the entry point."""
    options = resolve(options, environ, os.cpu_count() or 1, read_if_present)
    plan = make_plan(options)
    check_outputs(options)
    workdir = launcher.workdir if launcher is not None else Path(tempfile.mkdtemp(prefix="runtests-"))
    passthrough = plan.information == "passthrough"
    starter = PhaseStarter(options.cwd, workdir, environ, options.stream or passthrough, launcher)
    try:
        if plan.information is not None:
            return run_information(plan, options, starter)
        if plan.phases:  # pytest starts up, held at its gate, while runtests checks the work tree
            starter.start(plan.phases[0])
        staged_expected = environ.get("PRE_COMMIT") == "1"
        worktree = inspect_worktree(options, staged_expected)
        started_at, began = time.time(), time.monotonic()
        limits = Limits(None if options.run_timeout is None else began + options.run_timeout, options.timeout)
        if plan.phases and not options.stream:
            # The work tree is read: the first phase may run. pytest loads the conftests and collects while
            # runtests loads rich and prints its opening lines; its events wait in the file until run_phases reads
            # them. (Not when pytest writes to the terminal itself: its lines would come before runtests' own.)
            starter.release(plan.phases[0], limits)
        reporter = make_reporter(options, live)
        reporter.show_notes(plan.notes)
        reporter.show_worktree(worktree.before, worktree.problem, staged_expected)
        results: list[PhaseResult] = []
        try:
            results.extend(run_phases(plan, options, starter, reporter, limits, worktree))
        finally:  # the reports are written however the run ended: a bug in runtests included
            notes = record_durations(options, results) + merge_plugin_files(results)
            summary = summarize(options, results, worktree.report(), notes, started_at, time.monotonic() - began)
            write_outputs(summary, options, environ, reporter)
        return summary.exit_code()
    finally:
        starter.cancel()
        shutil.rmtree(workdir, ignore_errors=True)  # runtests' own event and output files only


def run_information(plan: Plan, options: Options, starter: PhaseStarter) -> int:
    """pytest's information commands run no test. `--co`: every test, listed by the phase it would run in; the
    others (--fixtures, --markers, ...): pytest's own output from one process, and its exit code."""
    phase = plan.phases[0]
    process = starter.take(phase)
    result = PhaseResult(phase.name)
    recorder = PhaseRecorder(result)

    def on_event(event: dict[str, object]) -> None:
        recorder.add(event)

    ran = process.run(on_event, None)
    recorder.finish(ran.exit_code, ran.interrupted, ran.timed_out)
    result.output_path = ran.output_path
    if plan.information == "passthrough":
        return ran.exit_code
    from runtests.report.terminal import make_console, show_collection

    return show_collection(make_console(options.color), result, plan.marker, ran.exit_code)


def merge_plugin_files(results: Sequence[PhaseResult]) -> list[str]:
    """The files plugins write once per pytest run (--report-log, --junitxml), which each phase wrote in a part:
    merged into the file the user named, every phase's tests in it (the retry's left out: it ran them again)."""
    parts = [f for phase in results if phase.name != RETRY for f in phase.files]
    if not parts:
        return []
    from runtests.pluginfiles import merge

    return merge(parts)


def check_outputs(options: Options) -> None:
    """Refuse, before any test runs, a report that could not be written."""
    from runtests.files import check_writable

    for key, flag in OUTPUTS:
        path = getattr(options, key)
        if path is not None:
            check_writable(path, flag)


def inspect_worktree(options: Options, staged_expected: bool) -> gitcheck.WorktreeWatch:
    """The work tree before the run, to watch through it; refuses under require-clean (its reports are written)."""
    if options.git_check == "off":
        return gitcheck.WorktreeWatch(options.cwd, None)
    try:
        state = gitcheck.read_worktree(options.cwd)
        if options.git_check == "require-clean":
            gitcheck.enforce_clean(state, staged_expected)
    except (DirtyWorktreeError, GitUnavailableError) as exc:
        if options.git_check == "require-clean":  # nothing runs; a CI step that collects the reports finds them
            refused = RunSummary((), options.min_pass_rate, worktree_refusal=str(exc), started_at=time.time(),
                                 worktree=gitcheck.WorktreeReport(None, None, None, str(exc)))  # fmt: skip
            write_report_files(refused, options)
            raise
        return gitcheck.WorktreeWatch(options.cwd, None, str(exc))
    return gitcheck.WorktreeWatch(options.cwd, state)


def make_reporter(options: Options, live: bool) -> TerminalReporter:
    from runtests.plan import verbosity_of
    from runtests.report.terminal import TerminalReporter, make_console  # rich: after the first phase's release

    return TerminalReporter(make_console(options.color, live), live, verbosity_of(options.pytest_args))


def run_phases(
    plan: Plan,
    options: Options,
    starter: PhaseStarter,
    reporter: TerminalReporter,
    limits: Limits,
    worktree: gitcheck.WorktreeWatch,
) -> Iterator[PhaseResult]:
    """Each phase in turn (the retry after the parallel phase), as it ends; skipped phases too, with the reason."""
    done: list[PhaseResult] = []
    for index, phase in enumerate(plan.phases):
        skip = reason_to_skip(done, plan)
        word = events.GATE_GO
        if skip is not None and phase.part == events.PART_LAST and any(p.coverage for p in done):
            # The last process reports the run's coverage (runtests.fidelity): it runs, to report only.
            word = events.GATE_REPORT_ONLY
        elif skip is not None:
            starter.cancel(phase.name)
            reporter.phase_skipped(phase.name, skip)
            yield PhaseResult(phase.name, skipped_because=skip)
            continue
        # The parallel phase's collection tells early whether serial tests exist: start that process now.
        start_ahead = functools.partial(starter.start_ahead, plan.phases[index + 1 :])
        result = execute_phase(phase, starter.take(phase), reporter, limits, start_ahead, word)
        worktree.after_phase(phase.name)
        done.append(result)
        yield result
        if result.interrupted or result.timed_out:
            return
        failures = retry_candidates(result)
        if phase.name == PARALLEL and options.retry_serially and failures:
            retry = make_retry_phase(options)
            rerun = execute_phase(retry, starter.take(retry, failures), reporter, limits)
            worktree.after_phase(retry.name)
            yield rerun
            if rerun.interrupted or rerun.timed_out:
                return


def reason_to_skip(done: Sequence[PhaseResult], plan: Plan) -> str | None:
    """Why a phase after the parallel one should not start, or None."""
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


def execute_phase(
    phase: Phase,
    process: PhaseProcess,
    reporter: TerminalReporter,
    limits: Limits,
    on_held_back: Callable[[list[str]], None] = lambda ids: None,
    word: bytes = events.GATE_GO,
) -> PhaseResult:
    """Run one phase's process to its end, folding its events into its result and showing them as they come.
    `word` GATE_REPORT_ONLY: the process runs no test; it only reports (the run's coverage)."""
    result = PhaseResult(phase.name, dist=phase.dist, report_only=word == events.GATE_REPORT_ONLY)
    recorder = PhaseRecorder(result)
    tail = OutputTail(reporter.relay)

    def on_event(event: dict[str, object]) -> None:
        test = recorder.add(event)
        if test is not None:
            reporter.test_done(test)
        elif event.get("e") == "collected":
            reporter.phase_collected(len(result.collected or ()))
        elif event.get("e") == "held_back":
            on_held_back(result.held_back or [])
        elif event.get("e") == "start":
            reporter.phase_began(result)
            # -s: what a sequential process's tests print reaches the terminal as it comes.
            tail.on = result.terminal.get("capture") == "no" and not result.is_parallel

    reporter.phase_started(phase)
    ran = process.run(on_event, limits, word, tail)
    # From its gate's opening, which may have come before this call (the first phase: see run).
    result.started_at, result.duration_s = ran.started_at, ran.duration_s
    result.output_path = result.pytest_output or ran.output_path
    for test in recorder.finish(ran.exit_code, ran.interrupted, ran.timed_out):
        reporter.test_done(test)
    reporter.phase_finished(result)
    return result


def retry_candidates(parallel: PhaseResult) -> list[str]:
    """Parallel failures worth re-running alone: everything failing except what never started."""
    return [test.nodeid for test in parallel.tests if test.is_failing and test.outcome is not Outcome.NOT_RUN]


def record_durations(options: Options, results: Sequence[PhaseResult]) -> list[str]:
    """Keep this run's test durations for the schedule, the worker count and shards; a note when they cannot be.

    A shard never writes: its sibling shards must split the suite from the same durations (`runtests combine
    --durations-file` records a sharded run's durations once all shards are in).
    """
    if options.shard is not None:
        return []
    cache_dir = next((phase.cache_dir for phase in results if phase.cache_dir), None)
    path = options.durations_file or (durations.cache_path(cache_dir) if cache_dir else None)
    note = durations.record(path, [test for phase in results for test in phase.tests]) if path else None
    return [note] if note else []


def summarize(
    options: Options,
    results: Sequence[PhaseResult],
    worktree: gitcheck.WorktreeReport,
    notes: Sequence[str],
    started_at: float,
    duration_s: float,
) -> RunSummary:
    """The run's verdict: each failure's suspects and retry verdict, the broken guarantees, the work tree's."""
    retry = next((phase for phase in results if phase.name == RETRY), None)
    phases = [diagnosed(phase, retry) for phase in results if phase.name != RETRY]
    refusal = None
    if worktree.pollution and options.git_check == "require-clean":
        paths = worktree.pollution.paths()
        refusal = (
            f"--git-check require-clean: the tests left {len(paths)} changed path(s) in the work tree: "
            f"{gitcheck.describe_paths(paths)}"
        )
    return RunSummary(
        phases=tuple(phases),
        min_pass_rate=options.min_pass_rate,
        notes=(*([worktree.recheck_problem] if worktree.recheck_problem else []), *notes),
        worktree_refusal=refusal,
        retry=retry,
        accept_parallel_only=options.accept_parallel_only,
        broken_guarantees=tuple(check_guarantees(phases)),
        strict_guarantees=options.strict_guarantees,
        serial_marker=options.serial_marker,
        shard=options.shard,
        slowest=options.slowest,
        started_at=started_at,
        duration_s=duration_s,
        worktree=worktree,
    )


def write_outputs(
    summary: RunSummary, options: Options, environ: Mapping[str, str], reporter: TerminalReporter
) -> None:
    """Everything a run leaves: the report files, CI annotations and the terminal summary."""
    write_report_files(summary, options)
    if environ.get("GITHUB_ACTIONS") == "true":
        from runtests.report import github

        rootdir = next((Path(p.rootdir) for p in summary.phases if p.rootdir), options.cwd)
        reporter.show_annotations(github.make_annotations(summary, rootdir, environ))
        if environ.get("GITHUB_STEP_SUMMARY"):
            github.append_step_summary(Path(environ["GITHUB_STEP_SUMMARY"]), summary)
    reporter.show_summary(summary)


def write_report_files(summary: RunSummary, options: Options) -> None:
    """The --json-report, --junitxml and --trace files, as asked for."""
    if options.json_report is not None:
        from runtests.report.jsonreport import describe_context, make_report, write_report

        write_report(options.json_report, make_report(summary) | describe_context(options, summary.worktree))
    if options.junitxml is not None:
        from runtests.report.junit import write_junit

        write_junit(options.junitxml, summary)
    if options.trace is not None:
        from runtests.report.trace import write_trace

        write_trace(options.trace, summary)
