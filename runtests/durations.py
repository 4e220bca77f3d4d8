"""Recorded test durations and duration-balanced shards. Standard library only: the plugin imports it too.

The store is a JSON object mapping node ids to seconds, the format of pytest-split's `.test_durations`, so a
file can be committed and shared. By default it lives in pytest's cache (`<cache_dir>/v/runtests/durations`).
"""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from runtests import events
from runtests.files import write_atomically

CACHE_KEY = "runtests/durations"
MAX_ENTRIES = 100_000  # a bound on the store: the oldest-seen tests go first
SMOOTHING = 0.5  # weight of the newest measurement: one slow run does not swing the balance
UNTIMED = ("skipped", "not_run")  # outcomes whose duration says nothing of the test
SHARD_PATTERN = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*\Z")

# CI systems that run one job per shard: (index variable, total variable, index of the first shard).
CI_SHARD_VARIABLES = (
    ("CI_NODE_INDEX", "CI_NODE_TOTAL", 1),  # GitLab `parallel:`
    ("CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL", 0),  # CircleCI `parallelism:`
    ("BUILDKITE_PARALLEL_JOB", "BUILDKITE_PARALLEL_JOB_COUNT", 0),  # Buildkite `parallelism:`
)


def cache_path(cache_dir: str | Path) -> Path:
    return Path(cache_dir) / "v" / CACHE_KEY


def load_durations(path: Path | None) -> dict[str, float]:
    """The recorded durations; nothing (never an error) when the file is missing or is not a store."""
    return read_store(path)[0] if path is not None else {}


def parse_text(text: str | None) -> dict[str, float]:
    """The durations in a store's text; nothing when there is none or it is not a store."""
    return parse_store(text or "")[0]


def recorded_for(config: Any) -> dict[str, float]:
    """Inside pytest: the durations runtests recorded, from the file it names, else pytest's cache. Read once per
    process (`config` is pytest's Config)."""
    cached: dict[str, float] | None = getattr(config, "_runtests_durations", None)
    if cached is None:
        path = config.getoption(events.DURATIONS_OPTION)
        if path:
            cached = load_durations(Path(path))
        else:
            stored = config.cache.get(CACHE_KEY, {}) if hasattr(config, "cache") else {}
            cached = parse_durations(stored)
        config._runtests_durations = cached
    return cached


def parse_durations(data: object) -> dict[str, float]:
    """Keep the well-formed entries of a decoded store."""
    if not isinstance(data, dict):
        return {}
    return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def merge_durations(
    old: Mapping[str, float], new: Mapping[str, float], max_entries: int = MAX_ENTRIES
) -> dict[str, float]:
    """Smooth the new measurements into the old; the tests of this run are kept, the longest-unseen dropped."""
    merged = {nodeid: seconds for nodeid, seconds in old.items() if nodeid not in new}
    for nodeid, seconds in new.items():
        previous = old.get(nodeid)
        merged[nodeid] = seconds if previous is None else SMOOTHING * seconds + (1 - SMOOTHING) * previous
    excess = len(merged) - max_entries
    if excess > 0:
        for nodeid in list(merged)[:excess]:
            del merged[nodeid]
    return merged


