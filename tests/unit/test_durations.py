"""Durations store and shard splitting: pure functions."""

from __future__ import annotations

import json
import random

import pytest

from runtests.durations import (
    detect_shard,
    load_durations,
    merge_durations,
    parse_shard,
    record,
    save_durations,
    split_shards,
)
from runtests.results import Outcome, TestResult


def test_split_covers_everything_once_and_is_deterministic():
    rng = random.Random(1)
    ids = [f"t.py::test_{n}" for n in range(1000)]
    recorded = {nodeid: rng.paretovariate(1.5) / 10 for nodeid in ids[:900]}  # 100 tests without a record
    shards = split_shards(ids, recorded, 4)
    flat = [nodeid for shard in shards for nodeid in shard]
    assert sorted(flat) == sorted(ids)
    assert split_shards(list(reversed(ids)), dict(recorded), 4) == shards  # order of input does not matter


def test_split_balances_heavy_tails_within_a_few_percent():
    rng = random.Random(2)
    ids = [f"t.py::test_{n}" for n in range(600)]
    recorded = {nodeid: rng.uniform(0.01, 0.2) for nodeid in ids}
    for nodeid in ids[-6:]:
        recorded[nodeid] = rng.uniform(5, 12)
    shards = split_shards(ids, recorded, 3)
    loads = [sum(recorded[n] for n in shard) for shard in shards]
    assert max(loads) <= 1.05 * sum(loads) / 3


def test_tests_without_records_spread_evenly():
    shards = split_shards([f"t{n}" for n in range(10)], {}, 3)
    assert sorted(len(shard) for shard in shards) == [3, 3, 4]


def test_merge_smooths_and_bounds():
    merged = merge_durations({"old": 9.0, "a": 1.0, "b": 2.0}, {"a": 3.0, "c": 0.5}, max_entries=3)
    assert merged == {"b": 2.0, "a": 2.0, "c": 0.5}  # "old" was seen longest ago; a = (1 + 3) / 2


def test_store_round_trip_and_tolerance(tmp_path):
    path = tmp_path / "deep" / "durations.json"
    save_durations(path, {"a": 1.25, "b": 0.5})
    assert load_durations(path) == {"a": 1.25, "b": 0.5}
    path.write_text("{not json")
    assert load_durations(path) == {}
    path.write_text(json.dumps({"a": "slow", "b": 2, "c": True}))
    assert load_durations(path) == {"b": 2.0}
    assert load_durations(tmp_path / "missing.json") == {}


def test_record_skips_untimed_outcomes_and_retries(tmp_path):
    path = tmp_path / "d.json"
    tests = [
        TestResult("a", "parallel", Outcome.PASSED, duration_s=1.0),
        TestResult("b", "parallel", Outcome.SKIPPED, duration_s=0.1),
        TestResult("c", "serial", Outcome.FAILED, duration_s=2.0),
        TestResult("d", "retry", Outcome.PASSED, duration_s=3.0),
        TestResult("e", "serial", Outcome.NOT_RUN),
    ]
    assert record(path, tests) is None
    assert load_durations(path) == {"a": 1.0, "c": 2.0}


@pytest.mark.parametrize(("text", "shard"), [("1/3", (1, 3)), ("3/3", (3, 3)), (" 2 / 4 ", (2, 4)), ("1/1", (1, 1))])
def test_parse_shard(text, shard):
    assert parse_shard(text) == shard


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "a/b", "1", "1/2/3", "-1/2", ""])
def test_parse_shard_rejects(text):
    with pytest.raises(ValueError):
        parse_shard(text)


@pytest.mark.parametrize(
    ("environ", "shard"),
    [
        ({}, None),
        ({"CI_NODE_INDEX": "1", "CI_NODE_TOTAL": "1"}, None),  # one job: no sharding
        ({"CI_NODE_INDEX": "3", "CI_NODE_TOTAL": "3"}, (3, 3)),
        ({"CIRCLE_NODE_INDEX": "0", "CIRCLE_NODE_TOTAL": "4"}, (1, 4)),
        ({"BUILDKITE_PARALLEL_JOB": "1", "BUILDKITE_PARALLEL_JOB_COUNT": "2"}, (2, 2)),
    ],
)
def test_detect_shard(environ, shard):
    assert detect_shard(environ) == shard


@pytest.mark.parametrize(
    "environ",
    [{"CI_NODE_INDEX": "0", "CI_NODE_TOTAL": "3"}, {"CIRCLE_NODE_INDEX": "x", "CIRCLE_NODE_TOTAL": "2"}],
)
def test_detect_shard_rejects_nonsense(environ):
    with pytest.raises(ValueError):
        detect_shard(environ)
