"""`fourm quickstart` end to end at test size: every stage runs, writes its outputs, and reruns skip."""
from __future__ import annotations

import json

import pytest

from fourm_cli.app import build_app

TINY = ["n_train=24", "n_val=4", "vq_steps=30", "train_steps=30", "eval_samples=4", "text_vocab=4400"]


@pytest.mark.slow
def test_quickstart_runs_every_stage_and_reports(tmp_path, registry, runner):
    out = tmp_path / "demo"
    args = ["quickstart", "--preset", "fast", "--out", str(out)] + [a for s in TINY for a in ("--set", s)]
    result = runner.invoke(build_app(registry), args)
    assert result.exit_code == 0, result.output
    for name in ("rgb", "depth", "normal", "semseg"):
        assert (out / "tokenizers" / name / "config.json").is_file()
    assert (out / "tokenizers" / "text" / "tokenizer.json").is_file()
    assert list((out / "tokens" / "train").glob("*.tar")) and list((out / "tokens" / "val").glob("*.tar"))
    assert (out / "train" / "export" / "model.safetensors").is_file()
    rows = json.loads((out / "metrics.json").read_text())["rows"]
    assert {r["target"] for r in rows} == {"depth", "normal", "semseg", "det", "caption", "caption->rgb"}
    assert all(isinstance(r["model"], float) and isinstance(r["baseline"], float) for r in rows)
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "<table>" in html
    assert (out / "scene-0.png").is_file()

    again = runner.invoke(build_app(registry), args)  # every stage is skipped on a rerun
    assert again.exit_code == 0 and again.output.count("already done") == 5

    changed = runner.invoke(build_app(registry), args[:5] + ["--set", "n_train=25"])
    assert changed.exit_code == 1 and "other settings" in changed.output
