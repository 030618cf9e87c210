"""A trained export/ is self-contained: it carries its tokenizers and the fingerprints it was
trained on; ``fourm generate --checkpoint DIR`` needs nothing else; ``fourm inspect`` shows it."""
from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
from PIL import Image

from fourm_cli.app import build_app
from fourm_registry import FourmError, Registry
from fourm_registry.config import load_config
from fourm_registry.model import FourM
from fourm_registry.provenance import PROVENANCE_FIELD, tokenizer_records
from fourm_registry.shards import AtomicShardWriter
from fourm_registry.training import TrainConfig, Trainer

from ._torch_threads import one_torch_thread  # noqa: F401
from ._train_shards import SMALL, make_sample

pytestmark = pytest.mark.slow
NAMES = ["depth", "rgb"]  # sorted
CONFIG = """
modalities: {inputs: [rgb, depth], targets: [rgb, depth], tokenizer_dir: TOK,
             settings: {rgb: {image_size: 32, patch_size: 8, vocab_size: 64},
                        depth: {image_size: 32, patch_size: 8, vocab_size: 64}}}
model: {dim: 32, encoder_depth: 1, decoder_depth: 1, num_heads: 2}
masking: {input_tokens: 8, target_tokens: 8}
data: {shards: SHARDS, num_workers: 0, shuffle_buffer: 0, segment_batches: 2}
optim: {lr: 1.0e-3, warmup_tokens: 10, total_tokens: 1k}
train: {batch_size: 4, max_steps: 2, device: cpu}
checkpoint: {every: 100}
eval: {every: null, at_start: false}
logging: {progress: false}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("selfcontained")
    small = Registry.build(allow=[]).with_overrides({n: SMALL[n] for n in NAMES})
    for name in NAMES:  # fresh narrow VQ tokenizers: enough to decode and fingerprint
        spec = small.get_modality(name)
        levels = spec.tokenizer.factory.adapter(spec).config(spec).levels
        spec.tokenizer.factory.fresh(spec, channels=[8] * levels, norm_num_groups=4).save_pretrained(root / "tok" / name)
    records = tokenizer_records(root / "tok", small, NAMES)
    rng = np.random.default_rng(0)
    with AtomicShardWriter(root / "train-0.tar", small) as w:
        for i in range(16):
            sample = {k: v for k, v in make_sample(rng, f"k{i}").items() if k in ("__key__", "tok_rgb", "tok_depth")}
            w.write({**sample, PROVENANCE_FIELD: {"labels": {}, "tokens": records}})
    cfg_file = root / "cfg.yaml"
    cfg_file.write_text(textwrap.dedent(CONFIG).replace("TOK", str(root / "tok"))
                        .replace("SHARDS", str(root / "train-0.tar")))
    result = Trainer(load_config(TrainConfig, cfg_file, [f"out_dir={root / 'run'}"]), Registry.build(allow=[])).fit()
    return root, result.export_dir, records


def test_export_carries_tokenizers_and_fingerprints(run, runner):
    root, export, records = run
    assert sorted(p.name for p in (export / "tokenizers").iterdir()) == NAMES
    prov = json.loads((export / "provenance.json").read_text())
    assert prov["trained_on"] == {n: {"fingerprint": records[n]["fingerprint"]} for n in NAMES}
    info = json.loads(runner.invoke(build_app(Registry.build(allow=[])), ["inspect", str(export), "--json"]).output)
    assert info["kind"] == "checkpoint" and info["modalities"] == NAMES
    assert all(info["tokenizers"][n]["fingerprint_matches"] for n in NAMES)
    model = FourM.from_pretrained(export, Registry.build(allow=[]))
    assert sorted(model.load_tokenizers()) == NAMES


def test_generate_needs_only_the_checkpoint_and_out_parents_are_created(run, runner):
    root, export, _ = run
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(root / "img.png")
    out = root / "gen" / "deeper" / "out"
    r = runner.invoke(build_app(Registry.build(allow=[])), ["generate", "--checkpoint", str(export), "--cond",
                                                            f"rgb={root / 'img.png'}", "--target", "depth",
                                                            "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert out.is_dir() and any(out.rglob("*.png"))


def test_a_changed_tokenizer_copy_is_refused_and_generate_warns(run, runner, tmp_path):
    import shutil

    root, export, _ = run
    copy = tmp_path / "export"
    shutil.copytree(export, copy)
    other = tmp_path / "other"
    shutil.copytree(copy / "tokenizers", other)
    cfg = json.loads((other / "depth" / "config.json").read_text())
    (other / "depth" / "config.json").write_text(json.dumps({**cfg, "commitment_weight": 0.5}))
    from fourm_registry.provenance_check import generation_mismatches

    (problem,) = generation_mismatches(copy, other, Registry.build(allow=[]), NAMES)
    assert "'depth'" in problem and "will not decode correctly" in problem
    shutil.copy(other / "depth" / "config.json", copy / "tokenizers" / "depth" / "config.json")
    model = FourM.from_pretrained(copy, Registry.build(allow=[]))
    with pytest.raises(FourmError, match="changed after export"):
        model.load_tokenizers()
