"""Time runtests against the raw pytest commands it replaces, in the same run, alternating.

    python benchmarks/bench.py overhead     # runtests vs `pytest -n 2 -m "not serial"` + `pytest -p no:xdist -m serial`
    python benchmarks/bench.py noserial     # no serial test: runtests vs one `pytest -n 2`
    python benchmarks/bench.py makespan     # heavy-tailed suite: wall / physical bound, balanced vs xdist's own
    python benchmarks/bench.py faithful     # order-dependent suite, second run: runtests vs raw xdist, per mode
    python benchmarks/bench.py sequential   # 1,000 trivial tests with history vs `pytest -p no:xdist`
    python benchmarks/bench.py scale        # 20,000 trivial tests: runtests' own peak RSS and CPU share
    python benchmarks/bench.py startup      # `runtests --version` vs `python -c pass` + `python -c "import click"`
    python benchmarks/bench.py fixed        # 20 trivial tests: where runtests' fixed costs fall, part by part

    python benchmarks/bench.py overhead --baseline ../old-checkout   # and runtests from another checkout

The machine is shared and noisy: every figure is a median of alternating repetitions, and the conclusions
are ratios measured in the same run, never absolute times. Results go to stdout and, with --json, a file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from suites import make_suite, order_suite, write_files

PY = sys.executable
RAW_PARALLEL = [PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "-m", "not serial"]
RAW_SERIAL = [PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-m", "serial"]
RUNTESTS = [PY, "-m", "runtests"]
# What runtests' own process used: measured inside it, around its main().
MEASURE_SELF = (
    "import resource, sys, runpy\n"
    "sys.argv = ['runtests', *sys.argv[1:]]\n"
    "try:\n    runpy.run_module('runtests', run_name='__main__')\n"
    "except SystemExit as exc:\n    code = exc.code\n"
    "me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print('RUSAGE', me.ru_maxrss, me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


# As on a developer's machine: Python may cache bytecode (a sandbox that sets PYTHONDONTWRITEBYTECODE would
# make every command recompile runtests, pytest's rewritten test modules and the suite, each run).
ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def timed(*commands: list[str], cwd: Path, env: dict[str, str] | None = None, ok: tuple[int, ...] = (0, 1, 5)) -> float:
    """Wall seconds of the commands run one after the other (a raw run is two pytest commands)."""
    began = time.perf_counter()
    for command in commands:
        done = subprocess.run(
            command, cwd=cwd, env=env or ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        if done.returncode not in ok:
            raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr}")
    return time.perf_counter() - began


Variant = tuple[list[list[str]], dict[str, str] | None]  # commands run one after the other, their environment


def rotate(
    rounds: int, cwd: Path, variants: list[Variant], measure: Callable[..., Any] | None = None
) -> list[list[Any]]:
    """`rounds` timings of each variant; each round starts one variant further along, so that drift in the
    machine's load hits them all alike (with two variants: alternating which goes first). `measure` is called as
    `timed` is, the default."""
    measure = measure or timed
    times: list[list[Any]] = [[] for _ in variants]
    for index in range(rounds):
        for step in range(len(variants)):
            which = (index + step) % len(variants)
            commands, env = variants[which]
            times[which].append(measure(*commands, cwd=cwd, env=env))
    return times


def baseline_env(checkout: Path) -> dict[str, str]:
    """runtests imported from another checkout (an earlier commit, say), to measure a change in the same run."""
    env = {**ENV, "PYTHONPATH": str(checkout)}
    probe = [PY, "-c", "import runtests; print(runtests.__file__)"]
    found = subprocess.run(probe, cwd=tempfile.gettempdir(), env=env, capture_output=True, text=True).stdout
    if not Path(found.strip()).is_relative_to(checkout.resolve()):
        raise SystemExit(f"--baseline {checkout}: runtests comes from {found.strip() or 'nowhere'}, not from there")
    return env


def against(
    args: argparse.Namespace, cwd: Path, raw: list[list[str]], ours: list[str]
) -> tuple[list[float], list[float], dict[str, object]]:
    """Raw pytest against runtests, and against the --baseline checkout's runtests when one is given."""
    variants: list[Variant] = [(raw, None), ([ours], None)]
    if args.baseline:
        variants.append(([ours], baseline_env(args.baseline)))
        timed(ours, cwd=cwd, env=variants[-1][1])  # its bytecode compiled before it is timed, as ours was
    raw_s, ours_s, *rest = rotate(args.pairs, cwd, variants)
    show("runtests", ours_s)
    results: dict[str, object] = {"tests": args.tests, "raw_s": raw_s, "runtests_s": ours_s}
    if rest:
        show(f"runtests of {args.baseline}", rest[0])
        results["baseline_s"] = rest[0]
        results["baseline"] = compare("runtests / baseline's runtests", ours_s, rest[0])
    return raw_s, ours_s, results


