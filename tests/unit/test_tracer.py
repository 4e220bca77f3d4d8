"""The dependency tracer (runtests.tracer), under each interpreter it must work on: each test runs a small
standard-library script in a child process (3.12 and 3.13 have no pytest), which prints its scopes as JSON."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT, run_command


def find_python(version: str) -> str | None:
    candidates = [*sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}")),
                  Path(f"/usr/local/bin/python{version}"), Path(f"/usr/bin/python{version}")]  # fmt: skip
    return next((str(path) for path in candidates if path.exists()), None)


# The running interpreter (3.11: the profiler), and the two sys.monitoring ones (3.12 and 3.13 differ in it).
PYTHONS = {"running": sys.executable, "3.12": find_python("3.12"), "3.13": find_python("3.13")}
each_python = pytest.mark.parametrize("python", list(PYTHONS))

PRELUDE = """
import json, os, sys
from runtests.tracer import Recorder

ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, ROOT)
out = {}


def record(name, scope):
    out[name] = {"files": sorted(scope.files), "reads": sorted(scope.reads), "spawned": scope.spawned,
                 "env": scope.env, "imports": sorted(map(list, scope.imports)), "complete": scope.complete}
"""


def run_script(python: str, root: Path, body: str, files: dict[str, str] | None = None) -> dict:
    """Write the project's `files` and a script (the prelude, then `body`) under `root`; run it; its JSON."""
    interpreter = PYTHONS[python]
    if interpreter is None:
        pytest.skip(f"no python{python} on this machine")
    script = PRELUDE + textwrap.dedent(body) + "\nprint(json.dumps(out))\n"
    for name, text in {**(files or {}), "script.py": script}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text), encoding="utf-8")
    env = {"PYTHONPATH": str(REPO_ROOT), "TRACER_A": "a", "TRACER_B": "b", "TRACER_C": "c"}
    done = run_command([interpreter, str(root / "script.py")], cwd=root, env=env, timeout=60).assert_exit(0)
    return json.loads(done.stdout.splitlines()[-1])


CODE = {
    "pkg/__init__.py": "",
    "pkg/helper.py": "def double(x):\n    return 2 * x\n",
    "pkg/consts.py": "LIMIT = 3\n\n\nclass Config:\n    size = LIMIT * 2\n",
    "pkg/outer.py": "from pkg import inner\n",
    "pkg/inner.py": "VALUE = 1\n",
    "pkg/keys.py": "negate = lambda x: -x  # noqa: E731\n",
    "pkg/squares.py": "squares = (n * n for n in range(3))\n",
    "pkg/worker.py": "def work(out):\n    out.append(1)\n",
    "pkg/gen.py": "def numbers():\n    yield 1\n    yield 2\n",
    "pkg/compiled.py": "RAN = True\n",
    "pkg/unused.py": "def never():\n    pass\n",
}


