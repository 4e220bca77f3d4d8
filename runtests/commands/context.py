"""What every command that starts pytest processes shares: a work directory of runtests' own, the starter of the
processes, and their clean-up however the command ends."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from runtests.runner import PhaseStarter

if TYPE_CHECKING:
    from runtests.launch.prestart import Launcher


@contextlib.contextmanager
def processes(
    cwd: Path, environ: Mapping[str, str], stream_output: bool = False, launcher: Launcher | None = None
) -> Iterator[PhaseStarter]:
    """The starter of a command's pytest processes (`launcher`: the first one, started by the entry point); at the
    end every process it started and nobody ran is stopped at its gate, and the work directory (runtests' own event
    and output files only) removed."""
    workdir = launcher.workdir if launcher is not None else Path(tempfile.mkdtemp(prefix="runtests-"))
    starter = PhaseStarter(cwd, workdir, environ, stream_output, launcher)
    try:
        yield starter
    finally:
        starter.cancel()
        shutil.rmtree(workdir, ignore_errors=True)