def compare(label: str, ours: list[float], theirs: list[float]) -> dict[str, float]:
    """Three estimates of ours / theirs: the median of the per-pair ratios (each pair ran back to back, so a slow
    spell of the machine hits both sides of it alike; the figure we quote), the ratio of the medians, and the
    ratio of the fastest runs (the least disturbed of each, when neighbours make the spread large)."""
    of_pairs = statistics.median(a / b for a, b in zip(ours, theirs, strict=True))
    of_medians = statistics.median(ours) / statistics.median(theirs)
    of_fastest = min(ours) / min(theirs)
    spread = max(theirs) / min(theirs)
    print(
        f"  ratio {label}: {of_pairs:.3f} (median of pair ratios; ratio of medians {of_medians:.3f}; "
        f"of the fastest runs {of_fastest:.3f}; slowest/fastest of the runs compared with {spread:.2f})"
    )
    return {"ratio": of_pairs, "ratio_of_medians": of_medians, "ratio_of_fastest": of_fastest, "spread": spread}


def show(name: str, times: list[float]) -> float:
    median = statistics.median(times)
    print(f"  {name:<28} median {median:7.3f}s   runs: {' '.join(f'{t:.3f}' for t in times)}")
    return median


def bench_overhead(args: argparse.Namespace, work: Path) -> dict[str, object]:
    suite = make_suite(work / "overhead", tests=args.tests, modules=20, serial_share=0.05)
    runtests = [*RUNTESTS, "-n", "2", "-p", "no:cacheprovider"]
    print(f"overhead: {args.tests} trivial tests, 5% serial, git repository; {args.pairs} alternating pairs")
    print(f"  raw:      {' '.join(RAW_PARALLEL[2:])}  then  {' '.join(RAW_SERIAL[2:])}")
    print(f"  runtests: {' '.join(runtests[2:])}")
    timed(runtests, cwd=suite)  # warm the file cache and pyc files for both
    raw, ours, results = against(args, suite, [RAW_PARALLEL, RAW_SERIAL], runtests)
    show("raw pytest commands", raw)
    return results | compare("runtests / raw", ours, raw)


