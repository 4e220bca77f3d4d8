"""The JSON report: written atomically, and readable back for `combine`."""

from __future__ import annotations

import json

import pytest

from runtests.report.jsonreport import make_report, read_summary, write_report
from runtests.results import CollectError, Outcome, PhaseResult, Replay, RetryResult, TestResult
from runtests.summary import ExitPolicy, RunSummary


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "r.json"
    target.write_text("old")
    write_report(target, {"schema_version": 1})
    assert json.loads(target.read_text()) == {"schema_version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
    with pytest.raises(TypeError):
        write_report(target, {"bad": object()})
    assert json.loads(target.read_text()) == {"schema_version": 1}  # the old report survives a failed write
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_report_round_trips_through_read_summary():
    retry = RetryResult(Outcome.PASSED, diagnosed="parallel-only", replays=(Replay("alone", (), Outcome.PASSED, 0.3),))
    failed = TestResult("t.py::a", "parallel", Outcome.FAILED, 0.5, "gw0", 1.0, 1.5, ("t.py", 3, "a"), "boom",
                        retry=retry, suspects=["t.py::b"])  # fmt: skip
    undiagnosed = TestResult("t.py::u", "parallel", Outcome.FAILED, retry=RetryResult(Outcome.PASSED), reruns=2)
    summary = RunSummary(
        [
            PhaseResult(
                "parallel",
                xdist_workers=2,
                dist="load",
                scheduler="runtests",
                exit_code=1,
                began=True,
                ended=True,
                tests=[failed, TestResult("t.py::b", "parallel", Outcome.PASSED, worker="gw1"), undiagnosed],
                collect_errors=[CollectError("t_broken.py", "ImportError", "parallel")] * 2,  # once per worker
                deselected=7,
            ),
            PhaseResult(
                "serial",
                exit_code=0,
                began=True,
                ended=True,
                tests=[TestResult("t.py::s", "serial", Outcome.XFAILED, reason="known")],
            ),
        ],
        ExitPolicy(min_pass_rate=99.0),
        shard=(2, 3),
        started_at=1.0,
        duration_s=2.0,
    )
    report = json.loads(json.dumps(make_report(summary)))
    assert (report["started_at"], report["duration_s"]) == (1.0, 2.0)
    back = read_summary(report)
    assert back.tally == summary.tally and back.exit_code() == summary.exit_code() == 2
    assert report["totals"]["errors"] == 1 and report["deselected"] == 7 and report["reruns"] == 2
    assert back.shard == (2, 3) and back.policy.min_pass_rate == 99.0
    (again,) = [t for t in back.tests if t.nodeid == "t.py::a"]
    assert again.is_parallel_only and again.suspects == ["t.py::b"] and again.location == ("t.py", 3, "a")
    replays = [{"kind": "alone", "before": 0, "outcome": "passed", "duration_s": 0.3}]
    assert report["tests"][0]["retry"] == {"outcome": "passed", "verdict": "parallel-only", "culprits": [],
                                           "where": "", "complete": True, "replays": replays}  # fmt: skip
    assert report["tests"][2]["retry"] == {"outcome": "passed", "verdict": "passed-on-retry"}
    assert report["retries"] is None  # no retry phase in this summary
    # `workers`: the processes that ran the phase's tests at once, as in the terminal's table; 1 when sequential.
    assert [(p["workers"], p["dist"], p["scheduler"]) for p in report["phases"]] == [(2, "load", "runtests"),
                                                                                     (1, None, None)]  # fmt: skip
    assert [(p.xdist_workers, p.workers, p.workers_label) for p in back.phases] == [(2, 2, "2 (load)"), (0, 1, "1")]
    assert back.phases[0].scheduler == "runtests"


def test_read_summary_refuses_other_schema_versions():
    with pytest.raises(ValueError, match="schema_version 2"):
        read_summary({"schema_version": 2, "tests": [], "phases": []})
