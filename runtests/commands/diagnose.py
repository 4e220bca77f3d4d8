"""`runtests diagnose NODEID`: one test replayed against the suite's collection order, without a run."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

from runtests.commands.context import processes
from runtests.config import Options
from runtests.diagnosis import replay
from runtests.diagnosis.driver import Replayer
from runtests.errors import UsageError
from runtests.resolve import read_if_present, resolve
from runtests.results import FAILS_ALONE, PARALLEL_ONLY, PASSED_ON_RETRY, TestResult
from runtests.runner import Limits, collect_suite


def diagnose(options: Options, nodeid: str, environ: Mapping[str, str]) -> int:
    """Replay `nodeid` alone, twice, then after the tests collected before it, and bisect them for the culprit.
    Exit 0 when no order dependence shows, 1 otherwise."""
    from runtests.report.live import TerminalReporter, make_console
    from runtests.report.terminal import describe_verdict

    options = resolve(options, environ, os.cpu_count() or 1, read_if_present)
    reporter = TerminalReporter(make_console(options.color), False)
    with processes(options.cwd, environ) as starter:
        result = collect_suite(options, starter)
        collected = list(result.collected or ())
        if result.collect_errors or nodeid not in collected:
            why = "collection failed" if result.collect_errors else f"{len(collected)} tests were collected"
            raise UsageError(f"{nodeid}: not a collected test ({why}); give a node id as `runtests --co -q` lists it")
        before = collected[: collected.index(nodeid)]
        seconds = replay.DIAGNOSE_BUDGET_S if options.replay_budget is None else options.replay_budget
        budget = replay.Budget(replay.replays_for(len(before)), time.monotonic() + seconds)
        replayer = Replayer(options, starter, Limits(), reporter.replay_done)
        found = replay.diagnose([], before, lambda tests: replayer.after(nodeid, tests), budget)
    if found is None:
        raise UsageError("--replay-budget 0: no replay could run; give it seconds")
    replays = sum(1 for r in found.replays if r.duration_s)
    spent = sum(r.duration_s for r in found.replays)
    # Node ids go out as plain text: `[tutorial001_py310]` is no markup tag.
    if found.verdict == PARALLEL_ONLY:
        reporter.say(f"{nodeid}: passes alone and after the {len(before)} tests collected before it: "
                     "no order dependence shows")  # fmt: skip
    elif found.verdict == PASSED_ON_RETRY:
        reporter.say(f"{nodeid}: passes alone; the budget ran out before it was replayed after the tests "
                     "collected before it: no order dependence shows so far")  # fmt: skip
    elif found.verdict == FAILS_ALONE:
        reporter.say(f"{nodeid}: fails alone and after the tests collected before it: a real failure")
    else:
        test = TestResult(nodeid, "diagnose", found.outcome, retry=found.retry_result())
        reporter.say(f"{found.verdict}: {describe_verdict(test, {})}")
    reporter.say(f"{replays} replays in {spent:.2f}s" + ("" if found.complete else "; the budget ran out"))
    return 0 if found.verdict in (PARALLEL_ONLY, PASSED_ON_RETRY) else 1
