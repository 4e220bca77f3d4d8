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

import contextlib
import dataclasses
import functools
import itertools
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runtests import durations, events, gitcheck, replay
from runtests.config import Options
from runtests.diagnose import check_guarantees, diagnosed, find_suspects, starving_unit
from runtests.errors import DirtyWorktreeError, GitUnavailableError, UsageError
from runtests.leaks import Leak
from runtests.plan import (
    PARALLEL,
    RETRY,
    Phase,
    Plan,
    make_beside_phase,
    make_plan,
    make_replay_phase,
    make_retry_phase,
)
from runtests.resolve import read_if_present, resolve
from runtests.results import (
    FAILS_ALONE,
    PARALLEL_ONLY,
    PASSED_ON_RETRY,
    UNDIAGNOSED,
    Outcome,
    PhaseRecorder,
    PhaseResult,
    RunSummary,
    TestResult,
)
from runtests.runner import Limits, OutputTail, PhaseProcess, PhaseRun, PhaseStarter

if TYPE_CHECKING:
    from runtests.prestart import Launcher
    from runtests.report.terminal import TerminalReporter

OUTPUTS = (("json_report", "--json-report"), ("junitxml", "--junitxml"), ("trace", "--trace"))


def run(options: Options, environ: Mapping[str, str], live: bool, launcher: Launcher | None = None) -> int:
    """One whole run; returns the exit code. `launcher`: the first pytest process, started by the entry point."""
    cpus = os.cpu_count() or 1
    options = resolve(options, environ, cpus, read_if_present)
    plan = make_plan(options)
    check_outputs(options)
    workdir = launcher.workdir if launcher is not None else Path(tempfile.mkdtemp(prefix="runtests-"))
    passthrough = plan.information == "passthrough"
    starter = PhaseStarter(options.cwd, workdir, environ, options.stream or passthrough, launcher)
    try:
        oversubscribed = isinstance(options.workers, int) and options.workers > cpus and options.phase != "serial"
        if plan.information is None and oversubscribed:
            options = cap_workers(options, starter, cpus)
            plan = make_plan(options)
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
    result, ran = run_quietly(starter.take(phase), phase.name)
    if plan.information == "passthrough":
        return ran.exit_code
    if int(result.terminal.get("verbosity", 0)) < 0 or result.sessionless:
        # `--co -q`, `--co -qq`: pytest's own lines, byte for byte, for whatever reads them (`| grep`, `| wc -l`).
        copy_output(ran.output_path)
        return ran.exit_code
    from runtests.report.terminal import make_console, show_collection

    return show_collection(make_console(options.color), result, plan.marker, ran.exit_code)


def copy_output(path: Path | None) -> None:
    """A pytest process's output, to runtests' standard output as it was written."""
    if path is None:
        return
    import sys

    sys.stdout.flush()
    with contextlib.suppress(OSError), open(path, "rb") as output:
        shutil.copyfileobj(output, sys.stdout.buffer)
    sys.stdout.flush()


def run_diagnose(options: Options, nodeid: str, environ: Mapping[str, str]) -> int:
    """`runtests diagnose NODEID`: replay one test against the suite's collection order, without a full run: alone,
    twice, then after its predecessors, and bisect for the culprit. Exit 0 when no order dependence shows."""
    from runtests.report.terminal import TerminalReporter, describe_verdict, make_console

    options = resolve(options, environ, os.cpu_count() or 1, read_if_present)
    workdir = Path(tempfile.mkdtemp(prefix="runtests-"))
    starter = PhaseStarter(options.cwd, workdir, environ, False)
    reporter = TerminalReporter(make_console(options.color), False)
    try:
        result = collect_suite(options, starter)
        collected = result.collected or []
        if result.collect_errors or nodeid not in collected:
            why = "collection failed" if result.collect_errors else f"{len(collected)} tests were collected"
            raise UsageError(f"{nodeid}: not a collected test ({why}); give a node id as `runtests --co -q` lists it")
        limits = Limits()
        seconds = replay.DIAGNOSE_BUDGET_S if options.replay_budget is None else options.replay_budget
        budget = replay.Budget(replay.replays_for(collected.index(nodeid)), time.monotonic() + seconds)
        counter = itertools.count(1)

        def run(before: Sequence[str]) -> tuple[Outcome, float]:
            phase = make_replay_phase(options, next(counter))
            outcome, seconds = replay_once(starter.take(phase, [*before, nodeid]), nodeid, limits)
            reporter.replay_done(nodeid, len(before), outcome, seconds)
            return outcome, seconds

        found = replay.diagnose([], collected[: collected.index(nodeid)], run, budget)
        if found is None:
            raise UsageError("--replay-budget 0: no replay could run; give it seconds")
        test = TestResult(nodeid, "diagnose", found.outcome, retry=found.retry_result())
        replays = sum(1 for r in found.replays if r.duration_s)
        seconds = sum(r.duration_s for r in found.replays)
        # Node ids go out as plain text: `[tutorial001_py310]` is no markup tag.
        if found.verdict == PARALLEL_ONLY:
            reporter.say(f"{nodeid}: passes alone and after the {collected.index(nodeid)} tests collected before it: "
                         "no order dependence shows")  # fmt: skip
        elif found.verdict == PASSED_ON_RETRY:
            reporter.say(f"{nodeid}: passes alone; the budget ran out before it was replayed after the tests "
                         "collected before it: no order dependence shows so far")  # fmt: skip
        elif found.verdict == FAILS_ALONE:
            reporter.say(f"{nodeid}: fails alone and after the tests collected before it: a real failure")
        else:
            reporter.say(f"{found.verdict}: {describe_verdict(test, RunSummary(()))}")
        reporter.say(f"{replays} replays in {seconds:.2f}s" + ("" if found.complete else "; the budget ran out"))
        return 0 if found.verdict in (PARALLEL_ONLY, PASSED_ON_RETRY) else 1
    finally:
        starter.cancel()
        shutil.rmtree(workdir, ignore_errors=True)


