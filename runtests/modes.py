"""The xdist distribution modes, in one table: what each keeps whole on one worker, and how runtests balances it.

Config and the command line take their names from here, the scheduler its plan, diagnosis the promises it
checks. Standard library only: the pytest side imports it too.
"""

from __future__ import annotations

import dataclasses
import re

# How runtests balances a mode's work by recorded durations (runtests/plugin/scheduler/):
STRETCHES = "stretches"  # W contiguous stretches of the collection order with equal time, the tail taken dynamically
WHOLE_UNITS = "whole units"  # whole units longest-processing-time first; each worker's units in collection order
STEAL = "steal"  # contiguous blocks of equal time; an idle worker steals the tail of the longest queue (xdist's way)


@dataclasses.dataclass(frozen=True)
class Mode:
    name: str
    unit: str  # what xdist keeps whole on one worker: a test, a scope (a class, else a module), a file, a group
    balance: str  # one of STRETCHES, WHOLE_UNITS, STEAL
    keeps_order: bool  # every worker runs its tests in collection order (xdist's own scheduler does too)

    @property
    def is_scoped(self) -> bool:
        """Whether xdist keeps a unit bigger than one test whole on one worker."""
        return self.balance == WHOLE_UNITS


MODES = {
    mode.name: mode
    for mode in (
        Mode("load", unit="test", balance=STRETCHES, keeps_order=True),
        Mode("loadscope", unit="scope", balance=WHOLE_UNITS, keeps_order=False),
        Mode("loadfile", unit="file", balance=WHOLE_UNITS, keeps_order=False),
        Mode("loadgroup", unit="xdist_group", balance=WHOLE_UNITS, keeps_order=False),  # an ungrouped test: alone
        # worksteal steals the end of any queue, one behind the thief's too: it keeps no order across a steal.
        Mode("worksteal", unit="test", balance=STEAL, keeps_order=False),
    )
}
DIST_MODES = tuple(MODES)
DEFAULT_DIST = "load"


def scope_of(nodeid: str, dist: str) -> str:
    """The unit of `nodeid` that xdist keeps on one worker under `dist`, split as xdist's schedulers split it.

    `nodeid` is as xdist's scheduler sees it: under loadgroup a grouped test's id ends in `@group`.
    """
    if dist == "loadscope":
        return nodeid.rsplit("::", 1)[0]
    if dist == "loadfile":
        return nodeid.split("::", 1)[0]
    if dist == "loadgroup" and nodeid.rfind("@") > nodeid.rfind("]"):  # "@" inside [parameters] is no group
        return nodeid.split("@")[-1]
    return nodeid


# xdist's loadgroup appends "@group" to a node id; a test name cannot hold "@" outside its [parameters].
GROUP_SUFFIX = re.compile(r"@[^@\]]*\Z")


def plain_nodeid(nodeid: str) -> str:
    """The node id without the `@group` xdist's loadgroup appends (the inverse of xdist_id)."""
    return GROUP_SUFFIX.sub("", nodeid) if "@" in nodeid else nodeid


def xdist_id(nodeid: str, group: str | None) -> str:
    """The id xdist's scheduler sees for a test under loadgroup: the plain id, `@group` appended when grouped."""
    return nodeid if group is None else f"{nodeid}@{group}"


def unit_of(nodeid: str, group: str | None, dist: str) -> str:
    """The unit of a test as runtests records it (its plain id and its xdist_group) under `dist`."""
    return scope_of(xdist_id(nodeid, group) if MODES[dist].unit == "xdist_group" else nodeid, dist)
