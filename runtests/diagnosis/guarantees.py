"""The promises the events can check after a run: serial tests alone, a mode's units whole and in collection
order on one worker; and a unit that starved the other workers. Pure."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence

from runtests.modes import MODES, Mode, unit_of
from runtests.results import PhaseResult, TestResult


def check_guarantees(phases: Iterable[PhaseResult]) -> list[str]:
    """What the events show of broken promises: overlapping serial tests, groups or scopes split across workers."""
    problems: list[str] = []
    phases = [phase for phase in phases if phase.ran]
    parallel_stop = max((t.stop for p in phases if p.is_parallel for t in p.tests if t.stop is not None), default=None)
    for phase in phases:
        if phase.is_parallel:
            problems += check_scheduling(phase)
            continue
        timed = sorted(
            (t for t in phase.tests if t.start is not None and t.stop is not None), key=lambda t: t.start or 0
        )
        for before, after in itertools.pairwise(timed):
            if (after.start or 0) < (before.stop or 0):
                problems.append(f"{phase.name} phase: {after.nodeid} started before {before.nodeid} ended")
        if parallel_stop is not None and timed and (timed[0].start or 0) < parallel_stop:
            problems.append(f"{phase.name} phase: {timed[0].nodeid} started before the parallel phase ended")
    return problems


def check_scheduling(phase: PhaseResult) -> list[str]:
    """What the mode promises: its units whole on one worker, and each worker (under load) or each unit (under
    the scoped modes) in collection order. A crash moves a dead worker's tests elsewhere: those are let be."""
    mode = MODES.get(phase.dist or "")
    if mode is None:
        return []
    return check_units(phase, mode) + check_order(phase, mode)


def check_units(phase: PhaseResult, mode: Mode) -> list[str]:
    if not mode.is_scoped:
        return []
    workers: dict[str, set[str]] = defaultdict(set)
    crashed: set[str] = set()
    for test in phase.tests:
        key = unit_of(test.nodeid, test.group, mode.name)
        if test.crashed:
            crashed.add(key)  # xdist moves a dead worker's remaining tests to its replacement
        if test.worker:
            workers[key].add(test.worker)
    what = mode.unit
    problems = []
    for key, ran_on in sorted(workers.items()):
        if len(ran_on) > 1 and key not in crashed:
            hint = " (pytest-xdist #1386: pytest 9.2 with xdist 3.8 drops the groups)" if what == "xdist_group" else ""
            problems.append(
                f"--dist {mode.name}: {what} {key!r} ran on {len(ran_on)} workers ({', '.join(sorted(ran_on))}), "
                f"not one{hint}"
            )
    return problems


def check_order(phase: PhaseResult, mode: Mode) -> list[str]:
    """The first test that ran after one collected later than it: on the same worker under load, in the same
    unit under the scoped modes (worksteal keeps no order across a steal)."""
    if not (mode.keeps_order or mode.is_scoped) or not phase.collected or any(t.crashed for t in phase.tests):
        return []
    position = {nodeid: index for index, nodeid in enumerate(phase.collected)}
    last: dict[tuple[str, str], TestResult] = {}
    problems = []
    for test in sorted((t for t in phase.tests if t.worker and t.start is not None), key=lambda t: t.start or 0.0):
        key = (test.worker or "", "" if mode.keeps_order else unit_of(test.nodeid, test.group, mode.name))
        before = last.get(key)
        if before is not None and position.get(test.nodeid, -1) < position.get(before.nodeid, -1):
            where = "worker" if mode.keeps_order else "unit"
            problems.append(
                f"--dist {mode.name}: {test.nodeid} ran after {before.nodeid} on {test.worker}, though collected "
                f"before it (each {where} runs its tests in collection order)"
            )
            break
        last[key] = test
    return problems


STARVING_SHARE = 0.5  # one unit with more than this share of a phase's test time leaves the other workers idle


def starving_unit(phase: PhaseResult) -> str | None:
    """When one unit the mode keeps whole (a file under loadfile, a scope, a group) holds most of a parallel
    phase's test time, one worker runs it while the others wait: say so, and name the mode that would spread it."""
    mode = MODES.get(phase.dist or "")
    if mode is None or not mode.is_scoped or phase.workers < 2:
        return None
    seconds: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for test in phase.tests:
        key = unit_of(test.nodeid, test.group, mode.name)
        seconds[key] += test.duration_s
        counts[key] += 1
    total = sum(seconds.values())
    if not seconds or total <= 0:
        return None
    unit, biggest = max(seconds.items(), key=lambda item: item[1])
    if biggest / total <= STARVING_SHARE or counts[unit] < 2:
        return None
    waited = wait_for(phase, [t for t in phase.tests if unit_of(t.nodeid, t.group, mode.name) == unit])
    if waited is None:
        return None
    spread = "--dist load (or worksteal)" if mode.unit != "xdist_group" else "fewer tests in that xdist_group"
    return (
        f"--dist {mode.name}: {mode.unit} {unit!r} holds {biggest / total:.0%} of the {phase.label} phase's test "
        f"time ({counts[unit]} tests, {biggest:.2f}s), and its tests ran on one worker while the others waited "
        f"{waited:.2f}s at the end; {spread} would spread them"
    )


STARVED_SHARE = 0.2  # of the phase's span: a wait this long at the end is the unit's doing, not noise
STARVED_MIN_S = 0.5


def wait_for(phase: PhaseResult, unit: Sequence[TestResult]) -> float | None:
    """How long every other worker sat idle at the end while the worker of `unit` ran on, from the events; None
    when they did not (the unit's worker was not the last to finish, or the others were busy to near the end)."""
    timed = [t for t in phase.tests if t.worker and t.start is not None and t.stop is not None]
    workers = {t.worker for t in unit if t.worker}
    if len(workers) != 1 or not timed:
        return None
    (worker,) = workers
    last: dict[str, float] = {}
    for test in timed:
        last[test.worker or ""] = max(last.get(test.worker or "", 0.0), test.stop or 0.0)
    others = [stop for name, stop in last.items() if name != worker]
    if not others:
        return None
    waited = last[worker] - max(others)
    span = max(last.values()) - min(t.start or 0.0 for t in timed)
    return waited if waited >= max(STARVED_MIN_S, STARVED_SHARE * span) else None


def idle_workers(phase: PhaseResult) -> str | None:
    """`-n N` above the phase's test count: the workers that got no test stopped after collecting."""
    if not phase.is_parallel or phase.workers >= phase.xdist_workers:
        return None
    idle = phase.xdist_workers - phase.workers
    tests = len(phase.collected or ())
    return (f"-n {phase.xdist_workers}: the {phase.label} phase has {tests} test{'s' if tests != 1 else ''}: "
            f"{idle} worker{'s' if idle != 1 else ''} got none and stopped after collecting")  # fmt: skip
