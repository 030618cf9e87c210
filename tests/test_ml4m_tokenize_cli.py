"""``fourm tokenize`` / ``fourm generate`` name released-layout tokenizers with ``--tokenizer``."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from fourm_cli.app import build_app

from fourm_registry import FourmError
from fourm_registry.interop.ml4m.tokenizers import load_released_tokenizer
from fourm_registry.shards import AtomicShardWriter, read_samples
from fourm_registry.tokenizers.sources import parse_tokenizer_sources

from ._released_tok import write_tiny
from ._torch_threads import one_torch_thread  # noqa: F401  (autouse)


def _shards(root: Path, registry) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(3)]
    with AtomicShardWriter(root / "train-000.tar", registry) as w:
        for i, img in enumerate(images):
            w.write({"__key__": f"k{i}", "rgb": img})
    return images


def test_tokenize_with_a_released_tokenizer(tmp_path, registry, runner):
    images = _shards(tmp_path / "data", registry)
    tok_dir = write_tiny(tmp_path / "4M_tokenizers_rgb_tiny", "divae", codebook=64)
    r = runner.invoke(build_app(registry), ["tokenize", "--data", str(tmp_path / "data"), "--out",
                                            str(tmp_path / "out"), "--tokenizer", f"rgb={tok_dir}"])
    assert r.exit_code == 0, r.output
    [shard] = sorted((tmp_path / "out").glob("*.tar"))
    got = {s["__key__"]: s["tok_rgb"] for s in read_samples(str(shard), registry)}
    released = load_released_tokenizer(tok_dir)
    stored = {s["__key__"]: s["rgb"] for s in read_samples(str(tmp_path / "data"), registry)}  # as decoded
    assert len(stored) == len(images)
    for i in range(len(images)):
        img = stored[f"k{i}"]
        x = torch.from_numpy(img.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
        assert np.array_equal(np.asarray(got[f"k{i}"]).reshape(4, 4), released.tokenize(x)[0].numpy())


def test_tokenizer_mapping_file_and_flags(tmp_path):
    (tmp_path / "rgb_tok").mkdir()
    (tmp_path / "map.yaml").write_text("rgb: rgb_tok\ndepth: EPFL-VILAB/4M_tokenizers_depth_8k_224-448\n")
    got = parse_tokenizer_sources([str(tmp_path / "map.yaml"), "normal=EPFL-VILAB/x"])
    assert got == {"rgb": str(tmp_path / "rgb_tok"), "depth": "EPFL-VILAB/4M_tokenizers_depth_8k_224-448",
                   "normal": "EPFL-VILAB/x"}
    with pytest.raises(FourmError):
        parse_tokenizer_sources(["rgb="])
    (tmp_path / "bad.yaml").write_text("- a\n- b\n")
    with pytest.raises(FourmError):
        parse_tokenizer_sources([str(tmp_path / "bad.yaml")])


def test_unknown_modality_in_a_mapping_is_one_line(tmp_path, registry, runner):
    _shards(tmp_path / "data", registry)
    r = runner.invoke(build_app(registry), ["tokenize", "--data", str(tmp_path / "data"), "--out",
                                            str(tmp_path / "out"), "--tokenizer", "nosuch=EPFL-VILAB/x"])
    assert r.exit_code != 0 and "nosuch" in r.output and "Traceback" not in r.output
    assert not json.dumps(r.output).count("\\n") > 3


def test_tokenize_writes_ml4m_per_modality_layout(tmp_path, registry, runner):
    import io
    import tarfile

    from fourm_registry.interop.ml4m.domains import domain_name

    _shards(tmp_path / "data", registry)
    tok_dir = write_tiny(tmp_path / "rgb_tok", "vit", codebook=64)
    r = runner.invoke(build_app(registry), ["tokenize", "--data", str(tmp_path / "data"), "--out",
                                            str(tmp_path / "out"), "--tokenizer", f"rgb={tok_dir}",
                                            "--layout", "ml4m"])
    assert r.exit_code == 0, r.output
    fourm = {s["__key__"]: s["tok_rgb"] for s in read_samples(str(tmp_path / "out"), registry)}
    spec = registry.get_modality("rgb")
    side = next(iter(fourm.values())).shape[0]
    domain = domain_name(spec.with_overrides(image_size=side * spec.tokenizer.patch_size))
    [shard] = sorted((tmp_path / "out" / "ml4m" / domain).glob("shard-*.tar"))
    assert shard.name == "shard-00000.tar"
    with tarfile.open(shard) as tar:
        files = {m.name: np.load(io.BytesIO(tar.extractfile(m).read())) for m in tar.getmembers()}
    assert sorted(files) == sorted(f"{k}.npy" for k in fourm)
    for key, tokens in fourm.items():
        arr = files[f"{key}.npy"]
        assert arr.dtype == np.int16 and arr.shape == (1, tokens.size)
        assert np.array_equal(arr[0], np.asarray(tokens).reshape(-1))


def test_tokenizers_dir_with_released_subdirs_works_as_it_is(tmp_path, registry, runner):
    _shards(tmp_path / "data", registry)
    write_tiny(tmp_path / "toks" / "rgb", "vit", codebook=64)  # a released-layout folder named after its modality
    r = runner.invoke(build_app(registry), ["tokenize", "--data", str(tmp_path / "data"), "--out",
                                            str(tmp_path / "out"), "--tokenizers", str(tmp_path / "toks")])
    assert r.exit_code == 0, r.output
    samples = list(read_samples(str(tmp_path / "out"), registry))
    assert len(samples) == 3 and all(s["tok_rgb"].shape == (4, 4) for s in samples)
