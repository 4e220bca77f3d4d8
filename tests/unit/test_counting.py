"""One rule counts, every output reads it: generated event streams, folded and reported by every writer.

Each generated run is a few phases of events as the plugin writes them: tests of every outcome (setup and
teardown errors, crashes, timeouts, subtests, reruns, xfail), collection errors reported once per xdist worker
and again by a later phase, deselections, warnings, and tests that never ran. Each seed makes one such run
(random.Random(seed): a failure is reproduced by its seed alone). The expected totals are computed here, from
what was generated, by the rule the README states; the last line, the pass rate, the table, the JSON report,
the JUnit file and the GitHub summary must all say the same.
"""

from __future__ import annotations

import dataclasses
import io
import json
import random
import re
import xml.etree.ElementTree as ET

import pytest

from runtests.recorder import Ended, PhaseRecorder
from runtests.report.console import make_console
from runtests.report.github import markdown_summary
from runtests.report.jsonreport import make_report, read_summary
from runtests.report.junit import make_junit
from runtests.report.terminal import EndSummary
from runtests.results import COUNT_KEYS, Outcome, PhaseResult, RetryResult
from runtests.summary import ExitPolicy, RunSummary

# What a generated test does, and the verdict the rule gives it.
KINDS = {
    "pass": "passed",
    "fail": "failed",
    "setup-error": "errors",
    "teardown-error": "errors",  # pytest: "1 passed, 1 error"; runtests: one test, one verdict
    "fail-and-teardown-error": "failed",
    "skip": "skipped",
    "xfail": "xfailed",
    "xpass": "xpassed",
    "crash": "errors",  # xdist's "???" report for a worker that died mid-test
    "timeout": "timeout",
    "failed-subtest": "failed",
    "passed-subtests": "passed",
    "unfinished": "not_run",  # the process died before it started: collected, never begun
}


def reports_for(kind: str) -> list[dict[str, object]]:
    ok = {"outcome": "passed", "duration": 0.01, "start": 1.0, "stop": 1.01}
    setup, call, teardown = ({**ok, "when": when} for when in ("setup", "call", "teardown"))
    failed = {"outcome": "failed", "longrepr": "E   assert 0 [bold]", "crash": ["t.py", 3, "assert 0"]}
    return {
        "pass": [setup, call, teardown],
        "fail": [setup, {**call, **failed}, teardown],
        "setup-error": [{**setup, **failed}, teardown],
        "teardown-error": [setup, call, {**teardown, **failed}],
        "fail-and-teardown-error": [setup, {**call, **failed}, {**teardown, **failed}],
        "skip": [{**setup, "outcome": "skipped", "longrepr": "Skipped: later"}, teardown],
        "xfail": [setup, {**call, "outcome": "skipped", "xfail": True, "reason": "known"}, teardown],
        "xpass": [setup, {**call, "xfail": True, "reason": "fixed"}, teardown],
        "crash": [setup, {"when": "???", "outcome": "failed", "longrepr": "worker 'gw0' crashed"}],
        "timeout": [setup, {**call, **failed, "timeout": True}, teardown],
        "failed-subtest": [setup, call, teardown],
        "passed-subtests": [setup, call, teardown],
    }[kind]


@dataclasses.dataclass
class Generated:
    kinds: list[str]
    reruns: list[int]
    collect_errors: list[str]
    deselected: int
    warnings: int


def generate(rng: random.Random) -> list[Generated]:
    """One to three phases of up to 12 tests each, of any kind, with collection errors (repeated, as xdist's
    workers and later phases report them), deselections, reruns and warnings."""
    made = []
    for _ in range(rng.randint(1, 3)):
        kinds = [rng.choice(sorted(KINDS)) for _ in range(rng.randint(0, 12))]
        made.append(
            Generated(
                kinds=kinds,
                reruns=[rng.choice((0, 0, 1, 2)) for _ in kinds],
                collect_errors=[
                    rng.choice(["a/t_x.py", "t_[::1].py", "t_y.py"]) for _ in range(rng.choice((0, 0, 1, 4)))
                ],
                deselected=rng.choice((0, 0, 3)),
                warnings=rng.randint(0, 2),
            )
        )
    return made


