"""gitcheck against real temporary git repositories: what it reads, what it compares, what it refuses."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from runtests.errors import EXIT_DIRTY_WORKTREE, DirtyWorktreeError, GitUnavailableError
from runtests.gitcheck import Status, compare_worktrees, enforce_clean, parse_status, read_worktree
from tests.helpers import GIT_IDENTITY, git, run_command


@pytest.fixture(autouse=True)
def plain_git_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """read_worktree runs git in this process: no GIT_DIR or GIT_INDEX_FILE from an outer hook may steer it."""
    for key in list(os.environ):
        if key.startswith("GIT_"):
            monkeypatch.delenv(key)
    for key, value in GIT_IDENTITY.items():
        monkeypatch.setenv(key, value)


def write(root: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content, encoding="utf-8")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A committed repository on branch main: four tracked files, and *.log and build/ ignored."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root, {".gitignore": "*.log\nbuild/\n", "a.txt": "a\n", "b.txt": "b\n", "c.txt": "c\n", "d.txt": "d\n"})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


def test_clean_repository(repo: Path) -> None:
    state = read_worktree(repo)
    assert Path(state.root).resolve() == repo.resolve()
    assert state.head == git(repo, "rev-parse", "HEAD").strip()
    assert state.branch == "main"
    assert (state.staged, state.unstaged, state.untracked) == ((), (), ())
    assert dict(state.signatures) == {}
    enforce_clean(state, staged_expected=False)


def test_found_from_a_subdirectory(repo: Path) -> None:
    write(repo, {"pkg/inner/mod.py": "x = 1\n"})
    state = read_worktree(repo / "pkg" / "inner")
    assert Path(state.root).resolve() == repo.resolve()
    assert state.untracked == ("pkg/inner/mod.py",)


def test_modified_file_is_unstaged(repo: Path) -> None:
    (repo / "a.txt").write_text("changed\n", encoding="utf-8")
    state = read_worktree(repo)
    assert (state.staged, state.unstaged, state.untracked) == ((), ("a.txt",), ())
    stat = (repo / "a.txt").stat()
    assert state.signatures["a.txt"] == (stat.st_mtime_ns, stat.st_size)


def test_staged_files(repo: Path) -> None:
    write(repo, {"new.txt": "new\n", "b.txt": "staged\n"})
    git(repo, "add", "new.txt", "b.txt")
    (repo / "b.txt").write_text("staged, then changed again\n", encoding="utf-8")
    state = read_worktree(repo)
    assert sorted(state.staged) == ["b.txt", "new.txt"]
    assert state.unstaged == ("b.txt",)  # "MM": staged and changed since
    assert state.untracked == ()


def test_untracked_files_listed_one_by_one(repo: Path) -> None:
    write(repo, {"top.db": "", "newdir/sub/deep.txt": "x", "dir with space/ünï.txt": "x"})
    state = read_worktree(repo)
    assert sorted(state.untracked) == ["dir with space/ünï.txt", "newdir/sub/deep.txt", "top.db"]
    assert (state.staged, state.unstaged) == ((), ())
    assert state.signatures["dir with space/ünï.txt"] == ((repo / "dir with space/ünï.txt").stat().st_mtime_ns, 1)


def test_ignored_files_not_reported(repo: Path) -> None:
    write(repo, {"run.log": "x", "build/out/artifact.bin": "x", "sub/debug.log": "x"})
    state = read_worktree(repo)
    assert (state.staged, state.unstaged, state.untracked) == ((), (), ())
    assert dict(state.signatures) == {}
    enforce_clean(state, staged_expected=False)
    # Listed apart, an ignored directory as itself (a virtualenv is one entry, not its thousands of files).
    assert set(state.ignored) == {"run.log", "build/", "sub/debug.log"}


def test_ignored_files_the_tests_create_or_change_are_named_apart(repo: Path) -> None:
    """Not dirt (require-clean never refuses them) but named: the seed's `testing.db`. pytest's own caches and
    coverage data are no test's doing."""
    write(repo, {"kept.log": "old", ".gitignore": "*.log\nbuild/\n*.db\n__pycache__/\n.pytest_cache/\n.coverage*\n"})
    before = read_worktree(repo)
    write(repo, {"testing.db": "rows", "kept.log": "rewritten", "pkg/__pycache__/m.cpython-311.pyc": "b",
                 ".pytest_cache/v/x": "c", ".coverage": "d", ".coverage.host.1.2": "e"})  # fmt: skip
    after = read_worktree(repo)
    pollution = compare_worktrees(before, after)
    assert pollution.ignored == ("kept.log", "testing.db")
    assert not pollution and pollution.paths() == ()
    assert after.dirty_paths(staged_expected=False) == before.dirty_paths(staged_expected=False) == (".gitignore",)


