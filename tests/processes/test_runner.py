"""The runner with hand-written event files and a fake child in place of pytest."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from runtests import events, runner
from runtests.plan import Phase
from runtests.recorder import PhaseRecorder
from runtests.results import Outcome, PhaseResult
from tests.helpers import clean_environ

PHASE = Phase(name="parallel", select="unmarked", workers=0, dist=None, argv=())


def line(event: dict[str, Any]) -> bytes:
    return events.encode(event).encode()


class Sink(NamedTuple):
    """A file appended to by a writer and read by an EventReader, as the runner reads pytest's events."""

    write: Callable[[bytes], Any]
    reader: runner.EventReader
    seen: list[dict[str, Any]]


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[Sink]:
    path = tmp_path / "events.jsonl"
    path.touch()
    seen: list[dict[str, Any]] = []
    with path.open("ab", buffering=0) as writer, path.open("rb") as source:
        yield Sink(writer.write, runner.EventReader(source, seen.append), seen)


BEGIN_A = {"e": "begin", "nodeid": "t.py::a"}
TEST_A = {"e": "test", "nodeid": "t.py::a", "worker": None, "reports": [{"when": "call", "outcome": "passed"}]}
BEGIN_U = {"e": "begin", "nodeid": "t.py::test_ü[ß]"}


def test_reader_whole_lines(sink: Sink) -> None:
    sink.reader.read_available()
    assert sink.seen == []
    sink.write(line(BEGIN_A) + line(TEST_A))
    sink.reader.read_available()
    assert sink.seen == [BEGIN_A, TEST_A]
    sink.reader.read_available()  # nothing new: nothing delivered twice
    sink.reader.finish()
    assert sink.seen == [BEGIN_A, TEST_A]


def test_reader_keeps_a_torn_line_until_it_is_complete(sink: Sink) -> None:
    raw_u = (json.dumps(BEGIN_U, ensure_ascii=False) + "\n").encode()  # encode() escapes; a writer need not
    whole = line(BEGIN_A) + raw_u + line(TEST_A)
    cut_in_letter = whole.index("ü".encode()) + 1  # inside the two bytes of one UTF-8 character
    cut_in_key = len(line(BEGIN_A)) + len(raw_u) + 5
    sink.write(whole[:cut_in_letter])
    sink.reader.read_available()
    assert sink.seen == [BEGIN_A]
    sink.write(whole[cut_in_letter:cut_in_key])
    sink.reader.read_available()
    assert sink.seen == [BEGIN_A, BEGIN_U]
    sink.write(whole[cut_in_key:])
    sink.reader.read_available()
    assert sink.seen == [BEGIN_A, BEGIN_U, TEST_A]
    sink.reader.finish()
    assert sink.seen == [BEGIN_A, BEGIN_U, TEST_A]


def test_reader_drops_a_torn_line_never_completed(sink: Sink) -> None:
    sink.write(line(BEGIN_A) + line(TEST_A)[:-9])
    sink.reader.read_available()
    assert sink.seen == [BEGIN_A]
    sink.reader.finish()
    assert sink.seen == [BEGIN_A]
    sink.reader.finish()  # nothing left over to deliver again
    assert sink.seen == [BEGIN_A]


def test_reader_delivers_a_whole_last_line_without_newline(sink: Sink) -> None:
    sink.write(line(BEGIN_A) + line(TEST_A).rstrip(b"\n"))
    sink.reader.read_available()
    assert sink.seen == [BEGIN_A]
    sink.reader.finish()
    assert sink.seen == [BEGIN_A, TEST_A]


def test_reader_ignores_garbage_and_foreign_lines(sink: Sink) -> None:
    garbage = [b"not json", b"", b"[1, 2]", b'"text"', b"42", b"null", b'{"no_e": 1}', b"\xff\xfe\x00bin", b"{", b"  "]
    sink.write(line(BEGIN_A) + b"\n".join(garbage) + b"\n" + line(TEST_A) + b"}}}\n")
    sink.reader.read_available()
    sink.reader.finish()
    assert sink.seen == [BEGIN_A, TEST_A]


def test_reader_ignores_a_deeply_nested_line(sink: Sink) -> None:
    sink.write(line(BEGIN_A) + b"[" * 100_000 + b"\n" + line(TEST_A))
    sink.reader.read_available()
    assert sink.seen == [BEGIN_A, TEST_A]


CHILD = """
import json, os, signal, sys
events_path, lines, how = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
for arg in sys.argv[4:]:
    if arg.startswith("--runtests-gate="):  # runtests holds pytest at a gate until it is ready
        assert os.read(int(arg.split("=", 1)[1]), 1) == b"g"
print("child stdout", os.getcwd(), os.environ.get("RUNTESTS_FAKE"), flush=True)
print("argv", json.dumps(sys.argv[4:]), flush=True)
with open(events_path, "a", encoding="utf-8") as stream:
    for text in lines:
        stream.write(text)
        stream.flush()
if how == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
os._exit(int(how))
"""