NAMES = ("parallel", "serial", "extra")


def run_phase(index: int, generated: Generated) -> PhaseResult:
    name = NAMES[index]
    recorder = PhaseRecorder(name)
    ids = [f"t.py::test_{name}_{i}[a::b-[{kind}]]" for i, kind in enumerate(generated.kinds)]
    recorder.add({"e": "start", "workers": 2 if index == 0 else 0, "dist": "load", "terminal": {"reportchars": "fE"}})
    recorder.add({"e": "collected", "ids": ids})
    if generated.deselected:
        recorder.add({"e": "deselected", "count": generated.deselected})
    for nodeid in generated.collect_errors:
        recorder.add({"e": "collect_error", "nodeid": nodeid, "longrepr": "ImportError: [red]no[/]"})
    for number in range(generated.warnings):
        recorder.add({"e": "warning", "message": f"w{number}", "location": f"t.py:{number}", "when": "runtest"})
    for nodeid, kind, reruns in zip(ids, generated.kinds, generated.reruns, strict=True):
        if kind == "unfinished":
            continue
        event: dict[str, object] = {"e": "test", "nodeid": nodeid, "reports": reports_for(kind), "worker": "gw0"}
        if reruns:
            event["reruns"] = reruns
        if kind.endswith("subtests") or kind == "failed-subtest":
            last = "failed" if kind == "failed-subtest" else "passed"
            event["subtests"] = [{"outcome": "passed", "description": "[i=0]"}, {"outcome": last, "description": "x"}]
        recorder.add(event)
    crashed = "unfinished" in generated.kinds
    if not crashed:
        recorder.add({"e": "finish"})
    return recorder.finish(Ended(1 if crashed else 0))  # a process that died: what it never started is not_run


def expected(generated: list[Generated]) -> dict[str, int]:
    """The rule, from what was generated: a verdict per test; each collector that failed once per run, an error."""
    counts = dict.fromkeys(COUNT_KEYS, 0)
    for phase in generated:
        for kind in phase.kinds:
            counts[KINDS[kind]] += 1
    counts["errors"] += len({nodeid for phase in generated for nodeid in phase.collect_errors})
    return counts


def numbers(line: str) -> dict[str, int]:
    words = {"error": "errors", "warning": "warnings"}
    return {words.get(word, word): int(n) for n, word in re.findall(r"(\d+) ([a-z_]+)", line)}