def run_quietly(process: PhaseProcess, name: str, limits: Limits | None = None) -> tuple[PhaseResult, PhaseRun]:
    """Run a process to its end, showing nothing: its events folded into a result (collections, replays, pytest's
    information commands)."""
    result = PhaseResult(name)
    recorder = PhaseRecorder(result)

    def on_event(event: dict[str, object]) -> None:
        recorder.add(event)

    ran = process.run(on_event, limits)
    recorder.finish(ran.exit_code, ran.interrupted, ran.timed_out)
    result.output_path = ran.output_path
    return result, ran


def collect_suite(options: Options, starter: PhaseStarter) -> PhaseResult:
    """One sequential --collect-only process over the run's selection: the collected ids, and the serial ones."""
    listing = dataclasses.replace(options, pytest_args=(*options.pytest_args, "--collect-only"))
    collect = make_plan(listing).phases[0]
    return run_quietly(starter.take(collect), collect.name)[0]


def cap_workers(options: Options, starter: PhaseStarter, cpus: int) -> Options:
    """-n above the CPU count: allowed, with a note; above the parallel phase's test count, capped there (xdist
    would start them all, each importing pytest and collecting: -n 400 on 2 tests took minutes). Counting the
    tests costs a collection, made only here."""
    assert isinstance(options.workers, int)
    result = collect_suite(options, starter)
    if result.collect_errors or result.collected is None:
        return options  # the run itself will say what is wrong
    tests = len(result.collected) - len(result.serial_ids or ())
    asked = options.workers
    if tests < asked:
        note = f"-n {asked} capped at {max(tests, 1)}: the parallel phase has {tests} test{'s' if tests != 1 else ''}"
        return dataclasses.replace(options, workers=max(tests, 1), notes=(*options.notes, note))
    note = f"-n {asked} is above the {cpus} CPUs: the workers share them"
    return dataclasses.replace(options, notes=(*options.notes, note))


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

    console = make_console(options.color, live)
    return TerminalReporter(console, live, verbosity_of(options.pytest_args), options.slow, hold=True)


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
        skip, routine = reason_to_skip(done, plan)
        word = events.GATE_GO
        if skip is not None and phase.part == events.PART_LAST and any(p.coverage for p in done):
            # The last process reports the run's coverage (runtests.fidelity): it runs, to report only.
            word = events.GATE_REPORT_ONLY
        elif skip is not None:
            starter.cancel(phase.name)
            reporter.phase_skipped(phase.name, skip, routine)
            yield PhaseResult(phase.name, skipped_because=skip)
            continue
        # The parallel phase's collection tells early whether serial tests exist: start that process now.
        start_ahead = functools.partial(starter.start_ahead, plan.phases[index + 1 :])
        find_leaks = options.leaks != "ignore"
        result = execute_phase(phase, starter.take(phase), reporter, limits, start_ahead, word, find_leaks)
        worktree.after_phase(phase.name)
        done.append(result)
        yield result
        if result.interrupted or result.timed_out or result.sessionless:
            return  # a pytest that ended before its session started: its error is the run's, nothing more runs
        failures = retry_candidates(result)
        if phase.name == PARALLEL and options.retry_serially and failures:
            retry = make_retry_phase(options)
            rerun = execute_phase(retry, starter.take(retry, failures), reporter, limits, find_leaks=find_leaks)
            worktree.after_phase(retry.name)
            replayable = rerun.tests and not (rerun.interrupted or rerun.timed_out or rerun.collect_errors)
            if replayable and replay.budget_s(options.replay_budget, result.duration_s) > 0:
                rerun.diagnoses = replay_failures(result, rerun, options, starter, reporter, limits)
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
    if previous.held_back == []:
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
    on_held_back: Callable[[list[str]], None] = lambda ids: None,
    word: bytes = events.GATE_GO,
    find_leaks: bool = True,
) -> PhaseResult:
    """Run one phase's process to its end, folding its events into its result and showing them as they come.
    `word` GATE_REPORT_ONLY: the process runs no test; it only reports (the run's coverage)."""
    result = PhaseResult(phase.name, dist=phase.dist, report_only=word == events.GATE_REPORT_ONLY)
    recorder = PhaseRecorder(result)
    tail = OutputTail(reporter.relay)

    def on_event(event: dict[str, object]) -> None:
        test = recorder.add(event)
        kind = event.get("e")
        if test is not None:
            reporter.test_done(test)
        elif kind == "begin":  # the most frequent after "test": asked first
            reporter.test_begun(str(event.get("nodeid")), event.get("worker"))  # type: ignore[arg-type]
        elif kind == "collected":
            reporter.phase_collected(len(result.collected or ()))
        elif kind == "held_back":
            on_held_back(result.held_back or [])
        elif kind == "start":
            reporter.phase_began(result)
            # -s: what a sequential process's tests print reaches the terminal as it comes.
            tail.on = result.terminal.get("capture") == "no" and not result.is_parallel

    reporter.phase_started(phase)
    ran = process.run(on_event, limits, word, tail, find_leaks, reporter.tick)
    # From its gate's opening, which may have come before this call (the first phase: see run).
    result.started_at, result.duration_s = ran.started_at, ran.duration_s
    result.output_path = result.pytest_output or ran.output_path
    for test in recorder.finish(ran.exit_code, ran.interrupted, ran.timed_out):
        reporter.test_done(test)
    result.leaks = attribute_leaks(ran.leaks, result.tests)
    reporter.phase_finished(result)
    return result


