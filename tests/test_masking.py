"""Masking properties over many random draws: budgets, min/max, disjointness, sentinel structure."""
from __future__ import annotations

import numpy as np
import pytest

from fourm_registry import FourmError, Registry
from fourm_registry.masking import (
    MaskingConfig, Masker, MixtureComponent, dirichlet_split, mask_to_budget, merge_spans, span_mask,
    truncate_target,
)
from fourm_registry.tokens import EOS_ID, SENTINEL_BASE, is_sentinel, sentinel_id

SMALL = {"rgb": {"image_size": 32, "patch_size": 8, "vocab_size": 64},
         "depth": {"image_size": 32, "patch_size": 8, "vocab_size": 64, "min_tokens": 3},
         "caption": {"max_length": 12, "vocab_size": 300}}
NAMES = ["rgb", "depth", "caption"]


@pytest.fixture(scope="module")
def registry():
    return Registry.build(allow=[]).with_overrides(SMALL)


def mixture(**kw) -> MaskingConfig:
    return MaskingConfig(input_tokens=(4, 14), target_tokens=(2, 16), components=[
        MixtureComponent(name="rgb2all", input_alphas={"rgb": 1.0}, target_alphas=0.5),
        MixtureComponent(name="all2all", input_alphas=0.5, target_alphas=0.5, keep_all=["caption"]),
    ], **kw)


def sample(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"rgb": rng.integers(0, 64, 16), "depth": rng.integers(0, 64, 16),
            "caption": rng.integers(204, 300, int(rng.integers(0, 16)))}


def test_dirichlet_split_is_exact_and_skips_zero_alpha():
    rng = np.random.default_rng(0)
    for total in (0, 1, 7, 128):
        split = dirichlet_split(rng, np.array([0.5, 0.0, 2.0]), total)
        assert split.sum() == total and split[1] == 0


def test_budgets_respect_min_max_and_totals(registry):
    masker = Masker(mixture(), registry.select(NAMES))
    rng = np.random.default_rng(1)
    seen_components = set()
    for _ in range(600):
        d = masker.draw(rng)
        seen_components.add(d.component)
        assert (d.input_budget <= masker.max_tokens).all()
        assert d.input_budget[1] >= 3  # depth's min_tokens, even where its alpha is 0 (rgb2all)
        if d.component == 0:  # rgb2all: only rgb (and depth's forced minimum) as input
            assert d.input_budget[2] == 0
        else:
            assert d.input_budget.sum() <= 14
        grid = np.array([True, True, False])
        assert (d.target_budget[grid] <= masker.max_tokens[grid] - d.input_budget[grid]).all()
        assert (d.target_budget <= masker.max_tokens).all()
    assert seen_components == {0, 1}


def test_mixture_weights_are_followed(registry):
    cfg = mixture()
    cfg.components[0].weight = 3.0
    masker = Masker(cfg, registry.select(NAMES))
    rng = np.random.default_rng(2)
    share = np.mean([masker.draw(rng).component == 0 for _ in range(2000)])
    assert 0.71 < share < 0.79


def test_dense_masks_disjoint_and_sized(registry):
    masker = Masker(mixture(), registry.select(NAMES))
    rng = np.random.default_rng(3)
    for _ in range(300):
        s = sample(rng)
        state = rng.bit_generator.state
        d = masker.draw(rng)
        rng.bit_generator.state = state  # replay: the call draws the same budgets first
        out = masker(s, rng)
        for i, name in enumerate(["rgb", "depth"]):
            m = out[name]
            assert not (m.input_mask & m.target_mask).any()
            assert m.input_mask.sum() == d.input_budget[i] and m.target_mask.sum() == d.target_budget[i]
            assert np.array_equal(m.inputs, s[name]) and np.array_equal(m.targets, s[name])


