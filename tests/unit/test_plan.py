"""make_plan: which processes run, with which argv."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtests.config import Options
from runtests.errors import UsageError
from runtests.modes import DIST_MODES
from runtests.plan import make_plan, stops_at_first_failure

PLUGIN = ("-p", "runtests.plugin")


def plan_for(**fields: object):
    return make_plan(Options(cwd=Path("/project"), **fields))  # type: ignore[arg-type]


def test_default_plan_is_parallel_then_serial():
    plan = plan_for(pytest_args=("tests", "-k", "token"))
    parallel, serial = plan.phases
    assert parallel.name == "parallel" and serial.name == "serial"
    assert parallel.argv == (
        *PLUGIN, "--runtests-phase=parallel", "--runtests-select=unmarked", "--runtests-marker=serial",
        "--runtests-part=first", "-n", "auto", "--dist", "load", "--runtests-balance", "tests", "-k", "token",
    )  # fmt: skip
    assert serial.argv == (
        *PLUGIN, "--runtests-phase=serial", "--runtests-select=marked", "--runtests-marker=serial",
        "--runtests-part=last", "-n", "0", "tests", "-k", "token",
    )  # fmt: skip
    assert (parallel.part, serial.part) == ("first", "last")
    assert (parallel.workers, serial.workers) == ("auto", 0)


def test_user_m_is_never_added_by_runtests():
    # A second -m would replace the project's own addopts -m; the plugin deselects instead.
    phases = plan_for(pytest_args=("-m", "not slow")).phases
    assert [phase.name for phase in phases] == ["parallel", "serial"]
    for phase in phases:
        assert phase.argv.count("-m") == 1


@pytest.mark.parametrize("dist", ["load", "loadscope", "loadfile", "loadgroup", "worksteal"])
def test_dist_and_workers_reach_the_parallel_phase(dist):
    parallel = plan_for(dist=dist, workers=3).phases[0]
    assert parallel.argv[parallel.argv.index("-n") : parallel.argv.index("-n") + 4] == ("-n", "3", "--dist", dist)
    assert parallel.dist == dist


def test_zero_workers_runs_everything_in_one_sequential_process():
    (phase,) = plan_for(workers=0).phases
    assert phase.name == "serial" and phase.select == "all" and phase.workers == 0
    assert phase.argv[phase.argv.index("-n") + 1] == "0"


@pytest.mark.parametrize(
    ("phase", "names"), [("parallel", ["parallel"]), ("serial", ["serial"]), ("all", ["parallel", "serial"])]
)
def test_phase_option_picks_phases(phase, names):
    assert [p.name for p in plan_for(phase=phase).phases] == names


def test_custom_marker_reaches_the_plugin():
    phases = plan_for(serial_marker="exclusive").phases
    assert [phase.name for phase in phases] == ["parallel", "serial"]
    for phase in phases:
        assert "--runtests-marker=exclusive" in phase.argv


@pytest.mark.parametrize(
    "args",
    [("-n", "4"), ("-n4",), ("--numprocesses=2",), ("--dist", "load"), ("--dist=loadfile",), ("-p", "no:xdist"),
     ("-pno:xdist",), ("--tx", "popen")],
)  # fmt: skip
def test_pytest_options_runtests_controls_are_refused(args):
    with pytest.raises(UsageError):
        plan_for(pytest_args=args)


def test_pdb_falls_back_to_sequential_with_a_note():
    plan = plan_for(pytest_args=("--pdb",))
    assert [p.workers for p in plan.phases] == [0]
    assert plan.notes and "sequential" in plan.notes[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [(("-x",), True), (("-vx",), True), (("--exitfirst",), True), (("--maxfail=2",), True), (("--maxfail", "2"), True),
     (("-rfEx",), False), (("-k", "x"), False), ((), False), (("--", "-x"), False)],
)  # fmt: skip
def test_stops_at_first_failure(args, expected):
    assert stops_at_first_failure(args) is expected


@pytest.mark.parametrize("dist", DIST_MODES)
def test_balancing_reaches_only_the_parallel_phase_and_never_reorders(dist):
    """runtests' scheduler balances the parallel phase; xdist's own options (its scope reordering) stay as given."""
    parallel, serial = plan_for(dist=dist).phases
    assert "--runtests-balance" in parallel.argv
    assert "--runtests-balance" not in serial.argv
    assert not any("reorder" in arg for phase in (parallel, serial) for arg in phase.argv)
    for order in ("collection",):
        assert "--runtests-balance" not in plan_for(dist=dist, order=order).phases[0].argv
    assert "--runtests-balance" in plan_for(dist=dist, order="balanced").phases[0].argv


def test_parts_tell_each_process_its_share_of_a_run_of_several():
    """Coverage, per-run files and refusals depend on it: first erases, middle appends, last reports."""
    from runtests.plan import make_retry_phase

    both = plan_for()
    assert [phase.part for phase in both.phases] == ["first", "last"]
    assert make_retry_phase(Options(cwd=Path("."))).part == "middle"
    for alone in (plan_for(phase="parallel"), plan_for(phase="serial"), plan_for(workers=0)):
        assert [phase.part for phase in alone.phases] == [None]  # one process is the whole run
        assert not any(arg.startswith("--runtests-part") for arg in alone.phases[0].argv)


def test_seed_and_serial_choice_reach_every_process():
    plan = plan_for(seed=1234, serial_marker="serial or isolated", serial_groups=("db", "net"))
    for phase in plan.phases:
        assert "--runtests-seed=1234" in phase.argv
        assert "--runtests-marker=serial or isolated" in phase.argv
        assert "--runtests-serial-groups=db,net" in phase.argv


@pytest.mark.parametrize(
    ("args", "information"),
    [(("--co", "-q"), "collect"), (("--collect-only",), "collect"), (("--fixtures",), "passthrough"),
     (("--markers",), "passthrough"), (("--setup-plan", "tests"), "passthrough"), (("--setup-show",), "passthrough"),
     (("-k", "x"), None),
     (("--", "--co"), None)],
)  # fmt: skip
def test_information_commands_run_one_sequential_process_over_every_test(args, information):
    plan = plan_for(pytest_args=args)
    assert plan.information == information
    if information is not None:
        (phase,) = plan.phases
        assert phase.workers == 0 and "--runtests-select=all" in phase.argv


@pytest.mark.parametrize(
    ("args", "level"),
    [((), 0), (("-v",), 1), (("-vv",), 2), (("-v", "-v"), 2), (("-q",), -1), (("-qq",), -2), (("--verbose",), 1),
     (("--quiet", "-x"), -1), (("--verbosity=3",), 3), (("-rA",), 0), (("--", "-v"), 0), (("-vx",), 1)],
)  # fmt: skip
def test_verbosity_is_read_as_pytest_reads_it(args, level):
    from runtests.plan import verbosity_of

    assert verbosity_of(args) == level
