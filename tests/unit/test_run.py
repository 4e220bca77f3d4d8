"""The orchestrator in-process: the whole pipeline with fake phase processes that replay the events pytest writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runtests.commands import context
from runtests.commands import run as app
from runtests.config import make_options
from runtests.errors import GitUnavailableError
from runtests.recorder import Ended, PhaseRecorder
from runtests.results import PhaseResult
from runtests.runner import Limits


def passed(nodeid: str, worker: str | None, start: float) -> dict[str, Any]:
    report = {"when": "call", "outcome": "passed", "duration": 0.5, "start": start, "stop": start + 0.5}
    return {"e": "test", "nodeid": nodeid, "worker": worker, "reports": [report]}


def failed(nodeid: str, worker: str | None, start: float) -> dict[str, Any]:
    report = {"when": "call", "outcome": "failed", "duration": 0.5, "start": start, "stop": start + 0.5,
              "longrepr": "E   assert 1 == 2"}  # fmt: skip
    return {"e": "test", "nodeid": nodeid, "worker": worker, "reports": [report]}


def start(workers: int, dist: str | None = None) -> dict[str, Any]:
    return {"e": "start", "v": 1, "phase": "x", "workers": workers, "dist": dist, "cache_dir": None, "rootdir": "."}


class FakeStarter:
    """Stands in for runner.PhaseStarter: each phase's process replays the events scripted for it."""

    scripts: dict[str, list[dict[str, Any]]] = {}
    taken: list[tuple[str, list[str] | None]] = []
    cancelled: list[str | None] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def start(self, phase, only_ids=None) -> None:
        pass

    def release(self, phase, limits) -> None:
        pass

    def start_ahead(self, phases, held_back) -> None:
        pass

    def take(self, phase, only_ids=None) -> FakeProcess:
        FakeStarter.taken.append((phase.name, only_ids))
        name = "replay" if phase.name.startswith("replay-") else phase.name  # every replay plays one script
        return FakeProcess(FakeStarter.scripts[name])

    def cancel(self, name=None) -> None:
        FakeStarter.cancelled.append(name)


class FakeProcess:
    def __init__(self, script: list[dict[str, Any]]) -> None:
        self.script = script

    def run(
        self, recorder: PhaseRecorder, limits: Limits, word: bytes = b"g", tail: Any = None, find_leaks=True, tick=None
    ) -> PhaseResult:
        for event in self.script:
            recorder.add(event)
        code = next((event["exitstatus"] for event in self.script if event["e"] == "finish"), 1)
        return recorder.finish(Ended(code, started_at=1000.0, duration_s=1.0))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakeStarter]:
    monkeypatch.setattr(context, "PhaseStarter", FakeStarter)
    FakeStarter.scripts, FakeStarter.taken, FakeStarter.cancelled = {}, [], []
    return FakeStarter


def run(tmp_path: Path, *args: str, **given: Any) -> tuple[int, dict[str, Any]]:
    report = tmp_path / "report.json"
    settings = {"json_report": str(report), "git_check": "off", "workers": "2", "color": "never", **given}
    options = make_options(tmp_path, settings, args)
    code = app.run(options, {}, live=False)
    return code, json.loads(report.read_text())


