"""runtests' xdist scheduler: the parallel phase balanced by recorded durations, by assignment only (the plan:
runtests.plugin.scheduler.planner; the schedulers xdist drives: balanced for `load` and the scoped modes, worksteal
for `worksteal`). Imported in xdist's controller only: it imports xdist's schedulers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from runtests import events
from runtests.durations import recorded_for
from runtests.modes import MODES, STEAL
from runtests.plugin.scheduler.balanced import BalancedScheduling
from runtests.plugin.scheduler.worksteal import BalancedWorkStealing


class Balancer:
    """In xdist's controller under --order balanced: runtests' scheduler once durations are recorded, xdist's own
    until then; `emit` tells the events file which."""

    def __init__(self, emit: Callable[[dict[str, Any]], None] | None) -> None:
        self.emit = emit

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        recorded = recorded_for(config)
        scheduler = make_scheduler(config, log, recorded) if recorded else None
        if self.emit is not None:
            self.emit({events.KIND: events.SCHEDULER, "name": "xdist" if scheduler is None else "runtests"})
        return scheduler


def make_scheduler(config: Any, log: Any, durations: Mapping[str, float]) -> Any:
    """The scheduler for xdist's --dist mode of `config`, or None for a mode runtests does not balance."""
    dist = config.getvalue("dist")
    if dist not in MODES:
        return None
    if MODES[dist].balance == STEAL:
        return BalancedWorkStealing(config, log, durations)
    return BalancedScheduling(config, log, durations)
