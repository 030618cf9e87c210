"""The quickstart's decodings: point estimates from samples, and the choice made on dev scenes."""
from __future__ import annotations

import numpy as np
import pytest

from fourm_quickstart.evaluate import (DENSE_TARGETS, DIRECT, _point_estimate, assemble, caption_tone, choose,
                                      dev_table, split_held_out)
from fourm_quickstart.pipeline import mixture
from fourm_quickstart.settings import QuickstartSettings
from fourm_synth.scene import FLOOR_TONES, floor_phrase


def test_point_estimates_are_the_mean_and_the_majority() -> None:
    a, b, c = (np.full((2, 2), v, np.uint8) for v in (1, 1, 3))
    votes = _point_estimate("semseg", [[a], [b], [c]])  # draws × scenes
    assert votes[0].dtype == np.uint8 and (votes[0] == 1).all()
    depth = _point_estimate("depth", [[np.zeros((2, 2))], [np.ones((2, 2))]])
    assert np.allclose(depth[0], 0.5)
    rgb = _point_estimate("caption->rgb", [[np.full((1, 1, 3), 10, np.uint8)], [np.full((1, 1, 3), 13, np.uint8)]])
    assert rgb[0].dtype == np.uint8 and int(rgb[0][0, 0, 0]) == 12  # 11.5 rounds to even


def rows(target: str, wins: list[bool], first: float, higher: bool = True) -> list[dict]:
    return [{"target": target, "model": first if i == 0 else 0.0, "higher_is_better": higher,
             "model_better": w} for i, w in enumerate(wins)]


def test_choice_counts_wins_then_the_first_metric_then_order() -> None:
    scored = {
        "greedy": rows("semseg", [True, False], 0.40) + rows("normal", [False], 10.0, higher=False)
        + rows("depth", [True, True], 0.03, higher=False) + rows("caption->rgb", [False], 25.0, higher=False),
        "maskgit-mean": rows("semseg", [True, True], 0.35) + rows("normal", [False], 9.0, higher=False)
        + rows("depth", [True, True], 0.03, higher=False) + rows("caption->rgb", [True], 21.0, higher=False),
    }
    choice = choose(scored)
    assert set(choice) == set(DENSE_TARGETS)
    assert choice["semseg"] == "maskgit-mean"  # two wins beat one, though its mIoU is lower
    assert choice["normal"] == "maskgit-mean"  # no wins either way: the lower angle
    assert choice["depth"] == "greedy"  # a full tie: the earlier protocol
    assert choice["caption->rgb"] == "maskgit-mean"


def test_pictures_always_carry_one_sampled_chain_beside_the_scored_one() -> None:
    """Whatever caption -> rgb scores with, the picture's sampled chain is the random-order one
    (MaskGIT's confidence order fills the floor first), so the picture shows what the model draws."""
    def protocol(tag: str) -> dict:
        return {t: [tag] for t in DENSE_TARGETS} | {"caption->semseg": [f"{tag}-seg"],
                                                    "caption->semseg/sample": [f"{tag}-seg-s"],
                                                    "caption->rgb/sample": [f"{tag}-rgb-s"]}
    candidates = {"greedy": protocol("g"), "maskgit-mean": protocol("m"), "roar-mean": protocol("r")}
    greedy = assemble(candidates, dict.fromkeys(DENSE_TARGETS, "greedy"))
    assert greedy["caption->rgb"] == ["g"] and greedy["caption->rgb/sample"] == ["r-rgb-s"]
    assert greedy["caption->semseg/sample"] == ["r-seg-s"]
    maskgit = assemble(candidates, {**dict.fromkeys(DENSE_TARGETS, "greedy"), "caption->rgb": "maskgit-mean"})
    assert maskgit["caption->rgb"] == ["m"] and maskgit["caption->rgb/sample"] == ["r-rgb-s"]
    no_roar = assemble({"greedy": {t: ["g"] for t in DENSE_TARGETS}, "maskgit-mean": candidates["maskgit-mean"]},
                       dict.fromkeys(DENSE_TARGETS, "greedy"))
    assert "caption->rgb/sample" not in no_roar  # the label says random order: no MaskGIT stand-in
    only_greedy = assemble({"greedy": {t: ["g"] for t in DENSE_TARGETS}}, dict.fromkeys(DENSE_TARGETS, "greedy"))
    assert "caption->rgb/sample" not in only_greedy  # k = 0: nothing sampled, nothing invented


