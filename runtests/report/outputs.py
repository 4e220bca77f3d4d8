"""Everything a run leaves, in one step: the report files, CI annotations and the terminal's end summary."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from runtests.config import Options
from runtests.summary import RunSummary

if TYPE_CHECKING:
    from runtests.report.live import TerminalReporter


def report_files(options: Options) -> list[tuple[Path | None, str]]:
    """The report files a run was asked for, with the flag that asked (for files.check_outputs)."""
    return [(options.json_report, "--json-report"), (options.junitxml, "--junitxml"), (options.trace, "--trace")]


def write_outputs(
    summary: RunSummary, options: Options, environ: Mapping[str, str], reporter: TerminalReporter
) -> None:
    """Everything a run leaves: the report files, CI annotations and the terminal summary."""
    write_report_files(summary, options)
    if environ.get("GITHUB_ACTIONS") == "true":
        from runtests.report import github

        rootdir = next((Path(p.rootdir) for p in summary.phases if p.rootdir), options.cwd)
        reporter.show_annotations(github.make_annotations(summary, rootdir, environ))
        if environ.get("GITHUB_STEP_SUMMARY"):
            github.append_step_summary(Path(environ["GITHUB_STEP_SUMMARY"]), summary)
    reporter.show_summary(summary)


def write_report_files(summary: RunSummary, options: Options) -> None:
    """The --json-report, --junitxml and --trace files, as asked for."""
    if options.json_report is not None:
        from runtests.report.jsonreport import describe_context, make_report, write_report

        write_report(options.json_report, make_report(summary) | describe_context(options, summary.worktree))
    if options.junitxml is not None:
        from runtests.report.junit import write_junit

        write_junit(options.junitxml, summary)
    if options.trace is not None:
        from runtests.report.trace import write_trace

        write_trace(options.trace, summary)