def bench_noserial(args: argparse.Namespace, work: Path) -> dict[str, object]:
    """No serial test: the serial phase must cost nothing, so runtests should match one `pytest -n 2`."""
    suite = make_suite(work / "noserial", tests=args.tests, modules=20, serial_share=0.0)
    runtests = [*RUNTESTS, "-n", "2", "-p", "no:cacheprovider"]
    raw = [PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2"]
    print(f"noserial: {args.tests} trivial tests, none serial; runtests vs `{' '.join(raw[2:])}`")
    skipped = subprocess.run(runtests, cwd=suite, env=ENV, capture_output=True, text=True).stdout
    print("  " + next((line for line in skipped.splitlines() if line.startswith("serial phase")), "(no serial line)"))
    raw_times, ours, results = against(args, suite, [raw], runtests)
    show("pytest -n 2", raw_times)
    return results | compare("runtests / one pytest command", ours, raw_times)


def bench_sequential(args: argparse.Namespace, work: Path) -> dict[str, object]:
    suite = make_suite(work / "sequential", tests=args.tests, modules=20, serial_share=0.05)
    raw = [PY, "-m", "pytest", "-q", "-p", "no:xdist"]
    print(f"sequential: {args.tests} trivial tests, durations recorded, default options vs `pytest -p no:xdist`")
    timed(RUNTESTS, cwd=suite)  # records the durations
    first = subprocess.run(RUNTESTS, cwd=suite, env=ENV, capture_output=True, text=True).stdout
    print("  " + next((line for line in first.splitlines() if "-n auto:" in line), "(no sizing note)"))
    raw_times, ours, results = against(args, suite, [raw], RUNTESTS)
    show("pytest -p no:xdist", raw_times)
    return results | compare("runtests / sequential pytest", ours, raw_times)


def bench_makespan(args: argparse.Namespace, work: Path) -> dict[str, object]:
    """Heavy-tailed sleep suite, long tests collected last: wall / bound, balanced and with xdist's own scheduler."""
    suite = make_suite(
        work / "makespan", tests=600, modules=12, serial_share=0.0, shape="heavy-tail", total_s=args.total_s
    )
    durations_file = work / "durations.json"
    record = [*RUNTESTS, "-n", "0", "--durations-file", str(durations_file)]
    print(f"makespan: 600 sleep tests, {args.total_s}s of test time, 6 long ones collected last; 2 workers")
    timed(record, cwd=suite)
    recorded = json.loads(durations_file.read_text())
    work_s, longest = sum(recorded.values()), max(recorded.values())
    startup = statistics.median(timed([*RUNTESTS, "-n", "2", "-k", "no_such_test"], cwd=suite) for _ in range(3))
    bound = max(longest, work_s / 2) + startup
    print(f"  bound = max(longest {longest:.2f}s, work {work_s:.2f}s / 2) + start-up {startup:.2f}s = {bound:.2f}s")
    results: dict[str, object] = {"bound_s": bound, "work_s": work_s, "startup_s": startup}
    for dist in args.dists:
        base = [*RUNTESTS, "-n", "2", "--dist", dist, "--durations-file", str(durations_file)]
        plain, ordered = rotate(args.pairs, suite, [([[*base, "--order", "collection"]], None), ([base], None)])
        plain_m, ordered_m = statistics.median(plain), statistics.median(ordered)
        print(
            f"  {dist:<10} xdist's own {plain_m:6.2f}s ({plain_m / bound:.2f} x bound)   "
            f"balanced {ordered_m:6.2f}s ({ordered_m / bound:.2f} x bound)   gain {1 - ordered_m / plain_m:.0%}"
        )
        results[dist] = {"collection_s": plain, "balanced_s": ordered, "ratio_to_bound": ordered_m / bound}
    return results


def bench_faithful(args: argparse.Namespace, work: Path) -> dict[str, object]:
    """The order-dependent suite (suites.order_suite): raw `pytest -n 2 --dist MODE` against runtests' second run
    (durations recorded by a first), alternating; each run's verdict and module fixture set-ups counted too."""
    suite = write_files(work / "faithful", order_suite())
    log = work / "setups.log"
    env = {**ENV, "SETUP_LOG": str(log)}
    print(f"faithful: 12 modules x 10 order-dependent tests, 3 long ones (1.5 s); {args.pairs} alternating pairs")
    timed([*RUNTESTS, "-n", "2"], cwd=suite, env=env)  # the first run records the durations

    def measure(*commands: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, int, int]:
        log.unlink(missing_ok=True)
        began = time.perf_counter()
        done = subprocess.run(commands[0], cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds = time.perf_counter() - began
        return seconds, done.returncode, len(log.read_text().splitlines()) if log.exists() else 0

    results: dict[str, object] = {}
    for dist in args.faithful_dists:
        raw = [PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--dist", dist]
        ours = [*RUNTESTS, "-n", "2", "--dist", dist]
        raw_runs, our_runs = rotate(args.pairs, suite, [([raw], env), ([ours], env)], measure)
        raw_s, our_s = [run[0] for run in raw_runs], [run[0] for run in our_runs]
        codes = sorted({run[1] for run in raw_runs}), sorted({run[1] for run in our_runs})
        setups = [run[2] for run in raw_runs], [run[2] for run in our_runs]
        print(f"  {dist}: exit codes raw {codes[0]}, runtests {codes[1]}; module set-ups (median) raw "
              f"{statistics.median(setups[0])}, runtests {statistics.median(setups[1])}")  # fmt: skip
        show(f"runtests --dist {dist}", our_s)
        show(f"pytest -n 2 --dist {dist}", raw_s)
        ratio = compare(f"{dist}: runtests / raw xdist", our_s, raw_s)
        results[dist] = {"raw_s": raw_s, "runtests_s": our_s, "exit_codes": codes, "setups": setups, **ratio}
    return results


def bench_scale(args: argparse.Namespace, work: Path) -> dict[str, object]:
    suite = make_suite(work / "scale", tests=args.scale_tests, modules=100, serial_share=0.05)
    command = [PY, "-c", MEASURE_SELF, "-n", "2", "-p", "no:cacheprovider"]
    print(f"scale: {args.scale_tests} trivial tests, runtests' own process measured from inside")
    done = subprocess.run(command, cwd=suite, env=ENV, capture_output=True, text=True)
    line = next(line for line in done.stderr.splitlines() if line.startswith("RUSAGE"))
    _, rss_kb, own_cpu, children_cpu = line.split()
    rss_mb, share = int(rss_kb) / 1024, float(own_cpu) / (float(own_cpu) + float(children_cpu))
    print(f"  exit {done.returncode}; peak RSS {rss_mb:.1f} MB; CPU {float(own_cpu):.2f}s of "
          f"{float(own_cpu) + float(children_cpu):.2f}s = {share:.1%}")  # fmt: skip
    return {"tests": args.scale_tests, "peak_rss_mb": rss_mb, "cpu_share": share}


def bench_startup(args: argparse.Namespace, work: Path) -> dict[str, object]:
    """`runtests --version` against the floor any Click program pays: an interpreter that imports click."""
    runs = max(args.pairs, 10)
    floor = [PY, "-c", "import click"]
    print(f"startup: runtests --version vs python -c 'import click'; {runs} alternating pairs")
    click_times, ours = rotate(runs, work, [([floor], None), ([[*RUNTESTS, "--version"]], None)])
    show("runtests --version", ours)
    show("python -c 'import click'", click_times)
    return {"runtests_s": ours, "import_click_s": click_times, **compare("--version / import click", ours, click_times)}


# Written into the `fixed` suite: when the suite's own code first runs (pytest is up, its plugins are loaded,
# runtests' gate is open), when the first test starts, and when the last one is over.
PARTS_CONFTEST = """\
import os, time

LOADED = time.time()
first = []


def pytest_runtest_logstart(nodeid, location):
    if not first:
        first.append(time.time())


def pytest_sessionfinish(session):
    if os.environ.get("BENCH_PARTS") and first:
        with open(os.environ["BENCH_PARTS"], "a") as stream:
            stream.write(f"{LOADED} {first[0]} {time.time()}\\n")
"""
PARTS = ("to conftest", "collection", "tests", "after the tests", "total")


def timed_parts(*commands: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, ...]:
    """One command's wall time cut where the suite's conftest saw it: start-up up to the conftest, collection,
    the tests, and the end (pytest's exit, and runtests' report), in seconds."""
    (command,) = commands
    log = cwd / ".bench-parts"
    log.unlink(missing_ok=True)
    began = time.time()
    timed(command, cwd=cwd, env={**(env or ENV), "BENCH_PARTS": str(log)})
    ended = time.time()
    loaded, first, last = map(float, log.read_text().split())
    return loaded - began, first - loaded, last - first, ended - last, ended - began


def bench_fixed(args: argparse.Namespace, work: Path) -> dict[str, object]:
    """A small suite, so that fixed costs dominate: runtests against `pytest -p no:xdist`, part by part."""
    suite = make_suite(work / "fixed", tests=20, modules=2, serial_share=0.0, extra={"conftest.py": PARTS_CONFTEST})
    raw = [PY, "-m", "pytest", "-q", "-p", "no:xdist"]
    runtests = [*RUNTESTS, "-n", "0"]
    print(f"fixed: 20 trivial tests; `{' '.join(runtests[2:])}` vs `{' '.join(raw[2:])}`; {args.pairs} rounds")
    variants: list[Variant] = [([raw], None), ([runtests], None)]
    if args.baseline:
        variants.append(([runtests], baseline_env(args.baseline)))
    for commands, env in variants:
        timed(*commands, cwd=suite, env=env)  # bytecode compiled, durations recorded
    names = ["pytest -p no:xdist", "runtests", f"runtests of {args.baseline}"][: len(variants)]
    parts = rotate(args.pairs, suite, variants, timed_parts)
    medians = {
        name: [statistics.median(column) for column in zip(*runs, strict=True)]
        for name, runs in zip(names, parts, strict=True)
    }
    print("  " + " " * 28 + "".join(f"{part:>17}" for part in PARTS))
    for name, values in medians.items():
        print(f"  {name:<28}" + "".join(f"{value * 1000:14.0f} ms" for value in values))
    return {"parts": list(PARTS), "medians_s": medians}


BENCHES = {
    "overhead": bench_overhead,
    "noserial": bench_noserial,
    "sequential": bench_sequential,
    "makespan": bench_makespan,
    "faithful": bench_faithful,
    "scale": bench_scale,
    "startup": bench_startup,
    "fixed": bench_fixed,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benches", nargs="*", choices=[*BENCHES, []], default=list(BENCHES))
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--tests", type=int, default=1000)
    parser.add_argument("--scale-tests", type=int, default=20_000)
    parser.add_argument("--total-s", type=float, default=22.0)
    parser.add_argument("--dists", nargs="+", default=["load", "worksteal", "loadscope", "loadfile"])
    parser.add_argument("--faithful-dists", nargs="+", default=["load", "loadscope", "loadfile"])
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--baseline", type=Path, help="also time runtests from this checkout (overhead, noserial, sequential, fixed)"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="runtests-bench-"))
    env_note = f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    print(f"# runtests benchmarks ({env_note}); suites in {work}")
    try:
        results = {name: BENCHES[name](args, work) for name in args.benches}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
