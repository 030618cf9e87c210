"""``fourm tokenizer train`` and ``fourm tokenize`` end to end on tiny shards."""
from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest

from fourm_cli.app import build_app
from fourm_modalities.det import Detections
from fourm_registry.shards import AtomicShardWriter, read_samples

from ._torch_threads import one_torch_thread  # noqa: F401  (autouse)

TINY_RGB = ["--image-size", "32", "--patch-size", "8", "--vocab-size", "64",
            "--set", "channels=[8,16,16,16]", "--set", "norm_num_groups=8"]


def _write_shards(root: Path, registry) -> None:
    rng = np.random.default_rng(0)
    for s in range(2):
        with AtomicShardWriter(root / f"train-{s:03d}.tar", registry) as w:
            for i in range(5):
                sample = {"__key__": f"s{s}_{i}", "rgb": rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),
                          "caption": f"a photo of {i} cats", "meta.json": b'{"source": "test"}'}
                if i == 1:
                    sample["det"] = Detections([{"box": [1, 2, 20, 30], "label": "cat", "score": 0.9}],
                                               image_size=(32, 32))
                if s == 1 and i == 3:
                    sample["rgb"] = rng.integers(0, 256, (30, 32, 3), dtype=np.uint8)  # 30 px: bad
                w.write(sample)


@pytest.fixture
def workspace(tmp_path: Path, registry, runner):
    data = tmp_path / "data"
    _write_shards(data, registry)
    app = build_app(registry)
    (tmp_path / "captions.txt").write_text("a photo of a cat\ntwo dogs in a park\n" * 20)
    toks = tmp_path / "toks"
    r = runner.invoke(app, ["tokenizer", "train", "text", "--corpus", str(tmp_path / "captions.txt"),
                            "--vocab-size", "30000", "--out", str(toks / "text")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["tokenizer", "train", "rgb", "--data", str(data), "--out", str(toks / "rgb"),
                            "--steps", "3", "--batch-size", "4", "--sample-every", "3", "--no-progress",
                            *TINY_RGB])
    assert r.exit_code == 0, r.output
    return tmp_path, app


def test_tokenizer_train_outputs(workspace) -> None:
    root, _ = workspace
    from tokenizers import Tokenizer

    text = Tokenizer.from_file(str(root / "toks" / "text" / "tokenizer.json"))
    assert text.token_to_id("[EOS]") == 3 and text.token_to_id("v3=999") == 4203
    assert (root / "toks" / "text" / "tokenizer_config.json").is_file()
    rgb = root / "toks" / "rgb"
    assert (rgb / "config.json").is_file() and (rgb / "model.safetensors").is_file()
    assert (rgb / "recon" / "step_0000003.png").is_file()
    assert "codebook_usage" in (rgb / "metrics.jsonl").read_text()


def test_tokenize_writes_tokens_copies_members_skips_bad_and_resumes(workspace, registry, runner) -> None:
    root, app = workspace
    out = root / "tok"
    args = ["tokenize", "--data", str(root / "data"), "--tokenizers", str(root / "toks"), "--out", str(out)]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "bad samples skipped" in r.output and "not a positive multiple" in r.output
    assert sorted(p.name for p in out.iterdir()) == ["train-000.tar", "train-001.tar"]
    samples = list(read_samples(str(out), registry))
    assert len(samples) == 9  # one 30-px image skipped, never half-written
    for s in samples:
        assert s["tok_rgb"].dtype == np.int16 and s["tok_rgb"].shape == (4, 4)
        assert s["tok_caption"].dtype == np.int16 and s["tok_caption"].ndim == 1
        assert s.get("meta", s.get("meta.json")) in ({"source": "test"}, b'{"source": "test"}')
    with_det = [s for s in samples if "det" in s]
    assert len(with_det) == 2 and with_det[0]["tok_det"][:4].tolist() == [204 + 31, 1204 + 62, 2204 + 624, 3204 + 937]
    # raw members are copied byte for byte
    with tarfile.open(root / "data" / "train-000.tar") as a, tarfile.open(out / "train-000.tar") as b:
        src = {m.name: a.extractfile(m).read() for m in a.getmembers()}
        dst = {m.name: b.extractfile(m).read() for m in b.getmembers()}
    assert all(dst[name] == data for name, data in src.items())
    assert {n for n in dst if "tok_" in n} == {f"s0_{i}.tok_{m}.npy" for i in range(5) for m in ("rgb", "caption")} \
        | {"s0_1.tok_det.npy"}
    # resumable: finished shards are skipped, a missing one is redone
    (out / "train-001.tar").unlink()
    r = runner.invoke(app, args)
    assert r.exit_code == 0 and "train-000.tar: skipped" in r.output and "train-001.tar: written" in r.output
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_tokenize_user_errors(workspace, runner) -> None:
    root, app = workspace
    r = runner.invoke(app, ["tokenize", "--data", str(root / "data"), "--tokenizers", str(root / "toks"),
                            "--out", str(root / "o"), "--modalities", "depth"])
    assert r.exit_code == 1 and "'depth' has no saved tokenizer" in r.output
    r = runner.invoke(app, ["tokenize", "--data", str(root / "data"), "--tokenizers", str(root / "toks"),
                            "--out", str(root / "data")])
    assert r.exit_code == 1 and "input directory" in r.output
    r = runner.invoke(app, ["tokenizer", "train", "semseg", "--out", str(root / "x")])
    assert r.exit_code == 1 and "--data" in r.output
    r = runner.invoke(app, ["tokenizer", "train", "words", "--out", str(root / "x")])
    assert r.exit_code == 1 and "No sequence modality uses a text tokenizer called 'words'" in r.output


def test_truncated_shard_never_yields_a_partial_sample(workspace, registry, runner) -> None:
    root, app = workspace
    src = root / "data" / "train-000.tar"
    data = src.read_bytes()
    cut = root / "cut"
    cut.mkdir()
    (cut / "train-000.tar").write_bytes(data[: int(len(data) * 0.6)])
    r = runner.invoke(app, ["tokenize", "--data", str(cut), "--tokenizers", str(root / "toks"),
                            "--out", str(root / "cut_out")])
    assert r.exit_code == 0, r.output
    assert "incomplete sample" in r.output
    samples = list(read_samples(str(root / "cut_out"), registry))
    assert samples and all("rgb" in s and "tok_rgb" in s and "caption" in s for s in samples)
