"""`fourm quickstart` is a pure function of its settings: the same seed gives byte-identical
metrics.json, another seed gives other numbers, and report.md states seed and stage times."""
from __future__ import annotations

import json

import pytest

from fourm_cli.app import build_app


def _run(runner, registry, out, *extra):
    result = runner.invoke(build_app(registry), ["quickstart", "--preset", "smoke", "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return (out / "metrics.json").read_bytes()


@pytest.mark.slow
def test_same_seed_same_metrics_other_seed_other_metrics(tmp_path, registry, runner):
    first = _run(runner, registry, tmp_path / "a")
    second = _run(runner, registry, tmp_path / "b")
    assert first == second, "two runs with the same seed gave different metrics.json"
    other = _run(runner, registry, tmp_path / "c", "--set", "seed=1")
    a_rows, c_rows = json.loads(first)["rows"], json.loads(other)["rows"]
    assert [r["model"] for r in a_rows] != [r["model"] for r in c_rows], "the seed changed nothing"

    report = (tmp_path / "a" / "report.md").read_text()
    assert "Seed 0, 2 torch threads" in report
    times = report.split("## Stage times", 1)[1]
    for stage in ("synthetic data", "tokenizers", "tokenize", "train", "generate + report"):
        assert f"| {stage} |" in times
    # two reports of the same seed differ only in the stage-times section
    other_report = (tmp_path / "b" / "report.md").read_text()
    assert report.split("## Stage times")[0] == other_report.split("## Stage times")[0]
