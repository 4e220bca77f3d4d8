"""Check that runtests counts what plain sequential pytest counts, on real third-party test suites.

    python benchmarks/conformance.py PROJECT_DIR ... [--dist load,loadfile,worksteal] [--orders balanced,collection]
                                     [-- PYTEST_ARGS]

Each PROJECT_DIR is a checkout whose package and test dependencies (and runtests) are installed in the Python
that runs this script. For each: `python -m pytest -p no:xdist -q -p no:cacheprovider` (plus -rfE and a JUnit
XML file), then `python -m runtests -n 2 --dist D --git-check off --json-report ...` for each mode D, with the
same PYTEST_ARGS, after a first runtests run has recorded the durations: each mode runs balanced by runtests'
scheduler (--order balanced) and with xdist's own (--order collection). runtests' totals are compared with pytest's
summary line after the documented differences:
  - teardown folding: a test whose teardown fails (or xfails) after its call counts once in runtests, twice
    in pytest's summary (per the JUnit XML of the sequential run);
  - pytest 9 subtests: pytest's summary counts failed/skipped/xfailed subtests as tests, runtests apart;
  - modules that fail to collect: pytest counts them as errors, runtests lists them in collect_errors.
Anything else is a DIFF, listed by node id. Exit 0 when every mode matches, 1 on a DIFF, 2 on a broken run.
With --pairs N, each mode is then timed balanced against xdist's own scheduler, in N alternating pairs.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

KEYS = ("passed", "failed", "errors", "skipped", "xfailed", "xpassed")
SUB_KEYS = ("passed", "failed", "skipped", "xfailed")
WORDS = {"error": "errors", "subtests passed": "sub_passed", "subtest passed": "sub_passed"}
SUMMARY = re.compile(r"^=*\s*((?:\d+ [a-z ]+(?:, )?)+|no tests ran) in [\d.]+s\b.*$", re.MULTILINE)


def parse_summary(text: str) -> Counter[str]:
    """pytest's final line, `1 failed, 5 passed, 2 subtests passed in 1.2s`, as counts by KEYS (+ sub_passed)."""
    found = SUMMARY.findall(text)
    if not found:
        raise ValueError("no pytest summary line in the output")
    counts: Counter[str] = Counter()
    for number, word in re.findall(r"(\d+) ([a-z ]+?)(?=,|$)", found[-1]):
        counts[WORDS.get(word, word)] += int(number)
    return counts


