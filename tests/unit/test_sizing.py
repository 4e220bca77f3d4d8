"""Choosing the worker count from recorded durations."""

from __future__ import annotations

from runtests.sizing import choose_workers, predict_s


def test_trivial_tests_run_sequentially():
    trivial = {f"t{n}": 0.0005 for n in range(1000)}
    choice = choose_workers(trivial, cpus=2)
    assert choice is not None and choice.workers == 1
    assert choice.predicted_s[1] < choice.predicted_s[2]
    assert choice.describe().startswith("-n auto: 1 worker (sequential, one process): recorded durations of 1000 tests")


def test_slow_tests_use_every_core():
    slow = {f"t{n}": 0.5 for n in range(200)}
    choice = choose_workers(slow, cpus=4)
    assert choice is not None and choice.workers == 4
    assert "against" in choice.describe() and "with 1" in choice.describe()


def test_one_long_test_bounds_the_gain():
    durations = {"long": 30.0, **{f"t{n}": 0.5 for n in range(100)}}
    assert predict_s(durations, 8) > 30.0
    choice = choose_workers(durations, cpus=8)
    # 3 workers bring the rest (80 s / 3) under the long test; more only add start-up.
    assert choice is not None and choice.workers == 3


def test_no_history_no_choice():
    assert choose_workers({}, cpus=2) is None
