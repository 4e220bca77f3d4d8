"""Shared helpers: sample projects in real git repositories, and runs of real commands with everything to debug them."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
MATRIX_PLUGINS = ("randomly", "html", "html_fixtures", "metadata", "pytest_cov", "rerunfailures", "timeout",
                  "pytest_reportlog")  # fmt: skip
PLUGINS_OFF = " ".join(f"-p no:{name}" for name in MATRIX_PLUGINS)
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Sample",
    "GIT_AUTHOR_EMAIL": "sample@example.invalid",
    "GIT_COMMITTER_NAME": "Sample",
    "GIT_COMMITTER_EMAIL": "sample@example.invalid",
}


def clean_environ(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a user's shell: none of the outer pytest/xdist/CI variables leak in."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "GITHUB_", "PRE_COMMIT")) and key not in ("CI", "NO_COLOR", "FORCE_COLOR")
    }
    env.update(GIT_IDENTITY)
    env["COLUMNS"] = "200"
    # The test extras install the plugins of the compatibility matrix (tests/e2e/test_plugins.py). A sample project
    # runs without them unless its test asks (Project.env): pytest-randomly would shuffle its tests, and importing
    # the others costs every pytest process (and xdist worker) about 0.1 s.
    env["PYTEST_ADDOPTS"] = PLUGINS_OFF
    env.update(extra or {})
    return env


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=clean_environ(), capture_output=True, text=True, check=True)
    return done.stdout


@dataclasses.dataclass
class RunOutcome:
    """One finished command (runtests, pytest, python); its repr dumps everything needed to debug a failing
    assertion."""

    argv: list[str]
    cwd: Path
    exit_code: int
    stdout: str
    stderr: str
    report_path: Path | None

    def __repr__(self) -> str:
        return (
            f"RunOutcome(argv={self.argv!r}, cwd={self.cwd}, exit_code={self.exit_code})\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def report(self) -> dict[str, Any]:
        assert self.report_path is not None, "run without a JSON report"
        return json.loads(self.report_path.read_text(encoding="utf-8"))

    def assert_exit(self, code: int) -> RunOutcome:
        assert self.exit_code == code, repr(self)
        return self

    def outcomes(self) -> dict[str, str]:
        return {test["nodeid"]: test["outcome"] for test in self.report["tests"]}


def _text(output: str | bytes | None) -> str:
    """What a timed-out process had written (subprocess may hand it over as bytes, or not at all)."""
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def _note_timeout(error: subprocess.TimeoutExpired, argv: list[str], cwd: Path) -> None:
    partial = RunOutcome(argv, cwd, -9, _text(error.stdout), _text(error.stderr), None)
    error.add_note(f"killed after {error.timeout} s: {partial!r}")


def run_command(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    input_text: str | None = None,
    report_path: Path | None = None,
    unset: Iterable[str] = (),
) -> RunOutcome:
    """Run `argv` in `cwd` to its end, in `clean_environ(env)` without the variables named in `unset`; stdin is
    `input_text`, or nothing. Past `timeout` s the process is killed, and the error carries what it wrote."""
    argv = list(argv)
    environ = clean_environ(env)
    for key in unset:
        environ.pop(key, None)
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=environ,
            capture_output=True,
            text=True,
            timeout=timeout,
            **({"input": input_text} if input_text is not None else {"stdin": subprocess.DEVNULL}),
        )
    except subprocess.TimeoutExpired as error:
        _note_timeout(error, argv, Path(cwd))
        raise
    return RunOutcome(argv, Path(cwd), done.returncode, done.stdout, done.stderr, report_path)


@dataclasses.dataclass
class RunningCommand:
    """A command started by start_command, still running: signal `process`, then `finish` it."""

    argv: list[str]
    cwd: Path
    process: subprocess.Popen[str]
    report_path: Path | None = None

    def finish(self, timeout: float) -> RunOutcome:
        """Wait for the end (killing the process past `timeout` s) and collect its outputs."""
        try:
            stdout, stderr = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as error:
            self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):  # a child left behind may hold the pipes open
                error.stdout, error.stderr = self.process.communicate(timeout=10)
            _note_timeout(error, self.argv, self.cwd)
            raise
        return RunOutcome(self.argv, self.cwd, self.process.returncode, stdout, stderr, self.report_path)


def start_command(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None, report_path: Path | None = None
) -> RunningCommand:
    """Start `argv` in `cwd` as run_command would run it, without waiting for it (to signal it, say)."""
    argv = list(argv)
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=clean_environ(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return RunningCommand(argv, Path(cwd), process, report_path)


@dataclasses.dataclass
class Project:
    """A sample project in a real git repository, with everything committed."""

    path: Path
    env: dict[str, str] = dataclasses.field(default_factory=dict)  # under every run's environment

    def write(self, files: Mapping[str, str]) -> None:
        for name, content in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")

    def commit(self) -> None:
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "--allow-empty", "-m", "sample")

    def pytest(self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 120) -> RunOutcome:
        """Plain `python -m pytest ARGS` in the project, as a user would type it."""
        environ = {**self.env, **(env or {})}
        return run_command([sys.executable, "-m", "pytest", *args], cwd=self.path, env=environ, timeout=timeout)

    def run(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        report: bool = True,
        timeout: float = 120,
        input_text: str | None = None,
    ) -> RunOutcome:
        """`python -m runtests ARGS` in the project, with a JSON report unless `report` is false."""
        report_path = self.path.parent / f"{self.path.name}-report.json" if report else None
        argv = [sys.executable, "-m", "runtests", *args]
        if report_path is not None:
            report_path.unlink(missing_ok=True)
            argv[3:3] = ["--json-report", str(report_path)]
        environ = {**self.env, **(env or {})}
        return run_command(
            argv, cwd=self.path, env=environ, timeout=timeout, input_text=input_text, report_path=report_path
        )

    def status(self) -> str:
        return git(self.path, "status", "--porcelain=v1", "--untracked-files=all")


DEFAULT_PYTEST_INI = """
[pytest]
addopts = --strict-markers -p no:cacheprovider
"""