def test_parse_status_literal_renames_copies_unmerged_and_spaces() -> None:
    z = "0" * 40
    text = "\0".join(
        [
            f"# branch.oid {z[:-1]}1",
            "# branch.head feature/x y",
            "# branch.upstream origin/feature",
            "# branch.ab +1 -0",
            f"2 R. N... 100644 100644 100644 {z} {z} R100 new name.txt",
            "old -> name.txt",
            f"1 .M N... 100644 100644 100644 {z} {z} mod.txt",
            "? un tracked.txt",
            f"1 A. N... 000000 100644 100644 {z} {z} add.txt",
            f"2 RM N... 100644 100644 100644 {z} {z} R90 moved.py",
            "orig.py",
            f"2 C. N... 100644 100644 100644 {z} {z} C75 copy.txt",
            "src.txt",
            f"u UU N... 100644 100644 100644 100644 {z} {z} {z} both.txt",
            "! ignored.log",
            "",
        ]
    )
    status = parse_status(text)
    assert status.head == z[:-1] + "1" and status.branch == "feature/x y"
    assert status.staged == ["new name.txt", "add.txt", "moved.py", "copy.txt", "both.txt"]
    assert status.unstaged == ["mod.txt", "moved.py", "both.txt"]
    assert status.untracked == ["un tracked.txt"]
    assert parse_status("# branch.oid (initial)\0# branch.head (detached)\0") == Status(None, None, [], [], [])


def test_rename_in_a_real_repository(repo: Path) -> None:
    git(repo, "mv", "a.txt", "renamed.txt")
    assert "renamed.txt\0a.txt\0" in git(repo, "status", "--porcelain=v2", "-z")
    state = read_worktree(repo)
    assert state.staged == ("renamed.txt",)
    assert (state.unstaged, state.untracked) == ((), ())
    assert "a.txt" not in state.signatures


def test_detached_head(repo: Path) -> None:
    git(repo, "checkout", "--quiet", "--detach")
    state = read_worktree(repo)
    assert state.branch is None and state.head == git(repo, "rev-parse", "HEAD").strip()


def test_not_a_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    probe = run_command(["git", "rev-parse", "--git-dir"], cwd=plain)
    assert probe.exit_code != 0, f"precondition: git itself finds no repository here: {probe!r}"
    with pytest.raises(GitUnavailableError) as caught:
        read_worktree(plain)
    message = str(caught.value)
    assert "\n" not in message
    assert str(plain) in message and "not inside a git repository" in message
    assert caught.value.exit_code == EXIT_DIRTY_WORKTREE


def test_ceiling_directories_respected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outer = tmp_path / "outer"
    (outer / "sub").mkdir(parents=True)
    git(outer, "init", "-q", "-b", "main")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(outer))
    probe = run_command(["git", "rev-parse"], cwd=outer / "sub")
    assert probe.exit_code != 0, f"precondition: git itself finds no repository here: {probe!r}"
    with pytest.raises(GitUnavailableError):
        read_worktree(outer / "sub")


def test_unborn_head(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root, {"first.py": "x = 1\n"})
    state = read_worktree(root)
    assert state.head is None
    assert state.branch == "main"
    assert state.untracked == ("first.py",)
    git(root, "add", "first.py")
    assert read_worktree(root).staged == ("first.py",)


def test_enforce_clean_names_the_paths(repo: Path) -> None:
    write(repo, {"a.txt": "modified\n", "staged.txt": "s\n", "stray.db": ""})
    git(repo, "add", "staged.txt")
    state = read_worktree(repo)
    with pytest.raises(DirtyWorktreeError) as caught:
        enforce_clean(state, staged_expected=False)
    assert caught.value.exit_code == EXIT_DIRTY_WORKTREE
    assert "\n" not in str(caught.value)
    assert "3 uncommitted path(s)" in str(caught.value) and ": staged.txt, a.txt, stray.db;" in str(caught.value)
    with pytest.raises(DirtyWorktreeError) as caught:  # pre-commit: staged changes are the point of the run
        enforce_clean(state, staged_expected=True)
    assert "2 uncommitted path(s)" in str(caught.value) and ": a.txt, stray.db;" in str(caught.value)


