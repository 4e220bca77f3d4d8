"""The benchmark runner's pure parts: the rotation that spreads machine drift evenly, and the ratios it quotes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import bench


def test_rotation_starts_each_round_one_variant_further(monkeypatch, tmp_path: Path) -> None:
    ran: list[str] = []

    def fake_timed(*commands: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
        ran.append(commands[0][0])
        return float(len(ran))

    monkeypatch.setattr(bench, "timed", fake_timed)
    variants: list[bench.Variant] = [([["a"]], None), ([["b"]], None), ([["c"]], None)]
    times = bench.rotate(3, tmp_path, variants)
    assert ran == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert times == [[1.0, 6.0, 8.0], [2.0, 4.0, 9.0], [3.0, 5.0, 7.0]]  # each variant's own runs, in order
    ran.clear()
    bench.rotate(2, tmp_path, variants[:2])
    assert ran == ["a", "b", "b", "a"]  # two variants: alternating which goes first


def test_compare_quotes_the_median_of_pair_ratios(capsys) -> None:
    ratios = bench.compare("x", ours=[1.1, 2.2, 3.0], theirs=[1.0, 2.0, 1.0])
    assert ratios["ratio"] == pytest.approx(1.1)  # pair ratios 1.1, 1.1, 3.0: a slow spell moves one pair only
    assert ratios["ratio_of_medians"] == pytest.approx(2.2)  # 2.2 / 1.0: set by which runs were slow, not by the pairs
    assert ratios["ratio_of_fastest"] == pytest.approx(1.1)
    assert ratios["spread"] == pytest.approx(2.0)
    assert "ratio x: 1.100 (median of pair ratios" in capsys.readouterr().out


def test_rotation_can_take_another_measure(tmp_path: Path) -> None:
    """The `fixed` benchmark measures each run in parts; the rotation is the same."""
    seen: list[tuple[str, dict[str, str] | None]] = []

    def parts(*commands: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
        seen.append((commands[0][0], env))
        return (float(len(seen)), 0.5)

    variants: list[bench.Variant] = [([["a"]], None), ([["b"]], {"X": "1"})]
    assert bench.rotate(2, tmp_path, variants, parts) == [[(1.0, 0.5), (4.0, 0.5)], [(2.0, 0.5), (3.0, 0.5)]]
    assert seen == [("a", None), ("b", {"X": "1"}), ("b", {"X": "1"}), ("a", None)]
