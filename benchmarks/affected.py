"""Does a test-selection tool run every test a change can break, and what does it save? `runtests --affected`
against pytest-testmon 2.2.0 and the plain full run, on seeded mutations of a sample project.

    python benchmarks/affected.py                                   # every tool, every mutation
    python benchmarks/affected.py --tools testmon plain --mutations 6
    python benchmarks/affected.py --runtests-cmd "python -m runtests --git-check off"   # a stand-in: runs all
    python benchmarks/affected.py --keep /tmp/affected-projects --json affected.json

The sample project (`make_project`; its files in affected_sample.py) is a package of a dozen modules and ~530
tests. For each tool, a fresh copy: the tool records once on the clean tree (its first run), then for each
mutation: apply it, run the truth (full sequential pytest with --junitxml, same interpreter as the tool), run the
tool, read which tests it ran and their outcomes, revert, and run the tool again on the clean tree (the fix run,
as a developer would after fixing the bug; counted separately). A MISS is a test failing in the truth that the
tool did not run or ran green; a module that fails to collect is one failing entity, named by its path.

Tools: `testmon` (`python -m pytest --testmon` in its own venv, created under the system temp dir when
missing), `runtests` (`--runtests-cmd`, `--json-report PATH` appended), `plain` (the full run itself).
Progress goes to stderr; the tables (markdown) to stdout; --json writes every figure.

Figures besides the tables: (a) a change in one leaf module: tool wall / full `runtests` wall (no --affected,
same tree), median over the leaf mutations; (b) nothing changed: the tool's wall on the clean tree once its record
exists, against `runtests <one test>`, as the median difference of alternating pairs in seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from affected_sample import LEAF_MODULES, ONE_TEST, make_files
from suites import write_files

PY = sys.executable
# As on a developer's machine: bytecode cached; nothing of an outer pytest, xdist or coverage leaks in.
ENV = {
    key: value
    for key, value in os.environ.items()
    if key != "PYTHONDONTWRITEBYTECODE" and not key.startswith(("PYTEST_", "COV_CORE_", "COVERAGE_"))
}
TESTMON_PINS = ("pytest==9.2.0", "pytest-testmon==2.2.0", "pytest-xdist", "coverage")
CACHE = Path(tempfile.gettempdir()) / "runtests-affected-bench"
TESTMON_VENV = CACHE / "testmon-2.2.0"
DEFAULT_RUNTESTS = "python -m runtests --affected -n auto --git-check off"
STAND_IN = 'the stand-in that runs everything: --runtests-cmd "python -m runtests --git-check off"'
FAILING = {"failed", "error", "timeout"}
RAN = {"passed", "failed", "error", "skipped", "xfailed", "xpassed", "timeout"}
OK_EXITS = (0, 1, 2, 5)  # passed, failed, collection error or interrupted, no tests ran


def make_project(root: Path, git: bool = True) -> Path:
    """Write the sample project under `root` and, with `git`, commit it in a new repository."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in make_files().items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return write_files(root, {}, git)


# ---------------------------------------------------------------------------------------------------- mutations


@dataclasses.dataclass(frozen=True)
class Mutation:
    """A small change to one file of the sample project: `old` (exactly once in it) becomes `new`; without `old`,
    the file is created with `new` as its text."""

    name: str
    kind: str
    path: str
    old: str | None
    new: str
    note: str = ""

    @property
    def leaf(self) -> bool:
        return self.path in LEAF_MODULES

    def apply(self, root: Path) -> None:
        path = root / self.path
        if self.old is None:
            if path.exists():
                raise ValueError(f"{self.name}: {self.path} exists already")
            path.write_text(self.new, encoding="utf-8")
            return
        text = path.read_text(encoding="utf-8")
        if text.count(self.old) != 1:
            raise ValueError(f"{self.name}: {self.old!r} occurs {text.count(self.old)} times in {self.path}")
        path.write_text(text.replace(self.old, self.new), encoding="utf-8")


