"""What recording a test's dependencies costs (runtests/tracer.py), per mechanism, on each interpreter available.

    .venv/bin/python benchmarks/tracer.py          # every workload and mechanism: this python, 3.12, 3.13
    .venv/bin/python benchmarks/tracer.py --rounds 5 --workloads unit,fib --pythons running
    .venv/bin/python benchmarks/tracer.py --agree  # 3.12+: every file a profiler saw in a scope, the recorder saw

Run it with the project's venv python (it has pytest): that is "running"; 3.12 and 3.13 are found under pyenv or
/usr(/local)/bin and skipped when missing.

Workloads (each in a fresh child process, timed inside it, rounds alternating the mechanisms):
    fib      one scope: a recursive function called 1.7e6 times (the worst case: nothing but Python calls)
    unit     runtests' own tests/unit (but test_tracer.py) in one pytest process, no xdist: a scope per test
             (setup+call+teardown) and one per module collected, as the integration will do
    trivial  1,000 empty tests in 20 modules: the fixed cost of a scope

Mechanisms: none (the same hooks, no recording), setprofile (a Python profile function, on 'call'), settrace (a
global trace function returning None), cprofile (the C profiler _lsprof, per thread), cprofile-phases (the same,
on in setup, call and teardown only: what pausing it around pytest's reporting would save), recorder (the whole
runtests.tracer.Recorder: its mechanism for this interpreter plus the open/os.open/environ/subprocess patches).
Each prints the median of the per-round ratios against none. The Python hooks, like the profilers, are on in the
recording thread during scopes only. pytest runs on 3.12/3.13 from a directory of links to the pure-Python packages
of the running venv (pytest, pluggy, click, rich, GitPython, ...): they have no pytest of their own.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def find_python(version: str) -> str | None:
    candidates = [*sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}")),
                  Path(f"/usr/local/bin/python{version}"), Path(f"/usr/bin/python{version}")]  # fmt: skip
    return next((str(path) for path in candidates if path.exists()), None)


PYTHONS = {"running": sys.executable, "3.12": find_python("3.12"), "3.13": find_python("3.13")}
MECHANISMS = ("none", "setprofile", "settrace", "cprofile", "cprofile-phases", "recorder")
WORKLOADS = ("fib", "unit", "trivial")
PURE = ("_pytest", "pytest", "pluggy", "iniconfig", "packaging", "py.py", "click", "rich", "git", "gitdb", "smmap",
        "markdown_it", "mdurl", "pygments", "xdist", "execnet")  # fmt: skip


# -- the mechanisms (in the child) ------------------------------------------------------------------------------


class Hooks:
    """A candidate's core: start, begin, end (the files recorded, filtered like the Recorder's)."""

    hook: Any = None

    def __init__(self, root: str) -> None:
        from runtests.tracer import DEFAULT_EXCLUDE, Recorder

        # The linked packages stand for the interpreter's own site-packages: excluded like them.
        self.exclude = (*DEFAULT_EXCLUDE, *filter(None, [os.environ.get("TRACER_BENCH_SITE")]))
        self.place = Recorder(root, self.exclude)._place
        self.seen: set[str] = set()

    def start(self) -> None:
        pass

    def begin(self) -> None:
        self.seen.clear()

    def end(self) -> set[str]:
        return {path for name in list(self.seen) if (path := self.place(name)) is not None}


class SetProfile(Hooks):
    def start(self) -> None:
        add = self.seen.add

        def hook(frame: Any, event: str, arg: Any) -> None:
            if event == "call":
                add(frame.f_code.co_filename)

        self.hook = hook
        threading.setprofile(hook)

    def begin(self) -> None:
        super().begin()
        sys.setprofile(self.hook)  # on in this thread for the scope only, as the cprofile candidate

    def end(self) -> set[str]:
        sys.setprofile(None)
        return super().end()


class SetTrace(Hooks):
    def start(self) -> None:
        add = self.seen.add

        def hook(frame: Any, event: str, arg: Any) -> None:
            add(frame.f_code.co_filename)  # returns None: no line events for the frame

        self.hook = hook
        threading.settrace(hook)

    def begin(self) -> None:
        super().begin()
        sys.settrace(self.hook)

    def end(self) -> set[str]:
        sys.settrace(None)
        return super().end()


class CProfile(Hooks):
    """The recorder's 3.11 core alone: the profiler on for the scope, one per thread started."""

    def start(self) -> None:
        import _lsprof

        self.profilers = [_lsprof.Profiler(subcalls=False, builtins=False)]

        def thread_started(frame: Any, event: str, arg: Any) -> None:
            profiler = _lsprof.Profiler(subcalls=False, builtins=False)
            profiler.enable()
            self.profilers.append(profiler)

        threading.setprofile(thread_started)

    def begin(self) -> None:
        super().begin()
        for profiler in self.profilers:
            profiler.clear()
        self.profilers[0].enable()

    def end(self) -> set[str]:
        self.profilers[0].disable()
        for profiler in self.profilers:
            self.seen.update(entry.code.co_filename for entry in profiler.getstats())
            profiler.clear()
        return super().end()


