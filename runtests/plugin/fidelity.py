"""What a plugin keeps once per pytest run, kept whole across runtests' processes: the pytest side.

Depends on pytest and the standard library only. A run of several processes (the parallel phase, the retry, the
serial phase) is told each process's part (events.PART_OPTION: first, middle or last; absent: one process is the
whole run), and in each:

- coverage (pytest-cov): the first process erases and measures; later ones append to its data. Only the last
  reports, writes the --cov-report files and judges --cov-fail-under, on the combined data;
- pytest-randomly's seed: one for every process, runtests' choice unless the user gave one (or `last`);
- files written once per run: --report-log and pytest's --junitxml are written in parts that runtests merges;
  pytest-html's and pytest-json-report's are refused before any test runs;
- pytest's output settings (-v, -q, -r, --tb, --durations, -s) are read as pytest resolved them (addopts
  included) for runtests' report; --durations is runtests' to show, over the whole run;
- what plugins write in their terminal summary is located in the process's output, for runtests to show.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runtests import events

Emit = Callable[[dict[str, Any]], None]

# Files a plugin writes once per pytest run that runtests merges: option dest -> the flag users know.
MERGED_FILES = {"report_log": "--report-log", "xmlpath": "--junitxml"}
# Those it cannot merge: option dest -> (flag, why).
REFUSED_FILES = {
    "htmlpath": ("--html", "pytest-html writes one page per pytest process"),
    "json_report": ("--json-report", "pytest-json-report writes one file per pytest process"),
}
REFUSAL_ADVICE = "use runtests' own --json-report or --junitxml for the whole run, or run it as one process (-n 0)"
REPORT_ONLY = pytest.StashKey[bool]()
DURATIONS = pytest.StashKey[tuple[Any, Any]]()
MOVED_OUTPUT: list[Any] = []  # the stream pytest's own terminal output went to, when separate_output moved it


def part_of(config: pytest.Config) -> str | None:
    return getattr(config.known_args_namespace, "runtests_part", None)


def coverage_before_start(early_config: pytest.Config) -> None:
    """Before pytest-cov starts: a later process appends to the data the first one measured."""
    options = early_config.known_args_namespace
    if part_of(early_config) in (events.PART_MIDDLE, events.PART_LAST) and getattr(options, "cov_source", None):
        options.cov_append = True


def coverage_after_start(early_config: pytest.Config) -> None:
    """pytest-cov has started: only the last process reports and judges --cov-fail-under (from the command line
    or the coverage configuration, which pytest-cov has just read)."""
    if part_of(early_config) not in (events.PART_FIRST, events.PART_MIDDLE):
        return
    plugin = early_config.pluginmanager.get_plugin("_cov")
    if plugin is not None and getattr(plugin, "options", None) is not None:
        plugin.options.cov_report = {}
        plugin.options.cov_fail_under = None


def measures_coverage(config: pytest.Config) -> bool:
    plugin = config.pluginmanager.get_plugin("_cov")
    return plugin is not None and not getattr(plugin, "_disabled", True)


def share_seed(config: pytest.Config) -> None:
    """Before pytest-randomly draws its own: the run's seed, unless one was given."""
    seed = config.getoption(events.SEED_OPTION)
    if seed is not None and getattr(config.option, "randomly_seed", None) == "default":
        config.option.randomly_seed = int(seed)


def redirect_files(config: pytest.Config, workdir: Path, emit: Emit) -> None:
    """Before the plugins open them: each process of a run writes its part of a per-run file; refuse those that
    cannot be merged, in the first process, before any test runs."""
    part = part_of(config)
    if part is None:
        return
    phase = config.getoption(events.PHASE_OPTION)
    for dest, (flag, why) in REFUSED_FILES.items():
        if getattr(config.option, dest, None):
            if part == events.PART_FIRST:
                text = f"{flag}: {why}, and runtests runs one per phase; {REFUSAL_ADVICE}"
                emit({events.KIND: events.REFUSED, "text": text})
                raise pytest.UsageError(text)
            if dest == "htmlpath":  # a retry after a whole-run parallel phase: its page is that phase's
                config.option.htmlpath = str(workdir / f"{phase}.{dest}.html")
            else:
                setattr(config.option, dest, False)
    for dest, flag in MERGED_FILES.items():
        value = getattr(config.option, dest, None)
        if value:
            target = Path(config.invocation_params.dir, os.path.expanduser(os.path.expandvars(str(value))))
            piece = workdir / f"{phase}.{dest}"
            setattr(config.option, dest, str(piece))
            emit({events.KIND: events.FILE, "option": flag, "target": str(target), "part": str(piece)})


def take_durations(config: pytest.Config) -> None:
    """--durations is runtests' to show, over every phase: keep pytest's settings and stop its own list."""
    option = config.option
    config.stash[DURATIONS] = (getattr(option, "durations", None), getattr(option, "durations_min", None))
    option.durations = None


def terminal_settings(config: pytest.Config) -> dict[str, Any]:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    durations, durations_min = config.stash.get(DURATIONS, (None, None))
    return {
        "verbosity": config.get_verbosity(),
        "reportchars": getattr(reporter, "reportchars", "fE"),
        "tbstyle": getattr(config.option, "tbstyle", "auto"),
        "durations": durations,
        "durations_min": durations_min,
        "capture": getattr(config.option, "capture", "fd"),
        "showcapture": getattr(config.option, "showcapture", "all"),
        "collectonly": bool(getattr(config.option, "collectonly", False)),
    }


def separate_output(config: pytest.Config, workdir: Path, emit: Emit) -> None:
    """Under -s in a sequential process, what the tests print reaches fd 1, which runtests relays live; pytest's
    own lines (its header, progress, summaries) go to a file of their own, or they would be relayed too."""
    if getattr(config.option, "capture", "fd") != "no" or getattr(config.option, "numprocesses", None):
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or not hasattr(reporter, "_tw"):
        return
    from _pytest.config import create_terminal_writer

    path = workdir / f"{config.getoption(events.PHASE_OPTION)}.pytest.txt"
    stream = open(path, "w", encoding="utf-8")  # noqa: SIM115  (open until the process exits)
    reporter._tw = create_terminal_writer(config, stream)
    MOVED_OUTPUT[:] = [stream]
    emit({events.KIND: events.OUTPUT, "path": str(path)})


def output_offset() -> int | None:
    """Where pytest's output file stands (None when it is a terminal or a pipe: nothing to locate)."""
    for stream in (sys.stdout, sys.stderr, *MOVED_OUTPUT):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    try:
        return os.lseek(MOVED_OUTPUT[0].fileno() if MOVED_OUTPUT else 1, 0, os.SEEK_CUR)
    except (OSError, ValueError):
        return None


class SummaryStart:
    """Registered as late as possible, so that its tryfirst hook runs before every other plugin's summary."""

    def __init__(self, marks: list[int | None]) -> None:
        self.marks = marks

    @pytest.hookimpl(tryfirst=True)
    def pytest_terminal_summary(self) -> None:
        self.marks[:] = [output_offset()]


def summary_end(marks: list[int | None], emit: Emit) -> None:
    """Called by the plugin module's trylast hook (registered first of all, so called last): where the plugins'
    summary ends in the output, with where it began, as one event."""
    start, end = (marks or [None])[0], output_offset()
    if start is not None and end is not None and end > start:
        emit({events.KIND: events.SUMMARY, "start": start, "end": end})


def skip_collection(session: pytest.Session) -> bool:
    """A report-only process (the gate said so): it runs no test, collects nothing; its plugins report."""
    if session.config.stash.get(REPORT_ONLY, False):
        session.items = []
        return True
    return False
