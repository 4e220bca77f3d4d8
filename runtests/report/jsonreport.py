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
    FAILS_ALONE,
    PARALLEL_ONLY,
    CollectError,
    Outcome,
    PhaseResult,
    Replay,
    RetryResult,
    SubtestResult,
    Tally,
    TestResult,
    Warning_,
)
from runtests.summary import ExitPolicy, RunSummary

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
    if test.reruns:
        data["reruns"] = test.reruns
    if test.when is not None and test.outcome is Outcome.ERROR:
        data["when"] = test.when
    return data


def describe_phase(phase: PhaseResult, tally: Tally | None = None) -> dict[str, Any]:
    """A phase's entry; its `counts` the run's tally of it (its row of the table) when given, else its own."""
    tally = tally or phase.tally()
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
        "counts": dict(tally.counts),
        "reruns": tally.reruns,
        "deselected": tally.deselected,
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
        reruns=int(data.get("reruns") or 0),
        when=data.get("when"),
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
            deselected=int(phase.get("deselected") or 0),
            warnings=[
                Warning_(str(w.get("message")), str(w.get("location") or ""), phase["name"], w.get("when", "runtest"))
                for w in phase.get("warnings", ())
            ],
            collect_errors=[
                CollectError(e["nodeid"], e.get("longrepr") or "", e["phase"])
                for e in data.get("collect_errors", ())
                if e.get("phase") == phase["name"]
            ],
        )
        phases.append(result)
    if tests:
        raise ValueError(f"tests of phases the report does not list: {', '.join(sorted(tests))}")
    accept = bool(data.get("accept_parallel_only", (data.get("retries") or {}).get("accepted")))
    return RunSummary(
        phases=phases,
        policy=ExitPolicy(float(data.get("min_pass_rate", 100.0)), accept),
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
    tally = summary.tally
    rate = tally.pass_rate()
    stats = summary.retry_stats
    return {
        "schema_version": SCHEMA_VERSION,
        "runtests_version": __version__,
        "exit_code": summary.exit_code(),
        "pass_rate": None if rate is None else round(rate, 4),
        "min_pass_rate": summary.policy.min_pass_rate,
        "accept_parallel_only": summary.policy.accept_parallel_only,
        "started_at": summary.started_at,
        "duration_s": round(summary.duration_s, 6),
        "shard": None if summary.shard is None else {"index": summary.shard[0], "total": summary.shard[1]},
        "totals": dict(tally.counts),
        "reruns": tally.reruns,
        "deselected": tally.deselected,
        "warnings": tally.warnings,
        "randomly_seed": summary.seed,
        "subtests": summary.subtest_counts(),
        "phases": [describe_phase(phase, summary.phase_tallies[phase.label]) for phase in summary.phases],
        "collect_errors": [
            {"nodeid": e.nodeid, "phase": e.phase, "longrepr": e.longrepr} for e in summary.collect_errors()
        ],
        "tests": [describe_test(test) for test in summary.tests],
        "retries": None
        if summary.retry is None
        else {
            "phase": describe_phase(summary.retry),
            "retried": stats.retried,
            "passed": stats.passed,
            "parallel_only": stats.verdicts[PARALLEL_ONLY],
            "fails_alone": stats.verdicts[FAILS_ALONE],
            "undiagnosed": stats.undiagnosed,
            "verdicts": dict(stats.verdicts),
            "replays": stats.replays,
            "replay_s": round(stats.replay_s, 6),
            "accepted": summary.policy.accept_parallel_only,
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
                "ignored": list(pollution.ignored),
                "phases": {path: list(names) for path, names in pollution.phases_of.items()},
            },
        },
    }


def write_report(path: Path, report: dict[str, Any]) -> None:
    """Whole or not at all (runtests.files), so a reader never sees half a report."""
    write_atomically(path, lambda stream: stream.write(json.dumps(report, indent=1) + "\n"))