M = Mutation
NEW_TEST_MODULE = '''"""A new module with a failing test."""

from ledger import core, textfmt


def test_ordinal_of_zero():
    core.pause()
    assert textfmt.ordinal(0) == "0"
'''
# Ordered so that the first few (--mutations N) cover many kinds.
MUTATIONS = [
    M(
        "pricing-discount-return",
        "return-value",
        "ledger/pricing.py",
        "return core.percent(cents, discount_rate(quantity))",
        "return core.percent(cents, discount_rate(quantity)) + 1",
    ),
    M(
        "config-currencies",
        "import-constant",
        "ledger/config.py",
        "'JPY', 'CHF')",
        "'JPY', 'CHF', 'SEK')",
        "a new parametrize case in tests/test_config.py, built at import",
    ),
    M("rates-json", "data-runtime", "ledger/data/rates.json", '"GBP": 0.86', '"GBP": 0.68', "read at each call"),
    M(
        "cli-banner",
        "subprocess-only",
        "ledger/cli.py",
        "cents to the euro",
        "cents per euro",
        "only `python -c` in tests/test_cli.py runs it",
    ),
    M(
        "units-syntax-error",
        "import-break",
        "ledger/units.py",
        "def kg_to_lb(kg):",
        "def kg_to_lb(kg)",
        "a syntax error: every test module importing units fails to collect",
    ),
    M("core-comment", "noop", "ledger/core.py", "import time\n", "import time  # sleep, in pause()\n"),
    M("models-account-limit", "class-attribute", "ledger/models.py", "limit = 100_000", "limit = 10_000"),
    M("pricing-discount-cap", "decorator-arg", "ledger/pricing.py", "@clamped(0, 40)", "@clamped(0, 30)"),
    M(
        "tax-cases-csv",
        "data-import",
        "tests/data/tax_cases.csv",
        "DE,15566,2957",
        "DE,15566,2958",
        "read by the test module at import; row1 keeps its id, its data changes",
    ),
    M("conftest-book", "conftest-fixture", "tests/conftest.py", "('cash', -3500)", "('cash', -3000)"),
    M(
        "core-percent-rounding",
        "core",
        "ledger/core.py",
        "return cents * rate // 100",
        "return (cents * rate + 50) // 100",
    ),
    M("stats-count-above", "comparison", "ledger/stats.py", "if value > threshold", "if value >= threshold"),
    M("parse-separator", "function-constant", "ledger/parse.py", 'separator = "."', 'separator = ","'),
    M("config-tax-rate", "module-constant", "ledger/config.py", "'DE': 19", "'DE': 16", "read at run time"),
    M("textfmt-pad-width", "default-arg", "ledger/textfmt.py", "width=12", "width=10"),
    M(
        "test-parse-case",
        "parametrize-data",
        "tests/test_parse.py",
        "('12.50 EUR', 1250, 'EUR')",
        "('12.50 EUR', 1205, 'EUR')",
        "a literal parametrize list: the case gets a new id",
    ),
    M(
        "catalog-csv-price",
        "data-import",
        "ledger/data/catalog.csv",
        "C-300,Fountain Pen,1299",
        "C-300,Fountain Pen,0",
        "ledger.catalog reads it at import; its rows parametrize tests/test_catalog.py",
    ),
    M("units-fahrenheit", "leaf", "ledger/units.py", "* 9 / 5 + 32", "* 9 / 5 + 23"),
    M("dates-november", "leaf", "ledger/dates.py", "(4, 6, 9, 11)", "(4, 6, 9)"),
    M("dates-weekend", "comparison", "ledger/dates.py", "date.weekday() >= 5", "date.weekday() > 5"),
    M(
        "dates-removed-name",
        "import-break",
        "ledger/dates.py",
        "def due_date(",
        "def due_on(",
        "a removed name: tests/test_dates.py fails to collect",
    ),
    M(
        "test-units-assert",
        "test-module",
        "tests/test_units.py",
        "assert units.miles_to_km(26.2188) ==",
        "assert units.miles_to_km(26.2188) + 1 ==",
    ),
    M(
        "test-stats-fixture",
        "test-module",
        "tests/test_stats.py",
        "return [12, 7, 3, 21,",
        "return [12, 7, 3, 22,",
        "a module-scoped fixture",
    ),
    M(
        "test-new-failing-test",
        "test-module",
        "tests/test_textfmt.py",
        '\n\n@pytest.mark.parametrize(("number",',
        "\n\ndef test_ordinal_of_zero():\n    assert textfmt.ordinal(0) == '0'\n\n\n"
        '@pytest.mark.parametrize(("number",',
        "a new test in an existing module",
    ),
    M("test-new-module", "test-module", "tests/test_new_feature.py", None, NEW_TEST_MODULE, "an untracked new module"),
    M(
        "models-accounts-order",
        "return-value",
        "ledger/models.py",
        "for name, _, _ in self.entries})",
        "for name, _, _ in self.entries}, reverse=True)",
    ),
    M(
        "pricing-docstring",
        "noop",
        "ledger/pricing.py",
        '"""A price in whole euros, as cents."""',
        '"""A price in whole euros, as integer cents."""',
    ),
    M(
        "stats-unused-function",
        "noop",
        "ledger/stats.py",
        "\n\ndef spread(values):",
        "\n\ndef trimmed(values):\n    return sorted(values)[1:-1]\n\n\ndef spread(values):",
    ),
    M(
        "test-comment",
        "noop",
        "tests/test_core.py",
        "\n\ndef test_from_cents():",
        "\n\n# 1250 cents is 12.5 euros\ndef test_from_cents():",
    ),
]