def test_sequence_masking_structure(registry):
    masker = Masker(mixture(), registry.select(NAMES))
    rng = np.random.default_rng(4)
    for _ in range(400):
        s = sample(rng)
        state = rng.bit_generator.state
        d = masker.draw(rng)
        rng.bit_generator.state = state
        cap = masker(s, rng)["caption"]
        inp, tgt = cap.inputs.tolist(), cap.targets.tolist()
        assert len(inp) <= d.input_budget[2] and len(tgt) <= d.target_budget[2]
        if tgt:
            assert is_sentinel(tgt[0])
        in_sents = [t for t in inp if is_sentinel(t)]
        assert in_sents == [sentinel_id(i) for i in range(1, len(in_sents) + 1)]
        assert cap.input_mask.all() and cap.target_mask.all()


def test_span_masking_reconstructs_the_sequence():
    rng = np.random.default_rng(5)
    for _ in range(500):
        seq = rng.integers(204, 300, int(rng.integers(1, 30))).tolist() + [EOS_ID]
        budget = int(rng.integers(1, 40))
        inp, tgt = mask_to_budget(seq, budget, float(rng.uniform()), 0.9, rng)
        assert len(inp) <= budget
        assert merge_spans(inp, tgt) == seq
        sentinels = [t for t in tgt if is_sentinel(t)]
        assert sentinels == [sentinel_id(i) for i in range(1, len(sentinels) + 1)]
        assert tgt[-1] == sentinel_id(len(sentinels))  # the final sentinel closes the target
        cut = truncate_target(tgt, int(rng.integers(1, 12)), rng)
        assert is_sentinel(cut[0])
        start = next(i for i in range(len(tgt)) if tgt[i:i + len(cut)] == cut)
        assert is_sentinel(tgt[start])


def test_span_mask_extremes():
    rng = np.random.default_rng(6)
    seq = [210, 211, 212, EOS_ID]
    assert span_mask(seq, 1.0, rng) == (seq, [sentinel_id(1)])
    assert span_mask(seq, 0.0, rng) == ([sentinel_id(1)], [sentinel_id(1), *seq, sentinel_id(2)])
    assert mask_to_budget(seq, 0, 1.0, 0.9, rng) == ([], [sentinel_id(1), *seq, sentinel_id(2)])
    assert truncate_target([sentinel_id(1), 210, 211, sentinel_id(2)], 0, rng) == []


def test_keep_all_keeps_caption_input(registry):
    cfg = MaskingConfig(input_tokens=40, target_tokens=8, components=[
        MixtureComponent(name="cap2all", input_alphas={"caption": 1.0}, target_alphas=1.0, keep_all=["caption"])])
    masker = Masker(cfg, registry.select(NAMES))
    rng = np.random.default_rng(7)
    for _ in range(50):
        s = sample(rng)
        cap = masker(s, rng)["caption"]
        assert cap.inputs.tolist() == [*s["caption"].tolist()[:11], EOS_ID]  # a long caption keeps its [EOS]
        assert cap.targets.tolist() in ([], [sentinel_id(1)])


def test_same_seed_same_masks(registry):
    masker = Masker(mixture(), registry.select(NAMES))
    s = sample(np.random.default_rng(8))
    a = masker(s, np.random.default_rng(9))
    b = masker(s, np.random.default_rng(9))
    assert all(np.array_equal(a[n].inputs, b[n].inputs) and np.array_equal(a[n].input_mask, b[n].input_mask)
               for n in NAMES)


@pytest.mark.parametrize("component, message", [
    (MixtureComponent(input_alphas={"rgbb": 1.0}), "rgbb"),
    (MixtureComponent(keep_all=["rgb"]), "keep_all"),
    (MixtureComponent(input_alphas=0.0), "no modality"),
])
def test_bad_components_name_the_culprit(registry, component, message):
    with pytest.raises(FourmError, match=message):
        Masker(MaskingConfig(components=[component]), registry.select(NAMES))


def test_sequence_vocab_must_hold_sentinels():
    reg = Registry.build(allow=[]).with_overrides({"caption": {"max_length": 12, "vocab_size": SENTINEL_BASE + 3}})
    with pytest.raises(FourmError, match="vocab_size"):
        Masker(MaskingConfig(), reg.select(["caption"]))