def test_both_phases_one_report(fake, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake.scripts = {
        "parallel": [start(2, "load"), {"e": "collected", "ids": ["a.py::t", "a.py::u"]},
                     {"e": "held_back", "ids": ["s.py::t"]}, passed("a.py::t", "gw0", 10.0),
                     passed("a.py::u", "gw1", 10.0), {"e": "finish", "exitstatus": 0}],
        "serial": [start(0), {"e": "collected", "ids": ["s.py::t"]}, passed("s.py::t", None, 12.0),
                   {"e": "finish", "exitstatus": 0}],
    }  # fmt: skip
    code, report = run(tmp_path)
    assert code == 0 and report["exit_code"] == 0
    phases = [(p["name"], p["workers"], p["counts"]["passed"]) for p in report["phases"]]
    assert phases == [("parallel", 2, 2), ("serial", 1, 1)]
    assert report["git"]["policy"] == "off" and report["git"]["before"] is None
    out = capsys.readouterr().out
    assert "Pass rate: 100.0% (3/3)" in out


def test_no_serial_test_skips_the_serial_phase(fake, tmp_path: Path) -> None:
    fake.scripts = {"parallel": [start(2, "load"), {"e": "collected", "ids": ["a.py::t"]},
                                 {"e": "held_back", "ids": []}, passed("a.py::t", "gw0", 10.0),
                                 {"e": "finish", "exitstatus": 0}]}  # fmt: skip
    code, report = run(tmp_path)
    assert code == 0
    assert report["phases"][1]["skipped_because"] == "no selected test carries the 'serial' marker"
    assert "serial" in fake.cancelled


def test_retry_verdicts_and_suspects_reach_the_frozen_summary(fake, tmp_path: Path) -> None:
    """A parallel failure beside a test on the other worker, retried alone: it passes, so parallel-only."""
    fake.scripts = {
        "parallel": [start(2, "load"), {"e": "collected", "ids": ["a.py::t", "b.py::u"]},
                     {"e": "held_back", "ids": []}, failed("a.py::t", "gw0", 10.0), passed("b.py::u", "gw1", 10.1),
                     {"e": "finish", "exitstatus": 1}],
        "retry": [start(0), {"e": "collected", "ids": ["a.py::t"]}, passed("a.py::t", None, 20.0),
                  {"e": "finish", "exitstatus": 0}],
        "replay": [start(0), {"e": "collected", "ids": ["a.py::t"]}, passed("a.py::t", None, 30.0),
                   {"e": "finish", "exitstatus": 0}],
    }  # fmt: skip
    code, report = run(tmp_path, retry_serially=True)
    assert code == 1  # parallel-only failures still fail the run
    assert ("retry", ["a.py::t"]) in fake.taken
    (test,) = [t for t in report["tests"] if t["nodeid"] == "a.py::t"]
    assert (test["retry"]["outcome"], test["retry"]["verdict"]) == ("passed", "parallel-only")
    assert test["suspects"] == ["b.py::u"]
    # Replayed once more alone (the retry phase ran it alone already); nothing ran before it on gw0 or in order;
    # then beside the test that ran at the same time on gw1, under xdist.
    assert [r["kind"] for r in test["retry"]["replays"]] == ["alone", "alone-again", "beside-suspects"]
    assert ("replay-1", ["a.py::t"]) in fake.taken and ("replay-2", ["a.py::t", "b.py::u"]) in fake.taken
    assert report["retries"]["parallel_only"] == 1
    code, report = run(tmp_path, retry_serially=True, accept_parallel_only=True)
    assert code == 0 and report["pass_rate"] == 100.0


def test_the_reports_are_written_when_runtests_itself_fails_mid_run(fake, tmp_path: Path) -> None:
    """A bug in runtests between the phases: the finished phase is still in the report, and the error goes on."""
    fake.scripts = {"parallel": [start(2, "load"), {"e": "collected", "ids": ["a.py::t"]},
                                 {"e": "held_back", "ids": ["s.py::t"]}, passed("a.py::t", "gw0", 10.0),
                                 {"e": "finish", "exitstatus": 0}]}  # fmt: skip
    with pytest.raises(KeyError, match="serial"):  # no script for the serial phase: the fake fails
        run(tmp_path)
    report = json.loads((tmp_path / "report.json").read_text())
    assert [p["name"] for p in report["phases"]] == ["parallel"] and report["totals"]["passed"] == 1


def test_a_refusal_under_require_clean_writes_its_reports_and_runs_nothing(fake, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    options = make_options(tmp_path, {"json_report": str(report), "git_check": "require-clean"}, ())
    with pytest.raises(GitUnavailableError):  # not a git repository
        app.run(options, {"GIT_CEILING_DIRECTORIES": str(tmp_path.parent)}, live=False)
    data = json.loads(report.read_text())
    assert data["exit_code"] == 6 and data["phases"] == [] and "git repository" in data["git"]["problem"]
    assert fake.taken == []


def test_resolve_sizes_n_auto_from_this_projects_durations_only(tmp_path: Path) -> None:
    """-n auto reads the durations in the cache of pytest's rootdir; a cache further up is another project's."""
    from runtests.resolve import read_if_present, resolve

    outer, inner = tmp_path, tmp_path / "inner"
    inner.mkdir()
    (inner / "pytest.ini").write_text("[pytest]\n")
    store = outer / ".pytest_cache" / "v" / "runtests" / "durations"
    store.parent.mkdir(parents=True)
    store.write_text(json.dumps({f"t.py::t{i}": 0.001 for i in range(100)}))
    options = make_options(inner, {}, ())
    assert resolve(options, {}, 2, read_if_present).workers == "auto"  # the outer cache is not this project's
    mine = inner / ".pytest_cache" / "v" / "runtests" / "durations"
    mine.parent.mkdir(parents=True)
    mine.write_text(store.read_text())
    sized = resolve(options, {}, 2, read_if_present)
    assert sized.workers == 0 and sized.notes[0].startswith("-n auto: 1 worker (sequential, one process)")
    assert resolve(options, {"CI_NODE_INDEX": "2", "CI_NODE_TOTAL": "3"}, 2, read_if_present).shard == (2, 3)
