"""The command line: arguments to Options, pass-through to pytest, errors to one line and an exit code."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import runtests.commands.run
from runtests import __version__
from runtests.cli import command, main
from runtests.config import Options
from runtests.errors import EXIT_CODES, DirtyWorktreeError
from tests.helpers import REPO_ROOT, run_command


@pytest.fixture
def captured(monkeypatch) -> list[Options]:
    """Replace the orchestrator; record the Options it would have been given."""
    seen: list[Options] = []

    def fake_run(options, environ, live, launcher):
        assert launcher is None  # main() was given none
        seen.append(options)
        return 0

    monkeypatch.setattr(runtests.commands.run, "run", fake_run)
    return seen


def test_pytest_args_pass_through_in_order(captured, tmp_path):
    assert main(["-C", str(tmp_path), "tests/unit", "-k", "token", "-vx", "--lf", "-p", "no:cacheprovider"]) == 0
    assert captured[0].pytest_args == ("tests/unit", "-k", "token", "-vx", "--lf", "-p", "no:cacheprovider")
    assert captured[0].cwd == tmp_path.resolve()


def test_double_dash_passes_everything_after_it(captured, tmp_path):
    assert main(["-C", str(tmp_path), "--dist", "loadfile", "--", "--color=yes", "-o", "x=1"]) == 0
    assert captured[0].pytest_args == ("--color=yes", "-o", "x=1")
    assert captured[0].dist == "loadfile"


def test_options_reach_options(captured, tmp_path):
    argv = ["-C", str(tmp_path), "-n", "3", "--dist", "worksteal", "--serial-marker", "exclusive", "--phase", "serial",
            "--git-check", "require-clean", "--min-pass-rate", "99.8", "--json-report", "r.json", "--color", "never",
            "--stream"]  # fmt: skip
    assert main(argv) == 0
    options = captured[0]
    assert (options.workers, options.dist, options.serial_marker, options.phase) == (
        3,
        "worksteal",
        "exclusive",
        "serial",
    )
    assert (options.git_check, options.min_pass_rate, options.color, options.stream) == (
        "require-clean",
        99.8,
        "never",
        True,
    )
    assert options.json_report == tmp_path.resolve() / "r.json"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dist", "roundrobin"], "Invalid value for '--dist'"),
        (["-n", "many"], "--workers 'many' is not valid"),
        (["-n", "-2"], "--workers '-2' is not valid"),
        (["--min-pass-rate", "101"], "--min-pass-rate 101.0 is not valid"),
        (["--min-pass-rate", "lots"], "Invalid value for '--min-pass-rate'"),
        (["--phase", "both"], "Invalid value for '--phase'"),
        (["-C", "/no/such/dir"], "-C /no/such/dir: no such directory"),
    ],
)
def test_bad_input_is_one_line_and_exit_4(captured, capsys, argv, message):
    assert main(argv) == 4
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert not captured


def test_runtests_errors_become_their_exit_code(monkeypatch, capsys, tmp_path):
    def refuse(*args, **kwargs):
        raise DirtyWorktreeError("--git-check require-clean: 1 uncommitted path(s)")

    monkeypatch.setattr(runtests.commands.run, "run", refuse)
    assert main(["-C", str(tmp_path)]) == 6
    assert capsys.readouterr().err == "runtests: error: --git-check require-clean: 1 uncommitted path(s)\n"


def test_unexpected_exceptions_are_one_line_exit_3(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("RUNTESTS_DEBUG", raising=False)

    def crash(*args, **kwargs):
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(runtests.commands.run, "run", crash)
    assert main(["-C", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("runtests: internal error: ZeroDivisionError: oops") and err.count("\n") == 1


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"runtests, version {__version__}"


def test_help_documents_options_and_every_exit_code():
    result = CliRunner().invoke(command, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    for option in ("--dist", "--workers", "--serial-marker", "--phase", "--git-check", "--min-pass-rate", "-C",
                   "--json-report", "--color", "--version", "--stream"):  # fmt: skip
        assert option in result.output
    # The exit codes are a \b paragraph of the epilog: click never rewraps it, each code stays a line of its own.
    lines = [line.strip() for line in result.output.splitlines()]
    for code, meaning in EXIT_CODES.items():
        assert f"{code}  {meaning}" in lines, result.output


def test_python_dash_m_entry_point(tmp_path):
    done = run_command([sys.executable, "-m", "runtests", "--version"], cwd=tmp_path).assert_exit(0)
    assert __version__ in done.stdout
    # What `python -m runtests` ran there: this checkout's package, the one these tests import.
    where = "import importlib.util; print(importlib.util.find_spec('runtests.__main__').origin)"
    origin = run_command([sys.executable, "-c", where], cwd=tmp_path).assert_exit(0).stdout.strip()
    assert Path(origin).resolve() == REPO_ROOT / "runtests" / "__main__.py"
    assert Path(runtests.commands.run.__file__).resolve() == REPO_ROOT / "runtests" / "commands" / "run.py"


def test_the_entry_points_launcher_reaches_the_run(monkeypatch, tmp_path):
    """The first pytest process the entry point started is handed to the run explicitly, never through a global."""
    got = []
    monkeypatch.setattr(
        runtests.commands.run, "run", lambda options, environ, live, launcher: got.append(launcher) or 0
    )
    started = object()
    assert main(["-C", str(tmp_path)], started) == 0
    assert got == [started]