def test_direct_caption_to_rgb_competes_only_for_caption_to_rgb() -> None:
    """A direct protocol differs from greedy only in caption -> rgb: it must never be chosen for
    another target, even where it scores best, and a direct choice drops the chain's semseg."""
    better = {t: rows(t, [True], 0.0, higher=False) for t in DENSE_TARGETS}
    worse = {t: rows(t, [False], 1.0, higher=False) for t in DENSE_TARGETS}
    scored = {"greedy": sum(worse.values(), []), "direct-roar-mean": sum(better.values(), [])}
    choice = choose(scored)
    assert choice["caption->rgb"] == "direct-roar-mean"
    assert all(choice[t] == "greedy" for t in DENSE_TARGETS if t != "caption->rgb")
    candidates = {"greedy": {t: ["g"] for t in DENSE_TARGETS} | {"caption->semseg": ["g-seg"]},
                  DIRECT[1]: {t: ["d"] for t in DENSE_TARGETS}}
    preds = assemble(candidates, choice)
    assert preds["caption->rgb"] == ["d"] and preds["depth"] == ["g"] and "caption->semseg" not in preds
    chained = assemble(candidates, dict.fromkeys(DENSE_TARGETS, "greedy"))
    assert chained["caption->semseg"] == ["g-seg"]


def scenes(tones: list[str]) -> list[dict]:
    return [{"id": i, "caption": f"a red cube {floor_phrase(t)}"} for i, t in enumerate(tones)]


def test_held_out_split_balances_floor_tones_and_keeps_order() -> None:
    rng = np.random.default_rng(0)
    words = [w for w, _ in FLOOR_TONES]
    for n, n_scored in ((64, 32), (64, 16), (33, 20), (7, 3)):
        tones = list(rng.choice(words, size=n, p=[0.55, 0.25, 0.15, 0.05]))
        held = scenes(tones)
        scored, dev = split_held_out(held, n_scored)
        assert len(scored) == n_scored and len(dev) == n - n_scored
        assert sorted(s["id"] for s in scored + dev) == list(range(n))  # a partition
        assert [s["id"] for s in scored] == sorted(s["id"] for s in scored)  # held-out order kept
        assert [s["id"] for s in dev] == sorted(s["id"] for s in dev)
        for w in words:  # each tone's share matches within one scene
            here = tones.count(w)
            got = sum(caption_tone(s["caption"]) == w for s in scored)
            assert abs(got - here * n_scored / n) <= 1, (w, got, here, n, n_scored)
    untoned = [{"id": i, "caption": "a red cube"} for i in range(6)]
    assert caption_tone(untoned[0]["caption"]) == ""
    assert [s["id"] for s in split_held_out(untoned, 3)[0]] == [0, 2, 4]  # no tone: every other scene


