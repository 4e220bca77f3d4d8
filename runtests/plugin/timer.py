"""--timeout inside the pytest process: a per-test alarm around setup, call and teardown.

Depends on pytest and the standard library only. The runner watches for what an alarm cannot reach (a test stuck
in C code, a thread): it stops the phase a few seconds after the limit.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Generator
from typing import Any

import pytest


class TestTimeout(BaseException):
    """Raised inside a test that ran past --timeout; a BaseException, so `except Exception` cannot swallow it."""

    __test__ = False


class TestTimer:
    """--timeout: a per-test alarm around setup, call and teardown (main thread only; the runner watches the rest)."""

    __test__ = False

    def __init__(self, limit: float) -> None:
        self.limit = limit

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, Any]:
        if threading.current_thread() is not threading.main_thread():
            return (yield)
        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, self.limit)
        try:
            return (yield)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
        report = yield
        if call.excinfo is not None and call.excinfo.errisinstance(TestTimeout):
            report.runtests_timeout = True
        return report


def on_alarm(signum: int, frame: Any) -> None:
    raise TestTimeout("runtests: the test ran past its --timeout")
