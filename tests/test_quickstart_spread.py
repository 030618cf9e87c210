"""The demo's figures over seeds (``fourm_quickstart.spread``): the win rule, and bad input in one line."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fourm_quickstart.spread import compare, main, read_runs, render
from fourm_registry.errors import FourmError


def run(root: Path, seed: int, rows: list[tuple[str, bool, float, float]]) -> Path:
    d = root / f"seed{seed}"
    d.mkdir(parents=True)
    body = [{"target": t, "metric": "m", "higher_is_better": hi, "model": m, "baseline": b} for t, hi, m, b in rows]
    (d / "metrics.json").write_text(json.dumps({"rows": body, "facts": {"settings": {"seed": seed}}}))
    return d


def test_win_rule(tmp_path):
    seeds = [  # (target, higher is better, model, baseline) per seed
        [("every", True, 0.6, 0.5), ("beyond", False, 1.0, 2.0), ("noise", True, 0.52, 0.5), ("loses", False, 3.0, 2.0)],
        [("every", True, 0.7, 0.5), ("beyond", False, 1.0, 2.0), ("noise", True, 0.45, 0.5), ("loses", False, 3.0, 2.0)],
        [("every", True, 0.55, 0.5), ("beyond", False, 2.1, 2.0), ("noise", True, 0.51, 0.5), ("loses", False, 1.9, 2.0)],
    ]
    dirs = [run(tmp_path, i, rows) for i, rows in enumerate(seeds)]
    rows = {r["target"]: r for r in compare(read_runs(dirs))}
    assert rows["every"]["wins_every_seed"] and rows["every"]["win"]
    # margins 1.0, 1.0, -0.1: mean 0.633 > half range 0.55, though it loses on one seed
    assert not rows["beyond"]["wins_every_seed"] and rows["beyond"]["win"]
    assert rows["beyond"]["margins"] == pytest.approx([1.0, 1.0, -0.1])
    assert not rows["noise"]["win"] and not rows["loses"]["win"]
    assert rows["every"]["model"] == pytest.approx((0.6166666, 0.075))
    text = render(list(rows.values()), [0, 1, 2])
    assert "wins 2 of 4 rows" in text and "yes, beyond the spread" in text and "| loses | m ↓ |" in text
    assert main([*map(str, dirs), "--out", str(tmp_path / "spread.md")]) == 0
    assert (tmp_path / "spread.md").read_text().startswith("Over seeds 0, 1, 2:")


def test_bad_input_is_one_line(tmp_path, capsys):
    a = run(tmp_path, 0, [("x", True, 1.0, 0.5)])
    b = run(tmp_path, 1, [("y", True, 1.0, 0.5)])
    with pytest.raises(FourmError, match="different rows"):
        read_runs([a, b])
    assert main([str(a), str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no metrics.json" in err

