"""Never green where pytest is red: runtests against plain pytest on samples shaped like the real suites where
its accounting and output were found wrong (collection errors under `filterwarnings = error`, reruns, -rA, ids
with `::` inside their parameters, order dependence that sequential pytest shows too, a plugin that fails to
configure under xdist, mistyped options)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from tests.helpers import PLUGINS_OFF

pytestmark = pytest.mark.e2e

TEXTFMT = {
    "pytest.ini": """
        [pytest]
        addopts = --strict-markers -p no:cacheprovider
        filterwarnings = error
    """,
    ".gitignore": "*.db\n*.xml\n*.md\n",
    "textfmt/__init__.py": """
        def wrap(text, width):
            return [text[i : i + width] for i in range(0, len(text), width)] or [""]


        def parse_address(address):
            host, _, port = address.rpartition(":")
            return host.strip("[]"), int(port)
    """,
    "tests/test_wrap.py": """
        import pytest

        import textfmt


        def test_wrap_short():
            assert textfmt.wrap("abc", 10) == ["abc"]


        def test_wrap_long():
            assert textfmt.wrap("abcdef", 2) == ["ab", "cd", "ef"]


        @pytest.mark.parametrize("address", ["[::1]:8080", "127.0.0.1:80", "a::b[c]:1"])
        def test_connect(address):
            assert textfmt.parse_address(address)[1] > 0
    """,
    # pytest cannot collect a class named like a test that has an __init__: a PytestCollectionWarning, an error
    # under `filterwarnings = error`. Sequential pytest: "Interrupted: 1 error"; `pytest -n 2`: "2 errors".
    "tests/test_helpers.py": """
        class TestResult:
            def __init__(self, value):
                self.value = value


        def test_helper():
            assert TestResult(3).value == 3
    """,
}


def last_line(output: str) -> str:
    return [line for line in output.splitlines() if line.strip()][-1]


def counted(line: str) -> dict[str, int]:
    return {word: int(n) for n, word in re.findall(r"(\d+) ([a-z]+)", line)}


def test_a_collection_error_counts_once_in_every_output_and_junit_keeps_ids_whole(sample_project, tmp_path):
    """Items 2 and 6: the error is one error in the totals, the last line, the pass rate, the JSON, JUnit and the
    GitHub summary; JUnit names a test as pytest's junitxml does, its `::` inside brackets kept."""
    project = sample_project(TEXTFMT)
    plain = project.pytest("-n", "2", "--junitxml=plain.xml")
    assert plain.exit_code == 1 and "6 passed, 2 errors" in last_line(plain.stdout), plain  # once per worker
    summary_md = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary_md), "GITHUB_WORKSPACE": str(project.path)}
    run = project.run("-n", "2", "--junitxml", "rt.xml", env=env).assert_exit(2)
    assert run.report["totals"]["errors"] == 1 and run.report["totals"]["passed"] == 6
    assert run.report["pass_rate"] == pytest.approx(100 * 6 / 7)
    assert counted(last_line(run.stdout)) == {"passed": 6, "failed": 0, "error": 1}, run
    assert "Pass rate: 85.7% (6/7)" in run.stdout
    assert "**Pass rate: 85.7% (6/7)**" in summary_md.read_text()
    annotation = "::error file=tests/test_helpers.py,title=ERROR collecting tests/test_helpers.py%3A%3ATestResult::"
    assert annotation in run.stdout, run
    root = ET.parse(project.path / "rt.xml").getroot()
    assert (root.get("tests"), root.get("errors"), root.get("failures")) == ("7", "1", "0")
    ours = {(case.get("classname"), case.get("name")) for case in root.iter("testcase")}
    theirs = {
        (case.get("classname"), case.get("name")) for case in ET.parse(project.path / "plain.xml").iter("testcase")
    }
    assert ours == theirs  # pytest's names, its collection error's case included
    assert ("tests.test_wrap", "test_connect[[::1]:8080]") in ours and (
        "tests.test_wrap",
        "test_connect[a::b[c]:1]",
    ) in ours


