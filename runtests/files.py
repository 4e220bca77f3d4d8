"""The files runtests writes for the user (reports, durations): checked before the run, written whole or not at all.

Standard library only: the durations store uses it from the pytest side too.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from runtests.errors import UsageError


def check_writable(path: Path, flag: str) -> None:
    """Fail before the run, not after it, when a report cannot be written."""
    parent = path.parent
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a directory; give a file path")
    if not parent.is_dir():
        raise UsageError(f"{flag} {path}: directory {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: directory {parent} is not writable")


def check_outputs(outputs: Iterable[tuple[Path | None, str]]) -> None:
    """Each report that was asked for (path, the flag that asked): writable, before any test runs."""
    for path, flag in outputs:
        if path is not None:
            check_writable(path, flag)


def write_atomically(path: Path, write: Callable[[IO[Any]], object], binary: bool = False) -> None:
    """Write `path` through `write(stream)` into a temporary file beside it, then rename it into place: a reader
    sees the old file or the new one, never half of one, and a failure leaves no temporary file behind."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8") as stream:
            write(stream)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