@each_python
def test_every_way_code_runs_in_a_scope_records_its_file(python, tmp_path):
    """Called directly, imported (module body, class body: constants read then), called from C (sorted's key, a
    lambda), a generator expression, a thread's target, exec of a compiled file; a generator started in one scope
    and resumed in the next counts in the next, and the second scope sees code the first one saw again."""
    out = run_script(python, tmp_path, """
        import json, threading
        from pkg import gen, helper, keys, squares, unused, worker

        recorder = Recorder(ROOT)
        assert recorder.start()
        numbers = gen.numbers()
        recorder.begin()
        helper.double(2)
        from pkg.consts import Config
        import pkg.outer
        assert sorted([1, 2], key=keys.negate) == [2, 1]
        assert list(squares.squares) == [0, 1, 4]
        done = []
        thread = threading.Thread(target=worker.work, args=(done,))
        thread.start()
        thread.join()
        path = os.path.join(ROOT, "pkg", "compiled.py")
        exec(compile(open(path).read(), path, "exec"), {})
        next(numbers)
        json.dumps({"size": Config.size})
        record("first", recorder.end())
        recorder.begin()
        next(numbers)
        helper.double(3)
        record("second", recorder.end())
        recorder.stop()
        out["method"] = recorder.method
    """, CODE)  # fmt: skip
    root = str(tmp_path)

    def ours(paths):
        return {Path(path).relative_to(root).as_posix() for path in paths if path.startswith(root + "/")}

    first, second = out["first"], out["second"]
    assert out["method"] == ("cProfile" if python == "running" and sys.version_info < (3, 12) else "sys.monitoring")
    assert ours(first["files"]) == {"pkg/helper.py", "pkg/consts.py", "pkg/outer.py", "pkg/inner.py", "pkg/keys.py",
                                    "pkg/squares.py", "pkg/worker.py", "pkg/compiled.py", "pkg/gen.py"}  # fmt: skip
    # The standard library (threading, json) is excluded; nothing outside the root but the tracer's own wrappers.
    assert {Path(path).name for path in first["files"] if not path.startswith(root + "/")} <= {"tracer.py"}
    assert {(Path(a).name, Path(b).name) for a, b in first["imports"]} == {
        ("script.py", "consts.py"),
        ("script.py", "outer.py"),
        ("outer.py", "inner.py"),
        ("script.py", "compiled.py"),
    }
    assert ours(second["files"]) == {"pkg/gen.py", "pkg/helper.py"} and second["imports"] == []
    assert first["complete"] and second["complete"]


@each_python
def test_reads_under_the_root_environment_reads_and_started_processes(python, tmp_path):
    """Reads under the root through open, pathlib and os.open, a missing file too (creating it changes the test);
    not writes, directories or files outside. Each variable read once with its value, the whole environment as
    "*", not a variable the scope set first. Any process started, by subprocess or os.system."""
    root = tmp_path / "project"
    (tmp_path / "outside.txt").write_text("out")
    data = {name: "x" for name in ("data.txt", "text.txt", "bytes.bin", "raw.bin", "rw.txt", "adir/kept.txt")}
    out = run_script(python, root, """
        import pathlib, subprocess

        recorder = Recorder(ROOT)
        assert recorder.start()
        here = pathlib.Path(ROOT)
        recorder.begin()
        with open(here / "data.txt") as stream:
            stream.read()
        here.joinpath("text.txt").read_text()
        here.joinpath("bytes.bin").read_bytes()
        os.close(os.open(str(here / "raw.bin"), os.O_RDONLY))
        open(os.fsencode(here / "rw.txt"), "r+").close()
        open(here.parent / "outside.txt").read()
        try:
            open(here / "missing.txt")
        except FileNotFoundError:
            pass
        with open(here / "written.txt", "w") as stream:
            stream.write("x")
        open(here / "appended.txt", "a").close()
        here.joinpath("created.txt").write_text("x")
        os.close(os.open(str(here / "made.txt"), os.O_WRONLY | os.O_CREAT))
        os.close(os.open(str(here / "adir"), os.O_RDONLY))
        try:
            open(here / "adir")
        except IsADirectoryError:
            pass
        os.environ["TRACER_SET"] = "1"
        assert os.environ.get("TRACER_SET") == "1" and os.environ.get("TRACER_A") == "a"
        assert os.environ["TRACER_B"] == "b" and "TRACER_C" in os.environ and os.getenv("TRACER_NONE") is None
        assert os.environ.get("TRACER_A") == "a"
        record("files", recorder.end())
        recorder.begin()
        assert os.environ.copy()["TRACER_A"] == "a"
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        record("run", recorder.end())
        recorder.begin()
        assert dict(os.environ)["TRACER_B"] == "b"
        assert os.system("true") == 0
        record("system", recorder.end())
        recorder.begin()
        open(here / "data.txt").close()
        record("again", recorder.end())
        recorder.stop()
    """, data)  # fmt: skip
    files, run, system, again = out["files"], out["run"], out["system"], out["again"]
    assert files["reads"] == [str(root / name) for name in ("bytes.bin", "data.txt", "missing.txt", "raw.bin",
                                                            "rw.txt", "text.txt")]  # fmt: skip
    assert files["env"] == {"TRACER_A": "a", "TRACER_B": "b", "TRACER_C": "c", "TRACER_NONE": None}
    assert not files["spawned"] and not again["spawned"]
    assert again["reads"] == [str(root / "data.txt")] and again["env"] == {}  # the same file read again counts again
    assert run["spawned"] and run["env"] == {"*": None} and run["reads"] == []
    assert system["spawned"] and system["env"] == {"*": None}


