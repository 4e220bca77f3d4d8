"""Turn Options into the phases to run: pure, no I/O, no environment reads."""

from __future__ import annotations

import dataclasses
import re

from runtests import events
from runtests.config import DEBUGGERS, Options
from runtests.errors import UsageError
from runtests.events import PARALLEL, RETRY, SERIAL

PLUGIN = "runtests.plugin"

# pytest options that runtests sets itself; given through, they would fight the phase split.
XDIST_OPTION = re.compile(r"(-n|--numprocesses|--maxprocesses|-d|--dist|--tx)(=.*|\d+|auto|logical)?\Z")
NO_XDIST = {"no:xdist", "no:xdist.plugin"}
# pytest's information commands: they run no test. `--co` is listed by runtests, by phase; the others are pytest's
# own output, from one process over every test.
COLLECT_ONLY = {"--co", "--collect-only", "--collectonly"}
# --setup-show runs the tests, but what it shows (each fixture's setup and teardown) an xdist worker cannot relay:
# it too is pytest's own output from one sequential process.
PASSTHROUGH = {"--fixtures", "--funcargs", "--fixtures-per-test", "--markers", "--setup-plan", "--setup-only",
               "--setup-show", "--cache-show"}  # fmt: skip
# `-x` alone or in a cluster of pytest's value-less short flags (`-vx`), not in `-rfEx` (a value).
EXIT_FIRST = re.compile(r"-[vqsl]*x[vqslx]*\Z")


@dataclasses.dataclass(frozen=True)
class Phase:
    """One pytest process: which tests it keeps and how it runs them."""

    name: str
    select: str
    workers: str | int  # 0: sequential, xdist distributes nothing (-n 0)
    dist: str | None
    argv: tuple[str, ...]  # what follows `python -m pytest`, less the events file
    part: str | None = None  # its part of a run of several processes (runtests.plugin.fidelity); None: the whole run


@dataclasses.dataclass(frozen=True)
class Plan:
    phases: tuple[Phase, ...]
    marker: str
    stops_at_first_failure: bool
    notes: tuple[str, ...] = ()
    information: str | None = None  # "collect" (--co, listed by phase) or "passthrough" (pytest's own output)


def check_pytest_args(args: tuple[str, ...]) -> None:
    """Refuse pytest options that runtests controls; say which runtests option to use instead."""
    for index, arg in enumerate(args):
        if arg == "--":
            return
        if XDIST_OPTION.match(arg):
            raise UsageError(f"{arg}: runtests sets xdist's options itself; use runtests' -n/--workers and --dist")
        plugin = arg[2:].lstrip("=") if arg.startswith("-p") and arg != "-p" else None
        if arg == "-p" and index + 1 < len(args):
            plugin = args[index + 1]
        if plugin in NO_XDIST:
            raise UsageError("-p no:xdist: runtests disables xdist itself; use -n 0 to run everything sequentially")


SHORT_FLAGS = re.compile(r"-[vqsxl]+\Z")


def verbosity_of(args: tuple[str, ...]) -> int:
    """pytest's verbosity from its arguments (-v, -qq, --verbose, --verbosity=N), before pytest itself says."""
    level = 0
    for arg in args:
        if arg == "--":
            break
        if arg == "--verbose":
            level += 1
        elif arg == "--quiet":
            level -= 1
        elif arg.startswith("--verbosity="):
            value = arg.partition("=")[2]
            level = int(value) if value.lstrip("-").isdigit() else level
        elif SHORT_FLAGS.match(arg):
            level += arg.count("v") - arg.count("q")
    return level


def stops_at_first_failure(args: tuple[str, ...]) -> bool:
    for arg in args:
        if arg == "--":
            return False
        if arg == "--exitfirst" or arg.startswith("--maxfail") or EXIT_FIRST.match(arg):
            return True
    return False


def information_command(args: tuple[str, ...]) -> str | None:
    for arg in args:
        if arg == "--":
            return None
        if arg in COLLECT_ONLY:
            return "collect"
        if arg.split("=", 1)[0] in PASSTHROUGH:
            return "passthrough"
    return None


