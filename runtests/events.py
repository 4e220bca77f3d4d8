"""The wire format between the pytest plugin and the runner: one JSON object per line.

Every line has an ``"e"`` key naming the event. Version 1 events:

- ``start``: ``v``, ``phase``, ``workers`` (resolved xdist worker count, 0 without xdist), ``dist``,
  ``cache_dir`` (pytest's cache directory, or null without the cacheprovider), ``rootdir``
- ``collected``: ``ids`` (node ids this phase will run, after all deselection)
- ``held_back``: ``ids`` (node ids left for the other phase by the marker filter)
- ``begin``: ``nodeid``, ``worker`` (a test started; lets a crash or hang name it)
- ``test``: ``nodeid``, ``worker``, ``group`` (its ``xdist_group``), ``location``, ``reports`` (one dict per
  setup/call/teardown report: ``when``, ``outcome``, ``duration``, ``start``, ``stop``, ``xfail``, ``longrepr``,
  ``sections``, ``crash`` (path and line of the failure), ``timeout``), ``unfinished`` (the session ended while it ran),
  ``subtests`` (``outcome``, ``description``, ``xfail``, ``longrepr``)
- ``collect_error``: ``nodeid``, ``longrepr``
- ``internal_error``: ``text``
- ``finish``: ``exitstatus``
"""

from __future__ import annotations

import json
from typing import Any

WIRE_VERSION = 1
EVENTS_OPTION = "--runtests-events"
PHASE_OPTION = "--runtests-phase"
MARKER_OPTION = "--runtests-marker"
SELECT_OPTION = "--runtests-select"
ONLY_OPTION = "--runtests-only"
TIMEOUT_OPTION = "--runtests-timeout"
SHARD_OPTION = "--runtests-shard"
DURATIONS_OPTION = "--runtests-durations"
GATE_OPTION = "--runtests-gate"
ORDER_OPTION = "--runtests-order"

# What the plugin keeps in a phase: tests without the marker, tests with it, or everything (`-n 0`).
SELECT_UNMARKED = "unmarked"
SELECT_MARKED = "marked"
SELECT_ALL = "all"
SELECT_LISTED = "listed"  # the node ids in the --runtests-only file (retries)


def encode(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":")) + "\n"


def decode(line: str) -> dict[str, Any] | None:
    """Parse one line; None for a torn or foreign line (a killed writer leaves half a line)."""
    try:
        event = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: a stray writer's deeply nested line
        return None
    return event if isinstance(event, dict) and "e" in event else None