def junit_key(nodeid: str) -> tuple[str, str]:
    """(classname, name) as pytest's junitxml derives them from a node id (its mangle_test_address)."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


def read_junit(path: Path) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """Per (classname, name): the (tag, message-or-type) of every result element, over repeated testcases."""
    cases: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        key = (case.get("classname") or "", case.get("name") or "")
        entries = cases.setdefault(key, [])
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                entries.append((child.tag, child.get("type") or child.get("message") or ""))
    return cases


def fold(entries: list[tuple[str, str]]) -> tuple[str, Counter[str]]:
    """A test's verdict as runtests folds it, and what pytest's summary counted beyond that one verdict."""
    teardown = sum(tag == "error" and text.startswith("failed on teardown") for tag, text in entries)
    xfails = sum(tag == "skipped" and text == "pytest.xfail" for tag, text in entries)
    tags = [tag for tag, _ in entries]
    verdict = (
        "failed" if "failure" in tags
        else "errors" if tags.count("error") > teardown
        else "xfailed" if xfails
        else "skipped" if "skipped" in tags
        else "passed"
    )  # fmt: skip
    extra: Counter[str] = Counter()
    if xfails > 1:  # "XFAIL at teardown" counts again
        extra["xfailed"] += xfails - 1
    if teardown:
        if verdict in ("failed", "errors"):
            extra["errors"] += teardown  # a failed test's teardown error: pytest adds errors, runtests one verdict
        else:
            extra[verdict] += 1  # passed (skipped, xfailed) plus error: runtests counts only the error
            extra["errors"] += teardown - 1
            verdict = "errors"
    return verdict, extra


def run(command: list[str], cwd: Path) -> tuple[int, str, float]:
    began = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return done.returncode, done.stdout, time.perf_counter() - began


def row(label: str, counts: Counter[str] | dict[str, int], sub: str, seconds: str, verdict: str) -> str:
    return f"{label:<18}" + "".join(f"{counts.get(k, 0):>8}" for k in KEYS) + f"  {sub:>15} {seconds:>8}  {verdict}"


def check_project(
    project: Path, modes: list[str], orders: list[str], workers: int, pytest_args: list[str], work: Path
) -> int:
    """Print the table for one project; return 0 (all match), 1 (a DIFF) or 2 (a run broke)."""
    py = sys.executable
    junit = work / f"{project.name}.xml"
    seq = [py, "-m", "pytest", "-p", "no:xdist", "-q", "-p", "no:cacheprovider", "-rfE", f"--junitxml={junit}"]
    code, output, seconds = run([*seq, *pytest_args], project)
    print(f"\n== {project}\n{'run':<18}" + "".join(f"{k:>8}" for k in KEYS) + f"  {'subtests p/f/s/x':>15} {'wall':>8}")
    try:
        pytest_counts = parse_summary(output)
    except ValueError as error:
        print(f"sequential pytest exited {code}: {error}\n{output[-3000:]}")
        return 2
    cases = read_junit(junit)
    collect_skips = sum(1 for (cls, _), e in cases.items() if not cls and ("skipped", "collection skipped") in e)
    collect_errors = sum(1 for (cls, _), e in cases.items() if not cls and any(t == "error" for t, _ in e))
    verdicts: dict[tuple[str, str], str] = {}
    folded: Counter[str] = Counter()
    for key, entries in cases.items():
        if key[0]:
            verdicts[key], extra = fold(entries)
            folded.update(extra)
    subfailed = len(re.findall(r"^SUBFAILED", output, re.MULTILINE))
    sub_seen = f"{pytest_counts['sub_passed']}/{subfailed}/?/?"
    print(row("pytest sequential", pytest_counts, sub_seen, f"{seconds:.1f}s", f"exit {code}"))
    worst = 0
    # The durations a first run records, which every later run reads: runtests' scheduler balances those runs.
    durations = work / f"{project.name}.durations.json"
    durations.unlink(missing_ok=True)
    record = [py, "-m", "runtests", "-n", "0", "--git-check", "off", "--durations-file", str(durations)]
    run([*record, "-p", "no:cacheprovider", "--", *pytest_args], project)
    for mode, order in ((mode, order) for mode in modes for order in orders):
        label = f"{mode} {'' if order == 'balanced' else 'xdist'}".strip()
        report = work / f"{project.name}-{mode}.json"
        command = [py, "-m", "runtests", "-n", str(workers), "--dist", mode, "--git-check", "off", "--order", order]
        command += ["--durations-file", str(durations), "--json-report", str(report), "-p", "no:cacheprovider"]
        rt_code, rt_output, rt_seconds = run([*command, "--", *pytest_args], project)
        if not report.exists():
            print(f"{label:<18}runtests exited {rt_code} without a report\n{rt_output[-3000:]}")
            worst = 2
            continue
        data: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
        report.unlink()
        totals, subs = data["totals"], data["subtests"]
        expected = Counter({k: pytest_counts[k] for k in KEYS})
        expected.subtract(folded)
        expected.subtract({"failed": subs["failed"], "skipped": subs["skipped"], "xfailed": subs["xfailed"]})
        if len(data["collect_errors"]) == collect_errors:
            expected["errors"] -= collect_errors
        why = [
            f"{n} {what}" for n, what in (
                (sum(folded.values()), "teardown folds"),
                (sum(subs[k] for k in SUB_KEYS[1:]), "non-passing subtests"),
                (collect_errors, "collection errors"),
            ) if n
        ]  # fmt: skip
        same = all(totals.get(k, 0) == expected[k] for k in KEYS) and not totals["timeout"] + totals["not_run"]
        same = same and subs["passed"] == pytest_counts["sub_passed"] and subs["failed"] == subfailed
        sub = "/".join(str(subs[k]) for k in SUB_KEYS)
        verdict = ("MATCH" if same else "DIFF") + (f" (after {', '.join(why)})" if why else "")
        scheduler = data["phases"][0].get("scheduler") if data["phases"] else None
        verdict += f"; scheduler {scheduler}; {len(data['broken_guarantees'])} broken guarantees"
        print(row(f"runtests {label}", totals, sub, f"{rt_seconds:.1f}s", f"{verdict}; exit {rt_code}"))
        if not same:
            worst = max(worst, 1)
            print(row("  expected", expected, "", "", "(pytest's counts less the documented differences)"))
            explain(data, verdicts, collect_skips)
    return worst


def explain(data: dict[str, Any], verdicts: dict[tuple[str, str], str], collect_skips: int) -> None:
    """Name the node ids whose runtests verdict differs from the sequential run's (JUnit XML, folded)."""
    ours = {junit_key(t["nodeid"]): (t["nodeid"], t["outcome"].replace("error", "errors")) for t in data["tests"]}
    lines = [
        f"    {nodeid}: pytest {verdicts.get(key, 'absent')}, runtests {outcome}"
        for key, (nodeid, outcome) in ours.items()
        if verdicts.get(key) != outcome and not (outcome == "xpassed" and verdicts.get(key) == "passed")
    ]
    lines += [f"    {'::'.join(key)}: pytest {v}, runtests absent" for key, v in verdicts.items() if key not in ours]
    if collect_skips:
        lines.append(f"    {collect_skips} module(s) skipped at collection: pytest counts each as 1 skipped")
    print("\n".join(lines[:25] + ([f"    ... {len(lines) - 25} more"] if len(lines) > 25 else [])))


