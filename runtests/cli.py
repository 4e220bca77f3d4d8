"""The command line: Click options to Options, errors to one line and an exit code. No logic lives here."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from runtests import __version__
from runtests.config import ORDER_ALIASES, ORDERS
from runtests.errors import EXIT_CODES, EXIT_INTERNAL_ERROR, EXIT_INTERRUPTED, EXIT_USAGE_ERROR, RuntestsError
from runtests.modes import DEFAULT_DIST, DIST_MODES

if TYPE_CHECKING:
    from runtests.launch.prestart import Launcher

EPILOG = "\b\nExit codes:\n" + "\n".join(f"  {code}  {meaning}" for code, meaning in EXIT_CODES.items())
HELP = """Run a pytest suite in two phases and print one combined report.

The parallel phase runs every test without the serial marker under pytest-xdist; then the serial phase runs
the marked tests in a fresh sequential pytest process. PYTEST_ARGS (paths, node ids, -k, -m, -x, --lf, -p,
-o ...) go to pytest unchanged in both phases; put them after `--` if they clash with an option below.
Settings can also live in [tool.runtests] of pyproject.toml (same names, snake_case).
"""


def wants_live_view(options: Any, environ: Mapping[str, str]) -> bool:
    """Animate only for a person at a terminal: not in CI, not with NO_COLOR, not when streaming pytest."""
    return (
        sys.stdout.isatty()
        and not environ.get("CI")
        and "NO_COLOR" not in environ
        and environ.get("TERM") != "dumb"
        and not options.stream
    )


@click.command(
    help=HELP,
    epilog=EPILOG,
    context_settings={"ignore_unknown_options": True, "help_option_names": ["-h", "--help"], "max_content_width": 110},
)
@click.option(
    "-n",
    "--workers",
    metavar="auto|logical|N",
    help="xdist workers for the parallel phase; 0: no parallel phase, everything sequential.  [default: auto]",
)
@click.option(
    "--dist",
    type=click.Choice(DIST_MODES),
    help=f"xdist distribution mode.  [default: {DEFAULT_DIST}]",
)
@click.option("--serial-marker", metavar="NAME", help="marker of the tests for the serial phase.  [default: serial]")
@click.option(
    "--serial",
    metavar="EXPR",
    help="choose the serial tests by a marker expression, as -m does: 'serial or isolated'.",
)
@click.option(
    "--serial-group",
    "serial_groups",
    metavar="NAME",
    multiple=True,
    help="the tests of this xdist_group are serial too (repeatable).",
)
@click.option(
    "--phase", type=click.Choice(["all", "parallel", "serial"]), help="run both phases or one.  [default: all]"
)
@click.option(
    "--git-check",
    type=click.Choice(["off", "warn", "require-clean"]),
    help="check the git work tree before and after.  [default: warn]",
)
@click.option(
    "--min-pass-rate",
    metavar="PCT",
    type=float,
    help="exit 0 when the pass rate is at least PCT (0-100).  [default: 100]",
)
@click.option("-C", "directory", metavar="DIR", default=".", help="run as if started in DIR.")
@click.option("--json-report", metavar="PATH", help="write the JSON report to PATH (relative to DIR).")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), help="colour in the report.  [default: auto]")
@click.option(
    "--retry-serially/--no-retry-serially",
    default=None,
    help="re-run parallel failures alone, sequentially: tells parallel-only failures from real ones.",
)
@click.option(
    "--accept-parallel-only/--no-accept-parallel-only",
    default=None,
    help="with --retry-serially: count failures the replays verify as parallel-only as passed (still flagged).",
)
@click.option(
    "--replay-budget",
    type=float,
    metavar="S",
    help="with --retry-serially: seconds of replays that find what a failure depends on or is broken by; 0: "
    "none.  [default: the parallel phase's time, at least 20]",
)
@click.option(
    "--strict-guarantees/--no-strict-guarantees",
    default=None,
    help="exit 3 when the events show a broken scheduling guarantee (a split xdist_group, say).",
)
@click.option("--timeout", type=float, metavar="S", help="per-test time limit in seconds; past it a test is `timeout`.")
@click.option(
    "--leaks",
    type=click.Choice(["warn", "fail", "ignore"]),
    help="processes the tests leave running: name and stop them (warn), also fail the run, or leave them.  "
    "[default: warn]",
)
@click.option("--slow", type=float, metavar="S", help="a test running this long is SLOW, and said so.  [default: 60]")
@click.option(
    "--run-timeout",
    type=float,
    metavar="S",
    help="time limit of the whole run; then running tests are `timeout`, the rest `not_run`.",
)
@click.option("--shard", metavar="K/N", help="run shard K of N (1-based), balanced by recorded durations.")
@click.option(
    "--durations-file", metavar="PATH", help="record and read test durations here.  [default: pytest's cache]"
)
@click.option("--junitxml", metavar="PATH", help="write one JUnit XML file for the whole run.")
@click.option(
    "--order",
    type=click.Choice([*ORDERS, *ORDER_ALIASES]),
    metavar="|".join(ORDERS),
    help="balanced: with recorded durations, runtests' scheduler gives each worker its share, never changing the "
    "order a worker runs its tests in; collection: xdist's own scheduler.  [default: balanced]",
)
@click.option("--trace", metavar="PATH", help="write a Chrome trace-event timeline (open it in Perfetto).")
@click.option(
    "--slowest", type=int, metavar="N", help="list the N slowest tests of the whole run (as pytest's --durations=N)."
)
@click.option("--stream/--no-stream", default=None, help="show pytest's own output instead of the live view.")
@click.version_option(__version__, "--version", prog_name="runtests")
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED, metavar="[PYTEST_ARGS]...")
@click.pass_obj
def command(launcher: Launcher | None, directory: str, pytest_args: tuple[str, ...], **given: Any) -> int:
    from runtests.config import make_options

    environ = os.environ
    options = make_options(Path(directory), given, pytest_args)
    from runtests.commands.run import run

    return run(options, environ, wants_live_view(options, environ), launcher)


@click.command(
    name="combine",
    help="Merge the JSON reports of the shards of one run (runtests --shard K/N --json-report ...) into one "
    "report, pass rate and exit code. Refuses duplicated tests, shards from different sets and missing shards.",
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.argument("reports", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json-report", type=click.Path(path_type=Path), help="write the combined JSON report here.")
@click.option("--junitxml", type=click.Path(path_type=Path), help="write one JUnit XML file for all shards.")
@click.option("--min-pass-rate", type=click.FloatRange(0, 100), help="[default: the strictest of the reports]")
@click.option(
    "--durations-file",
    type=click.Path(path_type=Path),
    help="merge the shards' measured test durations into this file, for the next split.",
)
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto")
def combine_command(
    reports: tuple[Path, ...],
    json_report: Path | None,
    junitxml: Path | None,
    min_pass_rate: float | None,
    durations_file: Path | None,
    color: str,
) -> int:
    from runtests.commands.combine import run_combine
    from runtests.report.console import make_console

    console = make_console(color)
    return run_combine(list(reports), json_report, junitxml, min_pass_rate, durations_file, console)


@click.command(
    name="diagnose",
    help="Replay one test in fresh sequential processes against the suite's collection order: alone (twice), "
    "after the tests collected before it, then bisecting them for the one it depends on or is broken by. "
    "PYTEST_ARGS select the suite, as for a run.",
    epilog=EPILOG,
    context_settings={"ignore_unknown_options": True, "help_option_names": ["-h", "--help"]},
)
@click.argument("nodeid")
@click.option("-C", "directory", metavar="DIR", default=".", help="run as if started in DIR.")
@click.option("--replay-budget", type=float, metavar="S", help="seconds of replays.  [default: 120]")
@click.option("--color", type=click.Choice(["auto", "always", "never"]))
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED, metavar="[PYTEST_ARGS]...")
def diagnose_command(nodeid: str, directory: str, pytest_args: tuple[str, ...], **given: Any) -> int:
    from runtests.commands.diagnose import diagnose
    from runtests.config import make_options

    options = make_options(Path(directory), given, pytest_args)
    return diagnose(options, nodeid, os.environ)


SUBCOMMANDS = {"combine": combine_command, "diagnose": diagnose_command}


def main(argv: Sequence[str] | None = None, launcher: Launcher | None = None) -> int:
    """Runs the command line and turns every expected failure into a message and an exit code. `launcher`: the
    first pytest process, started ahead by the entry point (runtests.launch.prestart), for the run to use."""
    args = list(sys.argv[1:] if argv is None else argv)
    # `combine` and `diagnose` are the subcommands; everything else is a run, whose free arguments belong to pytest.
    chosen, args = (SUBCOMMANDS[args[0]], args[1:]) if args[:1] and args[0] in SUBCOMMANDS else (command, args)
    prog = f"runtests {chosen.name}" if chosen is not command else "runtests"
    try:
        return int(chosen.main(args=args, prog_name=prog, standalone_mode=False, obj=launcher))
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:  # one line, like every other runtests error, and exit 4
        click.echo(f"runtests: error: {exc.format_message()} (see runtests --help)", err=True)
        return EXIT_USAGE_ERROR
    except click.Abort:
        click.echo("runtests: interrupted", err=True)
        return EXIT_INTERRUPTED
    except RuntestsError as exc:
        click.echo(f"runtests: error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("runtests: interrupted", err=True)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug in runtests: one line, the traceback only on request
        if os.environ.get("RUNTESTS_DEBUG"):
            raise
        click.echo(
            f"runtests: internal error: {type(exc).__name__}: {exc} (RUNTESTS_DEBUG=1 shows the traceback)", err=True
        )
        return EXIT_INTERNAL_ERROR
