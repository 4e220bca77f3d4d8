"""Shared helpers: sample projects in real git repositories, and the real runtests run on them."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
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
    env.update(extra or {})
    return env


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=clean_environ(), capture_output=True, text=True, check=True)
    return done.stdout


@dataclasses.dataclass
class RunOutcome:
    """One finished runtests run; its repr dumps everything needed to debug a failing assertion."""

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


@dataclasses.dataclass
class Project:
    """A sample project in a real git repository, with everything committed."""

    path: Path

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
        argv = [sys.executable, "-m", "pytest", *args]
        done = subprocess.run(
            argv, cwd=self.path, env=clean_environ(env), capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        return RunOutcome(argv, self.path, done.returncode, done.stdout, done.stderr, None)

    def run(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        report: bool = True,
        timeout: float = 120,
        input_text: str | None = None,
    ) -> RunOutcome:
        report_path = self.path.parent / f"{self.path.name}-report.json" if report else None
        argv = [sys.executable, "-m", "runtests", *args]
        if report_path is not None:
            report_path.unlink(missing_ok=True)
            argv[3:3] = ["--json-report", str(report_path)]
        done = subprocess.run(
            argv,
            cwd=self.path,
            env=clean_environ(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            **({"input": input_text} if input_text is not None else {"stdin": subprocess.DEVNULL}),
        )
        return RunOutcome(argv, self.path, done.returncode, done.stdout, done.stderr, report_path)

    def status(self) -> str:
        return git(self.path, "status", "--porcelain=v1", "--untracked-files=all")


DEFAULT_PYTEST_INI = """
[pytest]
addopts = --strict-markers -p no:cacheprovider
"""
