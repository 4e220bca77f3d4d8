"""runtests.leaks on real processes: a session whose leader exited, with a child it left behind."""

from __future__ import annotations

import os
import subprocess
import sys

from runtests import leaks


def test_what_a_session_leader_leaves_behind_is_found_named_and_stopped():
    script = (
        "import os, subprocess\n"
        "env = dict(os.environ, PYTEST_CURRENT_TEST='t.py::test_server (call)')\n"
        "subprocess.Popen(['sleep', '61.25'], env=env)\n"
    )
    leader = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    leader.wait()
    found = leaks.collect(leader.pid)
    assert [(leak.command, leak.test, leak.stopped) for leak in found] == [("sleep 61.25", "t.py::test_server",
                                                                             "SIGTERM")]  # fmt: skip
    assert found[0].started_at is not None
    assert not leaks.alive(found[0].pid)
    assert leaks.collect(leader.pid) == []


def test_a_process_that_ignores_sigterm_is_killed(monkeypatch):
    monkeypatch.setattr(leaks, "GRACE_S", 0.3)
    script = (
        "import subprocess, sys\n"
        "subprocess.Popen([sys.executable, '-c', 'import signal, time; signal.signal(signal.SIGTERM, "
        "signal.SIG_IGN); print(1, flush=True); time.sleep(60)'], stdout=sys.stdout)\n"
        "sys.stdout.flush()\n"
    )
    leader = subprocess.Popen([sys.executable, "-c", script], start_new_session=True, stdout=subprocess.PIPE)
    assert leader.stdout is not None and leader.stdout.readline() == b"1\n"  # its handler is in place
    leader.wait()
    leader.stdout.close()
    (leak,) = leaks.collect(leader.pid)
    assert leak.stopped == "SIGKILL"
    assert not leaks.alive(leak.pid)


def test_nothing_is_found_for_a_session_that_left_nothing():
    leader = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    leader.wait()
    assert leaks.collect(leader.pid) == []
    assert os.getpid() not in leaks.session_members(os.getsid(0))


def test_a_lingering_xdist_worker_is_stopped_but_not_a_leak():
    script = (
        "import subprocess, sys\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)  # ' + {leaks.XDIST_WORKER!r}])\n"
    )
    leader = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    leader.wait()
    assert leaks.collect(leader.pid) == []
    assert leaks.wait_gone(leaks.session_members(leader.pid), 2.0) == []
