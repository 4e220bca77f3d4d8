"""The wire format between the pytest plugin and the runner: one JSON object per line.

Every line has an ``"e"`` key naming the event. Version 1 events:

- ``start``: ``v``, ``phase``, ``workers`` (resolved xdist worker count, 0 without xdist), ``dist``,
  ``cache_dir`` (pytest's cache directory, or null without the cacheprovider), ``rootdir``, ``terminal``
  (pytest's output settings as this process resolved them: ``verbosity``, ``reportchars``, ``tbstyle``,
  ``durations``, ``durations_min``, ``capture``, ``collectonly``), ``seed`` (pytest-randomly's, when it is active),
  ``coverage`` (pytest-cov measures this process)
- ``warning``: ``message`` (as pytest formats it), ``location`` (the test's node id, or path:line), ``when``
- ``summary``: ``start``, ``end`` (byte offsets in the process's output of what plugins wrote in their terminal
  summary)
- ``file``: ``option``, ``target``, ``part`` (a file a plugin writes once per pytest run, written to ``part``
  instead; runtests merges the parts into ``target``)
- ``refused``: ``text`` (a plugin option that cannot work across phases; the process stops before any test)
- ``scheduler``: ``name`` (``runtests`` when runtests' scheduler balances the phase by recorded durations,
  ``xdist`` for xdist's own)
- ``collected``: ``ids`` (node ids this phase will run, after all deselection); under ``--collect-only``,
  ``serial`` (those of them the serial selection takes)
- ``held_back``: ``ids`` (node ids left for the other phase by the marker filter)
- ``begin``: ``nodeid`` (a test started; lets a crash or hang name it), ``worker`` (the xdist worker running it)
- ``test``: ``nodeid``, ``worker``, ``group`` (its ``xdist_group``), ``location``, ``reports`` (one dict per
  setup/call/teardown report: ``when``, ``outcome``, ``duration``, ``start``, ``stop``, ``xfail``, ``reason``,
  ``longrepr``, ``sections``, ``crash`` (path and line of the failure), ``timeout``), ``unfinished`` (the session
  ended while it ran), ``subtests`` (``outcome``, ``description``, ``xfail``, ``longrepr``)

Optional keys are left out rather than written as null, false or empty: readers use ``.get()``. A test whose
setup, call and teardown all passed plainly is sent with a single passed ``call`` report spanning the three.
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
BALANCE_OPTION = "--runtests-balance"
PART_OPTION = "--runtests-part"  # first, middle or last of a run's processes; absent: the whole run in one
SEED_OPTION = "--runtests-seed"  # the seed every process of the run gives pytest-randomly
GROUPS_OPTION = "--runtests-serial-groups"  # xdist_group names whose tests are serial, comma-separated

# The parts of a run that several pytest processes make up.
PART_FIRST, PART_MIDDLE, PART_LAST = "first", "middle", "last"
# What the gate says when it opens: run the phase, or only report for the run (collect nothing, run nothing).
GATE_GO, GATE_REPORT_ONLY = b"g", b"r"

# What the plugin keeps in a phase: tests without the marker, tests with it, or everything (`-n 0`).
SELECT_UNMARKED = "unmarked"
SELECT_MARKED = "marked"
SELECT_ALL = "all"
SELECT_LISTED = "listed"  # the node ids in the --runtests-only file (retries)


def encode(event: dict[str, Any]) -> str:
    """One line of ASCII (other characters as escapes); json's default separators take its cached fast path."""
    return json.dumps(event) + "\n"


def encode_begin(nodeid: str, worker: str | None = None) -> str:
    """The most frequent event, built without a dict: the same line as `encode({"e": "begin", "nodeid": nodeid})`,
    with `"worker"` when one is given."""
    if worker is None:
        return '{"e": "begin", "nodeid": ' + json.dumps(nodeid) + "}\n"
    return '{"e": "begin", "nodeid": ' + json.dumps(nodeid) + ', "worker": ' + json.dumps(worker) + "}\n"


def decode(line: str) -> dict[str, Any] | None:
    """Parse one line; None for a torn or foreign line (a killed writer leaves half a line)."""
    try:
        event = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: a stray writer's deeply nested line
        return None
    return event if isinstance(event, dict) and "e" in event else None
