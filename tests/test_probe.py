"""``fourm probe``: an attentive probe on a frozen 4M encoder beats chance on a tiny labelled set;
labels by dotted path, lists as counts; the probe pools with one learned query."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fourm_cli.app import build_app
from fourm_registry import FourmError
from fourm_registry.model import FourMConfig, build_model
from fourm_registry.probing import AttentiveProbe, label_of
from fourm_registry.shards import AtomicShardWriter

from ._torch_threads import one_torch_thread  # noqa: F401
from ._train_shards import SMALL


def write(path, registry, n: int, seed: int) -> None:
    """4×4 token grids whose codes come from a class-specific subset; facts hold the class and a list."""
    rng = np.random.default_rng(seed)
    with AtomicShardWriter(path, registry) as w:
        for i in range(n):
            cls = int(rng.integers(0, 3))
            grid = (cls * 16 + rng.integers(0, 16, 16)).astype(np.int16).reshape(4, 4)
            w.write({"__key__": f"s{seed}_{i:04d}", "tok_rgb": grid,
                     "facts": {"cls": ["a", "b", "c"][cls], "items": [0] * int(rng.integers(1, 3))}})


@pytest.fixture(scope="module")
def setup(tmp_path_factory, ):
    from fourm_registry import Registry

    registry = Registry.build(allow=[]).with_overrides(SMALL)
    root = tmp_path_factory.mktemp("probe")
    write(root / "train.tar", registry, 96, 0)
    write(root / "val.tar", registry, 48, 1)
    torch.manual_seed(0)
    model = build_model(FourMConfig(dim=32, encoder_depth=1, decoder_depth=1, num_heads=2), registry, ["rgb", "depth"])
    model.save_pretrained(root / "export")
    return registry, root


def test_probe_cli_beats_chance_and_writes_json(setup, runner):
    registry, root = setup
    out = root / "probe.json"
    result = runner.invoke(build_app(registry), ["probe", str(root / "export"), "--data", str(root / "train.tar"),
                                                 "--val", str(root / "val.tar"), "--label", "facts.cls",
                                                 "--label", "facts.items", "--epochs", "40", "--lr", "3e-3",
                                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "facts.cls: accuracy" in result.output
    rows = {r["label"]: r for r in json.loads(out.read_text())}
    cls = rows["facts.cls"]
    assert cls["classes"] == ["a", "b", "c"] and cls["n_train"] == 96 and cls["n_val"] == 48
    assert cls["accuracy"] > cls["chance"] + 0.3 and cls["accuracy"] >= 0.8, cls
    assert rows["facts.items"]["classes"] == [1, 2]  # a list label is its length
    assert cls["encoder"].startswith("4m:")


def test_probe_without_val_splits_and_errors_are_one_line(setup, runner):
    registry, root = setup
    app = build_app(registry)
    ok = runner.invoke(app, ["probe", str(root / "export"), "--data", str(root / "train.tar"),
                             "--label", "facts.cls", "--epochs", "2"])
    assert ok.exit_code == 0 and "19 held-out" in ok.output, ok.output
    bad = runner.invoke(app, ["probe", str(root / "export"), "--data", str(root / "train.tar"),
                              "--label", "facts.nope", "--epochs", "1"])
    assert bad.exit_code == 1 and "no label field 'facts.nope'" in bad.output


def test_label_paths_and_the_probe_module():
    sample = {"__key__": "k", "scene": {"visible": [3, 4, 5], "objects": [{"shape": "cube"}]}}
    assert label_of(sample, "scene.visible") == 3
    assert label_of(sample, "scene.objects.0.shape") == "cube"
    with pytest.raises(FourmError, match="not a scalar"):
        label_of(sample, "scene")
    probe = AttentiveProbe(8, 5)
    assert probe(torch.randn(4, 7, 8)).shape == (4, 5)
    assert probe.query.shape == (1, 1, 8)