@pytest.mark.parametrize("seed", range(300))
def test_every_output_counts_as_the_one_rule(seed):
    rng = random.Random(seed)  # a failure names its seed: the same run again, as many times as it takes to fix
    generated, with_retry = generate(rng), rng.random() < 0.5
    results = [run_phase(index, phase) for index, phase in enumerate(generated)]
    failing = [test for test in results[0].tests if test.is_failing]
    if with_retry and failing:  # one failure diagnosed parallel-only (accepted), the others only retried
        retries = {test.nodeid: RetryResult(Outcome.PASSED) for test in failing}  # passed-on-retry: never accepted
        retries[failing[0].nodeid] = RetryResult(Outcome.PASSED, diagnosed="parallel-only")
        tests = [dataclasses.replace(test, retry=retries.get(test.nodeid)) for test in results[0].tests]
        results[0] = dataclasses.replace(results[0], tests=tests)
    summary = RunSummary(tuple(results), ExitPolicy(accept_parallel_only=with_retry), duration_s=1.5)
    want = expected(generated)
    if with_retry and failing:
        key = {"failed": "failed", "error": "errors", "timeout": "timeout", "not_run": "not_run"}
        want[key[failing[0].outcome.value]] -= 1
        want["passed"] += 1
    reruns = sum(sum(phase.reruns[i] for i, kind in enumerate(phase.kinds) if kind != "unfinished")
                 for phase in generated)  # fmt: skip
    deselected = max(phase.deselected for phase in generated)
    warnings = sum(phase.warnings for phase in generated)
    passing = want["passed"] + want["xfailed"] + want["xpassed"]
    failing_n = want["failed"] + want["errors"] + want["timeout"] + want["not_run"]

    assert dict(summary.tally.counts) == want

    # The terminal: the table's total row, the pass rate, the last line.
    console = make_console("never")
    console.file = out = io.StringIO()
    EndSummary(console).show(summary)
    lines = out.getvalue().splitlines()
    last = numbers(lines[-1])
    for key in COUNT_KEYS:
        assert last.get(key, 0) == want[key], (key, lines[-1])
    assert (last.get("rerun", 0), last.get("deselected", 0), last.get("warnings", 0)) == (reruns, deselected, warnings)
    rate = next(line for line in lines if line.startswith("Pass rate: "))
    if passing + failing_n:
        assert rate.endswith(f"({passing}/{passing + failing_n})"), rate
        assert ("100.0%" in rate) == (failing_n == 0)
    else:
        assert "n/a" in rate
    header = next(line for line in lines if line.startswith("phase "))
    total = next(line for line in lines if line.startswith("total "))
    columns = dict(zip(header.split()[2:-1], (int(n) for n in total.split()[1:-1]), strict=True))
    assert columns == {key: want[key] for key in columns} and columns["passed"] == want["passed"]
    assert set(columns) >= {key for key in COUNT_KEYS if want[key]}

    # The JSON report, and the summary read back from it (runtests combine).
    report = json.loads(json.dumps(make_report(summary)))
    assert report["totals"] == want
    assert (report["reruns"], report["deselected"], report["warnings"]) == (reruns, deselected, warnings)
    assert {key: sum(p["counts"][key] for p in report["phases"]) for key in COUNT_KEYS} == want
    assert read_summary(report).tally.counts == summary.tally.counts

    # JUnit: its test count and failure classes, a test case per test and per collector that failed.
    root = make_junit(summary).getroot()
    assert int(root.get("tests", -1)) == sum(want.values()) == len(list(root.iter("testcase")))
    assert int(root.get("failures", -1)) == want["failed"] + want["timeout"]
    assert int(root.get("errors", -1)) == want["errors"] + want["not_run"]
    assert int(root.get("skipped", -1)) == want["skipped"] + want["xfailed"]
    assert sum(int(suite.get("tests", 0)) for suite in root.iter("testsuite")) == sum(want.values())
    ET.fromstring(ET.tostring(root))  # well-formed

    # The GitHub step summary.
    markdown = markdown_summary(summary)
    if passing + failing_n:
        assert f"({passing}/{passing + failing_n})**" in markdown
    total_row = next(line for line in markdown.splitlines() if line.startswith("| **total**"))
    cells = [int(cell.strip("* ")) for cell in total_row.split("|")[3:-2]]
    assert sum(cells) == sum(want[key] for key in summary.count_columns())


def test_junit_names_tests_as_pytests_junitxml_does():
    from runtests.report.junit import split_nodeid

    assert split_nodeid("tests/test_a.py::TestX::test_y") == ("tests.test_a.TestX", "test_y")
    assert split_nodeid("tests/test_net.py::test_connect[http-[::1]:8080]") == (
        "tests.test_net",
        "test_connect[http-[::1]:8080]",
    )
    assert split_nodeid("tests/test_a.py::TestX::test_y[a::b]") == ("tests.test_a.TestX", "test_y[a::b]")
    assert split_nodeid("tests/test_broken.py") == ("", "tests.test_broken")  # a module that failed to collect
