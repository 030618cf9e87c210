"""CM3: interleaving, span masking moved to the end, the model, mixed-modal decoding with CFG."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fourm_cm3 import CM3, CM3Config, Layout
from fourm_cm3.data import CM3Step
from fourm_cm3.decode import generate_mixed
from fourm_cm3.vocab import BOS, BREAK, EOS, choose_spans, cm3_sequence, interleave, uncm3
from fourm_registry import Registry
from fourm_registry.batch import ModalityBatch
from fourm_registry.model.pretrained import modality_record

SETTINGS = {"rgb": {"image_size": 16, "patch_size": 4, "vocab_size": 32},
            "caption": {"max_length": 10, "vocab_size": 260}}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def registry():
    return Registry.build(allow=["cm3"]).with_overrides(SETTINGS)


@pytest.fixture(scope="module")
def records(registry):
    return {n: modality_record(registry.get_modality(n)) for n in ("caption", "rgb")}


@pytest.fixture(scope="module")
def model(records):
    torch.manual_seed(0)
    return CM3(CM3Config(dim=32, depth=2, num_heads=2), records, ["caption", "rgb"], records).eval()


def sample(rng):
    return {"caption": np.array([210 + int(t) for t in rng.integers(0, 40, 6)] + [3, 0, 0]),
            "rgb": rng.integers(0, 32, 16)}


def test_interleave_joins_segments_with_break(records):
    layout = Layout(records, num_sentinels=4)
    s = sample(np.random.default_rng(0))
    body, seg = interleave(s, ["caption", "rgb"], layout)
    assert len(body) == 6 + 1 + 16 and body[6] == BREAK and seg[6] == -1
    assert list(layout.local("caption", body[:6])) == list(s["caption"][:6])  # [EOS] and padding dropped
    assert list(layout.local("rgb", body[7:])) == list(s["rgb"])
    lo, hi = layout.span("rgb")
    assert all(lo <= t < hi for t in body[7:]) and layout.span("caption")[1] == lo


@pytest.mark.parametrize("seed", range(6))
def test_cm3_moves_spans_to_the_end_with_matching_sentinels(records, seed):
    layout = Layout(records, num_sentinels=4)
    rng = np.random.default_rng(seed)
    body, seg = interleave(sample(rng), ["caption", "rgb"], layout)
    spans = choose_spans(seg, rng, 3, 3.0)
    assert spans and all(seg[a] >= 0 and len(set(seg[a:b])) == 1 for a, b in spans)  # never a <break>
    ids, segs = cm3_sequence(body, seg, spans, layout)
    sentinels = [int(t) for t in ids if layout.is_sentinel(int(t))]
    k = len(spans)
    assert sentinels == [layout.sentinel(i) for i in range(k)] * 2  # in the body, then in the same order at the end
    tail = list(ids).index(layout.sentinel(0), list(ids).index(layout.sentinel(0)) + 1)
    for i, (a, b) in enumerate(spans):  # each span follows its sentinel at the end
        at = list(ids).index(layout.sentinel(i), tail)
        assert list(ids[at + 1:at + 1 + b - a]) == list(body[a:b])
    assert ids[0] == BOS and ids[-1] == EOS and len(ids) == len(body) + 2 + 2 * k == len(segs)
    assert uncm3(ids, layout) == [BOS, *body, EOS]


def test_step_masks_with_its_probability(records):
    layout = Layout(records, num_sentinels=4)
    never = CM3Step(["caption", "rgb"], layout, CM3Config(mask_prob=0.0, num_sentinels=4))
    always = CM3Step(["caption", "rgb"], layout, CM3Config(mask_prob=1.0, num_sentinels=4))
    rng = np.random.default_rng(1)
    for _ in range(5):
        s = sample(rng)
        plain, masked = never(s, rng)["ids"].inputs, always(s, rng)["ids"].inputs
        assert not any(layout.is_sentinel(int(t)) for t in plain)
        assert any(layout.is_sentinel(int(t)) for t in masked)
        assert uncm3(masked, layout) == list(plain)


def test_loss_per_modality_and_cache_matches_full(model, records):
    rng = np.random.default_rng(2)
    step = CM3Step(["caption", "rgb"], model.layout, model.config)
    items = [step(sample(rng), rng) for _ in range(3)]
    from fourm_registry.data import collate

    out = model(collate(items))
    assert set(out.losses) == {"caption", "rgb"} and torch.isfinite(out.loss)
    ids = collate(items)["ids"].inputs[:1]
    full = model.logits(ids)
    cache = model.new_cache()
    steps = torch.cat([model.logits(ids[:, : i + 1], cache) for i in range(ids.shape[1])], 1)
    assert torch.allclose(full, steps, atol=1e-5)


def test_mixed_decoding_emits_a_grid_after_break_and_cache_changes_nothing(model):
    prompt = [212, 230]
    cached = generate_mixed(model, prompt, "caption", "rgb", cfg_scale=3.0)
    plain = generate_mixed(model, prompt, "caption", "rgb", cfg_scale=3.0, use_cache=False)
    assert cached.ids == plain.ids
    ids, layout = cached.ids, model.layout
    first = ids.index(BREAK)
    assert ids[0] == BOS and list(layout.local("caption", ids[1:3])) == prompt
    grid = ids[first + 1:first + 1 + 16]
    lo, hi = layout.span("rgb")
    assert all(lo <= t < hi for t in grid) and ids[first + 17] == BREAK and ids[-1] == EOS
    assert [name for name, _ in cached.segments] == ["caption", "rgb", "caption"]
    assert len(cached.segments[1][1]) == 16
    sampled = [generate_mixed(model, prompt, "caption", "rgb", temperature=1.0, seed=s, use_cache=c).ids
               for s, c in ((5, True), (5, False))]
    assert sampled[0] == sampled[1]


def test_guidance_is_u_plus_s_times_c_minus_u(model, monkeypatch):
    """Scale 1 is the conditional model alone; another scale differs from it only through the unconditional pass."""
    one = generate_mixed(model, [212], "caption", "rgb", cfg_scale=1.0)
    calls = []
    real = CM3.logits

    def spy(self, ids, cache=None):
        calls.append(ids[0, :2].tolist())
        return real(self, ids, cache)

    monkeypatch.setattr(CM3, "logits", spy)
    generate_mixed(model, [212], "caption", "rgb", cfg_scale=4.0)
    assert [BOS, BREAK] in calls  # the unconditional pass starts without the text
    assert one.segments[1][1] and len(one.segments[1][1]) == 16


def test_save_and_load(model, tmp_path):
    model.save_pretrained(tmp_path / "m")
    again = CM3.from_pretrained(tmp_path / "m")
    ids = torch.tensor([[BOS, 220, BREAK, 300]])
    assert torch.equal(model.logits(ids), again.logits(ids))
    assert again.vocab == model.vocab and again.records == model.records


def test_family_is_registered(registry):
    spec = registry.get_family("cm3")
    cfg = spec.validate_model({"dim": 32, "depth": 1, "num_heads": 2})
    model = spec.build(cfg, registry, registry.select(["caption", "rgb"]))
    assert isinstance(model, CM3) and model.layout.names == ["caption", "rgb"]
    batch = {"ids": ModalityBatch(torch.tensor([[BOS, 220, EOS]]), torch.ones(1, 3, dtype=torch.bool))}
    assert torch.isfinite(model(batch).loss)


def test_vocab_settings_size_modalities_the_run_does_not_train():
    """A text-only run sizes rgb through model.vocab_settings, so its layout is the image-text run's."""
    spec = Registry.build(allow=["cm3"]).get_family("cm3")
    bare = Registry.build(allow=["cm3"]).with_overrides({"caption": SETTINGS["caption"]})
    text_only = spec.build(spec.validate_model({"dim": 32, "depth": 1, "num_heads": 2, "vocab": ["caption", "rgb"],
                                                "vocab_settings": {"rgb": SETTINGS["rgb"]}}),
                           bare, bare.select(["caption"]))
    full = Registry.build(allow=["cm3"]).with_overrides(SETTINGS)
    both = spec.build(spec.validate_model({"dim": 32, "depth": 1, "num_heads": 2, "vocab": ["caption", "rgb"]}),
                      full, full.select(["caption", "rgb"]))
    assert text_only.vocab == both.vocab and text_only.max_len == both.max_len
    from fourm_cm3.data import check
    from fourm_registry import FourmError

    with pytest.raises(FourmError, match="vocab_settings names \\['caption'\\]"):
        check(None, full.select(["caption"]), spec.validate_model({"vocab_settings": {"caption": {}}}))