def select_mutations(spec: str | None) -> list[Mutation]:
    """--mutations: a number (the first N) or names separated by commas."""
    if not spec:
        return MUTATIONS
    if spec.isdigit():
        return MUTATIONS[: int(spec)]
    by_name = {mutation.name: mutation for mutation in MUTATIONS}
    unknown = [name for name in spec.split(",") if name not in by_name]
    if unknown:
        raise SystemExit(f"unknown mutations {unknown}; known: {', '.join(by_name)}")
    return [by_name[name] for name in spec.split(",")]


# ---------------------------------------------------------------------------------------------------- reports


def nodeid_of(classname: str, name: str, root: Path) -> str:
    """The node id of a JUnit test case, undoing pytest's mangle_test_address: the module is the longest dotted
    prefix of the class name that is a file under `root`. A collection error's case has no class name: its name is
    the module's."""
    if not classname:
        return name.replace(".", "/") + ".py" if (root / (name.replace(".", "/") + ".py")).exists() else name
    parts = classname.split(".")
    for cut in range(len(parts), 0, -1):
        path = "/".join(parts[:cut]) + ".py"
        if (root / path).exists():
            return "::".join([path, *parts[cut:], name])
    return f"{classname}::{name}"


def mangle(nodeid: str) -> tuple[str, str]:
    """pytest's junitxml (classname, name) of a node id (mangle_test_address), to check nodeid_of against."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


def read_junit(path: Path, root: Path) -> dict[str, str]:
    """node id -> outcome (passed, failed, error, skipped) of every case in a JUnit XML file."""
    outcomes: dict[str, str] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        tags = {child.tag for child in case}
        outcome = (
            "error"
            if "error" in tags
            else "failed"
            if "failure" in tags
            else "skipped"
            if "skipped" in tags
            else "passed"
        )
        nodeid = nodeid_of(case.get("classname", ""), case.get("name", ""), root)
        if outcomes.get(nodeid) not in FAILING:  # a failed call and an error in teardown: one failing test
            outcomes[nodeid] = outcome
    return outcomes


def read_runtests_json(path: Path, root: Path) -> dict[str, str]:
    """node id -> outcome of a runtests JSON report; a module that failed to collect is one `error`."""
    report = json.loads(path.read_text(encoding="utf-8"))
    outcomes = {test["nodeid"]: test["outcome"] for test in report.get("tests", [])}
    outcomes |= {error["nodeid"]: "error" for error in report.get("collect_errors", [])}
    return outcomes


# ---------------------------------------------------------------------------------------------------- tools


@dataclasses.dataclass
class Tool:
    name: str
    python: str
    command: list[str]  # the report option is added
    report: str  # "junit" or "json"

    def argv(self, report: Path) -> list[str]:
        return [
            *self.command,
            *([f"--junitxml={report}"] if self.report == "junit" else ["--json-report", str(report)]),
        ]

    def truth_argv(self, report: Path) -> list[str]:
        """Every test, sequentially, with this tool's interpreter; a module that fails to collect does not stop the
        others (pytest's default would: the truth would lack every other test)."""
        options = ["-p", "no:randomly", "-p", "no:cacheprovider", "--continue-on-collection-errors"]
        return [self.python, "-m", "pytest", "-q", *options, f"--junitxml={report}"]

    def read(self, report: Path, root: Path) -> dict[str, str]:
        return read_junit(report, root) if self.report == "junit" else read_runtests_json(report, root)


def testmon_python() -> str:
    """The python of a venv with pytest-testmon 2.2.0, made under the system temp dir when missing (never in the
    project's own dependencies)."""
    python = TESTMON_VENV / "bin" / "python"
    probe = "import importlib.metadata as m; print(m.version('pytest-testmon'), m.version('pytest'))"
    if python.exists():
        found = subprocess.run([python, "-c", probe], capture_output=True, text=True).stdout.split()
        if found == ["2.2.0", "9.2.0"]:
            return str(python)
    print(
        f"creating a venv for pytest-testmon in {TESTMON_VENV}: pip install {' '.join(TESTMON_PINS)}", file=sys.stderr
    )
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run([PY, "-m", "venv", "--clear", str(TESTMON_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *TESTMON_PINS], check=True)
    return str(python)


def make_tools(names: list[str], runtests_cmd: str) -> list[Tool]:
    tools = []
    for name in names:
        if name == "testmon":
            python = testmon_python()
            tools.append(Tool(name, python, [python, "-m", "pytest", "--testmon", "-q", "-p", "no:randomly"], "junit"))
        elif name == "runtests":
            words = shlex.split(runtests_cmd)
            words = [PY if word == "python" else word for word in words]
            tools.append(Tool(name, PY, words, "json"))
        else:
            tools.append(
                Tool(name, PY, [PY, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"], "junit")
            )
    return tools


# ---------------------------------------------------------------------------------------------------- runs


@dataclasses.dataclass
class Run:
    wall_s: float
    exit_code: int
    outcomes: dict[str, str]

    @property
    def ran(self) -> set[str]:
        return {nodeid for nodeid, outcome in self.outcomes.items() if outcome in RAN}

    @property
    def failing(self) -> set[str]:
        return {nodeid for nodeid, outcome in self.outcomes.items() if outcome in FAILING}

    def brief(self) -> dict[str, Any]:
        return {
            "wall_s": self.wall_s,
            "exit_code": self.exit_code,
            "ran": len(self.ran),
            "failing": sorted(self.failing),
            "outcomes": dict(Counter(self.outcomes.values())),
        }


class Runner:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.count = 0

    def timed(self, argv: list[str], cwd: Path, what: str) -> tuple[float, int]:
        began = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, env=ENV, capture_output=True, text=True)
        wall = time.perf_counter() - began
        if done.returncode not in OK_EXITS:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
            hint = "" if done.returncode != 4 else f"\n(a usage error: a runtests without --affected? {STAND_IN})"
            raise SystemExit(f"{what}: `{shlex.join(argv)}` exited {done.returncode}:\n{tail}{hint}")
        return wall, done.returncode

    def run(
        self,
        argv: Callable[[Path], list[str]],
        read: Callable[[Path, Path], dict[str, str]],
        cwd: Path,
        what: str,
        suffix: str = ".xml",
    ) -> Run:
        """One run that writes a report (argv(report)), read after it as `read(report, cwd)`."""
        self.count += 1
        report = self.work / f"{self.count:04d}-{what.replace(' ', '-')}{suffix}"
        wall, code = self.timed(argv(report), cwd, what)
        if not report.exists():
            raise SystemExit(f"{what}: no report at {report} (exit {code})")
        return Run(wall, code, read(report, cwd))


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, env=ENV, capture_output=True, text=True, check=True).stdout


def untracked(root: Path) -> set[str]:
    return {
        line[3:]
        for line in git(root, "status", "--porcelain", "--untracked-files=all").splitlines()
        if line.startswith("??")
    }


@contextlib.contextmanager
def mutated(root: Path, mutation: Mutation) -> Iterator[list[str]]:
    """The project with the mutation applied (yields the changed paths); reverted after: `git checkout -- .` and
    `git clean` of the files the mutation created, only. What else is untracked (a tool's record) stays."""
    before = untracked(root)
    mutation.apply(root)
    created = sorted(untracked(root) - before)
    changed = sorted({*git(root, "diff", "--name-only").split(), *created})
    try:
        yield changed
    finally:
        git(root, "checkout", "--", ".")
        if created:
            git(root, "clean", "-fdq", "--", *created)
        assert not git(root, "diff", "--name-only"), f"{mutation.name}: not reverted"


def full_runtests(work: Path, one_test: str | None = None) -> list[str]:
    """`runtests` with every test (or one): nothing of it in the project (no cache, durations kept in work)."""
    argv = [PY, "-m", "runtests", "--git-check", "off", "-p", "no:cacheprovider"]
    return [*argv, "--durations-file", str(work / "runtests-durations.json"), *([one_test] if one_test else [])]


def bench_tool(tool: Tool, clean: Path, work: Path, mutations: list[Mutation], rounds: int) -> dict[str, Any]:
    project = work / tool.name
    shutil.copytree(clean, project, symlinks=True)
    runner = Runner(work / f"{tool.name}-runs")
    runner.work.mkdir()

    def truth(what: str) -> Run:
        return runner.run(tool.truth_argv, read_junit, project, f"{what} truth")

    def tool_run(what: str) -> Run:
        return runner.run(tool.argv, tool.read, project, what, ".xml" if tool.report == "junit" else ".json")

    def log(text: str) -> None:
        print(f"  [{tool.name}] {text}", file=sys.stderr, flush=True)

    warm = truth("warm-up")  # bytecode compiled, the clean tree checked green
    if warm.failing or not warm.ran:
        raise SystemExit(f"the clean sample project is not green: {sorted(warm.failing)[:10]}")
    plain_before, first, plain_after = truth("plain 1"), tool_run("first"), truth("plain 2")
    first_ratio = first.wall_s / statistics.mean([plain_before.wall_s, plain_after.wall_s])
    log(
        f"{len(warm.ran)} tests; first run {first.wall_s:.2f}s, {len(first.ran)} ran; plain full run "
        f"{plain_before.wall_s:.2f}s / {plain_after.wall_s:.2f}s: first-run ratio {first_ratio:.2f}"
    )
    if first.failing:
        log(f"its first run on the clean tree had failures: {sorted(first.failing)[:5]}")

    idle: list[Run] = []
    one: list[float] = []
    for index in range(rounds):  # nothing changed, the record made: alternating which goes first
        if index % 2:
            one.append(runner.timed(full_runtests(work, ONE_TEST), project, "one test")[0])
        idle.append(tool_run("unchanged"))
        if not index % 2:
            one.append(runner.timed(full_runtests(work, ONE_TEST), project, "one test")[0])
    differences = [run.wall_s - one_s for run, one_s in zip(idle, one, strict=True)]
    idle_s, idle_ran = statistics.median(r.wall_s for r in idle), statistics.median(len(r.ran) for r in idle)
    log(f"nothing changed: {idle_s:.2f}s ({idle_ran} ran) vs one test {statistics.median(one):.2f}s")

    rows = []
    for mutation in mutations:
        with mutated(project, mutation) as changed:
            expected = truth(mutation.name)
            got = tool_run(mutation.name)
            full_s = runner.timed(full_runtests(work), project, "full runtests")[0] if mutation.leaf else None
        fixed = tool_run(f"{mutation.name} fix")
        misses = sorted(expected.failing - got.failing)
        total = len(expected.outcomes)
        row = {
            "mutation": mutation.name,
            "kind": mutation.kind,
            "changed": changed,
            "leaf": mutation.leaf,
            "truth": expected.brief(),
            "tool": got.brief(),
            "fix": fixed.brief(),
            "misses": misses,
            "missed_not_run": sorted(set(misses) - got.ran),
            "extra_failing": sorted(got.failing - expected.failing),
            "test_share": len(got.ran) / total,
            "time_share": got.wall_s / expected.wall_s,
            "fix_test_share": len(fixed.ran) / len(warm.ran),
            "stopped_by_collection_errors": got.exit_code == 2 and any("::" not in n for n in got.failing),
            "fix_time_share": fixed.wall_s / expected.wall_s,
            "full_runtests_s": full_s,
            "leaf_ratio": got.wall_s / full_s if full_s else None,
        }
        rows.append(row)
        log(
            f"{mutation.name:<24} truth {len(expected.failing):>3} failing, tool {len(got.failing):>3}, "
            f"misses {len(misses)}; ran {len(got.ran)}/{total} in {got.wall_s:.2f}s vs {expected.wall_s:.2f}s; "
            f"fix run {len(fixed.ran)} in {fixed.wall_s:.2f}s"
        )
        if fixed.failing:
            log(f"  its fix run on the clean tree still failed: {sorted(fixed.failing)[:5]}")
    return {
        "tool": tool.name,
        "command": shlex.join(tool.argv(Path("REPORT"))),
        "tests": len(warm.ran),
        "first": first.brief(),
        "plain_s": [plain_before.wall_s, plain_after.wall_s],
        "first_run_ratio": first_ratio,
        "unchanged": [run.brief() for run in idle],
        "one_test_s": one,
        "rows": rows,
        "totals": totals(rows, first_ratio, idle, one, differences),
    }


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def totals(
    rows: list[dict[str, Any]], first_ratio: float, idle: list[Run], one: list[float], differences: list[float]
) -> dict[str, Any]:
    breaking = [row for row in rows if row["truth"]["failing"]]
    noop = [row for row in rows if not row["truth"]["failing"]]
    leaf = [row["leaf_ratio"] for row in rows if row["leaf_ratio"] is not None]
    return {
        "mutations": len(rows),
        "misses": sum(len(row["misses"]) for row in rows),
        "mutations_with_misses": [row["mutation"] for row in rows if row["misses"]],
        "missed_kinds": dict(Counter(row["kind"] for row in rows if row["misses"])),
        "extra_failing": sum(len(row["extra_failing"]) for row in rows),
        "median_test_share": median([row["test_share"] for row in rows]),
        "median_time_share": median([row["time_share"] for row in rows]),
        "median_test_share_breaking": median([row["test_share"] for row in breaking]),
        "median_test_share_nothing_broken": median([row["test_share"] for row in noop]),
        "median_time_share_nothing_broken": median([row["time_share"] for row in noop]),
        "median_fix_test_share": median([row["fix_test_share"] for row in rows]),
        "median_fix_time_share": median([row["fix_time_share"] for row in rows]),
        "first_run_ratio": first_ratio,
        "leaf_vs_full_runtests": median(leaf),
        "leaf_mutations": [row["mutation"] for row in rows if row["leaf"]],
        "unchanged_s": median([run.wall_s for run in idle]),
        "unchanged_ran": median([len(run.ran) for run in idle]),
        "one_test_s": median(one),
        "unchanged_minus_one_test_s": median(differences),
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        f"### {result['tool']}: `{result['command']}`",
        "",
        "| mutation | kind | truth failing | tool failing | misses | test share | time share | fix: tests, time |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        stopped = " †" if row["stopped_by_collection_errors"] else ""
        lines.append(
            f"| {row['mutation']} | {row['kind']} | {len(row['truth']['failing'])} | {len(row['tool']['failing'])} | "
            f"{len(row['misses']) or ''} | {row['test_share']:.0%}{stopped} | {row['time_share']:.2f} | "
            f"{row['fix_test_share']:.0%}, {row['fix_time_share']:.2f} |"
        )
    t = result["totals"]
    pct = lambda value: "n/a" if value is None else f"{value:.0%}"  # noqa: E731
    num = lambda value, unit="": "n/a" if value is None else f"{value:.2f}{unit}"  # noqa: E731
    signed = lambda value: "n/a" if value is None else f"{value:+.2f}s"  # noqa: E731
    lines += [
        "",
        f"- misses: **{t['misses']}** tests in {len(t['mutations_with_misses'])} of {t['mutations']} mutations"
        + (f" (kinds: {', '.join(f'{k} {n}' for k, n in t['missed_kinds'].items())})" if t["misses"] else ""),
        f"- median test share {pct(t['median_test_share'])} (breaking mutations "
        f"{pct(t['median_test_share_breaking'])}, nothing broken {pct(t['median_test_share_nothing_broken'])}); "
        f"median time share {num(t['median_time_share'])} (nothing broken "
        f"{num(t['median_time_share_nothing_broken'])})",
        "- test share: tests the tool ran / tests of the truth's run (a module that fails to collect counts one); "
        "time share: the tool's wall / the truth's (full sequential pytest, same interpreter)"
        + (
            "; † the tool's run stopped at a collection error, as pytest does by default"
            if any(row["stopped_by_collection_errors"] for row in result["rows"])
            else ""
        ),
        f"- fix runs (clean tree after each mutation): median test share {pct(t['median_fix_test_share'])}, "
        f"time share {num(t['median_fix_time_share'])}",
        f"- first (recording) run / plain full run: {num(t['first_run_ratio'])} "
        f"({result['first']['wall_s']:.2f}s against {statistics.mean(result['plain_s']):.2f}s)",
        f"- (a) one change in a leaf module, tool / full `runtests`: {num(t['leaf_vs_full_runtests'])} "
        f"(median of {len(t['leaf_mutations'])})",
        f"- (b) nothing changed: {num(t['unchanged_s'], 's')} ({t['unchanged_ran']} tests ran) against one test with "
        f"runtests {num(t['one_test_s'], 's')}: difference {signed(t['unchanged_minus_one_test_s'])} (median of pairs)",
    ]
    for row in result["rows"]:
        if row["misses"]:
            not_run = set(row["missed_not_run"])
            shown = [f"{nodeid}{'' if nodeid in not_run else ' (ran green)'}" for nodeid in row["misses"][:6]]
            more = f", ... {len(row['misses']) - 6} more" if len(row["misses"]) > 6 else ""
            lines.append(f"  - missed by {row['mutation']} ({row['kind']}): {', '.join(shown)}{more}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--tools", nargs="+", choices=["testmon", "runtests", "plain"], default=["testmon", "runtests", "plain"]
    )
    parser.add_argument("--mutations", help="the first N mutations, or names separated by commas")
    parser.add_argument(
        "--runtests-cmd",
        default=DEFAULT_RUNTESTS,
        help=f"the runtests command, `--json-report PATH` appended (default: {DEFAULT_RUNTESTS})",
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating pairs of the nothing-changed figure")
    parser.add_argument("--keep", type=Path, help="work here (the projects, the reports) and keep it")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()
    mutations = select_mutations(args.mutations)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        if any(args.keep.iterdir()):
            raise SystemExit(f"--keep {args.keep}: not empty")
    work = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="runtests-affected-"))
    tools = make_tools(args.tools, args.runtests_cmd)
    found = subprocess.run(
        [PY, "-c", "import runtests; print(runtests.__file__)"], cwd=work, env=ENV, capture_output=True, text=True
    ).stdout.strip()
    print(f"# runtests --affected vs pytest-testmon (python {sys.version.split()[0]}, {os.cpu_count()} CPUs)\n")
    print(f"runtests from {found or 'nowhere'}; {len(mutations)} mutations; work dir {work}\n")
    try:
        clean = make_project(work / "clean")
        runner = Runner(work)
        runner.timed(full_runtests(work), clean, "full runtests warm-up")  # its durations recorded, as at a desk
        results = []
        for tool in tools:
            print(f"{tool.name}: {shlex.join(tool.argv(Path('REPORT')))}", file=sys.stderr, flush=True)
            results.append(bench_tool(tool, clean, work, mutations, args.rounds))
            print(table(results[-1]), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps({"mutations": [m.name for m in mutations], "results": results}, indent=1))


if __name__ == "__main__":
    main()
