"""Released 4M models beyond the reference cases: fine-tuning init, other resolutions and a
second size of a domain (4M-SR), pixels from a photo and from shards, porting-aid errors.
Driven by the same fixture as ``test_ml4m_model`` (``_ml4m_fixture``), never by its constants.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from fourm_registry import FourmError, Registry
from fourm_registry.batch import ModalityBatch
from fourm_registry.generation import GenerationSchedule, Generator, StepConfig
from fourm_registry.generation.fourm_adapter import FourMPredictor
from fourm_registry.interop.ml4m.moddict import domains_of, forward_mod_dict
from fourm_registry.model import FourM, registry_for

from ._ml4m_fixture import (  # noqa: F401
    ATOL,
    CASES,
    FM,
    LOSS_REL,
    MARGIN,
    META,
    arrays,
    inputs,
    kind_of,
    model,
    registry,
    sizes_of,
)
from ._torch_threads import one_torch_thread  # noqa: F401


def test_finetune_init_keeps_released_weights_and_adds_fresh_modalities(model: FourM, registry: Registry) -> None:
    from fourm_registry.model import build_model
    from fourm_registry.training.build import load_initial_weights, read_exported_config

    exported = read_exported_config(FM, registry)
    assert exported["model"]["tie_sequence_embeddings"] is False and set(exported["modalities"]) == set(model.specs)
    new = min(n for n in registry.modalities if n not in model.specs and not registry.get_modality(n).input_only)
    sizes = {n: {k: v for k, v in r.items() if k in ("vocab_size", "image_size", "patch_size", "max_length") and v}
             for n, r in exported["modalities"].items()}
    run = build_model(exported["model"], registry.with_overrides(sizes), [*model.specs, new])
    fresh = load_initial_weights(run, FM, {new}, registry)
    assert fresh and all(f".{new}." in k for k in fresh)
    released = model.state_dict()
    own = run.state_dict()
    carried = [k for k in own if k in released]
    assert carried and all(torch.equal(own[k], released[k]) for k in carried)


def _cubic_matrix(n_in: int, n_out: int, a: float = -0.75) -> np.ndarray:
    """n_out×n_in weights of 1-D bicubic resampling (Keys kernel, half-pixel centres, edge clamp)."""
    def k(x: float) -> float:
        x = abs(x)
        if x <= 1:
            return (a + 2) * x**3 - (a + 3) * x**2 + 1
        return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a if x < 2 else 0.0

    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        src = (i + 0.5) * n_in / n_out - 0.5
        base = int(np.floor(src))
        for j in range(base - 1, base + 3):
            m[i, min(max(j, 0), n_in - 1)] += k(src - j)
    return m


def test_a_grid_model_runs_on_a_doubled_grid_with_bicubic_positions(model: FourM, registry: Registry) -> None:
    from fourm_registry.model import resize_grid

    grid_names = [n for n in model.decoder_embeddings if model.specs[n].kind.is_grid]
    name = grid_names[0]
    spec = model.specs[name]
    (h, w), size = spec.tokenizer.grid, spec.tokenizer.image_size
    enc_before = model.encoder_embeddings[name].pos_emb.detach().clone()
    big = FourM.from_pretrained(FM, registry).eval()
    resize_grid(big, name, 2 * size)
    assert big.specs[name].tokenizer.grid == (2 * h, 2 * w)
    table = enc_before[0].numpy().reshape(h, w, -1)
    expect = np.einsum("ij,jkd,lk->ild", _cubic_matrix(h, 2 * h), table, _cubic_matrix(w, 2 * w))
    for side in (big.encoder_embeddings, big.decoder_embeddings):
        got = side[name].pos_emb[0].detach().numpy().reshape(2 * h, 2 * w, -1)
        assert np.abs(got - expect).max() < 1e-5
    n, vocab = (2 * h) * (2 * w), spec.tokenizer.vocab_size
    ids = torch.randint(0, vocab, (1, n), generator=torch.Generator().manual_seed(0))
    seen = torch.zeros(1, n, dtype=torch.bool)
    seen[:, : n // 2] = True
    with torch.no_grad():
        out = big({name: ModalityBatch(ids, seen, ids, ~seen)}, return_logits=True)
    assert out.logits[name].shape == (n - n // 2, vocab) and torch.isfinite(out.loss)


def test_generating_from_a_photo_matches_the_mod_dict_route(model: FourM, registry: Registry) -> None:
    """A photo as pixel input (``rgb@<size>``): fourm's generator (pixels patched and standardised
    by the data pipeline) and the ml-4m mod_dict route (pixels standardised here) agree."""
    from fourm_registry.generation.inputs import pixel_condition

    names = domains_of(model)
    pixels = next((d for d, n in names.items() if model.specs[n].kind.value == "pixels"), None)
    grids = [d for d, n in names.items() if n in model.decoder_embeddings and model.specs[n].kind.is_grid]
    assert pixels is not None and grids
    spec, target = model.specs[names[pixels]], grids[-1]
    size = spec.tokenizer.image_size
    ramp = np.linspace(0, 255, size)
    photo = np.stack([ramp[None].repeat(size, 0), ramp[:, None].repeat(size, 1),
                      np.abs(ramp[None] - ramp[:, None])], -1).astype(np.uint8)
    conds = {names[pixels]: pixel_condition(spec, photo)}
    schedule = GenerationSchedule(steps=[StepConfig(target=names[target], scheme="maskgit", steps=1,
                                                    temperature=0.0)])
    ids = Generator(FourMPredictor(model), registry.with_overrides(sizes_of(model))).generate(
        conds, schedule, seed=0).grids[names[target]]
    mean, std = (np.asarray(spec.extras[k], np.float32) for k in ("mean", "std"))
    chw = torch.from_numpy(((photo / 255.0 - mean) / std).astype(np.float32)).permute(2, 0, 1)[None]
    n = model.specs[names[target]].num_tokens
    cells = spec.num_tokens
    md = {pixels: {"tensor": chw, "input_mask": torch.zeros(1, cells, dtype=torch.bool)},
          target: {"tensor": torch.zeros(1, n, dtype=torch.long), "input_mask": torch.ones(1, n, dtype=torch.bool),
                   "target_mask": torch.zeros(1, n, dtype=torch.bool)}}
    out = forward_mod_dict(model, md)
    assert torch.equal(ids[0], out.logits[target].argmax(-1))


def test_a_second_resolution_of_a_domain_loads_runs_and_round_trips(registry: Registry, runner, tmp_path: Path) -> None:
    """4M-SR holds e.g. tok_rgb@224 and tok_rgb@448: one modality at two sizes (a second name)."""
    from fourm_cli.app import build_app
    from safetensors.torch import save_file

    from fourm_registry.model.embeddings import resample_grid_table

    config = json.loads((FM / "config.json").read_text())
    tensors = load_file(str(FM / "model.safetensors"))
    domain = next(d for d in config["domains_out"] if "@" in d and f"decoder_embeddings.{d}.pos_emb" in tensors)
    stem, size = domain.split("@")
    big = f"{stem}@{2 * int(size)}"
    side = round(tensors[f"encoder_embeddings.{domain}.pos_emb"].shape[1] ** 0.5)
    for key in [k for k in tensors if k.split(".")[1:2] == [domain]]:
        t = tensors[key]
        if key.endswith("pos_emb"):
            t = resample_grid_table(t, (side, side), (2 * side, 2 * side))
        tensors[key.replace(f".{domain}.", f".{big}.")] = t.clone() + (0.01 if key.endswith("mod_emb") else 0)
    config["domains_in"].insert(0, big)  # listed first: the plugin's own size still keeps the plain name
    config["domains_out"].append(big)
    src = tmp_path / "sr"
    src.mkdir()
    (src / "config.json").write_text(json.dumps(config))
    save_file(tensors, str(src / "model.safetensors"))
    sr = FourM.from_pretrained(src, registry).eval()
    names = domains_of(sr)
    assert names[domain] in registry.modalities and names[big] not in registry.modalities
    assert sr.specs[names[big]].tokenizer.grid == (2 * side, 2 * side)
    n, vocab = (2 * side) ** 2, sr.specs[names[big]].tokenizer.vocab_size
    ids = torch.randint(0, vocab, (1, n), generator=torch.Generator().manual_seed(0))
    seen = torch.arange(n)[None] < n // 2
    with torch.no_grad():
        out = sr({names[big]: ModalityBatch(ids, seen, ids, ~seen)}, return_logits=True)
    assert out.logits[names[big]].shape == (n - n // 2, vocab)
    # the two-stage recipe: tokens made at the small size condition the large one (README)
    small = torch.randint(0, vocab, (1, side * side), generator=torch.Generator().manual_seed(1))
    stage2 = GenerationSchedule(steps=[StepConfig(target=names[big], scheme="maskgit", steps=4, temperature=1.0)])
    result = Generator(FourMPredictor(sr), registry_for(sr, registry)).generate(
        {names[domain]: ModalityBatch(small, torch.ones_like(small, dtype=torch.bool))}, stage2, seed=0)
    assert result.grids[names[big]].shape == (1, n) and bool(result.filled[names[big]].all())
    app = build_app(registry)
    for args in (["--to", "fourm", str(src), str(tmp_path / "f")], ["--to", "ml4m", str(tmp_path / "f"), str(tmp_path / "o")]):
        res = runner.invoke(app, ["convert", *args])
        assert res.exit_code == 0, res.output
    back = load_file(str(tmp_path / "o" / "model.safetensors"))
    assert set(back) == set(tensors)
    assert all(back[k].numpy().tobytes() == v.numpy().tobytes() for k, v in tensors.items())


def test_rgb_pixels_train_from_the_shards_rgb_member(tmp_path: Path) -> None:
    """The pixel input reads the existing ``rgb`` member (per-modality layout, as ml-4m stores
    data): no second copy of the image, ml-4m's standardisation."""
    from fourm_registry.data import DataConfig, build_train_loader
    from fourm_registry.masking import MaskingConfig
    from fourm_registry.shards import AtomicShardWriter

    reg = Registry.build(allow=[]).with_overrides(
        {"rgb_pixels": {"image_size": 32}, "depth": {"image_size": 32, "vocab_size": 64}})
    spec = reg.get_modality("rgb_pixels")
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 32)
    images = [np.stack([ramp[None].repeat(32, 0) * a, ramp[:, None].repeat(32, 1), np.full((32, 32), 40.0 * a)],
                       -1).astype(np.uint8) for a in (0.5, 1.0)]
    for field in ("rgb", "tok_depth"):
        with AtomicShardWriter(tmp_path / field / "shard-00000.tar", reg) as w:
            for i, img in enumerate(images):
                value = img if field == "rgb" else rng.integers(0, 64, (2, 2)).astype(np.int16)
                w.write({"__key__": f"k{i}", field: value})
    assert not (tmp_path / "rgb_pixels").exists()
    loader = build_train_loader(DataConfig(shards=str(tmp_path), layout="per_modality", num_workers=0,
                                           shuffle_buffer=1, repeat_buffer=1),
                                MaskingConfig(input_tokens=(8, 8), target_tokens=(2, 2)), reg,
                                ["rgb_pixels", "depth"], 1, seed=0)
    batch = next(iter(loader))
    mb = batch["rgb_pixels"]
    assert mb.inputs.dtype == torch.float32 and mb.inputs.shape[1:] == (spec.num_tokens, 16 * 16 * 3)
    codec = reg.get_modality("rgb").codec
    mean, std = (np.asarray(spec.extras[k], np.float32) for k in ("mean", "std"))
    refs = [((codec.decode(codec.encode(img)) / 255.0 - mean) / std).astype(np.float32) for img in images]
    patches = [r.reshape(2, 16, 2, 16, 3).transpose(0, 2, 1, 3, 4).reshape(4, -1) for r in refs]
    rows = mb.inputs[0][mb.input_mask[0]].numpy()
    assert len(rows) and any(np.allclose(rows, p[mb.input_mask[0].numpy()], atol=1e-5) for p in patches)


