"""Which tests a phase keeps: by the serial marker, by a listing (retries), by shard. Reported as deselected.

Depends on pytest and the standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from runtests import durations, events
from runtests.modes import plain_nodeid

LISTED = pytest.StashKey[list[str]]()
OWN_DESELECTED = pytest.StashKey[int]()  # tests runtests itself deselected in this process: no user's deselection
EXPRESSION_WORDS = {"and", "or", "not"}


def marker_names(expression: str) -> list[str]:
    """The marker names an -m style expression refers to (to declare them, for --strict-markers)."""
    words = re.findall(r"[A-Za-z_][A-Za-z0-9_-]*(?=\s*(?:\(|$|\)|\s))", expression)
    return [word for word in words if word not in EXPRESSION_WORDS and "=" not in word]


def group_of(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("xdist_group")
    if marker is None:
        return None
    return str(marker.args[0] if marker.args else marker.kwargs.get("name", "default"))


def serial_matcher(config: pytest.Config) -> Callable[[pytest.Item], bool]:
    """Whether a test belongs to the serial phase: its markers match the serial expression (a marker name, or an
    -m style expression such as `serial or isolated`), or its xdist_group is one of the serial groups."""
    expression = config.getoption(events.MARKER_OPTION)
    groups = set(filter(None, (config.getoption(events.GROUPS_OPTION) or "").split(",")))
    if events.MARKER_NAME.match(expression):

        def by_marker(item: pytest.Item) -> bool:
            return item.get_closest_marker(expression) is not None
    else:
        from _pytest.mark import MarkMatcher
        from _pytest.mark.expression import Expression

        compiled = Expression.compile(expression)  # checked by runtests before any process starts

        def by_marker(item: pytest.Item) -> bool:
            return compiled.evaluate(MarkMatcher.from_markers(item.iter_markers()))

    if not groups:
        return by_marker
    return lambda item: by_marker(item) or group_of(item) in groups


def deselect(config: pytest.Config, items: list[pytest.Item], keep: Callable[[pytest.Item], bool]) -> list[str]:
    """Keep the items `keep` accepts, reporting the others as deselected (as -m does); returns their ids."""
    kept = [item for item in items if keep(item)]
    if len(kept) == len(items):
        return []
    dropped = [item for item in items if not keep(item)]
    config.stash[OWN_DESELECTED] = config.stash.get(OWN_DESELECTED, 0) + len(dropped)
    config.hook.pytest_deselected(items=dropped)
    items[:] = kept
    return [plain_nodeid(item.nodeid) for item in dropped]


def select(config: pytest.Config, items: list[pytest.Item]) -> list[str] | None:
    """Keep this phase's tests (by the marker, or a list), then this shard's share. The ids left for the other
    phase (this shard's share of them), or None when the phase keeps everything or a listing."""
    choice = config.getoption(events.SELECT_OPTION)
    if choice == events.SELECT_LISTED:
        order = {nodeid: index for index, nodeid in enumerate(listed_ids(config))}
        deselect(config, items, lambda item: plain_nodeid(item.nodeid) in order)
        items.sort(key=lambda item: order[plain_nodeid(item.nodeid)])  # the listed order: a replay's order
        return None
    held_back: list[str] = []
    if choice != events.SELECT_ALL:
        is_serial, keep_marked = serial_matcher(config), choice == events.SELECT_MARKED
        held_back = deselect(config, items, lambda item: is_serial(item) == keep_marked)
    shard = config.getoption(events.SHARD_OPTION)
    if shard:
        index, total = durations.parse_shard(shard)
        recorded = durations.recorded_for(config)
        ids = [plain_nodeid(item.nodeid) for item in items]
        mine = set(durations.split_shards(ids, recorded, total)[index - 1])
        deselect(config, items, lambda item: plain_nodeid(item.nodeid) in mine)
        held_back = durations.split_shards(held_back, recorded, total)[index - 1]
    return None if choice == events.SELECT_ALL else held_back


def listed_ids(config: pytest.Config) -> list[str]:
    """The node ids of the --runtests-only file, read once per process."""
    if LISTED not in config.stash:
        with open(config.getoption(events.ONLY_OPTION), encoding="utf-8") as listing:
            config.stash[LISTED] = listing.read().splitlines()
    return config.stash[LISTED]


def collect_listed_files_only(config: pytest.Config) -> None:
    """A listed phase (the retry, a replay) imports only the modules of its listed tests, not the whole suite: a
    replay's cost is then its tests', not a collection of everything. Files, not node ids: a listed test the
    narrower collection does not find is `not_run`, as before, never pytest's "not found" usage error."""
    if config.getoption(events.SELECT_OPTION) != events.SELECT_LISTED or not config.getoption(events.ONLY_OPTION):
        return
    files = dict.fromkeys(nodeid.split("::", 1)[0] for nodeid in listed_ids(config) if nodeid)
    paths = [config.rootpath / name for name in files]
    if paths and all(path.is_file() for path in paths):
        config.args = [str(path) for path in paths]


def serial_ids(config: pytest.Config, items: list[pytest.Item]) -> list[str]:
    """Of the collected tests, those the serial phase takes (for --collect-only's listing by phase)."""
    is_serial = serial_matcher(config)
    return [plain_nodeid(item.nodeid) for item in items if is_serial(item)]
