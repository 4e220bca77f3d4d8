"""The `runtests` run: DESIGN.md's pipeline, each step's result the next one's input.

resolve(options)           -> Options        the CI shard, the seed, the worker count (-n auto; -n capped)
make_plan(options)         -> Plan           which pytest processes, with which arguments (pure)
  an information command (--co, --fixtures ...) is a step that ends the run with its exit code
watch_worktree(options)    -> WorktreeWatch  the work tree before the run, or the refusal (require-clean)
run_phases(plan, ...)      -> [PhaseResult]  the processes in turn, the retry and its replays, the work tree after each
summarize(...)             -> RunSummary     frozen: diagnosis, the work tree's verdict, the exit code
write_outputs(summary)                       JSON, JUnit, trace, CI annotations, the terminal: they only write
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from runtests import durations, events, files, gitcheck
from runtests.commands.context import processes
from runtests.config import Options
from runtests.diagnosis import replay
from runtests.diagnosis.driver import Replayer, replay_failures
from runtests.diagnosis.guarantees import check_guarantees, idle_workers, starving_unit
from runtests.diagnosis.suspects import diagnosed
from runtests.errors import RuntestsError
from runtests.plan import PARALLEL, RETRY, Phase, Plan, make_plan, make_retry_phase, verbosity_of
from runtests.recorder import OnHeldBack, PhaseRecorder
from runtests.report.outputs import report_files, write_outputs, write_report_files
from runtests.report.pluginfiles import merge_phases
from runtests.resolve import cap_workers, read_if_present, resolve
from runtests.results import PhaseResult
from runtests.runner import Limits, OutputTail, PhaseProcess, PhaseStarter, collect_suite, run_quietly
from runtests.summary import ExitPolicy, RunSummary

if TYPE_CHECKING:
    from runtests.launch.prestart import Launcher
    from runtests.report.live import TerminalReporter


def run(options: Options, environ: Mapping[str, str], live: bool, launcher: Launcher | None = None) -> int:
    """One whole run; returns the exit code. `launcher`: the first pytest process, started by the entry point."""
    cpus = os.cpu_count() or 1
    options = resolve(options, environ, cpus, read_if_present)
    files.check_outputs(report_files(options))
    information = make_plan(options).information
    with processes(options.cwd, environ, options.stream or information == "passthrough", launcher) as starter:
        if information is not None:
            return show_information(make_plan(options), options, starter)
        options = cap_workers(options, cpus, lambda: count_parallel_tests(options, starter))
        return run_plan(make_plan(options), options, environ, live, starter)


def count_parallel_tests(options: Options, starter: PhaseStarter) -> int | None:
    collected = collect_suite(options, starter)
    if collected.collect_errors or collected.collected is None:
        return None  # the run itself will say what is wrong
    return len(collected.collected) - len(collected.serial_ids or ())


def show_information(plan: Plan, options: Options, starter: PhaseStarter) -> int:
    """pytest's information commands run no test. `--co`: every test, listed by the phase it would run in (with -q
    or -qq: pytest's own lines); the others (--fixtures, --markers, ...): pytest's own output from one process."""
    phase = plan.phases[0]
    result = run_quietly(starter.take(phase), phase.name)
    if plan.information == "collect":
        from runtests.report.collection import show_collection

        show_collection(result, plan.marker, options.color)
    return result.exit_code if result.exit_code is not None else 3


def run_plan(plan: Plan, options: Options, environ: Mapping[str, str], live: bool, starter: PhaseStarter) -> int:
    if plan.phases:  # pytest starts up, held at its gate, while runtests checks the work tree
        starter.start(plan.phases[0])
    staged_expected = environ.get("PRE_COMMIT") == "1"
    try:
        worktree = gitcheck.watch_worktree(options.cwd, options.git_check, staged_expected)
    except RuntestsError as refusal:  # require-clean: nothing runs; a CI step that collects the reports finds them
        write_report_files(refused(options, str(refusal)), options)
        raise
    started_at, began = time.time(), time.monotonic()
    limits = Limits(None if options.run_timeout is None else began + options.run_timeout, options.timeout)
    if plan.phases and not options.stream:
        # The work tree is read: the first phase may run. pytest loads the conftests and collects while runtests
        # loads rich and prints its opening lines; its events wait in the file until run_phases reads them. (Not
        # when pytest writes to the terminal itself: its lines would come before runtests' own.)
        starter.release(plan.phases[0], limits)
    reporter = make_reporter(options, live)
    reporter.show_notes(plan.notes)
    reporter.show_worktree(worktree.before, worktree.problem, staged_expected)
    results: list[PhaseResult] = []
    try:
        results.extend(run_phases(plan, options, starter, reporter, limits, worktree))
    finally:  # the reports are written however the run ended: a bug in runtests included
        cache_dir = next((phase.cache_dir for phase in results if phase.cache_dir), None)
        tests = [test for phase in results for test in phase.tests]
        notes = durations.record_run(options.durations_file, cache_dir, tests, options.shard is not None)
        notes += merge_phases(results)
        summary = summarize(options, results, worktree.report(), notes, started_at, time.monotonic() - began)
        write_outputs(summary, options, environ, reporter)
    return summary.exit_code()


def refused(options: Options, reason: str) -> RunSummary:
    """The summary of a run refused before it started: no phase, the reason."""
    report = gitcheck.WorktreeReport(None, None, None, reason)
    return RunSummary((), exit_policy(options), worktree_refusal=reason, started_at=time.time(), worktree=report)


def make_reporter(options: Options, live: bool) -> TerminalReporter:
    from runtests.report.live import TerminalReporter, make_console  # rich: after the first phase's release

    console = make_console(options.color, live)
    return TerminalReporter(console, live, verbosity_of(options.pytest_args), options.slow, hold=True,
                            serial_marker=options.serial_marker, slowest=options.slowest)  # fmt: skip


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
    find_leaks = options.leaks != "ignore"
    for index, phase in enumerate(plan.phases):
        skip, routine = reason_to_skip(done, plan)
        word = events.GATE_GO
        if skip is not None and phase.part == events.PART_LAST and any(p.coverage for p in done):
            # The last process reports the run's coverage (runtests.plugin.fidelity): it runs, to report only.
            word = events.GATE_REPORT_ONLY
        elif skip is not None:
            starter.cancel(phase.name)
            reporter.phase_skipped(phase.name, skip, routine)
            yield PhaseResult(phase.name, skipped_because=skip)
            continue

        def start_ahead(held_back: Sequence[str], later: Sequence[Phase] = plan.phases[index + 1 :]) -> None:
            starter.start_ahead(later, held_back)  # the parallel phase's collection shows serial tests: start it

        result = execute_phase(phase, starter.take(phase), reporter, limits, start_ahead, word, find_leaks)
        worktree.after_phase(phase.name)
        done.append(result)
        yield result
        if result.interrupted or result.timed_out or result.sessionless:
            return  # a pytest that ended before its session started: its error is the run's, nothing more runs
        failures = [test.nodeid for test in result.tests if test.is_retryable]
        if phase.name == PARALLEL and options.retry_serially and failures:
            retry = make_retry_phase(options)
            rerun = execute_phase(retry, starter.take(retry, failures), reporter, limits, find_leaks=find_leaks)
            worktree.after_phase(retry.name)
            replayable = rerun.tests and not (rerun.interrupted or rerun.timed_out or rerun.collect_errors)
            if replayable and replay.budget_s(options.replay_budget, result.duration_s) > 0:
                diagnoses = replay_failures(result, rerun, Replayer(options, starter, limits, reporter.replay_done))
                rerun = dataclasses.replace(rerun, diagnoses=diagnoses)
                worktree.after_phase(retry.name)
            yield rerun
            if rerun.interrupted or rerun.timed_out:
                return


def reason_to_skip(done: Sequence[PhaseResult], plan: Plan) -> tuple[str | None, bool]:
    """Why a phase after the parallel one should not start (None: it should), and whether that is routine (no
    serial test selected: -q says nothing of it)."""
    previous = next((p for p in done if p.name == PARALLEL and p.ran), None)
    if previous is None:
        return None, False
    if previous.held_back is not None and not previous.held_back:
        return f"no selected test carries the {plan.marker!r} marker", True
    if previous.collect_errors:
        return "the parallel phase had collection errors", False
    if previous.pytest_exit(3) or previous.pytest_exit(4):
        return f"the parallel phase's pytest exited with code {previous.exit_code}", False
    if plan.stops_at_first_failure and any(test.is_failing for test in previous.tests):
        return "-x/--maxfail: the parallel phase had a failure", False
    return None, False


def execute_phase(
    phase: Phase,
    process: PhaseProcess,
    reporter: TerminalReporter,
    limits: Limits,
    on_held_back: OnHeldBack | None = None,
    word: bytes = events.GATE_GO,
    find_leaks: bool = True,
) -> PhaseResult:
    """Run one phase's process to its end, its events into its record and onto the terminal as they come. `word`
    GATE_REPORT_ONLY: the process runs no test; it only reports (the run's coverage)."""
    recorder = PhaseRecorder(phase.name, reporter, phase.dist, word == events.GATE_REPORT_ONLY, on_held_back)
    # -s: what a sequential process's tests print reaches the terminal as it comes.
    tail = OutputTail(reporter.relay, lambda: recorder.terminal.get("capture") == "no" and not recorder.parallel)
    reporter.phase_started(phase, recorder.running)
    result = process.run(recorder, limits, word, tail, find_leaks, reporter.tick)
    reporter.phase_finished(result)
    return result


def exit_policy(options: Options) -> ExitPolicy:
    return ExitPolicy(options.min_pass_rate, options.accept_parallel_only, options.strict_guarantees,
                      options.leaks == "fail")  # fmt: skip


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
    parallel_s = next((phase.duration_s for phase in phases if phase.name == PARALLEL), 0.0)
    notes = [
        *([worktree.recheck_problem] if worktree.recheck_problem else []),
        *notes,
        *(note for phase in phases if (note := idle_workers(phase))),
        *(note for phase in phases if phase.is_parallel and (note := starving_unit(phase))),
        *replay.describe_undiagnosed([t for p in phases for t in p.tests], options.replay_budget, parallel_s),
    ]
    return RunSummary(
        phases=tuple(phases),
        policy=exit_policy(options),
        notes=tuple(notes),
        worktree_refusal=refusal,
        retry=retry,
        broken_guarantees=tuple(check_guarantees(phases)),
        shard=options.shard,
        started_at=started_at,
        duration_s=duration_s,
        worktree=worktree,
    )