def test_enforce_clean_accepts_only_staged_changes_in_pre_commit(repo: Path) -> None:
    write(repo, {"a.txt": "modified\n", "added.txt": "new\n"})
    git(repo, "add", "a.txt", "added.txt")
    state = read_worktree(repo)
    enforce_clean(state, staged_expected=True)
    with pytest.raises(DirtyWorktreeError, match=r"2 uncommitted path\(s\)"):
        enforce_clean(state, staged_expected=False)


def test_enforce_clean_shortens_long_lists(repo: Path) -> None:
    write(repo, {f"junk{index:02}.tmp": "" for index in range(13)})
    with pytest.raises(DirtyWorktreeError, match=r"13 uncommitted .*junk09\.tmp and 3 more;") as caught:
        enforce_clean(read_worktree(repo), staged_expected=False)
    assert "junk10.tmp" not in str(caught.value)


def test_compare_worktrees(repo: Path) -> None:
    write(repo, {"a.txt": "dirty before\n", "b.txt": "dirty, restored later\n", "scratch.tmp": "x", "kept.tmp": "k"})
    before = read_worktree(repo)
    write(repo, {"a.txt": "dirty before, and changed again by a test\n", "b.txt": "b\n", "d.txt": "changed\n"})
    write(repo, {"test_run.db": "", "out/report.xml": "<x/>", "ignored.log": "x"})
    (repo / "c.txt").unlink()  # tracked file deleted
    (repo / "scratch.tmp").unlink()  # untracked file that vanished
    pollution = compare_worktrees(before, read_worktree(repo))
    assert pollution.created == ("out/report.xml", "test_run.db")
    assert pollution.changed == ("a.txt", "b.txt", "d.txt")
    assert pollution.deleted == ("c.txt", "scratch.tmp")
    assert pollution and pollution.paths() == (
        "out/report.xml",
        "test_run.db",
        "a.txt",
        "b.txt",
        "d.txt",
        "c.txt",
        "scratch.tmp",
    )


def test_compare_worktrees_nothing_changed(repo: Path) -> None:
    write(repo, {"a.txt": "dirty\n", "untracked.tmp": "u"})
    git(repo, "add", "a.txt")
    before = read_worktree(repo)
    pollution = compare_worktrees(before, read_worktree(repo))
    assert not pollution and pollution.paths() == ()


def test_reading_never_modifies_the_repository(repo: Path) -> None:
    write(repo, {"a.txt": "to stash\n"})
    git(repo, "stash", "-q")
    write(repo, {"b.txt": "unstaged\n", "staged.txt": "s\n", "untracked/x.txt": "u", "run.log": "ignored"})
    git(repo, "add", "staged.txt")

    def snapshot() -> tuple[str, ...]:
        return (
            git(repo, "status", "--porcelain=v1", "--untracked-files=all", "--ignored"),
            git(repo, "stash", "list"),
            git(repo, "rev-parse", "HEAD", "stash@{0}"),
            git(repo, "diff"),
            git(repo, "diff", "--cached"),
        )

    before = snapshot()
    for _ in range(2):
        read_worktree(repo)
    assert snapshot() == before
    assert (repo / "untracked/x.txt").read_text(encoding="utf-8") == "u"
    assert (repo / "run.log").read_text(encoding="utf-8") == "ignored"


NO_GIT_SCRIPT = """
import json, sys
from pathlib import Path
from runtests.gitcheck import read_worktree
try:
    read_worktree(Path(sys.argv[1]))
except BaseException as exc:
    print(json.dumps([type(exc).__name__, str(exc)]))
else:
    print(json.dumps(["no error", ""]))
"""


def read_without_git(repo: Path, tmp_path: Path, extra: dict[str, str]) -> tuple[str, str]:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    unset = ["GIT_PYTHON_GIT_EXECUTABLE"]
    if "GIT_PYTHON_REFRESH" not in extra:
        unset.append("GIT_PYTHON_REFRESH")
    done = run_command(
        [sys.executable, "-c", NO_GIT_SCRIPT, str(repo)], cwd=repo, env={"PATH": str(empty), **extra}, unset=unset
    )
    assert (done.exit_code, done.stderr) == (0, ""), done
    name, message = json.loads(done.stdout)
    return name, message


def test_no_git_binary(repo: Path, tmp_path: Path) -> None:
    name, message = read_without_git(repo, tmp_path, {})
    assert name == "GitUnavailableError", message
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith("cannot check the work tree: no usable git binary")


def test_no_git_binary_quiet_refresh_one_line(repo: Path, tmp_path: Path) -> None:
    name, message = read_without_git(repo, tmp_path, {"GIT_PYTHON_REFRESH": "quiet"})
    assert name == "GitUnavailableError", message
    assert "\n" not in message, message