def test_teardown_error_ignored_files_and_an_idle_worker(sample_project):
    """Items 8, 13, 17: pytest's "ERROR at teardown of" heading and "1 error"; a file the tests leave that
    .gitignore ignores is named, listed in the JSON, and no dirt to require-clean; `-n 2` with one selected test
    reports the one worker that ran it, as `-n 4` would (capped)."""
    files = {key: value for key, value in TEXTFMT.items() if key != "tests/test_helpers.py"}
    files["tests/test_store.py"] = """
        import pathlib

        import pytest


        @pytest.fixture
        def store():
            yield pathlib.Path("testing.db")
            raise RuntimeError("could not close the store")


        def test_store_writes(store):
            store.write_text("rows")
    """
    project = sample_project(files)
    run = project.run("-n", "2", "-k", "store", "--git-check", "require-clean").assert_exit(1)
    assert "__ ERROR at teardown of tests/test_store.py::test_store_writes (parallel phase, gw" in run.stdout, run
    assert counted(last_line(run.stdout)) == {"passed": 0, "failed": 0, "error": 1, "deselected": 5}
    assert "git: the tests left 1 ignored file: testing.db (parallel phase)" in run.stdout
    assert run.report["git"]["changed_by_tests"]["ignored"] == ["testing.db"]
    assert "require-clean" not in run.stdout  # an ignored file is no dirt
    assert run.report["phases"][0]["workers"] == 1
    assert "note: -n 2: the parallel phase has 1 test: 1 worker got none and stopped after collecting" in run.stdout
    assert "parallel   1 (load)" in run.stdout


FLAKY = {
    "pytest.ini": "[pytest]\naddopts = --strict-markers -p no:cacheprovider\n",
    "tests/test_api.py": """
        import os
        import pathlib

        import pytest


        def test_routing_prints():
            print("routing table loaded")


        def test_routing_flaky():
            marker = pathlib.Path(os.environ["FLAKY_MARKER"])
            if not marker.exists():
                marker.write_text("failed once")
                raise AssertionError("the first try fails")


        @pytest.mark.parametrize("path", ["/a::b", "/[id]"])
        def test_routing_paths(path):
            pass


        def test_slow_export():
            pass


        @pytest.mark.xfail(reason="known")
        def test_routing_known_bug():
            print("xfail output")
            assert False
    """,
}


def test_reruns_passes_sections_and_deselected_line_by_line_as_pytest(sample_project):
    """Items 3, 5, 9, 12: with pytest-rerunfailures, -rA and -k, the short summary, the PASSES section and the
    last line's counts are pytest's; one verdict per test; -q says nothing of a serial phase with nothing in it."""
    project = sample_project(FLAKY)
    marker = project.path.parent / "flaky-marker"
    env = {"FLAKY_MARKER": str(marker), "PYTEST_ADDOPTS": PLUGINS_OFF.replace("-p no:rerunfailures", "")}
    args = ("-q", "-rA", "--reruns", "2", "-k", "routing", "--junitxml=junit.xml")
    plain = project.pytest(*args, env=env)
    assert plain.exit_code == 0, plain
    plain_ids = {(c.get("classname"), c.get("name")) for c in ET.parse(project.path / "junit.xml").iter("testcase")}
    marker.unlink()
    run = project.run("-n", "2", "--", *args, env=env).assert_exit(0)

    def section(output: str, title: str) -> list[str]:
        """The lines of a section, up to the next section, the pass rate or the last line; no rules or headings."""
        lines = []
        for line in output.split(title, 1)[1].splitlines()[1:]:
            if re.match(r"=+ |Pass rate|\d+ passed|phase +workers", line):
                break
            if line.strip() and not line.startswith(("__", "--")):
                lines.append(line)
        return lines

    ours, theirs = run.stdout, plain.stdout
    assert section(ours, "short test summary info") == section(theirs, "short test summary info"), run
    assert ours.count("PASSED tests/test_api.py::test_routing_flaky") == 1  # -rA: once, not twice
    assert section(ours, "== PASSES ==") == section(theirs, "= PASSES =") == ["routing table loaded"], run
    plain_counts, our_counts = counted(last_line(theirs)), counted(last_line(ours))
    assert plain_counts == {"passed": 4, "deselected": 1, "xfailed": 1, "rerun": 1}, plain
    assert {key: our_counts[key] for key in plain_counts} == plain_counts, run
    assert run.report["reruns"] == 1 and run.report["deselected"] == 1 and run.report["totals"]["passed"] == 4
    assert [t["reruns"] for t in run.report["tests"] if "reruns" in t] == [1]
    assert len(run.report["tests"]) == 5  # one verdict per test
    ids = {(c.get("classname"), c.get("name")) for c in ET.parse(project.path / "junit.xml").iter("testcase")}
    assert ids == plain_ids  # pytest's own --junitxml, merged from the phases: the same test cases
    assert "serial phase" not in ours  # -q: the routine skip is not said