def save_durations(path: Path, durations: Mapping[str, float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Insertion order is recency order (merge_durations drops from the front): never sort the keys.
    store = {nodeid: round(seconds, 6) for nodeid, seconds in durations.items()}
    write_atomically(path, lambda stream: json.dump(store, stream, indent=0))


def estimate(ids: Iterable[str], durations: Mapping[str, float]) -> dict[str, float]:
    """Each test's expected seconds; a test without a record counts as the mean of the recorded ones."""
    ids = list(ids)
    known = [durations[nodeid] for nodeid in ids if nodeid in durations]
    default = sum(known) / len(known) if known else 1.0
    return {nodeid: durations.get(nodeid, default) for nodeid in ids}


def split_shards(ids: Iterable[str], durations: Mapping[str, float], total: int) -> list[list[str]]:
    """Greedy longest-first: each test, longest first, goes to the shard with the least time so far.

    Deterministic for the same ids and durations (ties break on node id and shard number), so every xdist
    worker and every CI job computes the same split. Tests without a record spread evenly.
    """
    expected = estimate(ids, durations)
    shards: list[list[str]] = [[] for _ in range(total)]
    loads = [(0.0, index) for index in range(total)]
    for nodeid in sorted(expected, key=lambda n: (-expected[n], n)):
        load, index = heapq.heappop(loads)
        shards[index].append(nodeid)
        heapq.heappush(loads, (load + expected[nodeid], index))
    return shards


def parse_shard(text: str) -> tuple[int, int]:
    """`K/N`, 1-based, to (K, N); ValueError when it is not a shard of a whole."""
    match = SHARD_PATTERN.match(text)
    if not match:
        raise ValueError(text)
    index, total = int(match.group(1)), int(match.group(2))
    if total < 1 or not 1 <= index <= total:
        raise ValueError(text)
    return index, total


def detect_shard(environ: Mapping[str, str]) -> tuple[int, int] | None:
    """The shard a CI job is, from GitLab's, CircleCI's or Buildkite's variables; None outside them."""
    for index_name, total_name, first in CI_SHARD_VARIABLES:
        if index_name in environ and total_name in environ:
            try:
                index, total = int(environ[index_name]) - first + 1, int(environ[total_name])
            except ValueError:
                raise ValueError(
                    f"{index_name}={environ[index_name]!r}, {total_name}={environ[total_name]!r}"
                ) from None
            if total < 1 or not 1 <= index <= total:
                raise ValueError(f"{index_name}={environ[index_name]}, {total_name}={environ[total_name]}")
            return (index, total) if total > 1 else None
    return None


def read_store(path: Path) -> tuple[dict[str, float], str | None]:
    """The store's durations, read and parsed once, and why the file is not a store (not JSON, not an object of
    numbers), or None when it is one or is missing. The one reader of a store's file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, None
    except (OSError, UnicodeDecodeError) as exc:
        return {}, f"cannot be read ({exc})"
    return parse_store(text)


def parse_store(text: str) -> tuple[dict[str, float], str | None]:
    """A store's text parsed: its durations, and why it is not a store, or None. The one parser of a store."""
    if not text.strip():
        return {}, None
    try:
        data = json.loads(text)
    except ValueError as exc:
        return {}, f"not valid JSON ({exc})"
    if not isinstance(data, dict):
        return {}, f"not a JSON object of node ids to seconds (a {type(data).__name__})"
    return parse_durations(data), None


def record_run(durations_file: Path | None, cache_dir: str | None, tests: Iterable[Any], sharded: bool) -> list[str]:
    """Keep a run's test durations for the schedule, the worker count and shards: in `durations_file`, else pytest's
    cache; a note when they cannot be. A shard never writes: its sibling shards must split the suite from the same
    durations (`runtests combine --durations-file` records a sharded run's once all shards are in)."""
    if sharded:
        return []
    path = durations_file or (cache_path(cache_dir) if cache_dir else None)
    note = record(path, tests, own=durations_file is None) if path else None
    return [note] if note else []


def record(path: Path, tests: Iterable[Any], own: bool = False) -> str | None:
    """Merge the measured durations of tests that ran into the store; a note when it cannot be written. A file
    runtests did not write (`own` false: --durations-file) that is not a store is left as it is, and said so;
    runtests' own cache file is rewritten, with a note."""
    old, problem = read_store(path)
    if problem is not None and not own:
        return f"--durations-file {path}: {problem}; left as it is, and this run's durations not recorded"
    measured = {
        test.nodeid: test.duration_s
        for test in tests
        if test.outcome.value not in UNTIMED and test.duration_s > 0 and test.phase != events.RETRY
    }
    if not measured:
        return None
    try:
        save_durations(path, merge_durations(old, measured))
    except OSError as exc:
        return f"could not record test durations in {path}: {exc.strerror or exc}"
    if problem is not None:
        return f"runtests' durations cache {path} was {problem.split(' (')[0]}; rewritten with this run's durations"
    return None
