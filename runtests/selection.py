"""Which tests a phase keeps: by the serial marker, by a listing (retries), by shard. Reported as deselected.

Depends on pytest and the standard library only.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from runtests import durations, events
from runtests.modes import plain_nodeid


def deselect(config: pytest.Config, items: list[pytest.Item], keep: Callable[[pytest.Item], bool]) -> list[str]:
    """Keep the items `keep` accepts, reporting the others as deselected (as -m does); returns their ids."""
    kept = [item for item in items if keep(item)]
    if len(kept) == len(items):
        return []
    dropped = [item for item in items if not keep(item)]
    config.hook.pytest_deselected(items=dropped)
    items[:] = kept
    return [plain_nodeid(item.nodeid) for item in dropped]


def select(config: pytest.Config, items: list[pytest.Item]) -> list[str] | None:
    """Keep this phase's tests (by the marker, or a list), then this shard's share. The ids left for the other
    phase (this shard's share of them), or None when the phase keeps everything or a listing."""
    choice = config.getoption(events.SELECT_OPTION)
    if choice == events.SELECT_LISTED:
        with open(config.getoption(events.ONLY_OPTION), encoding="utf-8") as listing:
            listed = set(listing.read().splitlines())
        deselect(config, items, lambda item: plain_nodeid(item.nodeid) in listed)
        return None
    held_back: list[str] = []
    if choice != events.SELECT_ALL:
        marker, keep_marked = config.getoption(events.MARKER_OPTION), choice == events.SELECT_MARKED
        held_back = deselect(config, items, lambda item: (item.get_closest_marker(marker) is not None) == keep_marked)
    shard = config.getoption(events.SHARD_OPTION)
    if shard:
        index, total = durations.parse_shard(shard)
        recorded = durations.recorded_for(config)
        ids = [plain_nodeid(item.nodeid) for item in items]
        mine = set(durations.split_shards(ids, recorded, total)[index - 1])
        deselect(config, items, lambda item: plain_nodeid(item.nodeid) in mine)
        held_back = durations.split_shards(held_back, recorded, total)[index - 1]
    return None if choice == events.SELECT_ALL else held_back
