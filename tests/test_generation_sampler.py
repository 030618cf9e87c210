"""Sampler logic on a tiny stand-in model: timetables, filtering, MaskGIT/ROAR/AR, guidance, seeds."""
from __future__ import annotations

import pytest
import torch

from fourm_registry.batch import ModalityBatch
from fourm_registry.errors import FourmError
from fourm_registry.generation import guidance as G
from fourm_registry.generation.generator import Generator
from fourm_registry.generation.maskgit import fill_grid
from fourm_registry.generation.sampling import categorical, filter_logits, make_generator, sample, top_k_count
from fourm_registry.generation.schedule import GenerationSchedule, StepConfig, parse_spec
from fourm_registry.generation.timetables import temperatures_for, token_counts
from fourm_registry.tokens import EOS_ID

from ._generation_standin import StandIn

NAMES = ["rgb", "depth", "caption"]


@pytest.fixture
def small(registry):
    return registry.with_overrides({
        "rgb": {"image_size": 32, "patch_size": 8, "vocab_size": 64},
        "depth": {"image_size": 32, "patch_size": 8, "vocab_size": 48},
        "caption": {"max_length": 12, "vocab_size": 300},
    })


def rgb_cond(b=2, seed=0, known=None):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 64, (b, 16), generator=g)
    mask = torch.ones(b, 16, dtype=torch.bool) if known is None else known
    return ModalityBatch(inputs=ids, input_mask=mask)


# -- timetables and filtering -----------------------------------------------------------
@pytest.mark.parametrize("kind", ["cosine", "linear"])
@pytest.mark.parametrize("total,steps", [(196, 8), (16, 16), (17, 3), (5, 1), (196, 1)])
def test_token_counts_fill_exactly(kind, total, steps):
    counts = token_counts(kind, total, steps)
    assert len(counts) == steps and sum(counts) == total and min(counts) >= 1


def test_cosine_starts_small_and_errors_when_steps_exceed_tokens():
    counts = token_counts("cosine", 196, 8)
    assert counts[0] < counts[-1]
    with pytest.raises(ValueError, match="cannot fill 3 tokens in 4 steps"):
        token_counts("cosine", 3, 4)


def test_temperature_schedules():
    counts = [10, 10, 10, 10]
    assert temperatures_for(counts, "constant", 2.0) == [2.0] * 4
    lin = temperatures_for(counts, "linear", 2.0)
    assert lin == pytest.approx([2.0, 1.5, 1.0, 0.5])
    onex = temperatures_for(counts, "onex", 3.0, min_temperature=0.5, power=0.5)
    assert onex[0] == pytest.approx(3.0) and all(a > b for a, b in zip(onex, onex[1:]))
    assert onex[-1] > 0.5


def test_top_k_and_top_p_filtering():
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0, 0.0]])
    assert torch.isfinite(filter_logits(logits, top_k=2)).sum() == 2
    assert top_k_count(0.4, 5) == 2 and torch.isfinite(filter_logits(logits, top_k=0.4)).sum() == 2
    probs = torch.softmax(logits, -1)[0]  # ≈ .64 .24 .09 …
    kept = torch.isfinite(filter_logits(logits, top_p=0.7))[0]
    assert kept.tolist() == [True, True, False, False, False]
    assert torch.isfinite(filter_logits(logits, top_p=0.5)).sum() == 1 and probs[0] > 0.5
    assert torch.equal(filter_logits(logits), logits)


def test_greedy_and_seeded_sampling():
    logits = torch.randn(3, 7, 50)
    ids, probs = sample(logits, 0.0)
    assert torch.equal(ids, logits.argmax(-1))
    assert torch.allclose(probs, torch.softmax(logits, -1).amax(-1))
    a = sample(logits, 1.0, generator=make_generator(5))[0]
    b = sample(logits, 1.0, generator=make_generator(5))[0]
    assert torch.equal(a, b) and a.shape == (3, 7)


def test_categorical_draws_each_id_at_its_weight_and_never_a_zero_weight_one():
    """The inverse-CDF draw against the weights themselves: unnormalised rows, zeros at both ends
    and in the middle, 400k draws; each frequency within 5 standard errors of its probability."""
    weights = torch.tensor([0.0, 3.0, 0.0, 1.0, 0.5, 0.0, 2.5, 0.0])
    draws = 400_000
    ids = categorical(weights.expand(draws, -1), make_generator(3))
    freq = torch.bincount(ids, minlength=8).double() / draws
    p = weights.double() / weights.sum()
    assert freq[p == 0].sum() == 0
    assert ((freq - p).abs() <= 5 * (p * (1 - p) / draws).sqrt()).all(), (freq, p)
    # a row whose only weight is last or first, and one-hot rows of the caption vocabulary's size
    edge = torch.zeros(3, 30000)
    edge[0, -1], edge[1, 0], edge[2, 12345] = 1.0, 1e-30, 7.0
    assert categorical(edge, make_generator(0)).tolist() == [29999, 0, 12345]
    rows = torch.rand(5, 100)
    a, b = (categorical(rows, make_generator(9)) for _ in range(2))
    assert torch.equal(a, b) and not torch.equal(a, categorical(rows, make_generator(10)))


