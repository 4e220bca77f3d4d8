"""The `runtests` command (and `python -m runtests`): the first pytest process starts, then everything else."""

import gc
import os
import sys


def main() -> int:
    """Start pytest's imports ahead (runtests.launch.prestart; forked by runtests.launch.fork from a plain start),
    then run the command line (runtests.cli) with them."""
    from runtests.launch import fork, prestart

    argv = sys.argv[1:]
    if fork.is_safe():
        launcher = prestart.prestart(argv, os.environ, fork.start, fork.make_workdir)
    else:
        launcher = prestart.prestart(argv, os.environ)
    try:
        from runtests.cli import main as cli_main

        return cli_main(argv, launcher)
    finally:
        if launcher is not None:  # a run took it, or nothing did (a usage error, --help): stopped either way
            import shutil

            launcher.discard()
            shutil.rmtree(launcher.workdir, ignore_errors=True)
        # Everything is written and every child waited for: spare Python's shutdown its collections over
        # Click's, rich's and GitPython's modules and the run's results (docs/benchmarks.md, "quick exit").
        gc.freeze()


if __name__ == "__main__":
    sys.exit(main())
