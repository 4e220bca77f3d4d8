"""`runtests --co`: the collected tests by the phase each would run in, or pytest's own lines."""

from __future__ import annotations

import contextlib
import shutil
import sys
from pathlib import Path

from rich.text import Text

from runtests.report.console import make_console
from runtests.results import PhaseResult


def show_collection(result: PhaseResult, expression: str, color: str) -> None:
    """--collect-only: every collected test under the phase it would run in; collection errors as pytest shows
    them. With -q or -qq, or when pytest stopped before its session: pytest's own lines, byte for byte, for
    whatever reads them (`| grep`, `| wc -l`)."""
    if int(result.terminal.get("verbosity", 0)) < 0 or result.sessionless:
        copy_output(result.output_path)
        return
    console = make_console(color)
    for error in result.collect_errors:
        console.print(Text(f"__ ERROR collecting {error.nodeid} __", style="red"), soft_wrap=True)
        console.out(error.longrepr, highlight=False)
    collected = result.collected or []
    serial = set(result.serial_ids or ())
    parallel = [nodeid for nodeid in collected if nodeid not in serial]
    groups = (("parallel", parallel), ("serial", [nodeid for nodeid in collected if nodeid in serial]))
    for name, ids in groups:
        chosen = f" (chosen by {expression!r})" if name == "serial" else ""
        console.print(Text(f"{name} phase: {len(ids)} test{'s' if len(ids) != 1 else ''}{chosen}", style="bold"))
        for nodeid in ids:
            console.out(f"  {nodeid}", highlight=False)
    errors = len(result.collect_errors)
    tail = f", {errors} error{'s' if errors != 1 else ''}" if errors else ""
    console.print(f"{len(collected)} tests collected{tail}", highlight=False)


def copy_output(path: Path | None) -> None:
    """A pytest process's output, to runtests' standard output as it was written."""
    if path is None:
        return
    sys.stdout.flush()
    with contextlib.suppress(OSError), open(path, "rb") as output:
        shutil.copyfileobj(output, sys.stdout.buffer)
    sys.stdout.flush()
