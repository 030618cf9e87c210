"""The sampler on the real FourM (tiny custom size): KV cache, MaskGIT/ROAR, guidance, seeds, EOS."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fourm_registry import Registry
from fourm_registry.batch import ModalityBatch
from fourm_registry.generation import Generator, parse_spec
from fourm_registry.generation import guidance as G
from fourm_registry.generation.fourm_adapter import FourMPredictor, complete_sequence
from fourm_registry.masking.span import span_mask
from fourm_registry.model import build_model
from fourm_registry.tokens import EOS_ID, sentinel_id

from ._torch_threads import one_torch_thread  # noqa: F401  (autouse)

SMALL = {"rgb": {"image_size": 32, "patch_size": 8, "vocab_size": 64},
         "depth": {"image_size": 32, "patch_size": 8, "vocab_size": 48},
         "caption": {"max_length": 24, "vocab_size": 300}}
WORDS = [250, 260, 270, 280]  # the caption the fixture model learns for every image




@pytest.fixture(scope="module")
def registry():
    return Registry.build(allow=[]).with_overrides(SMALL)


def rgb(b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return ModalityBatch(inputs=torch.randint(0, 64, (b, 16), generator=g),
                         input_mask=torch.ones(b, 16, dtype=torch.bool))


@pytest.fixture(scope="module")
def model(registry):
    """A tiny FourM trained for a few steps to caption every image with WORDS."""
    torch.manual_seed(0)
    m = build_model({"dim": 64, "encoder_depth": 2, "decoder_depth": 2, "num_heads": 4}, registry,
                    ["rgb", "depth", "caption"])
    _, target = span_mask([*WORDS, EOS_ID], 0.0, np.random.default_rng(0))  # [S_1] … [EOS] [S_2]
    tgt = torch.tensor([target] * 4)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    for step in range(60):
        batch = {"rgb": rgb(4, seed=step),
                 "caption": ModalityBatch(inputs=torch.zeros(4, 1, dtype=torch.long),
                                          input_mask=torch.zeros(4, 1, dtype=torch.bool),
                                          targets=tgt, target_mask=torch.ones_like(tgt, dtype=torch.bool))}
        loss = m(batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    return m.eval()


@pytest.fixture
def gen(model, registry):
    return Generator(FourMPredictor(model), registry)


def test_decoding_convention_matches_span_masking(model):
    _, target = span_mask([5, 6, EOS_ID], 0.0, np.random.default_rng(0))
    p = FourMPredictor(model)
    assert p.sequence_start("caption") == target[:1] and {EOS_ID, target[-1]} <= p.sequence_stop("caption")
    full = complete_sequence([[7, 8]], 24, 1)
    assert full.inputs[0, :3].tolist() == [7, 8, EOS_ID] and int(full.input_mask.sum()) == 3


def test_autoregressive_stops_at_eos(gen):
    out = gen.generate({"rgb": rgb()}, parse_spec("caption:temperature=0"), seed=0)
    assert out.sequences["caption"] == [WORDS, WORDS]


def test_kv_cache_changes_nothing(model, gen):
    p = FourMPredictor(model)
    ctx = p.encode({"rgb": rgb()})
    tokens = torch.tensor([[sentinel_id(1), 11, 250, 17, 99, 3]] * 2)
    cached, plain = p.sequence_decoder(ctx, "caption", True), p.sequence_decoder(ctx, "caption", False)
    for t in range(1, tokens.shape[1] + 1):
        assert torch.allclose(cached(tokens[:, :t]), plain(tokens[:, :t]), atol=1e-5)
    sched = parse_spec("caption:temperature=1.5")  # sampled, so many tokens before any stop id
    a = gen.generate({"rgb": rgb()}, sched, seed=4, use_cache=True).sequences
    b = gen.generate({"rgb": rgb()}, sched, seed=4, use_cache=False).sequences
    assert a == b


class Counting(FourMPredictor):
    calls = 0

    def grid_logits(self, context, target, positions):
        Counting.calls += 1
        return super().grid_logits(context, target, positions)


def test_maskgit_fills_every_token_in_scheduled_steps(model, registry):
    Counting.calls = 0
    out = Generator(Counting(model), registry).generate({"rgb": rgb()}, parse_spec("depth:steps=6"), seed=0)
    assert Counting.calls == 6 and bool(out.filled["depth"].all()) and sum(out.plans[0].counts) == 16


def test_roar_and_maskgit_agree_in_shapes_and_vocab(gen):
    for spec in ("depth:steps=4", "depth:scheme=roar,steps=16"):
        grid = gen.generate({"rgb": rgb()}, parse_spec(spec), seed=0).grids["depth"]
        assert grid.shape == (2, 16) and int(grid.min()) >= 0 and int(grid.max()) < 48


def test_batched_guidance_equals_separate_passes(model):
    p = FourMPredictor(model)
    state = {"rgb": rgb(), "depth": ModalityBatch(inputs=torch.zeros(2, 16, dtype=torch.long),
                                                  input_mask=torch.zeros(2, 16, dtype=torch.bool))}
    pos = torch.arange(16).repeat(2, 1)

    def forward(batch, rows):
        return p.grid_logits(p.encode(batch), "depth", pos.repeat(rows, 1))

    cond = forward(state, 1)
    plain = G.plan_passes(state, state, ["rgb"], 1.0, {})
    assert torch.equal(G.guided_logits(plain, forward), cond)  # scale 1: exactly the conditional
    both = G.plan_passes(state, state, ["rgb"], 1.0, {"rgb": 0.0})  # forces cond+uncond+term batch
    assert both.rows == 3 and torch.allclose(G.guided_logits(both, forward), cond, atol=1e-5)
    uncond = forward({k: G.hidden(v) if k == "rgb" else v for k, v in state.items()}, 1)
    scaled = G.guided_logits(G.plan_passes(state, state, ["rgb"], 2.5, {}), forward)
    assert torch.allclose(scaled, uncond + 2.5 * (cond - uncond), atol=1e-4)


def test_fixed_seed_reproduces_chained_generation(gen):
    sched = parse_spec("caption:temperature=1->depth:steps=4,guidance=2,top_k=10->rgb:scheme=roar,steps=4")
    cond = {"rgb@neg": rgb(seed=9), "depth": ModalityBatch(inputs=torch.randint(0, 48, (2, 16)),
                                                           input_mask=torch.zeros(2, 16, dtype=torch.bool))}
    cond["depth"].input_mask[:, :8] = True
    sched.steps[1].weights["rgb@neg"] = -0.5
    a, b = (gen.generate(cond, sched, seed=11, batch_size=2) for _ in range(2))
    assert a.sequences == b.sequences and torch.equal(a.grids["depth"], b.grids["depth"])
    assert torch.equal(a.grids["rgb"], b.grids["rgb"])
    assert torch.equal(a.grids["depth"][:, :8], cond["depth"].inputs[:, :8])  # in-painting kept them
    c = gen.generate(cond, sched, seed=12, batch_size=2)
    assert not torch.equal(a.grids["rgb"], c.grids["rgb"])
