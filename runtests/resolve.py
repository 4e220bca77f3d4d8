"""Options resolved against the run's surroundings: the CI job's shard, and the worker count `-n auto` stands for.

Pure given its inputs: the environment, the CPU count and the recorded durations are passed in.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping
from pathlib import Path

from runtests import durations, sizing
from runtests.config import Options
from runtests.errors import UsageError

# The files in which pytest finds its configuration, and the section that makes each one pytest's.
PYTEST_CONFIGS = (("pytest.ini", ""), (".pytest.ini", ""), ("pyproject.toml", "[tool.pytest.ini_options]"),
                  ("tox.ini", "[pytest]"), ("setup.cfg", "[tool:pytest]"))  # fmt: skip


def resolve(
    options: Options,
    environ: Mapping[str, str],
    cpus: int,
    read_text: Callable[[Path], str | None],
    draw_seed: Callable[[], int] = lambda: random.getrandbits(32),
) -> Options:
    """`options` with the shard from CI variables when none was given, the run's seed for pytest-randomly (one for
    every phase, as pytest-randomly draws one per run), and `-n auto` turned into the worker count the recorded
    durations predict fastest (with a note saying so). `read_text` reads a file, None if absent."""
    options = with_detected_shard(options, environ)
    if options.seed is None:
        options = dataclasses.replace(options, seed=draw_seed())
    if options.workers != "auto" or options.phase == "serial":
        return options
    path = options.durations_file or pytest_cache_path(options.cwd, read_text)
    history = durations.parse_text(read_text(path) if path else None)
    if options.shard is not None and history:  # this job runs its share only
        share = durations.split_shards(history, history, options.shard[1])[options.shard[0] - 1]
        history = {nodeid: history[nodeid] for nodeid in share}
    choice = sizing.choose_workers(history, cpus)
    if choice is None:
        return options
    workers = 0 if choice.workers == 1 else choice.workers
    return dataclasses.replace(options, workers=workers, notes=(*options.notes, choice.describe()))


def cap_workers(options: Options, cpus: int, count_tests: Callable[[], int | None]) -> Options:
    """-n above the CPU count: allowed, with a note; above the parallel phase's test count, capped there (xdist
    would start them all, each importing pytest and collecting: -n 400 on 2 tests took minutes). `count_tests`
    counts the parallel phase's tests by a collection (None: it failed, and the run will say why), made only here.
    At or below the CPU count no collection is made: xdist stops a worker that gets no test once it has collected."""
    asked = options.workers
    if not isinstance(asked, int) or asked <= cpus or options.phase == "serial":
        return options
    tests = count_tests()
    if tests is None:
        return options
    if tests < asked:
        note = f"-n {asked} capped at {max(tests, 1)}: the parallel phase has {tests} test{'s' if tests != 1 else ''}"
        return dataclasses.replace(options, workers=max(tests, 1), notes=(*options.notes, note))
    note = f"-n {asked} is above the {cpus} CPUs: the workers share them"
    return dataclasses.replace(options, notes=(*options.notes, note))


def with_detected_shard(options: Options, environ: Mapping[str, str]) -> Options:
    """A CI job's shard from GitLab's, CircleCI's or Buildkite's variables, when --shard was not given."""
    if options.shard is not None:
        return options
    try:
        shard = durations.detect_shard(environ)
    except ValueError as exc:
        raise UsageError(f"bad shard variables in the environment: {exc}; or pass --shard K/N") from None
    return options if shard is None else dataclasses.replace(options, shard=shard)


def read_if_present(path: Path) -> str | None:
    """A file's text; None when it cannot be read (missing, a directory, not text)."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def pytest_cache_path(cwd: Path, read_text: Callable[[Path], str | None]) -> Path:
    """Where pytest keeps runtests' durations for a run in `cwd`: in the cache of pytest's rootdir, the first
    directory at or above `cwd` with a pytest configuration file (else `cwd`, as pytest does without one). Never a
    cache further up: that is another project's."""
    for directory in (cwd, *cwd.parents):
        for name, section in PYTEST_CONFIGS:
            text = read_text(directory / name)
            if text is not None and section in text:
                return durations.cache_path(directory / ".pytest_cache")
    return durations.cache_path(cwd / ".pytest_cache")
