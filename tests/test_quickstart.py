"""`fourm quickstart --preset fast` end to end: every stage writes its outputs, the trained
model beats the trivial baselines on held-out depth and semseg, and reruns skip."""
from __future__ import annotations

import json

import pytest

from fourm_cli.app import build_app
from fourm_quickstart import objects
from fourm_quickstart.evaluate import DECODINGS, DENSE_TARGETS, PROTOCOLS, protocols_for


@pytest.mark.slow
def test_fast_quickstart_learns_and_reports(tmp_path, registry, runner):
    out = tmp_path / "demo"
    args = ["quickstart", "--preset", "fast", "--out", str(out)]
    result = runner.invoke(build_app(registry), args)
    assert result.exit_code == 0, result.output
    for name in ("rgb", "depth", "normal", "semseg"):
        assert (out / "tokenizers" / name / "config.json").is_file()
    assert (out / "tokenizers" / "text" / "tokenizer.json").is_file()
    assert list((out / "tokens" / "train").glob("*.tar")) and list((out / "tokens" / "val").glob("*.tar"))
    assert (out / "train" / "export" / "model.safetensors").is_file()
    rows = {(r["target"], r["metric"]): r for r in json.loads((out / "metrics.json").read_text())["rows"]}
    assert {t for t, _ in rows} == {"depth", "normal", "semseg", "det", "caption", "caption->rgb"}
    assert all(isinstance(r["model"], float) and isinstance(r["tokenizer"], float) for r in rows.values())
    for (target, _), r in rows.items():  # each row's decoding (chosen on the dev scenes) and the alternatives
        own = set(protocols_for(target, DECODINGS))
        assert r["decoding"] in own
        if target in DENSE_TARGETS:
            assert set(r["by_decoding"]) == own and r["by_decoding"][r["decoding"]] == r["model"]
    assert set(protocols_for("caption->rgb", DECODINGS)) > set(protocols_for("depth", DECODINGS)) > set(PROTOCOLS)  # the direct route is scored
    report = (out / "report.md").read_text()
    for key in (("depth", "abs_rel_objects"), ("semseg", "miou")):  # it learned: better than the baseline
        assert rows[key]["model_better"], f"{key}: {rows[key]}\n{report}"
    assert "## Decoding per target" in report
    dev = json.loads((out / "metrics.json").read_text())["facts"]["dev"]  # what the choice saw
    assert set(dev) == {f"{t}/{m}" for t, m in rows if t in DENSE_TARGETS}
    for key, got in dev.items():
        assert set(got) == {"baseline", *protocols_for(key.split("/")[0], DECODINGS)}
    assert "scored on the dev scenes" in report
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "<table>" in html
    assert (out / "scene-0.png").is_file()

    scenes = objects.ScoredScenes(out, registry)  # the caption diagnostics read the finished run
    shares = objects.object_shares(scenes, seeds=1)
    assert set(shares) == {"ground truth", *objects.SCHEMES}
    assert all(0.0 <= p <= 1.0 and 0.0 <= s <= 1.0 for p, s in shares.values())
    assert shares["ground truth"][1] > 0.5  # synth scenes hold objects
    by_shape = objects.shape_shares(scenes, seeds=1)
    assert by_shape["ground truth"].keys() == by_shape["random order"].keys()
    assert all(not b > 0 for _, b in by_shape["ground truth"].values())  # captions name every shape shown
    tones = objects.tone_brightness(scenes)
    assert sum(t["scenes"] for t in tones.values()) == len(scenes.samples)
    truth = [t["truth"] for t in tones.values()]
    assert truth == sorted(truth)  # the words name the floor's brightness, darkest first
    assert all(0 <= v <= 255 for t in tones.values() for k, v in t.items() if k != "scenes")
    assert objects.main([str(tmp_path)]) == 2  # not a run directory: one line, no traceback

    again = runner.invoke(build_app(registry), args)  # every stage is skipped on a rerun
    assert again.exit_code == 0 and again.output.count("already done") == 5

    changed = runner.invoke(build_app(registry), args + ["--set", "n_train=25"])
    assert changed.exit_code == 1 and "other settings" in changed.output
