"""The error family runtests raises when a run cannot go on; each carries its exit code."""

from __future__ import annotations

EXIT_OK = 0
EXIT_TESTS_FAILED = 1
EXIT_INTERRUPTED = 2
EXIT_INTERNAL_ERROR = 3
EXIT_USAGE_ERROR = 4
EXIT_NO_TESTS = 5
EXIT_DIRTY_WORKTREE = 6

EXIT_CODES: dict[int, str] = {
    EXIT_OK: "all selected tests passed (or the pass rate met --min-pass-rate)",
    EXIT_TESTS_FAILED: "tests failed and the pass rate is below --min-pass-rate; or --leaks fail found a process "
    "the tests left running",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C) or a module failed to collect",
    EXIT_INTERNAL_ERROR: "internal error in pytest, a plugin or runtests; a broken guarantee under --strict-guarantees",
    EXIT_USAGE_ERROR: "usage error: bad option, config key or value",
    EXIT_NO_TESTS: "no tests ran in either phase",
    EXIT_DIRTY_WORKTREE: "--git-check require-clean: the work tree is dirty, the tests dirtied it, "
    "or it cannot be checked",
}


class RuntestsError(Exception):
    """A run that cannot go on; the message is one line that says what to do."""

    exit_code = EXIT_INTERNAL_ERROR


class UsageError(RuntestsError):
    exit_code = EXIT_USAGE_ERROR


class ConfigError(UsageError):
    """A bad `[tool.runtests]` table; the message names the file and the key."""


class DirtyWorktreeError(RuntestsError):
    exit_code = EXIT_DIRTY_WORKTREE


class GitUnavailableError(RuntestsError):
    """The work tree cannot be inspected (not a repository, no git binary)."""

    exit_code = EXIT_DIRTY_WORKTREE
