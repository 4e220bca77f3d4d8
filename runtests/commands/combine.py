"""`runtests combine`: merge the JSON reports of a sharded run into one report, pass rate and exit code."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from runtests import durations, events
from runtests.errors import UsageError
from runtests.files import check_outputs
from runtests.report.jsonreport import read_summary
from runtests.summary import ExitPolicy, RunSummary


def load_report(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror})") from None
    except ValueError as exc:
        raise UsageError(f"{path}: not a JSON report ({exc})") from None
    if not isinstance(data, dict) or "tests" not in data:
        raise UsageError(f"{path}: not a runtests JSON report")
    return data


def check_shards(reports: list[tuple[Path, dict[str, Any]]]) -> None:
    """Every shard of one split exactly once, and no test in two shards; the error says which."""
    shards: list[tuple[Path, int, int]] = []
    for path, data in reports:
        shard = data.get("shard")
        if not isinstance(shard, dict):
            raise UsageError(f"{path}: not a shard report (run with --shard K/N)")
        shards.append((path, int(shard["index"]), int(shard["total"])))
    totals = {total for _, _, total in shards}
    if len(totals) > 1:
        listing = ", ".join(f"{path.name} is {k}/{n}" for path, k, n in shards)
        raise UsageError(f"the reports come from different shard sets: {listing}")
    (total,) = totals
    seen = Counter(index for _, index, _ in shards)
    twice = sorted(index for index, count in seen.items() if count > 1)
    if twice:
        names = ", ".join(path.name for path, k, _ in shards if k in twice)
        raise UsageError(f"shard(s) {', '.join(f'{k}/{total}' for k in twice)} given more than once ({names})")
    missing = sorted(set(range(1, total + 1)) - set(seen))
    if missing:
        raise UsageError(f"missing shard report(s): {', '.join(f'{k}/{total}' for k in missing)}")
    owner: dict[str, Path] = {}
    for path, data in reports:
        for test in data["tests"]:
            nodeid = test["nodeid"]
            if nodeid in owner and test.get("phase") != events.RETRY:
                raise UsageError(f"test {nodeid} is in two shard reports: {owner[nodeid].name} and {path.name}")
            owner[nodeid] = path


def combine_reports(paths: list[Path], min_pass_rate: float | None, durations_file: Path | None) -> RunSummary:
    """One summary of all shards; their measured durations merged into `durations_file` first, when given."""
    reports = [(path, load_report(path)) for path in paths]
    check_shards(reports)
    summaries = []
    for path, data in reports:
        try:
            summaries.append(read_summary(data))
        except (KeyError, ValueError, TypeError) as exc:
            raise UsageError(f"{path}: not a usable runtests JSON report ({exc})") from None
    summaries.sort(key=lambda s: s.shard or (0, 0))
    phases = [phase for summary in summaries for phase in summary.phases]
    tests = [test for phase in phases for test in phase.tests]
    note = durations.record(durations_file, tests) if durations_file is not None else None
    starts = [phase.started_at for phase in phases if phase.started_at is not None]
    stops = [test.stop for test in tests if test.stop is not None]
    duration_s = max(stops) - min(starts) if starts and stops else sum(p.duration_s for p in phases)
    return RunSummary(
        phases=tuple(phases),
        policy=ExitPolicy(
            min_pass_rate if min_pass_rate is not None else max(s.policy.min_pass_rate for s in summaries),
            all(s.policy.accept_parallel_only for s in summaries),
        ),
        notes=(note,) if note else (),
        broken_guarantees=tuple(problem for s in summaries for problem in s.broken_guarantees),
        started_at=min(starts, default=0.0),
        duration_s=duration_s,
    )


def run_combine(
    paths: list[Path],
    json_report: Path | None,
    junitxml: Path | None,
    min_pass_rate: float | None,
    durations_file: Path | None,
    console: Any,
) -> int:
    """Merge, write the combined reports, print the combined summary; returns the combined exit code."""
    from runtests.report.jsonreport import make_report, write_report
    from runtests.report.junit import write_junit
    from runtests.report.terminal import EndSummary

    check_outputs([(json_report, "--json-report"), (junitxml, "--junitxml")])
    summary = combine_reports(paths, min_pass_rate, durations_file)
    if json_report is not None:
        write_report(json_report, make_report(summary) | {"combined_from": [str(path) for path in paths]})
    if junitxml is not None:
        write_junit(junitxml, summary)
    console.print(f"combined {len(paths)} shard reports", highlight=False)
    EndSummary(console).show(summary)
    return summary.exit_code()
