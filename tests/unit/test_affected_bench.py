"""benchmarks/affected.py's sample project and mutations, without the benchmark's runs: the project has the shapes
the benchmark needs, and every mutation applies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT, clean_environ

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import affected

KINDS = {
    "return-value", "comparison", "function-constant", "import-constant", "class-attribute", "decorator-arg",
    "parametrize-data", "data-runtime", "data-import", "conftest-fixture", "subprocess-only", "leaf", "core",
    "test-module", "import-break", "noop",
}  # fmt: skip


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return affected.make_project(tmp_path_factory.mktemp("affected") / "sample", git=False)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*") if path.is_file()}


def test_the_sample_project_has_the_shapes_the_benchmark_needs(project: Path) -> None:
    modules = [path for path in (project / "ledger").glob("*.py") if path.name != "__init__.py"]
    test_modules = list((project / "tests").glob("test_*.py"))
    assert len(modules) >= 12 and len(test_modules) >= 12
    for data in ("ledger/data/rates.json", "ledger/data/catalog.csv", "tests/data/tax_cases.csv", "tests/conftest.py"):
        assert (project / data).is_file(), data
    assert (
        '"-c"' in (project / "tests/test_cli.py").read_text()
        and "subprocess.run" in (project / "tests/test_cli.py").read_text()
    )
    assert 'scope="module"' in (project / "tests/test_stats.py").read_text()
    assert set(affected.LEAF_MODULES) <= {str(path.relative_to(project)) for path in modules}
    assert snapshot(project) == snapshot(affected.make_project(project.parent / "again", git=False))  # deterministic
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"],
        cwd=project, env=clean_environ(), capture_output=True, text=True,
    )  # fmt: skip
    assert collected.returncode == 0, collected.stdout + collected.stderr
    ids = [line for line in collected.stdout.splitlines() if "::" in line]
    assert 400 <= len(ids) <= 600
    assert affected.ONE_TEST in ids
    assert {id.partition("::")[0] for id in ids} == {str(path.relative_to(project)) for path in test_modules}


def test_every_mutation_applies_and_changes_a_file(project: Path) -> None:
    names = [mutation.name for mutation in affected.MUTATIONS]
    assert len(names) >= 24
    assert len(set(names)) == len(names)
    assert {mutation.kind for mutation in affected.MUTATIONS} >= KINDS
    assert sum(mutation.kind == "noop" for mutation in affected.MUTATIONS) >= 3
    assert sum(mutation.leaf for mutation in affected.MUTATIONS) >= 3
    clean = snapshot(project)
    for mutation in affected.MUTATIONS:
        mutation.apply(project)
        changed = {
            name for name in clean.keys() | snapshot(project).keys() if clean.get(name) != snapshot(project).get(name)
        }
        assert changed == {mutation.path}, mutation.name
        (project / mutation.path).unlink()
        if mutation.path in clean:
            (project / mutation.path).write_bytes(clean[mutation.path])
    assert snapshot(project) == clean


def test_select_mutations_by_count_or_name() -> None:
    assert affected.select_mutations("3") == affected.MUTATIONS[:3]
    assert [m.name for m in affected.select_mutations("core-comment,rates-json")] == ["core-comment", "rates-json"]
    with pytest.raises(SystemExit, match="unknown mutations"):
        affected.select_mutations("no-such")


@pytest.mark.parametrize(
    "nodeid",
    ["tests/test_models.py::TestBook::test_balance", "tests/test_core.py::test_to_cents[1.5-150]",
     "tests/test_parse.py::test_parse_amount[12.50 EUR-1250-EUR]", "tests/test_dates.py"],
)  # fmt: skip
def test_junit_names_map_back_to_node_ids(project: Path, nodeid: str) -> None:
    """pytest's junitxml mangles node ids (`tests.test_models.TestBook`); the benchmark undoes it by the files."""
    assert affected.nodeid_of(*affected.mangle(nodeid), project) == nodeid


def test_junit_outcomes_count_a_collection_error_once(tmp_path: Path, project: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="" name="tests.test_dates"><error message="collection failure">x</error></testcase>'
        '<testcase classname="tests.test_units" name="test_marathon"><failure message="x"/></testcase>'
        '<testcase classname="tests.test_units" name="test_marathon"><error message="in teardown"/></testcase>'
        '<testcase classname="tests.test_units" name="test_kg_to_lb[0-0]"/>'
        '<testcase classname="tests.test_units" name="test_kg_to_lb[1-2]"><skipped/></testcase>'
        "</testsuite></testsuites>"
    )
    assert affected.read_junit(report, project) == {
        "tests/test_dates.py": "error",
        "tests/test_units.py::test_marathon": "failed",
        "tests/test_units.py::test_kg_to_lb[0-0]": "passed",
        "tests/test_units.py::test_kg_to_lb[1-2]": "skipped",
    }
