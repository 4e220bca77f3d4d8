"""One JUnit XML file for the whole run: a <testsuite> per phase, as Jenkins, GitLab and GitHub reporters read it."""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from runtests.files import write_atomically
from runtests.results import COUNT_KEYS, CollectError, Outcome, PhaseResult, TestResult
from runtests.summary import RunSummary

# Characters XML 1.0 cannot hold at all; pytest's own junitxml replaces them the same way.
ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean(text: str | None) -> str:
    return ILLEGAL_XML.sub(lambda m: f"#x{ord(m.group()):02X}", text or "")


def split_nodeid(nodeid: str) -> tuple[str, str]:
    """(classname, name) as pytest's junitxml names them (its mangle_test_address): `tests/test_a.py::TestX::test_y`
    -> `tests.test_a.TestX`, `test_y`. Split before the parameters only: `test_c[http-[::1]:8080]` keeps its `::`."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


def first_line(text: str | None) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("E ")]
    return (errors[0][1:].strip() if errors else lines[-1].strip() if lines else "")[:500]


def make_testcase(test: TestResult) -> ET.Element:
    classname, name = split_nodeid(test.nodeid)
    case = ET.Element("testcase", classname=clean(classname), name=clean(name), time=f"{test.duration_s:.3f}")
    if test.location:
        case.set("file", clean(test.location[0]))
        if test.location[1] is not None:
            case.set("line", str(test.location[1] + 1))
    outcome = test.outcome
    if outcome in (Outcome.FAILED, Outcome.TIMEOUT):
        child = ET.SubElement(case, "failure", message=clean(first_line(test.longrepr)), type=outcome.value)
        child.text = clean(test.longrepr)
    elif outcome in (Outcome.ERROR, Outcome.NOT_RUN):
        child = ET.SubElement(case, "error", message=clean(first_line(test.longrepr)), type=outcome.value)
        child.text = clean(test.longrepr)
    elif outcome in (Outcome.SKIPPED, Outcome.XFAILED):
        prefix = "xfail: " if outcome is Outcome.XFAILED else ""
        ET.SubElement(case, "skipped", message=clean(prefix + (test.reason or "")), type=outcome.value)
    output = "\n".join(f"--- {header} ---\n{content}" for header, content in test.sections)
    if output:
        ET.SubElement(case, "system-out").text = clean(output)
    return case


def make_collect_error(error: CollectError) -> ET.Element:
    """A collector that failed to collect, as pytest's junitxml writes it: a test case with an error."""
    classname, name = split_nodeid(error.nodeid)
    case = ET.Element("testcase", classname=clean(classname), name=clean(name), time="0.000")
    child = ET.SubElement(case, "error", message="collection failure")
    child.text = clean(error.longrepr)
    return case


def set_counts(element: ET.Element, counts: Mapping[str, int], duration_s: float) -> None:
    element.set("tests", str(sum(counts[key] for key in COUNT_KEYS)))
    element.set("failures", str(counts["failed"] + counts["timeout"]))
    element.set("errors", str(counts["errors"] + counts["not_run"]))
    element.set("skipped", str(counts["skipped"] + counts["xfailed"]))
    element.set("time", f"{duration_s:.3f}")


def make_suite(phase: PhaseResult, summary: RunSummary) -> ET.Element:
    """The phase's suite: its tests, and the collection errors its row of the run counts (RunSummary.phase_tallies)."""
    suite = ET.Element("testsuite", name=phase.label)
    set_counts(suite, summary.phase_tallies[phase.label].counts, phase.duration_s)
    if phase.started_at is not None:
        suite.set("timestamp", datetime.fromtimestamp(phase.started_at, UTC).isoformat(timespec="seconds"))
    suite.set("hostname", socket.gethostname())
    for error in summary.collect_errors():
        if error.phase == phase.name:
            suite.append(make_collect_error(error))
    for test in phase.tests:
        suite.append(make_testcase(test))
    return suite


def make_junit(summary: RunSummary) -> ET.ElementTree[ET.Element]:
    root = ET.Element("testsuites", name="runtests")
    set_counts(root, summary.tally.counts, summary.duration_s)
    for phase in summary.phases:
        if phase.ran:
            root.append(make_suite(phase, summary))
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(path: Path, summary: RunSummary) -> None:
    """Whole or not at all, like the JSON report."""
    tree = make_junit(summary)
    write_atomically(path, lambda stream: tree.write(stream, encoding="utf-8", xml_declaration=True), binary=True)
