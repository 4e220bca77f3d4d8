"""The files runtests writes: checked before the run, written whole or not at all, every one the same way."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runtests.errors import UsageError
from runtests.files import check_writable, write_atomically

PACKAGE = Path(__file__).resolve().parents[2] / "runtests"


def test_check_writable_refuses_missing_file_and_unwritable_directories(tmp_path, monkeypatch):
    check_writable(tmp_path / "ok.json", "--json-report")
    with pytest.raises(UsageError, match="does not exist; create it first"):
        check_writable(tmp_path / "missing" / "r.json", "--json-report")
    with pytest.raises(UsageError, match="is a directory"):
        check_writable(tmp_path, "--json-report")
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # root writes anywhere: pretend it cannot
    with pytest.raises(UsageError, match=r"--junitxml .*: directory .* is not writable"):
        check_writable(tmp_path / "r.xml", "--junitxml")


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_a_file_is_replaced_whole_and_a_failed_write_leaves_the_old_one(tmp_path, binary):
    target = tmp_path / "out"
    target.write_text("old")
    write_atomically(target, lambda stream: stream.write(b"new" if binary else "new"), binary=binary)
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["out"]

    def half_then_fail(stream):
        stream.write(b"half" if binary else "half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomically(target, half_then_fail, binary=binary)
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["out"]


def test_every_file_runtests_writes_goes_through_one_atomic_write():
    """JSON, JUnit, trace, durations and merged plugin files: nobody else makes a temporary file and renames it."""
    sources = {path.relative_to(PACKAGE).as_posix(): path.read_text() for path in PACKAGE.rglob("*.py")}
    assert {name for name, text in sources.items() if "os.replace(" in text or "mkstemp(" in text} == {"files.py"}
    users = {name for name, text in sources.items() if "write_atomically(" in text}
    assert users == {"files.py", "durations.py", "report/jsonreport.py", "report/junit.py", "report/trace.py",
                     "report/pluginfiles.py"}  # fmt: skip
