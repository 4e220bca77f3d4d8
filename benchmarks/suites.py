"""Generate synthetic pytest suites for the benchmarks: size, duration shape, serial share, module fixtures.

    python benchmarks/suites.py OUT --tests 600 --durations heavy-tail --total-s 22 --serial-share 0.05

Each suite is a directory with its own pytest.ini (so pytest's rootdir is the suite, not this repository)
and, with --git, a git repository with everything committed, as a user's checkout would be.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
from pathlib import Path

SHAPES = ("zero", "uniform", "heavy-tail")
LONG_MODULES = 3  # heavy-tail: the long tests end the last three modules
KINDS = ("sleep", "cpu")


def test_seconds(tests: int, shape: str, total_s: float, long_tests: int, rng: random.Random) -> list[float]:
    """Per-test seconds in collection order. heavy-tail: `long_tests` long ones, collected last, hold 2/3 of it."""
    if shape == "zero":
        return [0.0] * tests
    if shape == "uniform":
        weights = [rng.uniform(0.5, 1.5) for _ in range(tests)]
        return [total_s * w / sum(weights) for w in weights]
    short = tests - long_tests
    short_weights = [rng.uniform(0.5, 1.5) for _ in range(short)]
    long_weights = [rng.uniform(0.8, 1.2) for _ in range(long_tests)]
    short_total, long_total = total_s / 3, 2 * total_s / 3
    return [short_total * w / sum(short_weights) for w in short_weights] + [
        long_total * w / sum(long_weights) for w in long_weights
    ]


def body_for(seconds: float, kind: str) -> str:
    if seconds <= 0:
        return "pass"
    if kind == "sleep":
        return f"time.sleep({seconds:.6f})"
    return f"spin({seconds:.6f})"


def make_suite(
    root: Path,
    *,
    tests: int = 1000,
    modules: int = 20,
    serial_share: float = 0.05,
    shape: str = "zero",
    kind: str = "sleep",
    total_s: float = 20.0,
    long_tests: int = 6,
    module_fixture_s: float = 0.0,
    seed: int = 1,
    git: bool = True,
    extra: dict[str, str] | None = None,
) -> Path:
    """Write the suite under `root`; serial tests are spread evenly, the long tests sit in the last modules."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    seconds = test_seconds(tests, shape, total_s, min(long_tests, tests), rng)
    serial_every = round(1 / serial_share) if serial_share > 0 else 0
    long_count = min(long_tests, tests) if shape == "heavy-tail" else 0
    # Short tests fill the modules in order; the long ones close the last few modules, so they are collected
    # last but spread over several modules ("a few long tests collected last").
    per_module = -(-(tests - long_count) // modules)
    layout: list[list[int]] = [list(range(m * per_module, min(tests - long_count, (m + 1) * per_module)))
                               for m in range(modules)]  # fmt: skip
    tail = layout[-min(LONG_MODULES, modules) :]
    for offset, index in enumerate(range(tests - long_count, tests)):
        tail[offset % len(tail)].append(index)
    for module, indices in enumerate(layout):
        lines = [
            "import time\n\nimport pytest\n\n",
            "def spin(seconds):\n    end = time.process_time() + seconds\n    while time.process_time() < end:\n"
            "        pass\n\n",
        ]
        if module_fixture_s:
            lines.append(
                f"@pytest.fixture(scope='module', autouse=True)\ndef costly():\n    time.sleep({module_fixture_s})\n\n"
            )
        for index in indices:
            if serial_every and index % serial_every == serial_every // 2:
                lines.append("@pytest.mark.serial\n")
            lines.append(f"def test_{index}():\n    {body_for(seconds[index], kind)}\n\n")
        (root / f"test_m{module:03d}.py").write_text("".join(lines), encoding="utf-8")
    extra = {**(extra or {}), **({".gitignore": ".pytest_cache/\n__pycache__/\n"} if git else {})}
    return write_files(root, extra, git)  # a conftest.py, say


# An order-dependent suite: each module's autouse fixture costs `fixture_s` and logs its set-up to $SETUP_LOG; each
# test fails when a test written after it in its module already ran in this process; the last test of the last
# `long_modules` modules takes `long_s`. xdist's own `load` keeps it green; reordering a worker's tests does not.
ORDER_MODULE = """
import os, time

import pytest

RAN = set()


@pytest.fixture(scope="module", autouse=True)
def module_setup():
    time.sleep({fixture_s})
    with open(os.environ["SETUP_LOG"], "a") as log:
        log.write(f"{{__name__}} {{os.getpid()}}\\n")


def check(n):
    later = sorted(m for m in RAN if m > n)
    assert not later, f"tests written after test {{n}} already ran in this process: {{later}}"
    RAN.add(n)
{tests}"""


def order_suite(
    modules: int = 12, tests: int = 10, long_s: float = 1.5, long_modules: int = 3, fixture_s: float = 0.05
) -> dict[str, str]:
    """The files of the order-dependent suite (ORDER_MODULE), `modules` modules of `tests` tests."""
    files = {"pytest.ini": "[pytest]\n", ".gitignore": ".pytest_cache/\n__pycache__/\n"}
    for module in range(modules):
        body = "".join(
            f"\n\ndef test_{n:02d}():\n    check({n})\n"
            + (f"    time.sleep({long_s})\n" if n == tests - 1 and module >= modules - long_modules else "")
            for n in range(tests)
        )
        files[f"test_m{module:02d}.py"] = ORDER_MODULE.format(fixture_s=fixture_s, tests=body)
    return files


def write_files(root: Path, files: dict[str, str], git: bool = True) -> Path:
    """Write `files` under `root` and, with `git`, commit them in a new repository, as a user's checkout."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    if git:
        commit_all(root)
    return root


def commit_all(root: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid"}
    env |= {"GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid"}
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "suite"]):
        subprocess.run(command, cwd=root, check=True, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--tests", type=int, default=1000)
    parser.add_argument("--modules", type=int, default=20)
    parser.add_argument("--serial-share", type=float, default=0.05)
    parser.add_argument("--durations", choices=SHAPES, default="zero")
    parser.add_argument("--kind", choices=KINDS, default="sleep")
    parser.add_argument("--total-s", type=float, default=20.0)
    parser.add_argument("--long-tests", type=int, default=6)
    parser.add_argument("--module-fixture-s", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-git", action="store_true")
    args = parser.parse_args()
    make_suite(
        args.out,
        tests=args.tests,
        modules=args.modules,
        serial_share=args.serial_share,
        shape=args.durations,
        kind=args.kind,
        total_s=args.total_s,
        long_tests=args.long_tests,
        module_fixture_s=args.module_fixture_s,
        seed=args.seed,
        git=not args.no_git,
    )
    print(args.out)


if __name__ == "__main__":
    main()