def test_sampling_at_temperature_one_follows_the_softmax():
    """``sample`` at T=1 (the MaskGIT and caption path) draws ids at their softmax probabilities."""
    logits = torch.tensor([2.0, 0.0, 1.0, -1.0])
    draws = 200_000
    ids, chosen = sample(logits.expand(draws, -1), 1.0, generator=make_generator(4))
    p = torch.softmax(logits.double(), 0)
    freq = torch.bincount(ids, minlength=4).double() / draws
    assert ((freq - p).abs() <= 5 * (p * (1 - p) / draws).sqrt()).all()
    assert torch.allclose(chosen.double(), p[ids], atol=1e-6)


# -- schedule config --------------------------------------------------------------------
def test_spec_string_and_defaults():
    s = parse_spec("caption->depth:steps=4,temp=2,temp_schedule=onex,top_k=0.1,weight.caption@neg=-1"
                   "->rgb:scheme=roar,on=caption+depth,guidance=3")
    assert s.targets == ["caption", "depth", "rgb"]
    depth = s.steps[1]
    assert (depth.steps, depth.temperature, depth.temperature_schedule, depth.top_k) == (4, 2, "onex", 0.1)
    assert depth.weights == {"caption@neg": -1}
    assert s.steps[2].condition_on == ["caption", "depth"] and s.steps[2].guidance == 3
    filled = s.steps[2].with_defaults("roar")
    assert (filled.steps, filled.token_schedule, filled.temperature) == (8, "linear", 1.0)


def test_yaml_schedule(tmp_path):
    from fourm_registry.generation.schedule import load_schedule

    p = tmp_path / "s.yaml"
    p.write_text("defaults: {temperature: 0.5}\nguide_generated: true\n"
                 "steps:\n  - target: depth\n    steps: 2\n  - {target: rgb}\n")
    s = load_schedule(p)
    assert s.guide_generated and s.steps[1].with_defaults("maskgit", s.defaults).temperature == 0.5


@pytest.mark.parametrize("spec,msg", [("rgb->", "empty step"), ("rgb:steps", "key=value"),
                                      ("rgb:steps=0", "steps"), ("rgb:colour=red", "colour"),
                                      ("rgb:top_k=1.5", "top_k")])
def test_bad_spec_strings(spec, msg):
    with pytest.raises(FourmError, match=msg):
        parse_spec(spec)


# -- decoding ---------------------------------------------------------------------------
def test_maskgit_fills_every_token_in_scheduled_steps(small):
    model = StandIn(small, NAMES)
    gen = Generator(model, small)
    seen = []
    sched = parse_spec("depth:steps=5")
    out = gen.generate({"rgb": rgb_cond()}, sched, seed=0, on_step=lambda p, i: seen.append(i))
    plan = out.plans[0]
    assert seen == [0, 1, 2, 3, 4] and sum(plan.counts) == 16 and len(model.encoded_rows) == 5
    assert bool(out.filled["depth"].all()) and out.grids["depth"].shape == (2, 16)


def test_each_maskgit_iteration_fills_its_count():
    counts = token_counts("cosine", 16, 4)
    tokens, known = torch.zeros(2, 16, dtype=torch.long), torch.zeros(2, 16, dtype=torch.bool)
    history = []
    fill_grid(tokens, known, lambda t, k, pos: torch.randn(*pos.shape, 10), "maskgit", counts,
              [1.0] * 4, on_step=lambda i, t, k: history.append(int(k[0].sum())))
    assert history == [sum(counts[: i + 1]) for i in range(4)]


def test_roar_and_maskgit_agree_in_shapes_and_vocab(small):
    gen = Generator(StandIn(small, NAMES), small)
    a = gen.generate({"rgb": rgb_cond()}, parse_spec("depth:steps=4"), seed=1).grids["depth"]
    b = gen.generate({"rgb": rgb_cond()}, parse_spec("depth:scheme=roar,steps=4"), seed=1).grids["depth"]
    assert a.shape == b.shape == (2, 16)
    for t in (a, b):
        assert int(t.min()) >= 0 and int(t.max()) < 48


def test_inpainting_keeps_given_tokens(small):
    known = torch.zeros(2, 16, dtype=torch.bool)
    known[:, :6] = True
    cond = rgb_cond(known=known)
    out = Generator(StandIn(small, NAMES), small).generate({"rgb": cond}, parse_spec("rgb:steps=3"), seed=0)
    assert torch.equal(out.grids["rgb"][:, :6], cond.inputs[:, :6]) and bool(out.filled["rgb"].all())
    assert sum(out.plans[0].counts) == 10


