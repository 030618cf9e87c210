"""``fourm masking preview``: the masks a config samples, and its budgets per mixture component."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from fourm_cli.app import build_app
from fourm_registry.masking.preview import INPUT, TARGET

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "train_tiny.yaml"


def test_preview_draws_masks_and_budget_histograms(tmp_path, registry, runner):
    out = tmp_path / "new" / "dir" / "masks.png"
    r = runner.invoke(build_app(registry), ["masking", "preview", str(CONFIG), "--out", str(out), "--samples", "3",
                                            "--draws", "400", "--json"])
    assert r.exit_code == 0, r.output
    summary = {row["component"]: row for row in json.loads(r.output)["components"]}
    assert set(summary) == {"all2all", "rgb2all"} and sum(r["draws"] for r in summary.values()) == 400
    assert summary["rgb2all"]["depth"]["input_mean"] == 0 < summary["all2all"]["depth"]["input_mean"]
    assert summary["rgb2all"]["rgb"]["input_mean"] > summary["all2all"]["rgb"]["input_mean"]
    pixels = np.asarray(Image.open(out).convert("RGB")).reshape(-1, 3)
    colours = {tuple(p) for p in np.unique(pixels, axis=0)}
    assert INPUT in colours and TARGET in colours


def test_preview_honours_overrides_and_prints_a_summary(tmp_path, registry, runner):
    out = tmp_path / "m.png"
    r = runner.invoke(build_app(registry), ["masking", "preview", str(CONFIG), "--out", str(out),
                                            "--set", "masking.input_tokens=4", "--draws", "200"])
    assert r.exit_code == 0, r.output
    assert "Wrote" in r.output and "mean input/target tokens" in r.output and out.is_file()
