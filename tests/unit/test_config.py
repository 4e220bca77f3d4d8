"""Options from defaults, [tool.runtests] and the command line, and their validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtests.config import Options, make_options, parse_workers
from runtests.errors import ConfigError, UsageError


def write_config(directory: Path, body: str) -> Path:
    path = directory / "pyproject.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_defaults_without_config(tmp_path):
    options = make_options(tmp_path, {}, ())
    assert options == Options(cwd=tmp_path.resolve())
    assert (options.dist, options.workers, options.serial_marker, options.phase) == ("load", "auto", "serial", "all")
    assert (options.git_check, options.min_pass_rate, options.color) == ("warn", 100.0, "auto")


def test_cli_beats_config_beats_defaults(tmp_path):
    write_config(tmp_path, '[tool.runtests]\ndist = "loadfile"\nworkers = 3\nmin_pass_rate = 99.5\n')
    options = make_options(tmp_path, {"dist": "worksteal", "workers": None}, ("-k", "x"))
    assert options.dist == "worksteal"
    assert options.workers == 3
    assert options.min_pass_rate == 99.5
    assert options.pytest_args == ("-k", "x")


def test_config_is_found_in_a_parent_directory_and_paths_resolve_against_it(tmp_path):
    write_config(tmp_path, '[tool.runtests]\njson_report = "out/report.json"\npytest_args = ["-q"]\n')
    sub = tmp_path / "pkg"
    sub.mkdir()
    options = make_options(sub, {}, ("tests",))
    assert options.json_report == tmp_path / "out" / "report.json"
    assert options.pytest_args == ("-q", "tests")
    assert options.config_file == tmp_path / "pyproject.toml"


def test_pyproject_without_a_table_is_fine(tmp_path):
    write_config(tmp_path, '[project]\nname = "x"\n')
    assert make_options(tmp_path, {}, ()).dist == "load"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[tool.runtests]\nworkerz = 2\n", "unknown key tool.runtests.workerz"),
        ('[tool.runtests]\ndist = "round-robin"\n', "tool.runtests.dist = 'round-robin' is not valid"),
        ('[tool.runtests]\nworkers = "many"\n', "tool.runtests.workers = 'many' is not valid"),
        ("[tool.runtests]\nworkers = -1\n", "tool.runtests.workers = -1 is not valid"),
        ("[tool.runtests]\nmin_pass_rate = 101\n", "tool.runtests.min_pass_rate = 101 is not valid"),
        ('[tool.runtests]\nmin_pass_rate = "99"\n', "tool.runtests.min_pass_rate = '99' is not valid"),
        ('[tool.runtests]\nstream = "yes"\n', "tool.runtests.stream = 'yes' is not valid"),
        ('[tool.runtests]\npytest_args = "-q"\n', "tool.runtests.pytest_args = '-q' is not valid"),
        ('[tool.runtests]\nserial_marker = "not a name"\n', "tool.runtests.serial_marker"),
        ("[tool.runtests\n", "not valid TOML"),
        ('[tool]\nruntests = "x"\n', "[tool.runtests] must be a table"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path, body, message):
    path = write_config(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        make_options(tmp_path, {}, ())
    text = str(caught.value)
    assert str(path) in text and message in text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"workers": "lots"}, "--workers 'lots' is not valid; expected auto, logical or a whole number >= 0"),
        ({"min_pass_rate": 120.0}, "--min-pass-rate 120.0 is not valid"),
        ({"min_pass_rate": -1.0}, "--min-pass-rate -1.0 is not valid"),
        ({"serial_marker": "a b"}, "--serial-marker 'a b' is not valid"),
    ],
)
def test_bad_cli_values_are_usage_errors(tmp_path, given, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_options(tmp_path, given, ())


def test_missing_directory_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no such directory"):
        make_options(tmp_path / "missing", {}, ())


@pytest.mark.parametrize(("value", "expected"), [("auto", "auto"), ("logical", "logical"), ("0", 0), ("4", 4), (2, 2)])
def test_parse_workers(value, expected):
    assert parse_workers(value) == expected


@pytest.mark.parametrize("value", ["-1", "2.5", "", True, -3, None])
def test_parse_workers_rejects(value):
    with pytest.raises(ValueError):
        parse_workers(value)


def test_cli_json_report_is_relative_to_the_run_directory(tmp_path):
    assert make_options(tmp_path, {"json_report": "r.json"}, ()).json_report == tmp_path.resolve() / "r.json"


def test_order_balanced_by_default_and_its_old_name_still_accepted(tmp_path):
    assert make_options(tmp_path, {}, ()).order == "balanced"
    assert make_options(tmp_path, {"order": "collection"}, ()).order == "collection"
    assert make_options(tmp_path, {"order": "longest-first"}, ()).order == "balanced"  # its name before
    (tmp_path / "pyproject.toml").write_text('[tool.runtests]\norder = "longest-first"\n')
    assert make_options(tmp_path, {}, ()).order == "balanced"


def test_serial_tests_chosen_by_expression_groups_or_marker(tmp_path):
    write_config(tmp_path, '[tool.runtests]\nserial = "serial or isolated"\nserial_groups = ["db"]')
    options = make_options(tmp_path, {}, ())
    assert (options.serial_marker, options.serial_groups) == ("serial or isolated", ("db",))
    # The command line's --serial-marker beats the file's expression; its --serial beats both.
    assert make_options(tmp_path, {"serial_marker": "slow"}, ()).serial_marker == "slow"
    chosen = make_options(tmp_path, {"serial_marker": "slow", "serial": "not fast"}, ())
    assert chosen.serial_marker == "not fast"
    with pytest.raises(UsageError, match=r"^--serial 'serial and' is not valid; expected a marker expression"):
        make_options(tmp_path, {"serial": "serial and"}, ())
    write_config(tmp_path, "[tool.runtests]\nserial_groups = []")
    with pytest.raises(ConfigError, match=r"tool\.runtests\.serial_groups = \[\] is not valid"):
        make_options(tmp_path, {}, ())