def run_fake(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    lines: list[str],
    how: str,
    stream_output: bool = False,
    only_ids: list[str] | None = None,
) -> tuple[PhaseResult, list[dict[str, Any]]]:
    """A phase's process that writes `lines` to the events file, then exits with `how` (or is killed): its record,
    and the events its recorder was given."""
    calls: list[tuple[Phase, Path]] = []

    def make_command(phase: Phase, events_path: Path) -> list[str]:
        calls.append((phase, events_path))
        return [sys.executable, "-c", CHILD, str(events_path), json.dumps(lines), how]

    monkeypatch.setattr(runner, "make_command", make_command)
    workdir, cwd = tmp_path / "work", tmp_path / "project"
    workdir.mkdir()
    cwd.mkdir()
    seen: list[dict[str, Any]] = []

    class Recording(PhaseRecorder):
        def add(self, event: Any) -> None:
            seen.append(event)
            super().add(event)

    environ = clean_environ({"RUNTESTS_FAKE": "passed-through"})
    process = runner.PhaseProcess(PHASE, cwd=cwd, workdir=workdir, stream_output=stream_output, environ=environ,
                                  only_ids=only_ids)  # fmt: skip
    result = process.run(Recording(PHASE.name))
    assert [phase for phase, _ in calls] == [PHASE]
    assert calls[0][1].parent == workdir
    return result, seen


def session(exitstatus: int, *middle: dict[str, Any], collected: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    start = {"e": "start", "v": events.WIRE_VERSION, "phase": "parallel", "workers": 0, "dist": "no"}
    return [start, {"e": "collected", "ids": list(collected)}, *middle, {"e": "finish", "exitstatus": exitstatus}]


def report_event(nodeid: str, outcome: str) -> dict[str, Any]:
    return {"e": "test", "nodeid": nodeid, "worker": None, "reports": [{"when": "call", "outcome": outcome}]}


FINISHED_SESSIONS = {
    0: session(0, BEGIN_A, report_event("t.py::a", "passed"), collected=("t.py::a",)),
    1: session(1, BEGIN_A, report_event("t.py::a", "failed"), collected=("t.py::a",)),
    5: session(5),
}


@pytest.mark.parametrize("code", sorted(FINISHED_SESSIONS))
def test_run_phase_delivers_every_event_in_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, code: int) -> None:
    expected = FINISHED_SESSIONS[code]
    result, seen = run_fake(monkeypatch, tmp_path, [events.encode(event) for event in expected], str(code))
    assert seen == expected
    assert (result.exit_code, result.interrupted, result.timed_out) == (code, False, False)
    assert result.output_path is not None and result.output_path.parent == tmp_path / "work"
    output = result.output_path.read_text(encoding="utf-8")
    assert f"child stdout {tmp_path / 'project'} passed-through" in output
    assert result.ended and result.began
    assert {test.nodeid: test.outcome for test in result.tests} == (
        {} if code == 5 else {"t.py::a": Outcome.PASSED if code == 0 else Outcome.FAILED}
    )


@pytest.mark.parametrize("how", ["kill", "3", "1"], ids=["sigkill", "exit3", "os_exit1"])
def test_process_dies_mid_test(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, how: str) -> None:
    written = [
        {"e": "start", "v": events.WIRE_VERSION, "phase": "parallel", "workers": 0, "dist": "no"},
        {"e": "collected", "ids": ["t.py::a", "t.py::b", "t.py::c"]},
        BEGIN_A,
        report_event("t.py::a", "passed"),
        {"e": "begin", "nodeid": "t.py::b"},
    ]
    torn = events.encode(report_event("t.py::b", "passed"))[:20]
    result, seen = run_fake(monkeypatch, tmp_path, [*map(events.encode, written), torn], how)
    code = -signal.SIGKILL if how == "kill" else int(how)
    assert result.exit_code == code
    assert seen == written  # the torn line is dropped, without an exception
    assert not result.ended
    outcomes = {test.nodeid: test for test in result.tests}
    assert len(result.tests) == 3
    assert outcomes["t.py::a"].outcome is Outcome.PASSED
    assert outcomes["t.py::b"].outcome is Outcome.ERROR
    assert outcomes["t.py::b"].crashed
    assert f"exit code {code}" in (outcomes["t.py::b"].longrepr or "")
    assert outcomes["t.py::c"].outcome is Outcome.NOT_RUN