def plugin_argv(name: str, select: str, options: Options) -> tuple[str, ...]:
    argv: tuple[str, ...] = (
        "-p",
        PLUGIN,
        f"{events.PHASE_OPTION}={name}",
        f"{events.SELECT_OPTION}={select}",
        f"{events.MARKER_OPTION}={options.serial_marker}",
    )
    if options.serial_groups:
        argv += (f"{events.GROUPS_OPTION}={','.join(options.serial_groups)}",)
    if options.seed is not None:
        argv += (f"{events.SEED_OPTION}={options.seed}",)
    return argv


def make_phase(name: str, select: str, workers: str | int, options: Options, part: str | None = None) -> Phase:
    argv = plugin_argv(name, select, options)
    if part is not None:
        argv = (*argv, f"{events.PART_OPTION}={part}")
    if options.timeout is not None:
        argv = (*argv, f"{events.TIMEOUT_OPTION}={options.timeout:g}")
    if options.durations_file is not None:
        argv = (*argv, f"{events.DURATIONS_OPTION}={options.durations_file}")
    if options.shard is not None and select != events.SELECT_LISTED:
        argv = (*argv, f"{events.SHARD_OPTION}={options.shard[0]}/{options.shard[1]}")
    if workers == 0:
        # `-n 0` rather than `-p no:xdist`: xdist distributes nothing, yet the `worker_id` and `testrun_uid`
        # fixtures still exist ("master"), and an `-n auto` in the project's addopts is overridden, not an error.
        return Phase(name, select, 0, None, (*argv, "-n", "0", *options.pytest_args), part)
    xdist: tuple[str, ...] = ("-n", str(workers), "--dist", options.dist)
    if name == PARALLEL and options.order == "balanced":
        xdist += (events.BALANCE_OPTION,)
    return Phase(name, select, workers, options.dist, (*argv, *xdist, *options.pytest_args), part)


def make_retry_phase(options: Options) -> Phase:
    """The sequential process that re-runs parallel failures alone; the runner passes the node ids. Between the
    parallel and serial phases: it adds to their coverage and reports nothing of its own."""
    return make_phase(RETRY, events.SELECT_LISTED, 0, options, events.PART_MIDDLE)


def make_replay_phase(options: Options, number: int) -> Phase:
    """One replay of a diagnosis (runtests.diagnosis.replay): a fresh sequential process running the listed node
    ids, in the listed order. It adds to the run's coverage and reports nothing of its own, as the retry."""
    return make_phase(f"replay-{number}", events.SELECT_LISTED, 0, options, events.PART_MIDDLE)


def make_beside_phase(options: Options, number: int) -> Phase:
    """A replay in parallel: the failing test and the tests that ran beside it, under xdist (`-n 2 --dist load`),
    to see whether running them at the same time breaks it again."""
    return make_phase(f"replay-{number}", events.SELECT_LISTED, 2, dataclasses.replace(options, dist="load",
                      order="collection"), events.PART_MIDDLE)  # fmt: skip


def make_plan(options: Options) -> Plan:
    args = options.pytest_args
    check_pytest_args(args)
    notes = list(options.notes)
    if options.shard is not None:
        notes.append(f"shard {options.shard[0]}/{options.shard[1]} of the suite, balanced by recorded durations")
    workers = options.workers
    if any(arg in DEBUGGERS for arg in args) and workers != 0:
        # xdist cannot attach a debugger to a worker; it falls back to sequential too.
        notes.append("--pdb/--trace given: running every phase sequentially (-n 0), with pytest's own output")
        workers = 0
    information = information_command(args)
    if information is not None:  # one sequential process over every test; nothing runs
        phase = make_phase(SERIAL if workers == 0 else PARALLEL, events.SELECT_ALL, 0, options)
        return Plan((phase,), options.serial_marker, False, tuple(notes), information)
    phases: list[Phase] = []
    if workers == 0:
        if options.phase == "all":
            phases.append(make_phase(SERIAL, events.SELECT_ALL, 0, options))
        elif options.phase == PARALLEL:
            phases.append(make_phase(PARALLEL, events.SELECT_UNMARKED, 0, options))
    elif options.phase in ("all", PARALLEL):
        part = events.PART_FIRST if options.phase == "all" else None
        phases.append(make_phase(PARALLEL, events.SELECT_UNMARKED, workers, options, part))
    if options.phase == SERIAL or (options.phase == "all" and workers != 0):
        part = events.PART_LAST if options.phase == "all" else None
        phases.append(make_phase(SERIAL, events.SELECT_MARKED, 0, options, part))
    return Plan(tuple(phases), options.serial_marker, stops_at_first_failure(args), tuple(notes))
