"""The work tree before and after the run, read-only. runtests never cleans, stashes, resets or checks out."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

from runtests.errors import DirtyWorktreeError, GitUnavailableError

QUIET_GIT = {"GIT_OPTIONAL_LOCKS": "0"}
LISTED_PATHS_MAX = 10  # paths named in a one-line message; the reports list them all

Signature = tuple[int, int] | None  # (mtime_ns, size); None: the path does not exist


@dataclasses.dataclass(frozen=True)
class WorktreeState:
    root: str
    head: str | None  # None: no commit yet (unborn HEAD)
    branch: str | None
    staged: tuple[str, ...]
    unstaged: tuple[str, ...]
    untracked: tuple[str, ...]
    signatures: Mapping[str, Signature]
    ignored: Mapping[str, Signature] = dataclasses.field(default_factory=dict)  # what .gitignore hides, signed

    def dirty_paths(self, staged_expected: bool) -> tuple[str, ...]:
        staged = () if staged_expected else self.staged
        return tuple(dict.fromkeys((*staged, *self.unstaged, *self.untracked)))


@dataclasses.dataclass(frozen=True)
class Pollution:
    """What the test run created, changed or deleted in the work tree."""

    created: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    phases_of: Mapping[str, list[str]] = dataclasses.field(default_factory=dict)  # path -> phases that touched it
    # Files .gitignore ignores that the tests created or changed (a `testing.db`): no dirt, never refused, but named.
    ignored: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.created or self.changed or self.deleted)

    def paths(self) -> tuple[str, ...]:
        return (*self.created, *self.changed, *self.deleted)


@dataclasses.dataclass(frozen=True)
class Status:
    """What one `git status --porcelain=v2 --branch -z --untracked-files=all` says."""

    head: str | None  # None: no commit yet
    branch: str | None  # None: detached HEAD
    staged: list[str]
    unstaged: list[str]
    untracked: list[str]
    ignored: list[str] = dataclasses.field(default_factory=list)


FIELDS_BEFORE_PATH = {"1": 8, "2": 9, "u": 10}  # space-separated fields before the path, which may hold spaces


def parse_status(text: str) -> Status:
    """Parse porcelain v2 (`-z`): headers `# branch.oid`/`# branch.head`, entries `1`, `2` (a rename or copy,
    whose source path follows as its own field), `u` (unmerged), `?` (untracked); `.` marks an unchanged side."""
    head: str | None = None
    branch: str | None = None
    staged: list[str] = []
    unstaged: list[str] = []
    untracked: list[str] = []
    ignored: list[str] = []
    fields = iter(text.split("\0"))
    for entry in fields:
        kind = entry[:1]
        if kind == "#":
            _, key, value = (*entry.split(" ", 2), "", "")[:3]
            if key == "branch.oid" and value != "(initial)":
                head = value
            elif key == "branch.head" and value != "(detached)":
                branch = value
        elif kind == "?":
            untracked.append(entry[2:])
        elif kind == "!":
            ignored.append(entry[2:])
        elif kind in FIELDS_BEFORE_PATH:
            parts = entry.split(" ", FIELDS_BEFORE_PATH[kind])
            xy, path = parts[1], parts[-1]
            if kind == "2":
                next(fields, None)
            if xy[0] != ".":
                staged.append(path)
            if xy[1] != ".":
                unstaged.append(path)
    return Status(head, branch, staged, unstaged, untracked, ignored)


def sign(root: str, path: str) -> Signature:
    try:
        stat = os.lstat(os.path.join(root, path))
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)


def read_worktree(cwd: Path, root: str | None = None) -> WorktreeState:
    """The work tree's state (`root`: the top level, when already known); GitUnavailableError with a one-line
    reason when it cannot be read."""
    try:
        import git  # GitPython: lazily, so --help and `--git-check off` never pay for it
    except ImportError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "git not found"
        raise GitUnavailableError(f"cannot check the work tree: no usable git binary ({first_line})") from None
    try:
        # git itself finds the work tree, so GIT_CEILING_DIRECTORIES and GIT_DIR are honoured as in a shell.
        # Plain commands through GitPython's Git, no Repo: no object database, no long-lived cat-file process.
        if root is None:
            root = git.Git(str(cwd)).rev_parse("--show-toplevel", env=QUIET_GIT)
        # One status gives the paths, HEAD and the branch. No optional locks: status must not even refresh
        # the index of a repository it only reads.
        # `--ignored=matching` lists an ignored directory as itself, never what it holds (a virtualenv stays cheap).
        output = git.Git(root).status(
            "--porcelain=v2",
            "--branch",
            "-z",
            "--untracked-files=all",
            "--ignored=matching",
            strip_newline_in_stdout=False,
            env=QUIET_GIT,
        )
    except git.GitCommandError as exc:
        detail = (exc.stderr or str(exc)).strip().splitlines()
        reason = detail[-1].strip() if detail else "git failed"
        if "not a git repository" in reason:
            reason = f"{cwd} is not inside a git repository"
        raise GitUnavailableError(f"cannot check the work tree: {reason}") from None
    except (git.GitCommandNotFound, OSError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GitUnavailableError(f"cannot check the work tree: no usable git binary ({first_line})") from None
    status = parse_status(output)
    paths = dict.fromkeys((*status.staged, *status.unstaged, *status.untracked))
    return WorktreeState(
        root=root,
        head=status.head,
        branch=status.branch,
        staged=tuple(status.staged),
        unstaged=tuple(status.unstaged),
        untracked=tuple(status.untracked),
        signatures={path: sign(root, path) for path in paths},
        ignored={path: sign(root, path) for path in status.ignored if not is_run_artifact(path)},
    )


# What pytest and its plugins write on every run, tests or not: no test left it behind.
RUN_ARTIFACTS = {"__pycache__", ".pytest_cache", ".coverage"}


def is_run_artifact(path: str) -> bool:
    parts = path.rstrip("/").split("/")
    return bool(RUN_ARTIFACTS.intersection(parts)) or parts[-1].startswith(".coverage.") or path.endswith(".pyc")


def compare_worktrees(before: WorktreeState, after: WorktreeState) -> Pollution:
    """What changed between two states, judged by git status plus each dirty path's size and mtime."""
    created: list[str] = []
    changed: list[str] = []
    deleted: list[str] = []
    for path, signature in after.signatures.items():
        if path not in before.signatures:
            (deleted if signature is None else created if path in after.untracked else changed).append(path)
        elif signature != before.signatures[path]:
            (deleted if signature is None else changed).append(path)
    for path, signature in before.signatures.items():
        if path not in after.signatures and signature is not None:
            # Dirty before, clean or gone now: an untracked file that vanished was deleted; a tracked one restored.
            (deleted if path in before.untracked else changed).append(path)
    ignored = [path for path, signature in after.ignored.items()
               if signature is not None and before.ignored.get(path) != signature]  # fmt: skip
    return Pollution(
        tuple(sorted(created)), tuple(sorted(changed)), tuple(sorted(deleted)), ignored=tuple(sorted(ignored))
    )


