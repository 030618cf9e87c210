"""The quickstart's decodings: point estimates from samples, and the choice made on dev scenes."""
from __future__ import annotations

import numpy as np

from fourm_quickstart.evaluate import DENSE_TARGETS, _point_estimate, choose


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
    from fourm_quickstart.evaluate import assemble

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