def time_orders(project: Path, modes: list[str], workers: int, pytest_args: list[str], work: Path, pairs: int) -> None:
    """`pairs` alternating runs of --order balanced and --order collection per mode, from the recorded durations
    check_project left; the median of the per-pair ratios, balanced / xdist's own."""
    durations = work / f"{project.name}.durations.json"
    for mode in modes:
        base = [sys.executable, "-m", "runtests", "-n", str(workers), "--dist", mode, "--git-check", "off"]
        base += ["--durations-file", str(durations), "-p", "no:cacheprovider"]
        seconds: dict[str, list[float]] = {"balanced": [], "collection": []}
        for number in range(pairs):
            for order in ("balanced", "collection") if number % 2 == 0 else ("collection", "balanced"):
                seconds[order].append(run([*base, "--order", order, "--", *pytest_args], project)[2])
        ratios = [a / b for a, b in zip(seconds["balanced"], seconds["collection"], strict=True)]
        print(f"  time {mode}: balanced / xdist's own {statistics.median(ratios):.3f} (median of {pairs} pair ratios; "
              f"balanced {' '.join(f'{s:.1f}' for s in seconds['balanced'])}; "
              f"xdist {' '.join(f'{s:.1f}' for s in seconds['collection'])})")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("projects", nargs="+", type=Path, help="checkouts whose test deps are installed here")
    parser.add_argument("--dist", default="load,loadfile,worksteal", help="comma-separated xdist modes")
    parser.add_argument("-n", "--workers", type=int, default=2, help="xdist workers for runtests")
    parser.add_argument("--orders", default="balanced,collection", help="runtests --order values to run each mode in")
    parser.add_argument("--pairs", type=int, default=0, help="then time both orders in this many alternating pairs")
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args, pytest_args = parser.parse_args(argv[:split]), argv[split + 1 :]
    worst = 0
    with tempfile.TemporaryDirectory(prefix="conformance-") as work:
        for project in args.projects:
            modes = [mode.strip() for mode in args.dist.split(",") if mode.strip()]
            orders = [order.strip() for order in args.orders.split(",") if order.strip()]
            worst = max(worst, check_project(project.resolve(), modes, orders, args.workers, pytest_args, Path(work)))
            if args.pairs:
                time_orders(project.resolve(), modes, args.workers, pytest_args, Path(work), args.pairs)
    print("\nALL MATCH" if worst == 0 else "\nDIFF found" if worst == 1 else "\na run broke")
    return worst


if __name__ == "__main__":
    sys.exit(main())
