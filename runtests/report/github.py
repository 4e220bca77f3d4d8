"""GitHub Actions: an error annotation per failure, and a markdown summary for the job page."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from runtests.report.junit import first_line
from runtests.results import TestResult
from runtests.summary import RunSummary

SUMMARY_FAILURES_MAX = 50
ANNOTATIONS_MAX = 50  # GitHub shows at most 10 per step and 50 per job


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def relative_file(path: Path, workspace: Path) -> str:
    try:
        return path.resolve().relative_to(workspace.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def annotation(test: TestResult, rootdir: Path, workspace: Path) -> str:
    """`::error file=...,line=...,title=...::message`, pointing at the failing line when pytest knows it."""
    properties = []
    if test.crash_path and test.crash_line and not test.crash_path.startswith("<"):  # not `<frozen os>`
        properties += [f"file={escape_property(relative_file(Path(test.crash_path), workspace))}",
                       f"line={test.crash_line}"]  # fmt: skip
    elif test.location:
        properties.append(f"file={escape_property(relative_file(rootdir / test.location[0], workspace))}")
        if test.location[1] is not None:
            properties.append(f"line={test.location[1] + 1}")
    properties.append(f"title={escape_property(f'{test.outcome.value.upper()} {test.nodeid}')}")
    message = first_line(test.longrepr) or test.outcome.value
    return f"::error {','.join(properties)}::{escape_data(message)}"


def make_annotations(summary: RunSummary, rootdir: Path, environ: Mapping[str, str]) -> list[str]:
    workspace = Path(environ.get("GITHUB_WORKSPACE") or os.getcwd())
    errors = [
        f"::error file={escape_property(relative_file(rootdir / error.nodeid.split('::')[0], workspace))},"
        f"title={escape_property(f'ERROR collecting {error.nodeid}')}::{escape_data(first_line(error.longrepr))}"
        for error in summary.collect_errors()
    ]
    failing = [annotation(test, rootdir, workspace) for test in summary.tests if test.is_failing]
    return (errors + failing)[:ANNOTATIONS_MAX]


def markdown_summary(summary: RunSummary) -> str:
    """The job page's summary: the pass rate, the table and the failures, from the summary's tallies."""
    totals = summary.tally.counts
    keys = summary.count_columns()
    lines = [
        "## runtests",
        "",
        f"**Pass rate: {summary.tally.format_pass_rate()}** in {summary.duration_s:.1f}s",
        "",
        "| phase | workers | " + " | ".join(keys) + " | time |",
        "|---|---|" + "---:|" * len(keys) + "---:|",
    ]
    for phase in summary.phases:
        if phase.ran and not phase.report_only:
            counts = summary.phase_tallies[phase.label].counts
            cells = " | ".join(str(counts[key]) for key in keys)
            lines.append(f"| {phase.label} | {phase.workers_label} | {cells} | {phase.duration_s:.1f}s |")
    lines.append(f"| **total** | | {' | '.join(f'**{totals[key]}**' for key in keys)} | {summary.duration_s:.1f}s |")
    failing: list[tuple[str, str, str, str | None]] = [
        (error.nodeid, "collection error", error.phase, error.longrepr) for error in summary.collect_errors()
    ]
    failing += [(t.nodeid, t.outcome.value, t.phase, t.longrepr) for t in summary.tests if t.is_failing]
    if failing:
        lines += ["", "### Failures", ""]
        for nodeid, what, phase_name, longrepr in failing[:SUMMARY_FAILURES_MAX]:
            message = first_line(longrepr).replace("`", "'")
            lines.append(f"- **{what}** `{nodeid}` ({phase_name}): {message}")
        if len(failing) > SUMMARY_FAILURES_MAX:
            lines.append(f"- ... and {len(failing) - SUMMARY_FAILURES_MAX} more")
    return "\n".join(lines) + "\n"


def append_step_summary(path: Path, summary: RunSummary) -> None:
    with path.open("a", encoding="utf-8") as stream:
        stream.write(markdown_summary(summary))