def test_mixture_weights_and_caption2all_targets() -> None:
    comps = {c["name"]: c for c in mixture(QuickstartSettings())}
    assert {n: c["weight"] for n, c in comps.items()} == QuickstartSettings().mixture
    cap = comps["caption2all"]
    assert cap["input_alphas"] == {"caption": 1.0} and cap["keep_all"] == ["caption"]
    assert "caption" not in cap["target_alphas"] and cap["target_alphas"]  # its input is whole: no caption target
    changed = QuickstartSettings(mixture={"all2all": 0.0, "caption2all": 0.25})
    assert changed.mixture == {"all2all": 0.0, "rgb2all": 1.0, "caption2all": 0.25}  # unnamed: the default
    assert [c["name"] for c in mixture(changed)] == ["rgb2all", "caption2all"]  # weight 0: dropped
    assert cap["target_alphas"] == {"rgb": 0.5, "semseg": 0.5}  # the default: the chain's two targets
    wide = QuickstartSettings(caption2all_targets=["det", "rgb", "depth"])
    assert wide.caption2all_targets == ["rgb", "depth", "det"]  # in the modalities' order
    assert {c["name"]: c for c in mixture(wide)}["caption2all"]["target_alphas"] == {"rgb": 0.5, "depth": 0.5, "det": 0.5}
    for bad in (["caption"], ["rgb", "thermal"], []):
        with pytest.raises(ValueError, match="caption2all_targets"):
            QuickstartSettings(caption2all_targets=bad)


def test_dev_table_keeps_what_the_choice_saw_per_row() -> None:
    """Dense rows only, each decoding that decodes the target in its own way, and the baseline."""
    def row(target: str, metric: str, model: float) -> dict:
        return {"target": target, "metric": metric, "model": model, "baseline": 1.0}
    on_dev = {"greedy": [row("semseg", "miou", 0.3), row("det", "f1@0.5", 0.1), row("caption->rgb", "mae_0_255", 22.0)],
              DIRECT[0]: [row("semseg", "miou", 0.3), row("caption->rgb", "mae_0_255", 21.0)]}
    assert dev_table(on_dev) == {"semseg/miou": {"baseline": 1.0, "greedy": 0.3},
                                  "caption->rgb/mae_0_255": {"baseline": 1.0, "greedy": 22.0, DIRECT[0]: 21.0}}
    assert dev_table({}) == {}


def test_code_mean_queries_every_cell_once_and_decodes_probabilities() -> None:
    """One pass over all cells of the target; the tokenizer gets N×h×w×V probabilities."""
    import torch
    from types import SimpleNamespace

    from fourm_registry.batch import ModalityBatch
    from fourm_quickstart.evaluate import code_mean

    n, h, w, vocab = 3, 2, 4, 5
    calls = []

    class Predictor:
        specs = {"depth": SimpleNamespace(num_tokens=h * w, tokenizer=SimpleNamespace(grid=(h, w)))}
        device = torch.device("cpu")

        def encode(self, cond):
            return ("ctx", cond)

        def grid_logits(self, ctx, target, positions):
            calls.append((target, positions.clone()))
            return torch.randn(n, h * w, vocab) * 3

    class Tokenizer:
        def decode_expected(self, probs):
            calls.append(probs)
            return [f"value{i}" for i in range(len(probs))]

    ids = torch.zeros(n, 8, dtype=torch.long)
    cond = {"rgb": ModalityBatch(inputs=ids, input_mask=torch.ones_like(ids, dtype=torch.bool))}
    assert code_mean(Predictor(), {"depth": Tokenizer()}, cond, ["depth"]) == {"depth": ["value0", "value1", "value2"]}
    (target, positions), probs = calls
    assert target == "depth" and (positions == torch.arange(h * w).expand(n, -1)).all()
    assert probs.shape == (n, h, w, vocab) and torch.allclose(probs.sum(-1), torch.ones(n, h, w))


def test_code_mean_for_caption_to_rgb_drops_the_chain_semseg() -> None:
    from fourm_quickstart.evaluate import CODE_MEAN, DECODINGS, protocols_for

    assert all(CODE_MEAN in protocols_for(t, DECODINGS) for t in DENSE_TARGETS)  # it competes for every target
    candidates = {"greedy": {t: ["g"] for t in DENSE_TARGETS} | {"caption->semseg": ["g-seg"]},
                  CODE_MEAN: {t: ["c"] for t in DENSE_TARGETS}}
    preds = assemble(candidates, {**dict.fromkeys(DENSE_TARGETS, "greedy"), "caption->rgb": CODE_MEAN})
    assert preds["caption->rgb"] == ["c"] and "caption->semseg" not in preds