def test_autoregressive_stops_at_eos_and_cache_changes_nothing(small):
    model = StandIn(small, NAMES, eos_after=4)
    gen = Generator(model, small)
    out = gen.generate({"rgb": rgb_cond()}, parse_spec("caption"), seed=0)
    assert [len(s) for s in out.sequences["caption"]] == [4, 4]
    assert EOS_ID not in sum(out.sequences["caption"], [])
    cached_positions = model.decoded_positions
    assert cached_positions == 5  # start + 4 tokens, one new position per call; EOS never fed
    model2 = StandIn(small, NAMES, eos_after=None)
    g2 = Generator(model2, small)
    sched = parse_spec("caption:temperature=1.0")
    with_cache = g2.generate({"rgb": rgb_cond()}, sched, seed=3, use_cache=True).sequences
    without = g2.generate({"rgb": rgb_cond()}, sched, seed=3, use_cache=False).sequences
    assert with_cache == without and len(with_cache["caption"][0]) == 11


def test_guidance_scale_one_is_the_conditional_logits():
    state = {"rgb": rgb_cond()}
    passes = G.plan_passes(state, state, ["rgb"], 1.0, {})
    logits = torch.randn(2, 5, 9)
    assert passes.rows == 1 and torch.equal(G.guided_logits(passes, lambda b, r: logits), logits)


def test_guidance_formula_and_single_batched_forward():
    state = {"rgb": rgb_cond(), "depth": rgb_cond(seed=1)}
    neg = rgb_cond(seed=2)
    passes = G.plan_passes(state, {**state, "rgb@neg": neg}, ["rgb", "depth"], 3.0, {"rgb@neg": -0.5})
    assert passes.rows == 3
    batch = passes.batch()
    assert batch["rgb"].batch_size == 6 and not bool(batch["rgb"].input_mask[2:4].any())
    assert torch.equal(batch["rgb"].inputs[4:], neg.inputs) and not bool(batch["depth"].input_mask[2:].any())
    cond, unc, term = torch.randn(2, 4), torch.randn(2, 4), torch.randn(2, 4)
    got = passes.combine(torch.cat([cond, unc, term]))
    assert torch.allclose(got, unc + 3.0 * (cond - unc) - 0.5 * (term - unc))


def test_guided_generation_runs_one_forward_per_step(small):
    model = StandIn(small, NAMES)
    Generator(model, small).generate({"rgb": rgb_cond()}, parse_spec("depth:steps=3,guidance=2"), seed=0)
    assert model.encoded_rows == [4, 4, 4]  # cond + uncond, 2 samples each, one forward


def test_fixed_seed_reproduces_and_seeds_differ(small):
    gen = Generator(StandIn(small, NAMES), small)
    cond = {"depth": ModalityBatch(inputs=torch.randint(0, 48, (2, 16)),
                                   input_mask=torch.ones(2, 16, dtype=torch.bool))}
    sched = parse_spec("caption->rgb:scheme=roar,steps=4")
    a, b = (gen.generate(cond, sched, seed=7) for _ in range(2))
    c = gen.generate(cond, sched, seed=8)
    assert torch.equal(a.grids["rgb"], b.grids["rgb"]) and a.sequences == b.sequences
    assert not torch.equal(a.grids["rgb"], c.grids["rgb"])


def test_chained_generation_conditions_on_earlier_targets(small):
    model = StandIn(small, NAMES)
    out = Generator(model, small).generate({"rgb": rgb_cond()},
                                           parse_spec("depth:steps=2->caption"), seed=0)
    assert out.plans[1].condition_on == ["rgb", "depth"] and out.plans[1].guidance_on == ["rgb"]
    assert out.state["caption"].input_mask.any()


# -- planning errors (before compute) ---------------------------------------------------
@pytest.mark.parametrize("spec,msg", [
    ("colour", "Unknown modality 'colour'"),
    ("normal", "Target 'normal': this checkpoint never learned to predict it"),
    ("depth:tokens=17", "asks for 17 tokens but only 16"),
    ("depth:steps=20", "20 steps to fill 16 tokens"),
    ("caption:tokens=12", "at most 11"),
    ("depth:weight.caption=2", "neither given nor generated"),
    ("depth:on=caption", "neither given nor generated"),
    ("caption:scheme=maskgit", "autoregressive"),
])
def test_plan_errors_before_compute(small, spec, msg):
    model = StandIn(small, NAMES)
    with pytest.raises(FourmError, match=msg):
        Generator(model, small).generate({"rgb": rgb_cond()}, parse_spec(spec), seed=0)
    assert model.encoded_rows == []


def test_step_config_rejects_unknown_fields():
    with pytest.raises(Exception, match="extra"):
        StepConfig(target="rgb", colour=1)
    assert GenerationSchedule.from_targets(["rgb"], temperature=0).defaults == {"temperature": 0}