def attribute_leaks(found: Sequence[Leak], tests: Sequence[TestResult]) -> list[Leak]:
    """Each leaked process with the test that started it: from its environment, else the one test that was
    running when it started; "unknown" is left to the report when neither tells."""
    named = []
    for leak in found:
        if leak.test is None and leak.started_at is not None:
            running = [t.nodeid for t in tests if t.start is not None and t.stop is not None
                       and t.start <= leak.started_at <= t.stop]  # fmt: skip
            if len(running) == 1:
                leak = dataclasses.replace(leak, test=running[0])
        named.append(leak)
    return named


def replay_failures(
    parallel: PhaseResult,
    retry: PhaseResult,
    options: Options,
    starter: PhaseStarter,
    reporter: TerminalReporter,
    limits: Limits,
) -> dict[str, replay.Diagnosis]:
    """Diagnose the first parallel failures by replaying them in fresh sequential processes (runtests.replay):
    alone, after what ran before them on their worker, after their collection-order predecessors; culprits by
    delta debugging. Within the replay budget (replay.budget_s) and DIAGNOSED_MAX failures."""
    failing = retry_candidates(parallel)[: replay.DIAGNOSED_MAX]
    again = {test.nodeid: test.outcome for test in retry.tests}
    position = {nodeid: index for index, nodeid in enumerate(parallel.collected or ())}
    seconds = replay.budget_s(options.replay_budget, parallel.duration_s)
    budget = replay.Budget(sum(replay.replays_for(position.get(nodeid, 0)) for nodeid in failing),
                           time.monotonic() + seconds)  # fmt: skip
    if limits.run_deadline is not None:
        budget.deadline = min(budget.deadline, limits.run_deadline)
    counter = itertools.count(1)
    diagnoses: dict[str, replay.Diagnosis] = {}
    overlapping = find_suspects(parallel.tests)
    tests = {test.nodeid: test for test in parallel.tests}
    for test in (tests[nodeid] for nodeid in failing):

        def run(before: Sequence[str], nodeid: str = test.nodeid) -> tuple[Outcome, float]:
            number = next(counter)
            phase = make_replay_phase(options, number)
            outcome, seconds = replay_once(starter.take(phase, [*before, nodeid]), nodeid, limits)
            reporter.replay_done(nodeid, len(before), outcome, seconds)
            return outcome, seconds

        collected = list(parallel.collected or ())
        collection_before = collected[: position[test.nodeid]] if test.nodeid in position else []
        worker_before = [t.nodeid for t in replay.ran_before(parallel.tests, test)]

        def beside(suspects: Sequence[str], nodeid: str = test.nodeid) -> tuple[Outcome, float]:
            phase = make_beside_phase(options, next(counter))
            outcome, seconds = replay_once(starter.take(phase, [nodeid, *suspects]), nodeid, limits)
            reporter.replay_done(nodeid, len(suspects), outcome, seconds, beside=True)
            return outcome, seconds

        first = again.get(test.nodeid) if len(retry.tests) == 1 else None
        diagnosis = replay.diagnose(
            worker_before, collection_before, run, budget, test.worker, first, overlapping.get(test.nodeid, []), beside
        )
        if diagnosis is None:
            break
        diagnoses[test.nodeid] = diagnosis
    return diagnoses


