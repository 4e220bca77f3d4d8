"""The JSON report (schema in README.md, "JSON report"); written atomically, also for failed runs."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from runtests import __version__
from runtests.config import Options
from runtests.errors import UsageError
from runtests.gitcheck import Pollution, WorktreeState
from runtests.results import PhaseResult, RunSummary, TestResult

SCHEMA_VERSION = 1


def check_writable(path: Path, flag: str = "--json-report") -> None:
    """Fail before the run, not after it, when a report cannot be written."""
    parent = path.parent
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a directory; give a file path")
    if not parent.is_dir():
        raise UsageError(f"{flag} {path}: directory {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: directory {parent} is not writable")


def describe_test(test: TestResult) -> dict[str, Any]:
    data: dict[str, Any] = {
        "nodeid": test.nodeid,
        "phase": test.phase,
        "outcome": test.outcome.value,
        "duration_s": round(test.duration_s, 6),
        "worker": test.worker,
        "start": test.start,
        "stop": test.stop,
    }
    if test.longrepr is not None:
        data["longrepr"] = test.longrepr
    if test.reason is not None:
        data["reason"] = test.reason
    if test.crashed:
        data["crashed"] = True
    if test.subtests:
        data["subtests"] = [{"description": s.description, "outcome": s.outcome} for s in test.subtests]
    if test.group is not None:
        data["xdist_group"] = test.group
    if test.retry is not None:
        data["retry"] = {"outcome": test.retry.outcome.value, "verdict": test.retry.verdict}
    if test.is_failing and test.worker is not None:
        data["suspects"] = list(test.suspects)
    return data


def describe_phase(phase: PhaseResult) -> dict[str, Any]:
    return {
        "name": phase.name,
        "ran": phase.ran,
        "skipped_because": phase.skipped_because,
        "exit_code": phase.exit_code,
        "interrupted": phase.interrupted,
        "began": phase.began,
        "ended": phase.ended,
        "internal_errors": list(phase.internal_errors),
        "timed_out": phase.timed_out,
        "workers": phase.workers,
        "dist": phase.dist,
        "duration_s": round(phase.duration_s, 6),
        "started_at": phase.started_at,
        "collected": None if phase.collected is None else len(phase.collected),
        "counts": phase.counts(),
    }


def describe_worktree(state: WorktreeState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {
        "root": state.root,
        "head": state.head,
        "branch": state.branch,
        "staged": list(state.staged),
        "unstaged": list(state.unstaged),
        "untracked": list(state.untracked),
    }


def make_report(
    summary: RunSummary,
    options: Options,
    before: WorktreeState | None,
    after: WorktreeState | None,
    pollution: Pollution | None,
    git_problem: str | None,
    started_at: float,
    duration_s: float,
) -> dict[str, Any]:
    rate = summary.pass_rate()
    return {
        "schema_version": SCHEMA_VERSION,
        "runtests_version": __version__,
        "exit_code": summary.exit_code(),
        "pass_rate": None if rate is None else round(rate, 4),
        "min_pass_rate": summary.min_pass_rate,
        "started_at": started_at,
        "duration_s": round(duration_s, 6),
        "shard": None if summary.shard is None else {"index": summary.shard[0], "total": summary.shard[1]},
        "totals": summary.counts(),
        "subtests": summary.subtest_counts(),
        "options": {
            "cwd": str(options.cwd),
            "pytest_args": list(options.pytest_args),
            "dist": options.dist,
            "workers": options.workers,
            "serial_marker": options.serial_marker,
            "phase": options.phase,
            "git_check": options.git_check,
        },
        "phases": [describe_phase(phase) for phase in summary.phases],
        "collect_errors": [
            {"nodeid": e.nodeid, "phase": e.phase, "longrepr": e.longrepr} for e in summary.collect_errors()
        ],
        "tests": [describe_test(test) for test in summary.tests],
        "git": {
            "policy": options.git_check,
            "problem": git_problem,
            "before": describe_worktree(before),
            "after": describe_worktree(after),
            "changed_by_tests": None
            if pollution is None
            else {
                "created": list(pollution.created),
                "changed": list(pollution.changed),
                "deleted": list(pollution.deleted),
                "phases": {path: list(names) for path, names in pollution.phases_of.items()},
            },
        },
        "retries": None
        if summary.retry is None
        else {
            "phase": describe_phase(summary.retry),
            "retried": len(summary.retried()),
            "parallel_only": sum(test.is_parallel_only for test in summary.retried()),
            "fails_alone": sum(not test.is_parallel_only for test in summary.retried()),
            "accepted": summary.accept_parallel_only,
        },
        "broken_guarantees": list(summary.broken_guarantees),
        "notes": list(summary.notes),
    }


def write_report(path: Path, report: dict[str, Any]) -> None:
    """Write via a temporary file and a rename, so a reader never sees half a report."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            json.dump(report, stream, indent=1)
            stream.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
