"""Provenance: tokenizer fingerprints in token shards and checkpoints, label records in labeled
shards; training on tokens of another tokenizer is refused."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fourm_cli.app import build_app
from fourm_modalities.labelers.tiny import save_tiny
from fourm_registry import FourmError, Registry, TextTokenizer
from fourm_registry.config import load_config
from fourm_registry.provenance import PROVENANCE_FIELD, tokenizer_fingerprint
from fourm_registry.provenance_check import check_token_fingerprints, run_token_provenance
from fourm_registry.shards import AtomicShardWriter, read_samples
from fourm_registry.training import TrainConfig, Trainer

from ._torch_threads import one_torch_thread  # noqa: F401
from ._train_shards import SMALL, make_sample

EXAMPLE = Path(__file__).resolve().parents[1] / "configs" / "train_tiny.yaml"


def _text(root: Path, corpus: list[str]) -> Path:
    TextTokenizer.train(corpus * 5, 5000, min_frequency=1).save_pretrained(root / "text")
    return root


@pytest.fixture(scope="module")
def tok_dirs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("toks")
    return (_text(root / "a", ["a red cube on a table", "two blue balls"]),
            _text(root / "b", ["a green cone near a wall", "one yellow ring"]))


def _caption_shards(root: Path, registry, n: int = 2) -> str:
    for s in range(n):
        with AtomicShardWriter(root / f"c-{s}.tar", registry) as w:
            for i in range(3):
                w.write({"__key__": f"s{s}_{i}", "caption": f"a red cube number {i}"})
    return str(root)


def test_fingerprints_follow_content_not_the_copy(tok_dirs, tmp_path):
    a, b = tok_dirs
    fa = tokenizer_fingerprint(a / "text")
    assert fa.startswith("sha256:") and fa == tokenizer_fingerprint(a / "text")
    assert fa != tokenizer_fingerprint(b / "text")
    TextTokenizer.from_pretrained(a / "text").save_pretrained(tmp_path / "copy")  # loaded and re-saved
    assert tokenizer_fingerprint(tmp_path / "copy") == fa
    with pytest.raises(FourmError, match="holds no saved tokenizer"):
        tokenizer_fingerprint(tmp_path)


def test_fourm_tokenize_records_each_samples_tokenizer(tok_dirs, tmp_path, registry, runner):
    a, _ = tok_dirs
    data = _caption_shards(tmp_path / "data", registry)
    r = runner.invoke(build_app(registry), ["tokenize", "--data", data, "--tokenizers", str(a),
                                            "--out", str(tmp_path / "tok")])
    assert r.exit_code == 0, r.output
    samples = list(read_samples(str(tmp_path / "tok"), registry))
    assert len(samples) == 6
    for s in samples:
        rec = s[PROVENANCE_FIELD]["tokens"]["caption"]
        assert rec == {"tokenizer": "text", "fingerprint": tokenizer_fingerprint(a / "text")}
    inspected = json.loads(runner.invoke(build_app(registry), ["inspect", str(tmp_path / "tok"), "--json"]).output)
    assert inspected["samples"] == 6 and inspected["fields"]["tok_caption"] == 6
    assert inspected["tokens"]["caption"][0]["samples"] == 6


def _token_shards(root: Path, registry, fingerprints: list[str]) -> str:
    rng = np.random.default_rng(0)
    small = registry.with_overrides(SMALL)
    for s, fp in enumerate(fingerprints):
        with AtomicShardWriter(root / f"train-{s}.tar", small) as w:
            for i in range(8):
                sample = make_sample(rng, f"t{s}_{i}")
                sample[PROVENANCE_FIELD] = {"labels": {}, "tokens": {
                    "rgb": {"tokenizer": "rgb", "fingerprint": fp}}}
                w.write(sample)
    return str(root / f"train-{{0..{len(fingerprints) - 1}}}.tar")


def test_tokens_of_two_tokenizers_are_refused_naming_both(tmp_path, registry):
    shards = _token_shards(tmp_path, registry, ["sha256:aaaaaaaaaaaa11", "sha256:bbbbbbbbbbbb22"])
    with pytest.raises(FourmError, match=r"'rgb'.*aaaaaaaaaaaa \(train-0.tar\) and bbbbbbbbbbbb \(train-1.tar\)"
                                         r".*--allow-tokenizer-mismatch"):
        run_token_provenance(shards, registry, ["rgb", "depth"], None)
    found = {"rgb": {"sha256:aaaaaaaaaaaa11": ["train-0.tar"]}}
    with pytest.raises(FourmError, match="but tok/ holds cccccccccccc"):
        check_token_fingerprints(found, {"rgb": "sha256:cccccccccccc33"}, expected_from="tok/")
    assert len(check_token_fingerprints(found, {"rgb": "sha256:cccccccccccc33"}, allow=True)) == 1


def test_fourm_train_refuses_tokens_of_another_tokenizer_before_building_the_engine(tmp_path, registry):
    shards = _token_shards(tmp_path / "d", registry, ["sha256:aaaaaaaaaaaa11", "sha256:bbbbbbbbbbbb22"])
    base = [f"data.shards={shards}", f"out_dir={tmp_path / 'run'}", "logging.progress=false",
            "train.device=cpu", "data.val_shards=null", "eval.every=null", "eval.at_start=false"]
    trainer = Trainer(load_config(TrainConfig, EXAMPLE, base), Registry.build(allow=[]))
    with pytest.raises(FourmError, match="two tokenizers, aaaaaaaaaaaa"):
        trainer.setup()
    assert not hasattr(trainer, "engine")


class _Thresholded:
    threshold = 0.5

    def __init__(self) -> None:
        self.score_threshold = 0.25

    def provenance(self) -> dict:
        return {"revision": "v1-test"}

    def __call__(self, images):
        return [np.asarray(im).mean(-1).astype(np.float32) for im in images]


def test_labels_record_labeler_model_weights_thresholds_and_version(tmp_path, runner):
    from fourm_registry import LabelerSpec, __version__, hookimpl
    from fourm_registry.labeling.labelers import build_labelers

    from ._label_helpers import write_img2dataset_shard

    tiny = save_tiny("depth", tmp_path / "tiny_depth")
    reg = Registry.build(allow=[])
    labelers = build_labelers(reg, ["depth"], "cpu", models={"depth": str(tiny)})
    rec = labelers.provenance["depth"]
    assert rec["model"] == str(tiny) and rec["weights"].startswith("sha256:") and rec["fourm_version"] == __version__
    keys = write_img2dataset_shard(tmp_path / "in.tar", ["k0", "k1"])
    r = runner.invoke(build_app(reg), ["label", str(tmp_path / "in.tar"), "--out", str(tmp_path / "out"),
                                       "-m", "depth", "--model", f"depth={tiny}", "--quiet", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    info = json.loads(runner.invoke(build_app(reg), ["inspect", str(tmp_path / "out"), "--json"]).output)
    (entry,) = info["labels"]["depth"]
    assert entry["samples"] == len(keys) and entry["record"]["labeler"] == reg.get_modality("depth").labeler.name
    assert entry["record"]["weights"] == rec["weights"] and info["samples_without_provenance"] == 0
    text = runner.invoke(build_app(reg), ["inspect", str(tmp_path / "out")]).output
    assert "labels:" in text and rec["weights"] in text

    class Plugin:
        @hookimpl
        def register_labelers(self, register):
            register(LabelerSpec(name="mean_depth", modality="depth", factory=lambda m, d: _Thresholded()))

    reg2 = Registry.build(Plugin(), allow=[])
    rec2 = build_labelers(reg2, ["depth"], "cpu", labeler_names={"depth": "mean_depth"}).provenance["depth"]
    assert rec2["thresholds"] == {"score_threshold": 0.25} and rec2["revision"] == "v1-test"
