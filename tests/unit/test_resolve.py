"""Options resolved against the run's surroundings: -n capped at the parallel phase's tests (runtests.resolve)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runtests.config import Options
from runtests.resolve import cap_workers


def counted(tests: int | None) -> tuple[list[int], Callable[[], int | None]]:
    calls: list[int] = []

    def count() -> int | None:
        calls.append(1)
        return tests

    return calls, count


def test_workers_above_the_cpus_are_capped_at_the_tests_or_noted():
    options = Options(cwd=Path("."), workers=400)
    calls, count = counted(2)
    capped = cap_workers(options, 2, count)
    assert (capped.workers, capped.notes) == (2, ("-n 400 capped at 2: the parallel phase has 2 tests",))
    _, count = counted(0)
    assert cap_workers(options, 2, count).workers == 1  # no test: one worker, not none
    _, count = counted(500)
    shared = cap_workers(options, 2, count)
    assert (shared.workers, shared.notes) == (400, ("-n 400 is above the 2 CPUs: the workers share them",))
    _, count = counted(None)  # the collection failed: the run itself will say why
    assert cap_workers(options, 2, count) == options
    assert calls == [1]


def test_no_collection_is_made_at_or_below_the_cpus_for_auto_or_the_serial_phase():
    for options in (Options(cwd=Path("."), workers=2), Options(cwd=Path("."), workers="auto"),
                    Options(cwd=Path("."), workers=9, phase="serial")):  # fmt: skip
        calls, count = counted(1)
        assert cap_workers(options, 2, count) == options
        assert calls == []
