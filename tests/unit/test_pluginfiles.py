"""Merging the per-run files plugins write, from the parts each phase wrote (runtests.report.pluginfiles), and the
pytest side's choices about them (runtests.plugin.fidelity): pure parts, no pytest process."""

from __future__ import annotations

import json
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from runtests.plugin import fidelity
from runtests.report.pluginfiles import combined_exitstatus, merge
from runtests.results import PluginFile


def write_log(path: Path, nodeids: list[str], exitstatus: int) -> None:
    lines = [{"pytest_version": "9.2.0", "$report_type": "SessionStart"}]
    lines += [
        {"nodeid": nodeid, "when": "call", "outcome": "passed", "$report_type": "TestReport"} for nodeid in nodeids
    ]
    lines.append({"exitstatus": exitstatus, "$report_type": "SessionFinish"})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_report_logs_merge_into_one_session_with_every_phases_tests(tmp_path):
    write_log(tmp_path / "parallel.part", ["a::t1", "a::t2"], 0)
    write_log(tmp_path / "serial.part", ["s::t3"], 1)
    target = tmp_path / "log.jsonl"
    notes = merge([PluginFile("--report-log", target, tmp_path / "parallel.part", "parallel"),
                   PluginFile("--report-log", target, tmp_path / "serial.part", "serial")])  # fmt: skip
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["$report_type"] for r in records] == ["SessionStart", *["TestReport"] * 3, "SessionFinish"]
    assert [r["nodeid"] for r in records[1:-1]] == ["a::t1", "a::t2", "s::t3"]
    assert records[-1]["exitstatus"] == 1
    assert notes == [f"--report-log: {target} holds the parallel and serial phases"]


def test_a_missing_part_is_said_and_the_rest_still_written(tmp_path):
    write_log(tmp_path / "parallel.part", ["a::t1"], 0)
    target = tmp_path / "log.jsonl"
    notes = merge([PluginFile("--report-log", target, tmp_path / "parallel.part", "parallel"),
                   PluginFile("--report-log", target, tmp_path / "serial.part", "serial")])  # fmt: skip
    assert "nothing from the serial phase (it wrote no file)" in notes[0]
    assert len(target.read_text().splitlines()) == 3


@pytest.mark.parametrize(("statuses", "combined"), [([0, 0], 0), ([0, 5], 0), ([5, 5], 5), ([5, 1], 1), ([2, 1], 2)])
def test_the_merged_exit_status_is_what_one_pytest_run_would_give(statuses, combined):
    assert combined_exitstatus(statuses) == combined


def junit_part(path: Path, cases: list[str], failures: int) -> None:
    suite = ET.Element("testsuite", name="pytest", tests=str(len(cases)), failures=str(failures), errors="0",
                       skipped="0", time="1.5", timestamp="2026-12-01T00:00:00", hostname="ci")  # fmt: skip
    ET.SubElement(ET.SubElement(suite, "properties"), "property", name="k", value="v")
    for name in cases:
        ET.SubElement(suite, "testcase", classname="tests.test_a", name=name, time="0.1")
    root = ET.Element("testsuites", name="pytest tests")
    root.append(suite)
    ET.ElementTree(root).write(path)


def test_junit_parts_merge_into_one_suite_with_summed_counts(tmp_path):
    junit_part(tmp_path / "p.xml", ["t1", "t2"], 1)
    junit_part(tmp_path / "s.xml", ["t3"], 0)
    target = tmp_path / "junit.xml"
    merge([PluginFile("--junitxml", target, tmp_path / "p.xml", "parallel"),
           PluginFile("--junitxml", target, tmp_path / "s.xml", "serial")])  # fmt: skip
    root = ET.parse(target).getroot()
    (suite,) = root.findall("testsuite")
    assert root.get("name") == "pytest tests"
    assert (suite.get("tests"), suite.get("failures"), suite.get("time")) == ("3", "1", "3.000")
    assert [case.get("name") for case in suite.iter("testcase")] == ["t1", "t2", "t3"]
    assert len(suite.findall("properties")) == 1


def test_an_unreadable_part_is_a_note_not_a_traceback(tmp_path):
    (tmp_path / "p.xml").write_text("<testsuites><testsuite")
    notes = merge([PluginFile("--junitxml", tmp_path / "junit.xml", tmp_path / "p.xml", "parallel")])
    assert notes[0].startswith(f"--junitxml {tmp_path / 'junit.xml'}: could not be written")


class FakeConfig:
    def __init__(self, part: str | None, **option: object) -> None:
        self.known_args_namespace = types.SimpleNamespace(runtests_part=part)
        self.option = types.SimpleNamespace(**option)
        self.invocation_params = types.SimpleNamespace(dir=Path("/project"))

    def getoption(self, name: str) -> object:
        return "parallel"


@pytest.mark.parametrize(("dest", "flag"), [("htmlpath", "--html"), ("json_report", "--json-report")])
def test_files_that_cannot_be_merged_are_refused_in_the_first_process(tmp_path, dest, flag):
    emitted: list[dict] = []
    config = FakeConfig("first", **{dest: "report.html" if dest == "htmlpath" else True})
    with pytest.raises(pytest.UsageError, match=f"^{flag}: .* runs one per phase; use runtests' own"):
        fidelity.redirect_files(config, tmp_path, emitted.append)  # type: ignore[arg-type]
    assert emitted[0]["e"] == "refused" and emitted[0]["text"].startswith(flag)
    fidelity.redirect_files(FakeConfig(None, **{dest: True}), tmp_path, emitted.append)  # type: ignore[arg-type]
    assert len(emitted) == 1  # one process is the whole run: nothing to refuse


def test_mergeable_files_are_written_in_parts_and_announced(tmp_path):
    emitted: list[dict] = []
    config = FakeConfig("last", report_log="logs/run.jsonl", xmlpath=None)
    fidelity.redirect_files(config, tmp_path, emitted.append)  # type: ignore[arg-type]
    assert config.option.report_log == str(tmp_path / "parallel.report_log")
    assert emitted == [{"e": "file", "option": "--report-log", "target": "/project/logs/run.jsonl",
                        "part": str(tmp_path / "parallel.report_log")}]  # fmt: skip


def test_the_seed_replaces_only_randomlys_default():
    for given, expected in (("default", 77), (123, 123), ("last", "last")):
        config = types.SimpleNamespace(option=types.SimpleNamespace(randomly_seed=given), getoption=lambda name: 77)
        fidelity.share_seed(config)  # type: ignore[arg-type]
        assert config.option.randomly_seed == expected
