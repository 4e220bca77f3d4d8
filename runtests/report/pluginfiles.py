"""Merging the files plugins write once per pytest run, which each phase wrote in a part (runtests.plugin.fidelity).

- --report-log (pytest-reportlog): JSON lines. The merged file opens with the first part's SessionStart, holds
  every part's reports in phase order, and closes with one SessionFinish whose exitstatus is the run's, as
  pytest would have given it: the first part's that is neither 0 nor 5, else 0 if any part passed, else 5.
- --junitxml (pytest's own): one <testsuite> holding every part's test cases, its counts and time summed.

A part that is missing (its phase never started, or was killed before writing) is left out, and said so.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from runtests.events import RETRY
from runtests.files import write_atomically
from runtests.results import PhaseResult, PluginFile

SUITE_COUNTS = ("tests", "errors", "failures", "skipped")


def merge_phases(results: Sequence[PhaseResult]) -> list[str]:
    """The parts the phases wrote, merged into the files the user named, every phase's tests in them (the retry's
    left out: it ran them again); notes on what was written."""
    return merge([file for phase in results if phase.name != RETRY for file in phase.files])


def merge(files: Sequence[PluginFile]) -> list[str]:
    """Merge each target's parts into it; the notes say what was written, or what could not be."""
    notes: list[str] = []
    targets: dict[tuple[str, Path], list[PluginFile]] = {}
    for file in files:
        targets.setdefault((file.option, file.target), []).append(file)
    for (option, target), parts in targets.items():
        present = [part for part in parts if part.part.is_file()]
        missing = [part.phase for part in parts if not part.part.is_file()]
        try:
            if option == "--report-log":
                merge_report_logs(target, [part.part for part in present])
            else:
                merge_junit(target, [part.part for part in present])
        except (OSError, ValueError, ET.ParseError) as exc:
            notes.append(f"{option} {target}: could not be written ({exc})")
            continue
        phases = " and ".join(part.phase for part in present) or "no"
        gap = f"; nothing from the {' and '.join(missing)} phase (it wrote no file)" if missing else ""
        notes.append(f"{option}: {target} holds the {phases} phase{'s' if len(present) > 1 else ''}{gap}")
    return notes


def combined_exitstatus(statuses: Sequence[int]) -> int:
    failing = [status for status in statuses if status not in (0, 5)]
    if failing:
        return failing[0]
    return 0 if 0 in statuses else 5


def merge_report_logs(target: Path, parts: Sequence[Path]) -> None:
    starts: list[str] = []
    body: list[str] = []
    finishes: list[dict[str, Any]] = []
    for part in parts:
        for line in part.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            kind = json.loads(line).get("$report_type") if line.startswith("{") else None
            if kind == "SessionStart":
                starts.append(line)
            elif kind == "SessionFinish":
                finishes.append(json.loads(line))
            else:
                body.append(line)
    lines = starts[:1] + body
    if finishes:
        finish = dict(finishes[-1], exitstatus=combined_exitstatus([int(f.get("exitstatus", 0)) for f in finishes]))
        lines.append(json.dumps(finish))

    def write(stream: IO[Any]) -> None:
        stream.writelines(f"{line}\n" for line in lines)

    write_atomically(target, write)


def merge_junit(target: Path, parts: Sequence[Path]) -> None:
    roots = [ET.parse(part).getroot() for part in parts]
    suites = [suite for root in roots for suite in root.iter("testsuite")]
    if not suites:
        raise ValueError("no <testsuite> in the parts")
    merged = ET.Element("testsuite", dict(suites[0].attrib))
    for key in SUITE_COUNTS:
        merged.set(key, str(sum(int(suite.get(key, 0)) for suite in suites)))
    merged.set("time", f"{sum(float(suite.get('time', 0)) for suite in suites):.3f}")
    properties = suites[0].find("properties")
    if properties is not None:
        merged.append(properties)
    for suite in suites:
        merged.extend(child for child in suite if child.tag != "properties")
    root = ET.Element("testsuites", dict(roots[0].attrib) if roots[0].tag == "testsuites" else {})
    root.append(merged)
    tree = ET.ElementTree(root)

    def write(stream: IO[Any]) -> None:
        tree.write(stream, encoding="utf-8", xml_declaration=True)

    write_atomically(target, write, binary=True)