def test_collect_only_quiet_is_pytests_own_lines(sample_project):
    """Item 10: `runtests --co -q | tool` reads what `pytest --co -q | tool` reads."""
    project = sample_project(
        {**FLAKY, "tests/test_db.py": "import pytest\n\n@pytest.mark.serial\ndef test_db(): pass\n"}
    )

    def lines(output: str) -> list[str]:
        return [re.sub(r" in \d+\.\d+s", "", line) for line in output.splitlines()]

    for quiet in ("-q", "-qq"):
        plain = project.pytest("--co", quiet)
        run = project.run("--co", quiet, report=False).assert_exit(0)
        assert lines(run.stdout) == lines(plain.stdout), run
    listed = project.run("--co", report=False).assert_exit(0)  # without -q: by phase
    assert "serial phase: 1 test (chosen by 'serial')" in listed.stdout


PLUGIN_BREAKS_UNDER_XDIST = """
def pytest_load_initial_conftests(early_config, parser, args):
    if getattr(early_config.known_args_namespace, "numprocesses", None):
        raise RuntimeError("guard: this plugin cannot run under xdist")
"""


def test_a_pytest_that_fails_before_its_session_stops_the_run(sample_project):
    """Item 4: a plugin that fails while pytest configures (here only under xdist, as pytest-cov's DistCovError
    does): pytest's error is the headline and its exit code the run's; no serial phase, no table, no pass rate."""
    project = sample_project(
        {
            "guard.py": PLUGIN_BREAKS_UNDER_XDIST,
            "tests/test_a.py": "def test_a(): pass\n",
            "tests/test_b.py": "import pytest\n\n@pytest.mark.serial\ndef test_b(): pass\n",
        }
    )
    env = {"PYTHONPATH": str(project.path), "PYTEST_ADDOPTS": f"{PLUGINS_OFF} -p guard"}
    plain = project.pytest("-n", "2", env=env)
    assert plain.exit_code not in (0, 5) and "guard: this plugin cannot run under xdist" in plain.output
    run = project.run("-n", "2", env=env).assert_exit(plain.exit_code)
    headline = (f"parallel phase: pytest exited with code {plain.exit_code} before its session started: "
                "RuntimeError: guard: this plugin cannot run under xdist")  # fmt: skip
    assert run.stdout.splitlines()[0] == headline, run
    for absent in ("serial phase", "Pass rate", "no tests ran", "phase      workers"):
        assert absent not in run.stdout, run
    assert run.report["exit_code"] == plain.exit_code
    assert [(p["name"], p["began"]) for p in run.report["phases"]] == [("parallel", False)]
    # Sequentially the plugin configures, and the run is whole.
    project.run("-n", "0", env=env).assert_exit(0)