def describe_paths(paths: tuple[str, ...]) -> str:
    shown = ", ".join(paths[:LISTED_PATHS_MAX])
    more = len(paths) - LISTED_PATHS_MAX
    return shown + (f" and {more} more" if more > 0 else "")


def enforce_clean(state: WorktreeState, staged_expected: bool) -> None:
    dirty = state.dirty_paths(staged_expected)
    if dirty:
        raise DirtyWorktreeError(
            f"--git-check require-clean: {len(dirty)} uncommitted path(s) in {state.root}: {describe_paths(dirty)}; "
            "commit or stash them yourself, or use --git-check warn"
        )


@dataclasses.dataclass(frozen=True)
class WorktreeReport:
    """What the run found of the work tree, for the reports."""

    before: WorktreeState | None  # None: the check is off, or it could not be made (`problem` says why)
    after: WorktreeState | None
    pollution: Pollution | None  # what the tests created, changed or deleted, each path with its phases
    problem: str | None = None  # why the work tree could not be checked before the run
    recheck_problem: str | None = None  # why it could not be re-checked after a phase


class WorktreeWatch:
    """The work tree before the run and after each phase, to tell which phase left which file behind."""

    def __init__(self, cwd: Path, before: WorktreeState | None, problem: str | None = None) -> None:
        self.cwd = cwd
        self.before = before
        self.latest = before
        self.problem = problem
        self.phases_of: dict[str, list[str]] = {}
        self.recheck_problem: str | None = None

    def after_phase(self, name: str) -> None:
        if self.latest is None:
            return
        try:
            state = read_worktree(self.cwd, root=self.latest.root)
        except GitUnavailableError as exc:
            self.recheck_problem = f"could not re-check the work tree after the {name} phase: {exc}"
            self.latest = None
            return
        found = compare_worktrees(self.latest, state)
        for path in (*found.paths(), *found.ignored):
            self.phases_of.setdefault(path, []).append(name)
        self.latest = state

    def report(self) -> WorktreeReport:
        pollution = None
        if self.before is not None and self.latest is not None:
            found = compare_worktrees(self.before, self.latest)
            touched = (*found.paths(), *found.ignored)
            pollution = dataclasses.replace(found, phases_of={p: self.phases_of.get(p, []) for p in touched})
        return WorktreeReport(self.before, self.latest, pollution, self.problem, self.recheck_problem)


def watch_worktree(cwd: Path, policy: str, staged_expected: bool) -> WorktreeWatch:
    """The work tree before the run, to watch through it (`policy`: off, warn, require-clean). Under require-clean,
    DirtyWorktreeError or GitUnavailableError when it is dirty or cannot be read: nothing may run."""
    if policy == "off":
        return WorktreeWatch(cwd, None)
    try:
        state = read_worktree(cwd)
    except GitUnavailableError as exc:
        if policy == "require-clean":
            raise
        return WorktreeWatch(cwd, None, str(exc))
    if policy == "require-clean":
        enforce_clean(state, staged_expected)
    return WorktreeWatch(cwd, state)