def test_child_that_writes_no_events(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    result, seen = run_fake(monkeypatch, tmp_path, [], "4")  # pytest's usage error, before any event
    assert (result.exit_code, seen) == (4, [])
    assert (result.began, result.ended, result.tests) == (False, False, ())
    assert result.sessionless  # pytest stopped before its session: its error is the run's
    assert result.output_path is not None and "child stdout" in result.output_path.read_text(encoding="utf-8")


def test_streamed_output_goes_to_the_terminal(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    result, seen = run_fake(monkeypatch, tmp_path, [events.encode(e) for e in FINISHED_SESSIONS[5]], "5", True)
    assert (result.exit_code, result.output_path) == (5, None)
    assert seen == FINISHED_SESSIONS[5]
    assert "child stdout" in capfd.readouterr().out
    assert not list((tmp_path / "work").glob("*.output.txt"))


def test_only_ids_are_listed_for_the_child(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ids = ["t.py::a", "t.py::test_b[x-1]"]
    result, _ = run_fake(monkeypatch, tmp_path, [], "0", only_ids=ids)
    assert result.output_path is not None
    output = result.output_path.read_text(encoding="utf-8")
    extra = json.loads(next(text for text in output.splitlines() if text.startswith("argv "))[5:])
    listed = [arg.split("=", 1)[1] for arg in extra if arg.startswith(f"{events.ONLY_OPTION}=")]
    assert len(listed) == 1
    assert Path(listed[0]).read_text(encoding="utf-8").splitlines() == ids


# A phase that runs until it is interrupted: past its gate it writes a start event and sleeps; Ctrl-C ends it
# with pytest's exit code for an interrupted session.
SLEEPER = """
import os, signal, sys, time
for arg in sys.argv[2:]:
    if arg.startswith("--runtests-gate="):
        assert os.read(int(arg.split("=", 1)[1]), 1) == b"g"
signal.signal(signal.SIGINT, lambda *args: os._exit(2))
with open(sys.argv[1], "a") as stream:
    stream.write('{"e": "start", "v": 1, "phase": "parallel", "workers": 0, "dist": "no"}\\n')
time.sleep(60)
"""


def sleeper(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> runner.PhaseProcess:
    monkeypatch.setattr(runner, "make_command", lambda phase, path: [sys.executable, "-c", SLEEPER, str(path)])
    workdir, cwd = tmp_path / "work", tmp_path / "project"
    workdir.mkdir()
    cwd.mkdir()
    return runner.PhaseProcess(PHASE, cwd=cwd, workdir=workdir, stream_output=False, environ=clean_environ())


def test_ctrl_c_between_the_release_and_run_stops_the_phase(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """runtests opens the first phase's gate before it loads its reporter: a Ctrl-C in between is counted, not
    raised, and run() then stops pytest at once. The phase's time counts from the gate."""
    previous = signal.getsignal(signal.SIGINT)
    process = sleeper(monkeypatch, tmp_path)
    released = time.time()
    process.release()
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)  # the handler runs here
    except KeyboardInterrupt:
        process.cancel()
        pytest.fail("a Ctrl-C after the release reached runtests as KeyboardInterrupt: pytest would be orphaned")
    result = process.run(PhaseRecorder(PHASE.name))
    assert (result.interrupted, result.exit_code) == (True, 2)
    assert result.started_at is not None and released <= result.started_at <= released + 1
    assert result.duration_s >= 0.2
    assert signal.getsignal(signal.SIGINT) is previous


def test_a_released_phase_never_run_is_killed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Released, then runtests fails before it runs the phase: the tests are stopped, the handlers restored."""
    previous = signal.getsignal(signal.SIGINT)
    process = sleeper(monkeypatch, tmp_path)
    process.release()
    deadline = time.monotonic() + 60
    while not process.events_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.01)  # past its gate
    assert process.events_path.read_text(), "the phase never passed its gate"
    process.cancel()
    assert process.process.poll() == -signal.SIGKILL
    assert signal.getsignal(signal.SIGINT) is previous


def test_the_event_reader_reads_a_huge_file_in_bounded_chunks():
    """An events file past 100 MB streams through: never more than one chunk read at once."""
    import io

    from runtests.runner import EventReader

    line = b'{"e": "begin", "nodeid": "t.py::' + b"x" * 200 + b'"}\n'
    sizes: list[int] = []

    class Recording(io.BytesIO):
        def read(self, size=-1):
            data = super().read(size)
            sizes.append(len(data))
            return data

    seen: list[dict] = []
    reader = EventReader(Recording(line * 50_000), seen.append)  # type: ignore[arg-type]
    reader.CHUNK = 1 << 20
    reader.read_available()
    assert len(seen) == 50_000 and max(sizes) <= 1 << 20
