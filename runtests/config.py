"""Options: defaults, the ``[tool.runtests]`` table, validation. CLI beats config beats defaults."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runtests.errors import ConfigError, UsageError
from runtests.events import MARKER_NAME
from runtests.modes import DEFAULT_DIST, DIST_MODES

PHASES = ("all", "parallel", "serial")
GIT_CHECKS = ("off", "warn", "require-clean")
COLORS = ("auto", "always", "never")
ORDERS = ("balanced", "collection")
LEAKS = ("warn", "fail", "ignore")
ORDER_ALIASES = {"longest-first": "balanced"}  # its name before it balanced by assignment instead of by order
WORKER_WORDS = ("auto", "logical")


@dataclasses.dataclass(frozen=True)
class Options:
    """One run's settings, validated once; everything downstream trusts them."""

    cwd: Path
    pytest_args: tuple[str, ...] = ()
    dist: str = DEFAULT_DIST
    workers: str | int = "auto"
    serial_marker: str = "serial"  # a marker name, or an -m style expression (--serial)
    serial_groups: tuple[str, ...] = ()  # xdist_group names whose tests are serial
    phase: str = "all"
    git_check: str = "warn"
    min_pass_rate: float = 100.0
    json_report: Path | None = None
    color: str = "auto"
    stream: bool = False
    retry_serially: bool = False
    accept_parallel_only: bool = False
    strict_guarantees: bool = False
    timeout: float | None = None  # seconds per test
    run_timeout: float | None = None  # seconds for the whole run
    shard: tuple[int, int] | None = None  # (K, N), 1-based
    durations_file: Path | None = None  # None: pytest's cache
    junitxml: Path | None = None
    order: str = "balanced"
    trace: Path | None = None
    slowest: int = 0
    config_file: Path | None = None
    leaks: str = "warn"  # processes the tests leave running: warn (name and stop them), fail, ignore
    slow: float = 60.0  # seconds after which a running test is SLOW (the live view; "still running" lines)
    # Seconds of replays diagnosing parallel failures (--retry-serially); 0: none; None: the parallel phase's own
    # time, at least runtests.diagnosis.replay.REPLAY_FLOOR_S (runtests diagnose: DIAGNOSE_BUDGET_S).
    replay_budget: float | None = None
    seed: int | None = None  # pytest-randomly's seed for every process of the run (runtests.resolve draws one)
    notes: tuple[str, ...] = ()  # what resolving the options decided, for the report (runtests.resolve)


# Keys a [tool.runtests] table may hold, with what they accept (the CLI option names, snake_case).
CONFIG_KEYS: dict[str, str] = {
    "dist": "one of " + ", ".join(DIST_MODES),
    "workers": "auto, logical or a whole number >= 0",
    "serial_marker": "a marker name",
    "serial": "a marker expression in -m syntax, e.g. 'serial or isolated'",
    "serial_groups": "a list of xdist_group names",
    "phase": "one of " + ", ".join(PHASES),
    "git_check": "one of " + ", ".join(GIT_CHECKS),
    "min_pass_rate": "a number from 0 to 100",
    "json_report": "a file path",
    "color": "one of " + ", ".join(COLORS),
    "stream": "true or false",
    "retry_serially": "true or false",
    "accept_parallel_only": "true or false",
    "strict_guarantees": "true or false",
    "timeout": "a number of seconds > 0",
    "run_timeout": "a number of seconds > 0",
    "replay_budget": "a number of seconds >= 0",
    "leaks": "one of warn, fail, ignore",
    "slow": "a number of seconds > 0",
    "shard": "K/N with 1 <= K <= N, e.g. 2/3",
    "durations_file": "a file path",
    "junitxml": "a file path",
    "order": "balanced or collection",
    "trace": "a file path",
    "slowest": "a whole number >= 0",
    "pytest_args": "a list of strings",
}
PATHS = ("json_report", "durations_file", "junitxml", "trace")
FLAGS = ("stream", "retry_serially", "accept_parallel_only", "strict_guarantees")