@each_python
def test_stop_leaves_the_interpreter_as_it_was_and_start_refuses_when_it_cannot_record(python, tmp_path):
    """Every patched function, os.environ's class, the hooks and the tool ids come back; a second recorder, too few
    free sys.monitoring ids (3.12+) or a profiler already set (3.11) make start() say False, installing nothing;
    a scope whose hook another tool took says so."""
    out = run_script(python, tmp_path, """
        import builtins, io, subprocess, threading

        monitoring = getattr(sys, "monitoring", None)


        def snapshot():
            state = {"open": builtins.open, "io.open": io.open, "os.open": os.open, "os.system": os.system,
                     "os.fork": os.fork, "os.execv": os.execv, "os.posix_spawn": os.posix_spawn,
                     "Popen.__init__": subprocess.Popen.__init__, "exec": builtins.exec,
                     "environ": type(os.environ), "environb": type(os.environb), "profile": sys.getprofile(),
                     "thread profile": threading.getprofile()}
            if monitoring:
                state.update({f"tool {tool}": monitoring.get_tool(tool) for tool in range(6)})
                state["events"] = [monitoring.get_events(tool) for tool in range(6)]
            return state


        def differ(before, after):
            return sorted(key for key in before if before[key] is not after[key] and before[key] != after[key])


        before = snapshot()
        recorder = Recorder(ROOT)
        out["started"] = recorder.start()
        out["second recorder"] = Recorder(ROOT).start()
        out["changed"] = differ(before, snapshot())
        recorder.begin()
        record("scope", recorder.end())
        recorder.begin()
        if monitoring:  # another tool switching our events off
            monitoring.set_events(next(t for t in range(6) if monitoring.get_tool(t) == "runtests.tracer"), 0)
        else:  # another profiler replacing ours
            sys.setprofile(lambda *args: None)
            sys.setprofile(None)
        out["disturbed complete"] = recorder.end().complete
        recorder.stop()
        out["not restored"] = differ(before, snapshot())

        # Nothing free to record with: start() is False and installs nothing.
        if monitoring:
            free = [tool for tool in range(6) if monitoring.get_tool(tool) is None]
            for tool in free[1:]:  # one left free: too few, the recorder needs two
                monitoring.use_tool_id(tool, "someone else")
            out["one free id"] = Recorder(ROOT).start()
            monitoring.use_tool_id(free[0], "someone else")
            out["no free id"] = Recorder(ROOT).start()
            for tool in free:
                monitoring.free_tool_id(tool)
        else:
            sys.setprofile(lambda *args: None)
            out["one free id"] = out["no free id"] = Recorder(ROOT).start()
            sys.setprofile(None)
        out["refused installs"] = differ(before, snapshot())
    """)  # fmt: skip
    assert out["started"] and not out["second recorder"]
    patched = {"open", "io.open", "os.open", "os.system", "os.fork", "os.execv", "os.posix_spawn", "Popen.__init__",
               "environ", "environb"}  # fmt: skip
    if python == "running" and sys.version_info < (3, 12):
        assert set(out["changed"]) == patched | {"exec", "thread profile"}  # the profiler itself: during a scope
    else:
        assert set(out["changed"]) == patched | {"tool 3", "tool 4", "events"}
    assert out["scope"]["complete"] and not out["disturbed complete"]
    assert out["not restored"] == []
    assert out["one free id"] is False and out["no free id"] is False and out["refused installs"] == []
