"""What a test depended on, recorded where it runs (the pytest process or an xdist worker): standard library only.

One `Recorder` is started per process; each begin()/end() pair is a scope (a test's setup, call and teardown, or one
module's collection), and end() returns its `Scope`: the Python files whose code ran, the import edges seen, the files
under the root opened for reading, the environment variables read, and whether a process was started.

Code, 3.12+: sys.monitoring, two tool ids. `discover` has PY_START and PY_RESUME on everywhere and disables them for
good at its first sight of each code object (and resume point): it records that run and arms `record`'s local events
on the code of recordable files only. `record` records a run and disables itself; begin() re-arms what it disabled.
A scope costs in proportion to the project code it ran, not pytest's: restart_events() per scope cost 1.4-1.7x on
empty tests, and it brings back every tool's disabled events (coverage.py's lines would fire again every test).
3.11: the C profiler `_lsprof` (cProfile's core, no builtins or subcalls), on in the recording thread for the scope
and, through threading.setprofile, in each thread started after start(); end() reads its entries' code objects. The
cheapest hook measured, and still about 2x: with any profile or trace hook 3.11 runs every instruction unspecialized
through its tracing path (1.8-2.6x on call-free loops before any callback); settrace is also coverage.py's and the
debuggers' hook. Import edges: a `<module>` code starting (3.12+) or exec'd (3.11: importlib, pytest's rewriting,
runpy) while another `<module>` frame runs below it: its importer.

Overhead (benchmarks/tracer.py: median ratio to the same run unrecorded, 5 alternating rounds, 2 busy cores). unit:
runtests' tests/unit, 600 CPU-bound tests in one pytest process, a scope per test and module; trivial: 1,000 empty
tests; fib: one scope, 1.7e6 Python calls. On the right, the other 3.11 hooks, in the same runs.
         unit  trivial  fib  |  3.11            unit  trivial  fib
  3.11   2.06  2.37     6.5  |  setprofile(py)  2.13  2.04     9.7
  3.12   1.05  1.11     1.02 |  settrace(py)    2.16  2.16     7.4
  3.13   1.11  1.09     1.02 |  _lsprof alone   1.97  2.20     6.3
Not seen (a test that depends only on these may be left out wrongly):
- Native code: files a C extension opens (sqlite3), variables C getenv reads (locale, TZ), processes it starts.
- Opens not through builtins.open/io.open/os.open looked up at call time: references kept before start() (tarfile,
  tokenize), pkgutil.get_data (open_code), os.open with dir_fd; listings (listdir, glob) and existence checks (stat,
  exists): a file appearing in a globbed directory is not seen. Paths compare as spelled (absolute, normalized) to
  the root as given and resolved: a symlink from outside into the root is not followed.
- os.environ read around its class (os.environ._data). A variable the scope set or deleted before reading it is no
  input, on purpose. A process started through a reference kept before start(); work done for the scope by a
  process started before it (a session fixture's server, a process pool's workers): `spawned` is the starter's.
- A frame already running when the scope began (a loop in an older thread) counts only when it calls or resumes
  Python code. 3.11: threads started before start() or by _thread.start_new_thread; a thread started while
  recording keeps its profiler until it ends, even after stop().
- Another tool taking the hook in a scope (sys.setprofile or threading.setprofile on 3.11, our tool ids on 3.12+):
  the scope says complete=False. Relative co_filenames are made absolute at end(), from the working directory.
"""

from __future__ import annotations

import _lsprof
import builtins
import dataclasses
import functools
import io
import os
import site
import stat
import subprocess
import sys
import sysconfig
import threading
import types
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

_monitoring: Any = getattr(sys, "monitoring", None)
_EVENTS = _monitoring.events.PY_START | _monitoring.events.PY_RESUME if _monitoring else 0  # 3.12+: a code's runs
TOOL_NAME = "runtests.tracer"
TOOL_IDS = (3, 4, 5, 2, 1, 0)  # the unnamed ids first: coverage.py takes 1, debuggers 0, profilers 2
ALL = "*"  # Scope.env's key for a read of the whole environment (copy, items, iteration, dict(os.environ))
# Module functions that start a process (os.popen and pty go through subprocess.Popen and os.fork/os.forkpty).
SPAWNERS = ("system", "fork", "forkpty", "posix_spawn", "posix_spawnp", "execv", "execve", "execl", "execle", "execlp",
            "execlpe", "execvp", "execvpe", "spawnv", "spawnve", "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnvp",
            "spawnvpe")  # fmt: skip
