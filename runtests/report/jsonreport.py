"""The JSON report (schema in README.md, "JSON report"); written atomically, also for failed runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runtests import __version__
from runtests.config import Options
from runtests.files import write_atomically
from runtests.gitcheck import WorktreeReport, WorktreeState
from runtests.results import (
    FAILING,
    VERDICTS,
    CollectError,
    Outcome,
    PhaseResult,
    Replay,
    RetryResult,
    RunSummary,
    SubtestResult,
    TestResult,
    Warning_,
)

SCHEMA_VERSION = 1


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
    if test.location is not None:
        data["location"] = list(test.location)
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
        if test.retry.diagnosed is not None:
            data["retry"] |= {
                "culprits": list(test.retry.culprits),
                "where": test.retry.where,
                "complete": test.retry.complete,
                "replays": [
                    {"kind": r.kind, "before": len(r.before), "outcome": r.outcome.value,
                     "duration_s": round(r.duration_s, 6)}
                    for r in test.retry.replays
                ],
            }  # fmt: skip
    if test.is_failing and test.worker is not None:
        data["suspects"] = list(test.suspects)
    return data


def describe_phase(phase: PhaseResult) -> dict[str, Any]:
    return {
        "name": phase.name,
        "shard": None if phase.shard is None else list(phase.shard),
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
        "scheduler": phase.scheduler,
        "duration_s": round(phase.duration_s, 6),
        "started_at": phase.started_at,
        "collected": None if phase.collected is None else len(phase.collected),
        "counts": phase.counts(),
        "coverage": phase.coverage,
        "report_only": phase.report_only,
        "refused": list(phase.refusals),
        "warnings": [{"message": w.message, "location": w.location, "when": w.when} for w in phase.warnings],
    }


def read_retry(data: dict[str, Any]) -> RetryResult:
    replays = tuple(
        Replay(r["kind"], (), Outcome(r["outcome"]), float(r.get("duration_s") or 0.0)) for r in data.get("replays", ())
    )
    diagnosed = data.get("verdict") if "replays" in data else None
    return RetryResult(Outcome(data["outcome"]), None, diagnosed, tuple(data.get("culprits", ())),
                       str(data.get("where", "")), replays, bool(data.get("complete", True)))  # fmt: skip


def read_test(data: dict[str, Any]) -> TestResult:
    """The inverse of describe_test, for `runtests combine`."""
    retry = data.get("retry")
    location = data.get("location")
    return TestResult(
        nodeid=data["nodeid"],
        phase=data["phase"],
        outcome=Outcome(data["outcome"]),
        duration_s=float(data.get("duration_s") or 0.0),
        worker=data.get("worker"),
        start=data.get("start"),
        stop=data.get("stop"),
        location=(location[0], location[1], location[2]) if location else None,
        longrepr=data.get("longrepr"),
        reason=data.get("reason"),
        subtests=[SubtestResult(s["outcome"], s.get("description", "")) for s in data.get("subtests", ())],
        crashed=bool(data.get("crashed")),
        group=data.get("xdist_group"),
        retry=None if retry is None else read_retry(retry),
        suspects=list(data.get("suspects", ())),
    )


def read_summary(data: dict[str, Any]) -> RunSummary:
    """A RunSummary back from a JSON report: enough to count, rate and choose the exit code again."""
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"schema_version {data.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    tests: dict[str, list[TestResult]] = {}
    for test in data["tests"]:
        tests.setdefault(test["phase"], []).append(read_test(test))
    shard = data.get("shard")
    phases = []
    for phase in data["phases"]:
        result = PhaseResult(
            phase["name"],
            xdist_workers=(phase.get("workers") or 0) if phase.get("dist") else 0,
            dist=phase.get("dist"),
            scheduler=phase.get("scheduler"),
            exit_code=phase.get("exit_code"),
            duration_s=float(phase.get("duration_s") or 0.0),
            started_at=phase.get("started_at"),
            tests=tests.pop(phase["name"], []) if phase.get("ran") else [],
            internal_errors=list(phase.get("internal_errors", ())),
            interrupted=bool(phase.get("interrupted")),
            timed_out=bool(phase.get("timed_out")),
            began=bool(phase.get("began")),
            ended=bool(phase.get("ended")),
            skipped_because=phase.get("skipped_because"),
            shard=None if shard is None else (shard["index"], shard["total"]),
            coverage=bool(phase.get("coverage")),
            report_only=bool(phase.get("report_only")),
            refusals=list(phase.get("refused", ())),
            warnings=[
                Warning_(str(w.get("message")), str(w.get("location") or ""), phase["name"], w.get("when", "runtest"))
                for w in phase.get("warnings", ())
            ],
        )
        result.collect_errors = [
            CollectError(e["nodeid"], e.get("longrepr") or "", e["phase"])
            for e in data.get("collect_errors", ())
            if e.get("phase") == phase["name"]
        ]
        phases.append(result)
    if tests:
        raise ValueError(f"tests of phases the report does not list: {', '.join(sorted(tests))}")
    return RunSummary(
        phases=phases,
        min_pass_rate=float(data.get("min_pass_rate", 100.0)),
        accept_parallel_only=bool((data.get("retries") or {}).get("accepted")),
        broken_guarantees=list(data.get("broken_guarantees", ())),
        shard=None if shard is None else (shard["index"], shard["total"]),
    )


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


def make_report(summary: RunSummary) -> dict[str, Any]:
    """The report's results: everything but the run's options and git state (see describe_context)."""
    rate = summary.pass_rate()
    retried = summary.retried()
    return {
        "schema_version": SCHEMA_VERSION,
        "runtests_version": __version__,
        "exit_code": summary.exit_code(),
        "pass_rate": None if rate is None else round(rate, 4),
        "min_pass_rate": summary.min_pass_rate,
        "started_at": summary.started_at,
        "duration_s": round(summary.duration_s, 6),
        "shard": None if summary.shard is None else {"index": summary.shard[0], "total": summary.shard[1]},
        "totals": summary.counts(),
        "warnings": len(summary.warnings),
        "randomly_seed": summary.seed,
        "subtests": summary.subtest_counts(),
        "phases": [describe_phase(phase) for phase in summary.phases],
        "collect_errors": [
            {"nodeid": e.nodeid, "phase": e.phase, "longrepr": e.longrepr} for e in summary.collect_errors()
        ],
        "tests": [describe_test(test) for test in summary.tests],
        "retries": None
        if summary.retry is None
        else {
            "phase": describe_phase(summary.retry),
            "retried": len(retried),
            "parallel_only": sum(test.is_parallel_only for test in retried),
            "fails_alone": sum(test.retry is not None and test.retry.outcome in FAILING for test in retried),
            "verdicts": {v: sum(t.retry is not None and t.retry.verdict == v for t in retried) for v in VERDICTS},
            "replays": sum(len([r for r in t.retry.replays if r.duration_s]) for t in retried if t.retry),
            "replay_s": round(sum(r.duration_s for t in retried if t.retry for r in t.retry.replays), 6),
            "accepted": summary.accept_parallel_only,
        },
        "broken_guarantees": list(summary.broken_guarantees),
        "leaks": [
            {"pid": leak.pid, "command": leak.command, "test": leak.test, "phase": phase, "stopped": leak.stopped}
            for phase, leak in summary.leaks
        ],
        "notes": list(summary.notes),
    }


def describe_context(options: Options, worktree: WorktreeReport | None) -> dict[str, Any]:
    """The report's `options` and `git` keys."""
    before, after = (worktree.before, worktree.after) if worktree else (None, None)
    pollution = worktree.pollution if worktree else None
    return {
        "options": {
            "cwd": str(options.cwd),
            "pytest_args": list(options.pytest_args),
            "dist": options.dist,
            "workers": options.workers,
            "serial_marker": options.serial_marker,
            "phase": options.phase,
            "git_check": options.git_check,
        },
        "git": {
            "policy": options.git_check,
            "problem": worktree.problem if worktree else None,
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
    }


def write_report(path: Path, report: dict[str, Any]) -> None:
    """Whole or not at all (runtests.files), so a reader never sees half a report."""
    write_atomically(path, lambda stream: stream.write(json.dumps(report, indent=1) + "\n"))
