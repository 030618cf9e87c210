"""The webdataset training pipeline: layouts, corrupt samples, rank/worker splits, exact resume."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import webdataset as wds

from ._model_helpers import InputOnlyKinds
from fourm_registry import FourmError, Registry
from fourm_registry.data import DataConfig, build_train_loader, prepare_sample, repeat_sampling
from fourm_registry.masking import MaskingConfig
from fourm_registry.shards import AtomicShardWriter, encode_sample

SMALL = {"rgb": {"image_size": 32, "patch_size": 8, "vocab_size": 64},
         "depth": {"image_size": 32, "patch_size": 8, "vocab_size": 64},
         "caption": {"max_length": 12, "vocab_size": 300}}
NAMES = ["rgb", "depth", "caption"]
MASKING = MaskingConfig(input_tokens=(4, 12), target_tokens=(4, 12))


@pytest.fixture(scope="module")
def registry():
    return Registry.build(allow=[]).with_overrides(SMALL)


def sample(uid: int, rng: np.random.Generator) -> dict:
    """rgb cells all hold ``uid`` so a batch says which samples it holds."""
    return {"__key__": f"k{uid:04d}", "tok_rgb": np.full((4, 4), uid, dtype=np.int16),
            "tok_depth": rng.integers(0, 64, (4, 4)).astype(np.int16),
            "tok_caption": rng.integers(204, 300, int(rng.integers(1, 10))).astype(np.int16)}


def write_both_layouts(root: Path, registry, shards: int = 4, per_shard: int = 5) -> tuple[str, str]:
    rng = np.random.default_rng(0)
    for s in range(shards):
        name = f"shard-{s:05d}.tar"
        writers = {f: AtomicShardWriter(root / "pm" / f / name, registry) for f in ("tok_rgb", "tok_depth", "tok_caption")}
        with AtomicShardWriter(root / "flat" / name, registry) as flat:
            for i in range(per_shard):
                smp = sample(s * per_shard + i, rng)
                flat.write(smp)
                for field, w in writers.items():
                    w.write({"__key__": smp["__key__"], field: smp[field]})
        for w in writers.values():
            w.close()
    return str(root / "flat"), str(root / "pm")


def take(loader, n: int) -> list:
    it = iter(loader)
    out = [next(it) for _ in range(n)]
    it.close()
    return out


def same(a: list, b: list) -> bool:
    return all(x.keys() == y.keys() and all(
        torch.equal(getattr(x[k], f), getattr(y[k], f)) for k in x for f in ("inputs", "input_mask", "targets", "target_mask"))
        for x, y in zip(a, b)) and len(a) == len(b)


def ids(batches: list) -> list[int]:
    return [int(v) for b in batches for v in b["rgb"].targets[:, 0]]


def loader(registry, shards: str, **kw):
    opts = {"num_workers": 0, "shuffle_buffer": 8, "repeat_buffer": 4, **kw.pop("data", {})}
    return build_train_loader(DataConfig(shards=shards, **opts), MASKING, registry, NAMES,
                              kw.pop("batch_size", 4), seed=kw.pop("seed", 7), **kw)


def test_both_layouts_give_identical_batches(registry, tmp_path):
    flat, pm = write_both_layouts(tmp_path, registry)
    a, b = loader(registry, flat), loader(registry, pm)
    assert (a.plan.source.layout, b.plan.source.layout) == ("flat", "per_modality")
    ba, bb = take(a, 6), take(b, 6)
    assert same(ba, bb)
    assert not same(ba, take(loader(registry, flat, seed=8), 6))  # the seed matters


def test_per_modality_keys_must_agree(registry, tmp_path):
    _, pm = write_both_layouts(tmp_path, registry, shards=1)
    with AtomicShardWriter(Path(pm) / "tok_depth" / "shard-00000.tar", registry) as w:
        for i in range(5):
            w.write({"__key__": f"other{i}", "tok_depth": np.zeros((4, 4), np.int16)})
    with pytest.raises(FourmError, match="disagree.*tok_depth: 'other0'"):
        take(loader(registry, pm), 1)
    (Path(pm) / "tok_caption" / "shard-00000.tar").rename(Path(pm) / "tok_caption" / "x.tar")
    with pytest.raises(FourmError, match="same shards"):
        loader(registry, pm, data={"layout": "per_modality"})


def test_corrupt_and_incomplete_samples_are_skipped_and_counted(registry, tmp_path, caplog):
    rng = np.random.default_rng(1)
    good = [sample(i, rng) for i in range(7)]
    incomplete = {k: v for k, v in sample(61, rng).items() if k != "tok_depth"} | {"__key__": "incomplete"}
    misshapen = sample(62, rng) | {"__key__": "misshapen", "tok_rgb": np.zeros((3, 3), np.int16)}
    garbled = {"__key__": "garbled", "tok_rgb.npy": b"not an array", "tok_depth.npy": b"x", "tok_caption.npy": b"y"}
    path = tmp_path / "bad.tar"
    with wds.TarWriter(str(path)) as tw:
        for i, smp in enumerate(good):
            tw.write(encode_sample(registry, smp))
            if i == 2:
                for bad in (encode_sample(registry, incomplete), encode_sample(registry, misshapen), garbled):
                    tw.write(bad)
    shards = [str(path)]
    with caplog.at_level(logging.WARNING, logger="fourm.data"):
        ld = loader(registry, shards, batch_size=7, data={"resampled": False, "shuffle_buffer": 0, "repeat": 1})
        batch = take(ld, 1)[0]
    assert sorted(ids([batch])) == list(range(7))  # only the good samples, none zero-filled
    stats = ld.stats
    assert stats.samples == 7 and stats.skipped == 3
    assert stats.reasons == {"undecodable member": 1, "missing tok_depth": 1, "bad shape tok_rgb": 1}
    assert "misshapen" in caplog.text and "incomplete" in caplog.text


def test_ranks_and_workers_split_the_shards(registry, tmp_path):
    flat, _ = write_both_layouts(tmp_path, registry)  # 4 shards × 5 samples
    epoch = {"resampled": False, "shuffle_buffer": 0, "repeat": 1}
    per_rank = [ids(take(loader(registry, flat, batch_size=5, rank=r, world_size=2, data=epoch), 2))
                for r in range(2)]
    assert not set(per_rank[0]) & set(per_rank[1])
    assert sorted(per_rank[0] + per_rank[1]) == list(range(20))
    two_workers = ids(take(loader(registry, flat, batch_size=5, data={**epoch, "num_workers": 2}), 4))
    assert sorted(two_workers) == list(range(20))
    with pytest.raises(FourmError, match="cannot be split"):
        loader(registry, flat, rank=0, world_size=8, data=epoch)


def test_worker_streams_are_deterministic(registry, tmp_path):
    flat, _ = write_both_layouts(tmp_path, registry)
    opts = {"data": {"num_workers": 2}}
    assert same(take(loader(registry, flat, **opts), 4), take(loader(registry, flat, **opts), 4))


def test_resume_reproduces_the_stream(registry, tmp_path):
    flat, _ = write_both_layouts(tmp_path, registry)
    opts = {"data": {"segment_batches": 3}}
    straight = take(loader(registry, flat, **opts), 8)
    first = loader(registry, flat, **opts)
    head = take(first, 4)
    state = first.state_dict()
    assert state["step"] == 4
    resumed = loader(registry, flat, **opts)
    resumed.load_state_dict(state)
    assert same(head + take(resumed, 4), straight)
    with pytest.raises(FourmError, match="seed"):
        loader(registry, flat, seed=99, **opts).load_state_dict(state)


def test_repeat_sampling_uses_each_sample_n_times():
    out = list(repeat_sampling(range(50), 4, 8, np.random.default_rng(0)))
    assert sorted(out) == sorted(list(range(50)) * 4)
    assert out[:8] != sorted(out[:8])  # drawn at random from the buffer


def test_pixels_are_patchified_like_4m():
    reg = Registry.build(InputOnlyKinds(), allow=[])
    spec = reg.get_modality("tpix")
    img = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    patches = prepare_sample({"tpix": img}, [spec])["tpix"]
    t = (torch.from_numpy(img).float() / 255 - 0.5) / 0.25  # the plugin's mean/std
    ref = t.reshape(4, 8, 4, 8, 3).permute(0, 2, 1, 3, 4).reshape(16, 8 * 8 * 3)  # (nh nw) (ph pw c)
    assert patches.shape == (16, 192) and np.allclose(patches, ref.numpy(), atol=1e-6)