def test_pytest_cov_refusing_xdist_is_the_runs_error(sample_project):
    """Item 4, as found: pytest-cov refuses `dynamic_context = test_function` under xdist. No coverage table made
    from imports alone, no serial phase: pytest's error and its exit code."""
    project = sample_project(
        {
            "pkg/__init__.py": "def f(x):\n    return x + 1\n",
            "tests/test_a.py": "import pkg\n\ndef test_a():\n    assert pkg.f(1) == 2\n",
            "tests/test_b.py": "import pytest\n\n@pytest.mark.serial\ndef test_b(): pass\n",
            ".coveragerc": "[run]\ndynamic_context = test_function\n",
            ".gitignore": ".coverage*\n",
        }
    )
    env = {"PYTEST_ADDOPTS": PLUGINS_OFF.replace("-p no:pytest_cov", "")}
    plain = project.pytest("-n", "2", "--cov=pkg", env=env)
    run = project.run("-n", "2", "--", "--cov=pkg", env=env).assert_exit(plain.exit_code)
    assert plain.exit_code == 1
    assert "before its session started: pytest_cov.DistCovError: Detected dynamic_context" in run.stdout, run
    assert "TOTAL" not in run.stdout and "serial phase" not in run.stdout


def test_pytests_usage_errors_alone_at_once(sample_project):
    """Item 11: a mistyped pytest option, a path that does not exist, xdist switched off in PYTEST_ADDOPTS: pytest's
    usage error, as pytest prints it, and exit 4; a missing path is found before any worker starts."""
    project = sample_project(
        {**FLAKY, "tests/test_db.py": "import pytest\n\n@pytest.mark.serial\ndef test_db(): pass\n"}
    )
    # (`pytest -n 2 tests/nothere.py` says "no tests ran", exit 5, after its workers fail: sequential pytest's
    # verdict is the one to keep.)
    for args, plain_args, env in ((("--", "--dsit", "load"), ("-n", "2", "--dsit", "load"), None),
                                  (("tests/nothere.py",), ("tests/nothere.py",), None),
                                  ((), ("-n", "2"), {"PYTEST_ADDOPTS": f"{PLUGINS_OFF} -p no:xdist"})):  # fmt: skip
        plain = project.pytest(*plain_args, env=env)
        run = project.run("-n", "2", *args, env=env).assert_exit(4)
        assert plain.exit_code == 4
        assert run.stdout == "", run  # not a line of runtests' own: no git line, no phase, no table
        their_error = [line for line in plain.stderr.splitlines() if line.startswith(("ERROR", "pytest", "python"))]
        assert their_error and all(
            line.replace("pytest", "") in run.stderr.replace("pytest", "") for line in their_error
        )
        assert [p["name"] for p in run.report["phases"]] == ["parallel"] and not run.report["phases"][0]["began"]


REGISTRY = {
    "pytest.ini": "[pytest]\naddopts = --strict-markers -p no:cacheprovider\n",
    "registry.py": """
        MODELS = {}


        def register(name):
            MODELS[name] = {"table": name.lower() + "s"}


        def dispose():
            MODELS.clear()
    """,
    # Admin tests dispose of the registry when their module is done: every module mapped at import loses its
    # models. Sequential pytest shows it: test_admin.py runs before test_models.py.
    "tests/test_admin.py": """
        import pytest

        import registry


        @pytest.fixture(autouse=True, scope="module")
        def fresh_registry():
            yield
            registry.dispose()


        @pytest.mark.parametrize("mode", ["full", "partial"])
        def test_reset(mode):
            assert mode
    """,
    "tests/test_models.py": """
        import pytest

        import registry

        NAMES = ["User", "Order", "Item", "Invoice", "Refund", "Coupon"]
        for name in NAMES:
            registry.register(name)


        @pytest.mark.parametrize("name", NAMES)
        def test_model_is_mapped(name):
            assert name in registry.MODELS
    """,
}