class PhasesOnly(CProfile):
    def begin(self) -> None:
        Hooks.begin(self)
        for profiler in self.profilers:
            profiler.clear()

    def end(self) -> set[str]:
        for profiler in self.profilers:
            self.seen.update(entry.code.co_filename for entry in profiler.getstats())
            profiler.clear()
        return Hooks.end(self)


class Whole(Hooks):
    def start(self) -> None:
        from runtests.tracer import Recorder

        self.recorder = Recorder(str(REPO), self.exclude)
        assert self.recorder.start(), "the recorder could not start"

    def begin(self) -> None:
        self.recorder.begin()

    def end(self) -> set[str]:
        return self.recorder.end().files


class Agree(Whole):
    """--agree (3.12+): the recorder (sys.monitoring) and a C profiler in each scope at once; a scope whose profiler
    saw a file the recorder did not is a miss."""

    scopes = 0
    missed: list[tuple[str, ...]] = []

    def begin(self) -> None:
        import _lsprof

        self.profiler = _lsprof.Profiler(subcalls=False, builtins=False)
        super().begin()
        self.profiler.enable()

    def end(self) -> set[str]:
        self.profiler.disable()
        ours = super().end()
        theirs = {self.place(entry.code.co_filename) for entry in self.profiler.getstats()} - {None}
        self.scopes += 1
        if theirs - ours:
            self.missed.append(tuple(sorted(theirs - ours)))  # type: ignore[arg-type]
        return ours


CLASSES = {
    "none": Hooks,
    "setprofile": SetProfile,
    "settrace": SetTrace,
    "cprofile": CProfile,
    "recorder": Whole,
    "cprofile-phases": PhasesOnly,
    "agree": Agree,
}


def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def child(workload: str, mechanism: str, suite: str) -> None:
    """Run one workload under one mechanism; print its seconds and how many files the scopes recorded."""
    hooks = CLASSES[mechanism](str(REPO))
    recorded: set[str] = set()
    hooks.start()
    if workload == "fib":
        began = time.perf_counter()
        hooks.begin()
        fib(29)
        recorded |= hooks.end()
        seconds = time.perf_counter() - began
    else:
        import pytest

        class Scopes:
            @pytest.hookimpl(wrapper=True)
            def pytest_runtest_protocol(self, item: Any, nextitem: Any) -> Any:
                hooks.begin()
                try:
                    return (yield)
                finally:
                    recorded.update(hooks.end())

            @pytest.hookimpl(wrapper=True)
            def pytest_make_collect_report(self, collector: Any) -> Any:
                if not isinstance(collector, pytest.Module):
                    return (yield)
                hooks.begin()
                try:
                    return (yield)
                finally:
                    recorded.update(hooks.end())

        class Phases:
            """cprofile-phases: the profiler on only inside setup, call and teardown (outermost wrappers)."""

            def phase(self) -> Any:
                hooks.profilers[0].enable()
                try:
                    return (yield)
                finally:
                    hooks.profilers[0].disable()

            pytest_runtest_setup = pytest.hookimpl(wrapper=True, tryfirst=True)(phase)
            pytest_runtest_call = pytest.hookimpl(wrapper=True, tryfirst=True)(phase)
            pytest_runtest_teardown = pytest.hookimpl(wrapper=True, tryfirst=True)(phase)

        target = str(REPO / "tests" / "unit") if workload == "unit" else suite
        args = [target, "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:randomly", "-p", "no:cov"]
        # runtests is imported already (this script's recorder): pytest cannot rewrite it, and says so.
        args += [
            "-W",
            "ignore::pytest.PytestAssertRewriteWarning",
            "--ignore",
            str(REPO / "tests" / "unit" / "test_tracer.py"),
        ]  # its subprocesses would dominate
        os.chdir(REPO if workload == "unit" else suite)
        with open(os.devnull, "w") as devnull:
            stdout, sys.stdout = sys.stdout, devnull
            began = time.perf_counter()
            plugins: list[Any] = [Scopes(), Phases()] if isinstance(hooks, PhasesOnly) else [Scopes()]
            status = pytest.main(args, plugins=plugins)
            seconds = time.perf_counter() - began
            sys.stdout = stdout
        if status not in (0, 1):  # a failing test is a result; a collection error would time nothing
            raise SystemExit(f"pytest exited {status}")
    agreement = {"scopes": hooks.scopes, "missed": hooks.missed} if isinstance(hooks, Agree) else {}
    print(json.dumps({"seconds": seconds, "files": len(recorded), **agreement}))


