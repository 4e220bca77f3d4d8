"""Longest-first orders for each xdist scheduler: pure functions on plain names."""

from __future__ import annotations

from runtests.ordering import load_chunk, order_tests

SECONDS = {"a1": 1, "a2": 1, "b1": 5, "b2": 5, "c1": 0.1, "d1": 9, "d2": 0.1, "e1": 3}


def order(dist: str, workers: int = 2, first=lambda name: False) -> list[str]:
    return order_tests(list(SECONDS), SECONDS.__getitem__, dist, workers, scope=lambda name: name[0], first=first)


def test_load_deals_the_first_chunks_round_robin():
    # 8 tests on 2 workers: first chunks of 2; the longest four are dealt d1/b2 to one, b1/e1 to the other.
    assert load_chunk(8, 2) == 2
    assert order("load") == ["d1", "b2", "b1", "e1", "a1", "a2", "c1", "d2"]


def test_load_chunk_matches_xdist():
    assert load_chunk(600, 2) == 75
    assert load_chunk(600, 2, max_chunk=10) == 10
    assert load_chunk(10, 2) == 2
    assert load_chunk(3, 2) == 1


def test_worksteal_deals_each_worker_share():
    assert order("worksteal") == ["d1", "b2", "a1", "c1", "b1", "e1", "a2", "d2"]


def test_scoped_modes_order_whole_scopes_by_total_keeping_their_inner_order():
    # totals: b 10, d 9.1, e 3, a 2, c 0.1
    expected = ["b1", "b2", "d1", "d2", "e1", "a1", "a2", "c1"]
    for dist in ("loadscope", "loadfile", "loadgroup"):
        assert order(dist) == expected


def test_failed_first_comes_before_longest():
    assert order("load", first=lambda name: name == "c1")[0] == "c1"
    assert order("loadfile", first=lambda name: name == "a2")[:2] == ["a1", "a2"]


def test_ties_keep_collection_order_and_everything_is_kept():
    names = [f"t{n}" for n in range(50)]
    for dist in ("load", "worksteal", "loadscope"):
        result = order_tests(names, lambda name: 1.0, dist, 3, scope=lambda name: name)
        assert sorted(result) == sorted(names)
    assert order_tests(names, lambda name: 1.0, "loadscope", 3, scope=lambda name: name) == names
