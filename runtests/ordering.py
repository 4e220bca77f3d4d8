"""Longest-first ordering of the parallel phase, shaped for each xdist scheduler. Standard library only.

xdist hands work out in collection order, so a few long tests collected last leave workers idle at the end.
Plain sorting is not enough: `load` gives each worker a contiguous block of the order to start with, so a
sorted order would put every long test in the first worker's block. Each mode gets the order that makes its
scheduler start the longest work first on every worker:

- load: the first chunk of each worker is dealt round-robin from the longest tests; the rest follow, longest
  first, for whichever worker frees up.
- worksteal: each worker's initial share is dealt round-robin, longest first.
- loadscope, loadfile, loadgroup: whole scopes (class or module, file, group) by their total, longest first;
  tests keep their order inside a scope. (runtests passes --no-loadscope-reorder, which would sort by count.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def load_chunk(count: int, workers: int, max_chunk: int | None = None) -> int:
    """The size of each worker's first batch under xdist's `load` (LoadScheduling.schedule)."""
    if count < 2 * workers:
        return 1
    chunk = min((count // workers) // 4, max_chunk or count)
    return max(chunk, 2)


def deal(ordered: Sequence[T], workers: int) -> list[list[T]]:
    return [list(ordered[index::workers]) for index in range(workers)]


def order_tests(
    items: Sequence[T],
    seconds: Callable[[T], float],
    dist: str,
    workers: int,
    scope: Callable[[T], str],
    first: Callable[[T], bool] = lambda item: False,
    max_chunk: int | None = None,
) -> list[T]:
    """`items` in the order that starts the longest work first under `dist` on `workers` workers.

    `first` marks tests to put ahead of everything (pytest's --ff: the last failures). Ties keep collection
    order, so every worker computes the same order from the same durations.
    """
    position = {id(item): index for index, item in enumerate(items)}
    if dist in ("loadscope", "loadfile", "loadgroup"):
        scopes: dict[str, list[T]] = {}
        for item in items:
            scopes.setdefault(scope(item), []).append(item)
        ranked = sorted(
            scopes.values(),
            key=lambda tests: (not any(map(first, tests)), -sum(map(seconds, tests)), position[id(tests[0])]),
        )
        return [item for tests in ranked for item in tests]
    longest = sorted(items, key=lambda item: (not first(item), -seconds(item), position[id(item)]))
    if workers < 2:
        return longest
    if dist == "worksteal":
        return [item for share in deal(longest, workers) for item in share]
    head = load_chunk(len(longest), workers, max_chunk) * workers
    return [item for chunk in deal(longest[:head], workers) for item in chunk] + longest[head:]