_ACCESS = getattr(os, "O_ACCMODE", os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
_MISSING = object()


def prefixes(paths: Iterable[str]) -> tuple[str, ...]:
    """Directories as path prefixes: absolute, as given and resolved, each ending in a separator."""
    absolute = {os.path.abspath(path) for path in paths}
    return tuple(sorted({os.path.join(path, "") for path in absolute | {os.path.realpath(p) for p in absolute}}))


def interpreter_dirs() -> tuple[str, ...]:
    """This interpreter's standard library and installed packages (global inputs): the sysconfig paths (with scripts:
    console scripts run `<module>` bodies), each prefix's lib/pythonX.Y and the site directories. An editable install
    elsewhere (a sibling project) is not among them."""
    paths = sysconfig.get_paths()
    dirs = {paths[name] for name in ("stdlib", "platstdlib", "purelib", "platlib", "scripts") if name in paths}
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        dirs |= {os.path.join(prefix, lib, version) for lib in ("lib", "lib64")}
    dirs.update(site.getsitepackages() if hasattr(site, "getsitepackages") else [])
    if site.ENABLE_USER_SITE:
        dirs.add(site.getusersitepackages())
    return prefixes(dirs)


DEFAULT_EXCLUDE = interpreter_dirs()


@dataclasses.dataclass
class Scope:
    """One scope's dependencies. Paths are absolute; those under the root are spelled from `Recorder.root`."""

    files: set[str]  # Python source files whose code ran, outside the excluded directories
    reads: set[str]  # files under the root opened for reading, or tried and missing (creating one changes the test)
    spawned: bool  # a process was started: what it did is not recorded
    env: dict[str, str | None]  # variables read, with the first value seen (None: unset); ALL: the whole environment
    imports: set[tuple[str, str]]  # (importer, imported): a module body started while the importer's body ran
    complete: bool = True  # False: another tool took the hook during the scope: `files` may miss some


_current: Recorder | None = None  # the started recorder
# What the current scope recorded, filled by the hooks and emptied by begin(): the same objects throughout (the
# monitoring callbacks hold their methods), where the patched functions and os.environ's class find them.
_code: set[str] = set()  # co_filename of the code that ran, unfiltered
_edges: set[tuple[str, str]] = set()  # (importer, imported) co_filenames, unfiltered
_reads: set[str] = set()
_env: dict[str, str | None] = {}
_written: set[str] = set()  # variables the scope set or deleted: reading them after that is no input


def _env_read(key: str | bytes, value: str | bytes | None) -> None:
    if isinstance(key, bytes):  # os.environb
        key, value = os.fsdecode(key), None if value is None else os.fsdecode(value)
    if _current is not None and key not in _env and ALL not in _env and key not in _written:
        _env[key] = value  # type: ignore[assignment]


class _RecordingEnviron(os._Environ):
    """os.environ's (and os.environb's) class while recording. Mapping's get, `in`, setdefault and pop go through
    __getitem__, os.getenv through get; copy, items, keys, dict(os.environ) and {**os.environ} through __iter__."""

    def __getitem__(self, key):
        try:
            value = super().__getitem__(key)
        except KeyError:
            _env_read(key, None)
            raise
        _env_read(key, value)
        return value

    def __iter__(self):
        _env_read(ALL, None)
        return super().__iter__()

    def __setitem__(self, key, value):
        _written.add(os.fsdecode(key))
        super().__setitem__(key, value)

    def __delitem__(self, key):
        _written.add(os.fsdecode(key))
        super().__delitem__(key)


def _read_target(file: Any) -> str | None:
    """Where a read of `file` is recorded: its path under the root, or None (a descriptor, outside, not recording)."""
    if _current is None or not isinstance(file, str | bytes | os.PathLike):
        return None
    return _current._under_root(os.path.abspath(os.fsdecode(file)))


def _opening(real: Callable[..., Any]) -> Callable[..., Any]:
    """builtins.open and io.open (pathlib's open, read_text and read_bytes call io.open): 'r' and '+' modes read."""

    @functools.wraps(real)
    def open(file, mode="r", *args, **kwargs):
        if not isinstance(mode, str) or ("r" not in mode and "+" not in mode) or (path := _read_target(file)) is None:
            return real(file, mode, *args, **kwargs)
        try:
            opened = real(file, mode, *args, **kwargs)
        except FileNotFoundError:
            _reads.add(path)  # missing: creating it would change what the test sees
            raise
        _reads.add(path)  # a directory raised IsADirectoryError: not a read
        return opened

    return open


def _os_opening(real: Callable[..., Any]) -> Callable[..., Any]:
    """os.open: a read unless O_WRONLY. It opens directories too: those are not reads."""

    @functools.wraps(real)
    def open(path, flags, *args, **kwargs):
        reading = flags & _ACCESS != os.O_WRONLY and kwargs.get("dir_fd") is None
        if not reading or (target := _read_target(path)) is None:
            return real(path, flags, *args, **kwargs)
        try:
            fd = real(path, flags, *args, **kwargs)
        except FileNotFoundError:
            _reads.add(target)
            raise
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            _reads.add(target)
        return fd

    return open


def _spawning(real: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(real)
    def spawn(*args, **kwargs):
        if _current is not None:
            _current._spawned = True
        return real(*args, **kwargs)

    return spawn


def _importer(frame: types.FrameType | None) -> str:
    """The file of the nearest `<module>` frame from `frame` outwards: the module body that runs an import."""
    while frame is not None and frame.f_code.co_name != "<module>":
        frame = frame.f_back
    return "<none>" if frame is None else frame.f_code.co_filename


def _executing(real: Callable[..., Any]) -> Callable[..., Any]:
    """exec, on 3.11: a module body run while another module body runs is an import edge."""

    @functools.wraps(real)
    def exec(source, /, *args, **kwargs):
        __tracebackhide__ = True  # pytest leaves this frame out of import errors' tracebacks
        if isinstance(source, types.CodeType) and source.co_name == "<module>" and _current is not None:
            _edges.add((_importer(sys._getframe(1)), source.co_filename))
        return real(source, *args, **kwargs)

    return exec


class Recorder:
    """Records each scope's dependencies in this process, one recorder started at a time; begin() and end() are
    called from the thread that called start() (pytest's)."""

    def __init__(self, root: str, exclude: Sequence[str] = DEFAULT_EXCLUDE) -> None:
        self.root = os.path.abspath(root)
        self._roots = prefixes([self.root])  # the root as given and resolved: either spelling is under it
        self._exclude = prefixes(exclude)
        self.method = "sys.monitoring" if _monitoring is not None else "cProfile"
        self._spawned = False
        self._places: dict[str, str | None] = {}  # co_filename -> the path recorded, None if excluded
        self._restore: list[tuple[Any, str, Any]] = []  # (owner, attribute, original), in patch order
        self._environs: list[Any] = []
        self._tools: list[int] = []  # 3.12+: discover, record
        self._armed: weakref.WeakValueDictionary[int, types.CodeType] = weakref.WeakValueDictionary()
        self._fired: dict[int, types.CodeType] = {}  # 3.12+: code whose `record` events disabled themselves
        self._profiler: Any = None  # 3.11: the recording thread's profiler
        self._threads: list[tuple[threading.Thread, Any]] = []  # 3.11: each thread started since, its profiler
        self._hook: Any = None  # 3.11: threading's profile hook: ours, and the one before
        self._previous_hook: Any = None

    def start(self) -> bool:
        """Install the hooks; False, with nothing installed, when this process cannot record: another recorder is
        started, fewer than two sys.monitoring tool ids are free (3.12+), the thread already has a profiler (3.11),
        or os.environ is not the interpreter's own class."""
        global _current
        environs = [env for env in (os.environ, getattr(os, "environb", None)) if env is not None]
        if _current is not None or any(type(env) is not os._Environ for env in environs):
            return False
        if not (self._start_monitoring() if self.method == "sys.monitoring" else self._start_profiling()):
            return False
        _current = self
        for env in environs:
            env.__class__ = _RecordingEnviron
        self._environs = environs
        opener = _opening(builtins.open)
        self._patch(builtins, "open", opener)
        self._patch(io, "open", opener if io.open is builtins.open.__wrapped__ else _opening(io.open))  # type: ignore
        self._patch(os, "open", _os_opening(os.open))
        self._patch(subprocess.Popen, "__init__", _spawning(subprocess.Popen.__init__))
        for name in SPAWNERS:
            if hasattr(os, name):
                self._patch(os, name, _spawning(getattr(os, name)))
        if (posixsubprocess := sys.modules.get("_posixsubprocess")) is not None:  # multiprocessing's spawn
            self._patch(posixsubprocess, "fork_exec", _spawning(posixsubprocess.fork_exec))
        if self.method == "cProfile":
            self._patch(builtins, "exec", _executing(builtins.exec))
        self._patch_late()
        return True

    def _patch(self, owner: Any, name: str, replacement: Any) -> None:
        self._restore.append((owner, name, vars(owner)[name]))  # its own attribute, none inherited
        setattr(owner, name, replacement)

    def _patch_late(self) -> None:
        """Process.start, once multiprocessing is loaded (asked at each begin(): importing it costs 10-25 ms)."""
        process = sys.modules.get("multiprocessing.process")
        if process is not None and not any(owner is process.BaseProcess for owner, _, _ in self._restore):
            self._patch(process.BaseProcess, "start", _spawning(process.BaseProcess.start))

    def _start_monitoring(self) -> bool:
        monitoring = _monitoring
        free = [tool for tool in TOOL_IDS if monitoring.get_tool(tool) is None][:2]
        if len(free) < 2:
            return False
        for tool in free:
            try:
                monitoring.use_tool_id(tool, TOOL_NAME)
            except ValueError:  # taken meanwhile by another thread
                for taken in self._tools:
                    monitoring.free_tool_id(taken)
                self._tools.clear()
                return False
            self._tools.append(tool)
        discover, record = free
        add, disable, getframe = _code.add, monitoring.DISABLE, sys._getframe
        armed, fired, place, arm = self._armed, self._fired, self._place, monitoring.set_local_events

        def ran(code: types.CodeType, offset: int) -> Any:
            add(code.co_filename)
            if code.co_name == "<module>":
                frame: Any = getframe(1)
                while frame is not None and frame.f_code is not code:  # the module's own frame, then its callers
                    frame = frame.f_back
                _edges.add((_importer(frame and frame.f_back), code.co_filename))
            return disable

        def discovered(code: types.CodeType, offset: int) -> Any:
            if armed.get(id(code)) is not code and place(code.co_filename) is not None:
                armed[id(code)] = code
                arm(record, code, _EVENTS)
            return ran(code, offset)

        def recorded(code: types.CodeType, offset: int) -> Any:
            fired[id(code)] = code
            return ran(code, offset)

        def thrown(code: types.CodeType, offset: int, exception: BaseException) -> None:
            add(code.co_filename)  # not a local event: it cannot be disabled, and it is rare

        for tool, callback in ((discover, discovered), (record, recorded)):
            monitoring.register_callback(tool, monitoring.events.PY_START, callback)
            monitoring.register_callback(tool, monitoring.events.PY_RESUME, callback)
        monitoring.register_callback(discover, monitoring.events.PY_THROW, thrown)
        monitoring.set_events(discover, _EVENTS | monitoring.events.PY_THROW)
        return True

    def _start_profiling(self) -> bool:
        if sys.getprofile() is not None:
            return False
        self._profiler = _lsprof.Profiler(subcalls=False, builtins=False)
        self._previous_hook = threading.getprofile()
        self._hook = self._thread_started
        threading.setprofile(self._hook)
        return True

    def _thread_started(self, frame: types.FrameType, event: str, arg: Any) -> None:
        """3.11, the first profile event of a thread started by `threading`: its own C profiler from now on."""
        profiler = _lsprof.Profiler(subcalls=False, builtins=False)
        profiler.enable()  # replaces this function as the thread's profile hook
        self._threads.append((threading.current_thread(), profiler))
        _code.add(frame.f_code.co_filename)  # the thread's run(), already entered

    def stop(self) -> None:
        """Uninstall everything, leaving the interpreter as before start() (3.11: but see threads, above)."""
        global _current
        if _current is not self:
            return
        for owner, name, original in reversed(self._restore):
            setattr(owner, name, original)
        self._restore.clear()
        for env in self._environs:
            env.__class__ = os._Environ
        if self._tools:
            for code in list(self._armed.values()):
                _monitoring.set_local_events(self._tools[1], code, 0)
            for tool in self._tools:
                _monitoring.set_events(tool, 0)
                for event in (_monitoring.events.PY_START, _monitoring.events.PY_RESUME, _monitoring.events.PY_THROW):
                    _monitoring.register_callback(tool, event, None)
                _monitoring.free_tool_id(tool)
            self._tools, self._armed, self._fired = [], weakref.WeakValueDictionary(), {}
        if self._profiler is not None:
            if self._profiling():
                self._profiler.disable()
            if threading.getprofile() is self._hook:
                threading.setprofile(self._previous_hook)
            self._profiler = None
            self._threads.clear()
        _current = None

    def begin(self) -> None:
        """A new scope: what was recorded so far is dropped, and every code object counts again."""
        self._patch_late()
        for recorded in (_code, _edges, _reads, _env, _written):
            recorded.clear()
        self._spawned = False
        if self._tools:
            arm, record, fired = _monitoring.set_local_events, self._tools[1], self._fired
            while fired:  # popped one by one: another thread's code may fire meanwhile
                code = fired.popitem()[1]
                arm(record, code, 0)  # off and on again: the events it disabled are back
                arm(record, code, _EVENTS)
        elif self._profiler is not None:
            for _, profiler in self._threads:
                profiler.clear()
            self._profiler.clear()
            self._profiler.enable()

    def end(self) -> Scope:
        """The scope's record since begin()."""
        complete = self._collect()
        place, names, edges = self._place, list(_code), list(_edges)  # copied first: _place runs code
        files = {path for name in names if (path := place(name)) is not None}
        pairs = {(place(importer), place(imported)) for importer, imported in edges}
        imports = {(a, b) for a, b in pairs if a is not None and b is not None and a != b}
        return Scope(files, set(_reads), self._spawned, dict(_env), imports, complete)

    def _collect(self) -> bool:
        """Gather what the profilers saw (3.11); whether the hooks stayed ours throughout the scope."""
        if self._tools:
            names = [_monitoring.get_tool(tool) for tool in self._tools]
            return names == [TOOL_NAME] * 2 and _monitoring.get_events(self._tools[0]) & _EVENTS == _EVENTS
        if self._profiler is None:
            return False
        complete = self._profiling() and threading.getprofile() is self._hook
        if self._profiling():
            self._profiler.disable()  # the time between scopes runs unprofiled
        add = _code.add
        for thread, profiler in [(threading.current_thread(), self._profiler), *self._threads]:
            ended = not thread.is_alive()  # asked first: it ran nothing after its stats
            for entry in profiler.getstats():
                if not isinstance(entry.code, str):
                    add(entry.code.co_filename)
            profiler.clear()
            if ended:
                self._threads.remove((thread, profiler))
        return complete

    def _profiling(self) -> bool:
        """3.11: this thread's profile hook is our profiler (another one may have replaced it)."""
        return sys.getprofile() is self._profiler

    def _under_root(self, path: str) -> str | None:
        """`path` (absolute, normalized) if under the root and outside the excluded directories, spelled from the
        root as given; else None."""
        for prefix in self._roots:
            if path.startswith(prefix) and not path.startswith(self._exclude):
                return os.path.join(self.root, path[len(prefix) :])
        return None

    def _place(self, name: str) -> str | None:
        """The path recorded for a co_filename, or None: no file (`<string>`, `<frozen ...>`) or excluded."""
        place = self._places.get(name, _MISSING)
        if place is _MISSING:
            place = None
            if not name.startswith("<"):
                path = os.path.abspath(name)
                if not path.startswith(self._exclude):
                    place = self._under_root(path) or path
            if os.path.isabs(name):  # a relative one depends on the working directory
                self._places[name] = place
        return place  # type: ignore[return-value]