# -- the driver -------------------------------------------------------------------------------------------------


def pure_site(into: Path) -> Path | None:
    """Links to the venv's pure-Python packages, for the interpreters that have no pytest."""
    site = next(iter(Path(sys.prefix, "lib").glob("python3*/site-packages")), None)
    if site is None:
        return None
    into.mkdir(exist_ok=True)
    for name in PURE:
        if (site / name).exists() and not (into / name).exists():
            (into / name).symlink_to(site / name)
    return into


def measure(python: str, workload: str, mechanism: str, suite: Path, site: Path | None) -> dict:
    """One child's result; `site` (the linked packages) on its path unless it is this venv's python."""
    linked = site is not None and python != sys.executable
    # As on a developer's machine, bytecode cached (and reused across the rounds).
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *([str(site)] if linked else [])])
    if linked:
        env["TRACER_BENCH_SITE"] = str(site)
    command = [python, str(Path(__file__).resolve()), "--child", workload, mechanism, str(suite)]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--mechanisms", default=",".join(MECHANISMS))
    parser.add_argument("--pythons", default=",".join(PYTHONS))
    parser.add_argument("--agree", action="store_true", help="check the recorder against a profiler (3.12+), only")
    parser.add_argument("--child", nargs=3, metavar=("WORKLOAD", "MECHANISM", "SUITE"))
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from suites import make_suite

    mechanisms = ["none", *(m for m in args.mechanisms.split(",") if m != "none")]
    with tempfile.TemporaryDirectory() as work:
        suite = make_suite(Path(work) / "trivial", tests=1000, modules=20, serial_share=0, git=False)
        site = pure_site(Path(work) / "site")
        for name in args.pythons.split(","):
            python = PYTHONS[name]
            if python is None:
                print(f"{name}: not found, skipped")
                continue
            probe = [python, "-c", "import sys; print(sys.version_info >= (3, 12), sys.version.split()[0])"]
            monitoring, version = subprocess.run(probe, capture_output=True, text=True, check=True).stdout.split()
            if args.agree:
                if monitoring == "True":  # on 3.11 the recorder is the profiler
                    for workload in args.workloads.split(","):
                        if workload != "fib":
                            result = measure(python, workload, "agree", suite, site)
                            print(
                                f"{version} {workload:8} {result['scopes']} scopes, the recorder missed files the "
                                f"profiler saw in {len(result['missed'])}: {result['missed'][:3]}",
                                flush=True,
                            )
                continue
            for workload in args.workloads.split(","):
                measure(python, workload, "none", suite, site)  # bytecode compiled, caches warm
                runs: dict[str, list[dict]] = {m: [] for m in mechanisms}
                for index in range(args.rounds):
                    for step in range(len(mechanisms)):
                        mechanism = mechanisms[(index + step) % len(mechanisms)]
                        runs[mechanism].append(measure(python, workload, mechanism, suite, site))
                base = runs["none"]
                line = [f"{version} {workload:8} none {statistics.median(r['seconds'] for r in base):6.3f}s"]
                for mechanism in mechanisms[1:]:
                    pairs = zip(runs[mechanism], base, strict=True)
                    ratio = statistics.median(run["seconds"] / unrecorded["seconds"] for run, unrecorded in pairs)
                    line.append(f"{mechanism} x{ratio:.2f} ({runs[mechanism][0]['files']} files)")
                print("  ".join(line), flush=True)


if __name__ == "__main__":
    main()
