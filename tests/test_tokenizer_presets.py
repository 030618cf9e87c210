"""``fourm tokenizer train --preset``, every VQ-VAE setting documented, and the shared text
vocabulary's final size printed, written and checked against configs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fourm_cli.app import build_app
from fourm_registry import FourmError
from fourm_registry.shards import AtomicShardWriter
from fourm_registry.tokenizers.presets import PRESETS, SETTING_DOCS, preset_overrides, undocumented
from fourm_registry.tokenizers.vocab import VOCAB_FILE, check_vocab_sizes

from ._torch_threads import one_torch_thread  # noqa: F401

README = (Path(__file__).parents[1] / "README.md").read_text()


def test_every_setting_is_documented_in_help_and_readme(registry, runner):
    assert undocumented() == []
    help_text = " ".join(runner.invoke(build_app(registry), ["tokenizer", "train", "--help"],
                                       terminal_width=400).output.split())
    for name in SETTING_DOCS:
        assert name in help_text, name
        assert f"`{name}`" in README, name
    for name in PRESETS:
        assert f"`{name}`" in README and name in help_text


def test_presets_grow_and_a_set_wins(registry):
    spec = registry.get_modality("depth")
    levels = spec.tokenizer.factory.adapter(spec).config(spec).levels
    sizes = []
    for name in PRESETS:
        model, training = preset_overrides(name, levels)
        tok = spec.tokenizer.factory.fresh(spec, **model)
        sizes.append(sum(p.numel() for p in tok.model.parameters()))
        assert training["steps"] > 0
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1] / 10
    with pytest.raises(FourmError, match="Unknown tokenizer preset 'huge'"):
        preset_overrides("huge", levels)


def test_tiny_preset_trains_and_prints_size_and_speed(tmp_path, registry, runner):
    rng = np.random.default_rng(0)
    with AtomicShardWriter(tmp_path / "d" / "s.tar", registry) as w:
        for i in range(4):
            w.write({"__key__": f"k{i}", "depth": rng.random((32, 32)).astype(np.float32)})
    r = runner.invoke(build_app(registry), ["tokenizer", "train", "depth", "--data", str(tmp_path / "d"),
                                            "--out", str(tmp_path / "tok"), "--preset", "tiny", "--steps", "2",
                                            "--image-size", "32", "--patch-size", "8", "--vocab-size", "64",
                                            "--set", "code_dim=8", "--no-progress", "--sample-every", "100"],
                      terminal_width=400)
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "M parameters" in text and "ms/step" in text
    saved = json.loads((tmp_path / "tok" / "config.json").read_text())
    tiny, _ = preset_overrides("tiny", 4)
    assert saved["channels"] == tiny["channels"] and saved["code_dim"] == 8  # --set wins


def test_text_vocabulary_size_is_printed_written_and_checked(tmp_path, registry, runner):
    corpus = tmp_path / "c.txt"
    corpus.write_text("a red cube\ntwo blue balls\n" * 10)
    r = runner.invoke(build_app(registry), ["tokenizer", "train", "text", "--corpus", str(corpus),
                                            "--vocab-size", "300", "--out", str(tmp_path / "tok" / "text")],
                      terminal_width=400)
    assert r.exit_code == 0, r.output
    info = json.loads((tmp_path / "tok" / "text" / VOCAB_FILE).read_text())
    assert info["requested"] == 300 and info["vocab_size"] > info["layout_ids"] > 300
    out = " ".join(r.output.split())
    assert f"{info['vocab_size']:,} ids" in out and f"at least {info['vocab_size']}" in out
    small = registry.with_overrides({"caption": {"vocab_size": 300}}).get_modality("caption")
    with pytest.raises(FourmError, match=rf"caption.vocab_size is 300 .* at least {info['vocab_size']}"):
        check_vocab_sizes(tmp_path / "tok", [small])
    check_vocab_sizes(tmp_path / "tok", [registry.get_modality("caption")])  # 30000: fits