def test_porting_aid_refuses_a_decoder_mask_fourm_does_not_have(model: FourM) -> None:
    case = next(c for c in CASES if kind_of(c) == "FourM.forward")
    md = inputs(case)
    domain = next(d for d, v in md.items() if "decoder_attention_mask" in v and v["decoder_attention_mask"].any())
    md[domain]["decoder_attention_mask"] = (~md[domain]["target_mask"].bool()).int() * 2  # not ml-4m's layout
    with pytest.raises(FourmError, match="decoder_attention_mask"):
        forward_mod_dict(model, md)


def test_init_names_a_hub_model_it_cannot_fetch(monkeypatch) -> None:
    from fourm_registry.interop.ml4m import init

    def offline(*_a, **_k):
        raise OSError("offline")

    monkeypatch.setattr("huggingface_hub.snapshot_download", offline)
    assert init.local_dir(FM) == FM and not init.is_official_dir(FM / "missing")
    with pytest.raises(FourmError, match="EPFL-VILAB/4M-7_B_CC12M"):
        init.is_official_dir("EPFL-VILAB/4M-7_B_CC12M")


def test_a_fourm_trained_model_converts_to_ml4m_and_back(registry: Registry, tmp_path: Path) -> None:
    from fourm_registry.interop.ml4m import save_official
    from fourm_registry.model import build_model

    names = [n for n in domains_of(FourM.from_pretrained(FM, registry)).values()]
    torch.manual_seed(0)
    small = {"dim": 32, "encoder_depth": 1, "decoder_depth": 1, "num_heads": 2}
    mine = build_model(small, registry, names).eval()  # fourm defaults: tied sequence heads
    save_official(mine, tmp_path / "o")
    config = json.loads((tmp_path / "o" / "config.json").read_text())
    assert config["dim"] == 32 and len(config["domains_in"]) == len(names)
    back = FourM.from_pretrained(tmp_path / "o", registry)
    assert set(back.specs) == set(mine.specs)
    state = back.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in mine.state_dict().items())
