"""Shared fixtures: sample projects in real git repositories (the helpers they are made of live in tests/helpers.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from tests.helpers import DEFAULT_PYTEST_INI, Project, git


@pytest.fixture
def sample_project(tmp_path: Path) -> Callable[..., Project]:
    """Make a committed sample project from a {path: source} mapping (a pytest.ini is added unless given)."""

    def make(files: Mapping[str, str], commit: bool = True) -> Project:
        project = Project(tmp_path / "project")
        project.path.mkdir()
        git(project.path, "init", "-q", "-b", "main")
        project.write({"pytest.ini": DEFAULT_PYTEST_INI, **files} if "pytest.ini" not in files else files)
        if commit:
            project.commit()
        return project

    return make