def parse_workers(value: object) -> str | int:
    """Turn `auto`, `logical` or a count into a worker setting; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        if value < 0:
            raise ValueError(value)
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in WORKER_WORDS:
            return text
        if text.isdigit():
            return int(text)
    raise ValueError(value)


def check_value(key: str, value: Any) -> Any:
    """Validate one setting from any source; ValueError when it does not fit CONFIG_KEYS[key]."""
    if key == "order" and value in ORDER_ALIASES:
        return ORDER_ALIASES[value]
    if key in ("dist", "phase", "git_check", "color", "order", "leaks"):
        choices = {"dist": DIST_MODES, "phase": PHASES, "git_check": GIT_CHECKS, "color": COLORS, "order": ORDERS,
                   "leaks": LEAKS}[key]  # fmt: skip
        if isinstance(value, str) and value in choices:
            return value
        raise ValueError(value)
    if key == "workers":
        return parse_workers(value)
    if key == "serial_marker":
        if isinstance(value, str) and MARKER_NAME.match(value):
            return value
        raise ValueError(value)
    if key == "serial":
        if isinstance(value, str) and value.strip() and is_marker_expression(value):
            return value.strip()
        raise ValueError(value)
    if key == "serial_groups":
        if isinstance(value, list | tuple) and value and all(isinstance(v, str) and v and "," not in v for v in value):
            return tuple(value)
        raise ValueError(value)
    if key == "min_pass_rate":
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 100:
            return float(value)
        raise ValueError(value)
    if key in PATHS:
        if isinstance(value, str) and value:
            return Path(value)
        raise ValueError(value)
    if key == "slowest":
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        raise ValueError(value)
    if key == "shard":
        if isinstance(value, str):
            from runtests.durations import parse_shard  # the durations store's module: only for a shard

            return parse_shard(value)
        raise ValueError(value)
    if key in FLAGS:
        if isinstance(value, bool):
            return value
        raise ValueError(value)
    if key == "replay_budget":
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
        raise ValueError(value)
    if key in ("timeout", "run_timeout", "slow"):
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
        raise ValueError(value)
    if key == "pytest_args":
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return tuple(value)
        raise ValueError(value)
    raise KeyError(key)


def is_marker_expression(text: str) -> bool:
    """Whether pytest's -m would accept `text` (its parser: the grammar users know)."""
    if MARKER_NAME.match(text.strip()):
        return True
    from _pytest.mark.expression import Expression  # only for an expression: --help does without pytest

    try:
        Expression.compile(text)
    except SyntaxError:
        return False
    return True


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml at or above `start`, as pytest finds its rootdir."""
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_table(path: Path) -> dict[str, Any]:
    import tomllib  # only where there is a pyproject.toml: --help and --version do without

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file or run from another directory") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc})") from None
    table = data.get("tool", {}).get("runtests", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.runtests] must be a table")
    return table


def read_config(path: Path) -> dict[str, Any]:
    """The validated `[tool.runtests]` settings of one pyproject.toml, relative paths resolved."""
    settings: dict[str, Any] = {}
    for key, raw in load_table(path).items():
        if key not in CONFIG_KEYS:
            known = ", ".join(CONFIG_KEYS)
            raise ConfigError(f"{path}: unknown key tool.runtests.{key} (known keys: {known})")
        try:
            value = check_value(key, raw)
        except ValueError:
            raise ConfigError(
                f"{path}: tool.runtests.{key} = {raw!r} is not valid; expected {CONFIG_KEYS[key]}"
            ) from None
        if key in PATHS:
            value = path.parent / value
        settings[key] = value
    return settings


DEBUGGERS = {"--pdb", "--trace"}  # pytest's; runtests' own --trace PATH is parsed before pytest's arguments


def make_options(cwd: Path, cli: Mapping[str, Any], pytest_args: tuple[str, ...]) -> Options:
    """Merge defaults, the config file and the CLI (given values only) into validated Options."""
    if not cwd.is_dir():
        raise UsageError(f"-C {cwd}: no such directory")
    cwd = cwd.resolve()
    config_file = find_pyproject(cwd)
    settings = read_config(config_file) if config_file else {}
    config_args = settings.pop("pytest_args", ())
    if cli.get("serial_marker") is not None and cli.get("serial") is None:
        settings.pop("serial", None)  # the command line's choice over the config file's
    for key, value in cli.items():
        if value is None or value == ():
            continue
        try:
            settings[key] = check_value(key, value)
        except ValueError:
            option = "--" + key.replace("_", "-")
            raise UsageError(f"{option} {value!r} is not valid; expected {CONFIG_KEYS[key]}") from None
        if key in PATHS:
            settings[key] = cwd / value  # relative to -C, as git -C does
    if "serial" in settings:  # --serial EXPR and --serial-marker NAME choose the same tests: the expression wins
        settings["serial_marker"] = settings.pop("serial")
    all_args = (*config_args, *pytest_args)
    if DEBUGGERS.intersection(all_args):
        settings["stream"] = True  # a debugger needs the terminal: pytest's own output and input, no live view
    return Options(cwd=cwd, pytest_args=all_args, config_file=config_file, **settings)
