"""benchmarks/bench_decode_bounds.py: its floors are built from the weights a cached decoding step reads."""
from __future__ import annotations

import torch

from ._scripts import load_script


def _bench():
    return load_script("bench_decode_bounds")


def test_stream_floor_counts_every_per_token_weight_and_not_the_cached_kv():
    bench = _bench()
    size = bench.SIZES["dev"]
    _, model = bench.harness_model("dev")
    mats = bench.streamed_per_token(model)
    d, depth = size["dim"], size["decoder_depth"]
    hidden = model.decoder[0].mlp.fc1.weight.shape[0]
    vocab = model.decoder_embeddings["caption"].to_logits.weight.shape[0]
    per_block = 4 * d * d + d * d + d * d + 3 * d * hidden  # qkv + proj, cross q + proj, SwiGLU
    assert sum(w.numel() for w in mats) == depth * per_block + vocab * d
    assert mats[-1].shape == (d, vocab)  # the head as decoding reads it: row-major


def test_cpu_path_reports_both_rows(capsys):
    bench = _bench()
    torch.manual_seed(0)
    out = bench.main(["--sizes", "dev", "--reps", "1", "--tokens", "8", "--maskgit-steps", "2"])
    cap, mg = out["rows"]["dev"]["caption"], out["rows"]["dev"]["maskgit"]
    assert cap["tokens"] == 8 and cap["floor_ms"] > 0 and cap["per_token_ms"] > 0 and cap["share"] > 0
    assert abs(cap["best_total_s"] - (cap["encode_s"] + 8 * cap["floor_ms"] / 1e3)) < 1e-3
    assert mg["gflops"] > 0 and 0 < mg["share"] and mg["best_s"] > 0
    assert out["targets"] == {}  # the dev size claims nothing
    assert capsys.readouterr().out.strip().startswith("{")


def test_maskgit_flops_include_attention_and_the_model_keeps_its_kernel():
    bench = _bench()
    registry, model = bench.harness_model("dev")
    impls = {m.impl for m in model.eval().modules() if hasattr(m, "impl")}
    row = bench.maskgit_row(model, registry, steps=2, reps=1, peak=1e12)
    assert {m.impl for m in model.modules() if hasattr(m, "impl")} == impls == {"sdpa"}
    assert row["gflops"] > 0 and row["best_s"] == round(row["gflops"] * 1e9 / 1e12, 4)
