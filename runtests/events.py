"""The wire format between the pytest plugin and the runner: one JSON object per line, its kind under ``"e"``.

Every kind is named below and read in one place only (runtests.recorder.PhaseRecorder). Version 1 events:

- ``start`` (START): ``v``, ``phase``, ``workers`` (resolved xdist worker count, 0 without xdist), ``dist``,
  ``cache_dir`` (pytest's cache directory, or null without the cacheprovider), ``rootdir``, ``terminal``
  (pytest's output settings as this process resolved them: ``verbosity``, ``reportchars``, ``tbstyle``,
  ``durations``, ``durations_min``, ``capture``, ``showcapture``, ``collectonly``), ``seed`` (pytest-randomly's,
  when it is active), ``coverage`` (pytest-cov measures this process)
- ``warning`` (WARNING): ``message`` (as pytest formats it), ``location`` (the test's node id, or path:line),
  ``when``
- ``summary`` (SUMMARY): ``start``, ``end`` (byte offsets in the process's output of what plugins wrote in their
  terminal summary)
- ``file`` (FILE): ``option``, ``target``, ``part`` (a file a plugin writes once per pytest run, written to
  ``part`` instead; runtests merges the parts into ``target``)
- ``output`` (OUTPUT): ``path`` (under ``-s`` in a sequential process: where pytest's own lines went, apart from
  what the tests print)
- ``refused`` (REFUSED): ``text`` (a plugin option that cannot work across phases; the process stops before any
  test)
- ``scheduler`` (SCHEDULER): ``name`` (``runtests`` when runtests' scheduler balances the phase by recorded
  durations, ``xdist`` for xdist's own)
- ``collected`` (COLLECTED): ``ids`` (node ids this phase will run, after all deselection); under
  ``--collect-only``, ``serial`` (those of them the serial selection takes)
- ``held_back`` (HELD_BACK): ``ids`` (node ids left for the other phase by the marker filter)
- ``deselected`` (DESELECTED): ``count`` (tests the user's -k, -m, --lf or a plugin deselected; not runtests'
  own phase split, shards or listings)
- ``begin`` (BEGIN): ``nodeid`` (a test started; lets a crash or hang name it), ``worker`` (the xdist worker
  running it)
- ``test`` (TEST): ``nodeid``, ``worker``, ``group`` (its ``xdist_group``), ``location``, ``reruns`` (attempts
  pytest-rerunfailures made before the last), ``reports`` (one dict per setup/call/teardown report of the last
  attempt: ``when``, ``outcome``, ``duration``, ``start``, ``stop``, ``xfail``, ``reason``, ``longrepr``,
  ``sections``, ``crash`` (path and line of the failure), ``timeout``), ``unfinished`` (the session ended while
  it ran), ``subtests`` (``outcome``, ``description``, ``xfail``, ``longrepr``)
- ``collect_error`` (COLLECT_ERROR): ``nodeid``, ``longrepr``
- ``internal_error`` (INTERNAL_ERROR): ``text``
- ``finish`` (FINISH): ``exitstatus``

Optional keys are left out rather than written as null, false or empty: readers use ``.get()``. A test whose
setup, call and teardown all passed plainly is sent with a single passed ``call`` report spanning the three.
Standard library only, and json loaded only when an event is written or read: `runtests --help` imports this.
"""

from __future__ import annotations

import re
from typing import Any

KIND = "e"
START, WARNING, SUMMARY, FILE, OUTPUT, REFUSED, SCHEDULER = (
    "start", "warning", "summary", "file", "output", "refused", "scheduler"
)  # fmt: skip
COLLECTED, HELD_BACK, DESELECTED, BEGIN, TEST = "collected", "held_back", "deselected", "begin", "test"
COLLECT_ERROR, INTERNAL_ERROR, FINISH = "collect_error", "internal_error", "finish"

# The phases' names, as the plugin is told them (PHASE_OPTION) and the records carry them.
PARALLEL, SERIAL, RETRY = "parallel", "serial", "retry"
# A marker name, as the serial marker option may give it (else it is an -m style expression).
MARKER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")

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
    import json

    return json.dumps(event) + "\n"


def encode_begin(nodeid: str, worker: str | None = None) -> str:
    """The most frequent event, built without a dict: the same line as `encode({"e": "begin", "nodeid": nodeid})`,
    with `"worker"` when one is given."""
    import json

    if worker is None:
        return '{"e": "begin", "nodeid": ' + json.dumps(nodeid) + "}\n"
    return '{"e": "begin", "nodeid": ' + json.dumps(nodeid) + ', "worker": ' + json.dumps(worker) + "}\n"


def decode(line: str) -> dict[str, Any] | None:
    """Parse one line; None for a torn or foreign line (a killed writer leaves half a line)."""
    import json

    try:
        event = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: a stray writer's deeply nested line
        return None
    return event if isinstance(event, dict) and KIND in event else None