def replay_once(process: PhaseProcess, nodeid: str, limits: Limits) -> tuple[Outcome, float]:
    """Run one replay's process: the outcome of the test it replays (not_run when it never got there)."""
    result, ran = run_quietly(process, "replay", limits)
    outcome = next((t.outcome for t in result.tests if t.nodeid == nodeid), Outcome.NOT_RUN)
    return outcome, ran.duration_s


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
    tests = [test for phase in results for test in phase.tests]
    note = durations.record(path, tests, own=options.durations_file is None) if path else None
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
    starving = [note for phase in phases if phase.is_parallel and (note := starving_unit(phase))]
    idle = [note for phase in phases if (note := idle_workers(phase))]
    parallel_s = next((phase.duration_s for phase in phases if phase.name == PARALLEL), 0.0)
    recheck = [worktree.recheck_problem] if worktree.recheck_problem else []
    undiagnosed = describe_undiagnosed([t for p in phases for t in p.tests], options.replay_budget, parallel_s)
    return RunSummary(
        phases=tuple(phases),
        min_pass_rate=options.min_pass_rate,
        notes=(*recheck, *notes, *idle, *starving, *undiagnosed),
        worktree_refusal=refusal,
        retry=retry,
        accept_parallel_only=options.accept_parallel_only,
        broken_guarantees=tuple(check_guarantees(phases)),
        strict_guarantees=options.strict_guarantees,
        serial_marker=options.serial_marker,
        shard=options.shard,
        slowest=options.slowest,
        leaks_fail=options.leaks == "fail",
        started_at=started_at,
        duration_s=duration_s,
        worktree=worktree,
    )


def idle_workers(phase: PhaseResult) -> str | None:
    """`-n N` above the phase's test count: the workers that got no test stopped after collecting."""
    if not phase.is_parallel or phase.workers >= phase.xdist_workers:
        return None
    idle = phase.xdist_workers - phase.workers
    tests = len(phase.collected or ())
    return (f"-n {phase.xdist_workers}: the {phase.label} phase has {tests} test{'s' if tests != 1 else ''}: "
            f"{idle} worker{'s' if idle != 1 else ''} got none and stopped after collecting")  # fmt: skip


def describe_undiagnosed(tests: Sequence[TestResult], given_s: float | None, parallel_s: float) -> list[str]:
    """One line naming what the replays left undiagnosed: the failures past DIAGNOSED_MAX or the budget, whose
    verdict is only the retry's (passed-on-retry, failed-on-retry), never accepted as parallel-only."""
    retried = [test for test in tests if test.retry is not None]
    left = [test for test in retried if test.retry is not None and test.retry.verdict in UNDIAGNOSED]
    if not left:
        return []
    if given_s == 0:
        why = "--replay-budget 0: none was replayed"
    else:
        budget = replay.budget_s(given_s, parallel_s)
        source = "--replay-budget" if given_s is not None else "the parallel phase's time, at least " \
            f"{replay.REPLAY_FLOOR_S:g}s; --replay-budget S for more"  # fmt: skip
        why = f"replays stop after {replay.DIAGNOSED_MAX} failures or {budget:g}s ({source})"
    names = ", ".join(test.nodeid for test in left[:3]) + (f" and {len(left) - 3} more" if len(left) > 3 else "")
    return [f"diagnosis: {len(left)} of {len(retried)} retried failure{'s' if len(retried) != 1 else ''} left "
            f"undiagnosed, their verdict only what the retry showed ({names}): {why}"]  # fmt: skip


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