def test_failures_that_were_never_replayed_are_never_accepted(sample_project):
    """Items 1 and 15: six tests that sequential pytest fails too. The retry runs them together, without the test
    that broke them, and they pass: that is `passed-on-retry`, undiagnosed, which --accept-parallel-only never
    accepts (it made a real suite exit 0 at 100.0%). What the replays diagnose rests on the replays."""
    project = sample_project(REGISTRY)
    project.env = {"PYTHONPATH": str(project.path)}
    sequential = project.pytest("-p", "no:xdist")
    assert "6 failed, 2 passed" in last_line(sequential.stdout), sequential
    run = project.run("-n", "1", "--retry-serially", "--accept-parallel-only", "--replay-budget", "0").assert_exit(1)
    verdicts = {t["nodeid"]: t["retry"]["verdict"] for t in run.report["tests"] if "retry" in t}
    assert set(verdicts.values()) == {"passed-on-retry"} and len(verdicts) == 6
    assert "100.0%" not in run.stdout and "Pass rate: 25.0% (2/8)" in run.stdout
    assert run.report["retries"]["undiagnosed"] == 6 and run.report["retries"]["parallel_only"] == 0
    assert "diagnosis: 6 of 6 retried failures left undiagnosed" in run.stdout
    assert "--replay-budget 0: none was replayed" in run.stdout

    # A budget of a few seconds (the default is the parallel phase's time, at least 20 s): some diagnosed, the
    # rest left as the retry showed them.
    replayed = project.run("-n", "1", "--retry-serially", "--accept-parallel-only", "--replay-budget", "5")
    replayed.assert_exit(1)
    verdicts = [t["retry"]["verdict"] for t in replayed.report["tests"] if "retry" in t]
    assert verdicts.count("broken-by-earlier") >= 1 and "parallel-only" not in verdicts, replayed
    assert set(verdicts) <= {"broken-by-earlier", "passed-on-retry"}
    assert verdicts.count("passed-on-retry") >= 1  # the sixth: past the five diagnosed
    assert (
        "left undiagnosed" in replayed.stdout
        and "replays stop after 5 failures or 5s (--replay-budget)" in replayed.stdout
    )
    done = [t["retry"] for t in replayed.report["tests"] if "retry" in t and t["retry"].get("complete") is True]
    culprits = {culprit for retry in done for culprit in retry.get("culprits", ())}
    assert culprits and all(c.startswith("tests/test_admin.py::test_reset[") for c in culprits), replayed


def test_diagnose_names_a_culprit_with_its_parameters(sample_project):
    """Item 7: `runtests diagnose` prints ids as they are; `[full]` is no markup tag to drop."""
    project = sample_project(REGISTRY)
    project.env = {"PYTHONPATH": str(project.path)}
    run = project.run("diagnose", "tests/test_models.py::test_model_is_mapped[User]", report=False).assert_exit(1)
    assert re.search(r"broken-by-earlier: tests/test_models\.py::test_model_is_mapped\[User\] is broken by "
                     r"tests/test_admin\.py::test_reset\[(full|partial)\]", run.stdout), run  # fmt: skip


def test_a_big_file_is_no_starving_note_when_the_other_worker_was_busy(sample_project):
    """Item 14: one file holds over half the test time under --dist loadfile, but the other worker was busy
    almost to the end: no "the others wait" note, which the events would contradict."""
    small = "import time\n\ndef test_small():\n    time.sleep(0.1)\n"
    files = {f"tests/test_b{i}.py": small for i in range(10)}
    files["tests/test_a_big.py"] = "import time\nimport pytest\n\n@pytest.mark.parametrize('n', range(4))\n" \
        "def test_big(n):\n    time.sleep(0.3)\n"  # fmt: skip
    project = sample_project(files)
    run = project.run("-n", "2", "--dist", "loadfile").assert_exit(0)
    big = sum(t["duration_s"] for t in run.report["tests"] if "big" in t["nodeid"])
    assert big / sum(t["duration_s"] for t in run.report["tests"]) > 0.5  # the share alone would have said it
    assert "while the others" not in run.stdout, run
