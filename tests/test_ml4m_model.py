"""Released 4M models (ml-4m layout) against ml-4m's own numbers.

Driven by ``$FOURM_ML4M_FIXTURES/fm-small/`` (default ``tests/fixtures/ml4m``): a checkpoint in
the official layout made by ml-4m's code, with ``keys.txt`` (its state dict), ``cases.json`` and
``cases.npz`` (inputs and outputs of ml-4m's forward and generator). Sizes, domains, seeds and
step counts are read from those files only; every case there is run (the kind decides how).
"""
from __future__ import annotations

import json
import os
import random
from functools import lru_cache
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

from ._torch_threads import one_torch_thread  # noqa: F401

ROOT = Path(os.environ.get("FOURM_ML4M_FIXTURES", Path(__file__).parent / "fixtures" / "ml4m"))
FM = ROOT / "fm-small"
ATOL, LOSS_REL, MARGIN = 1e-4, 1e-5, 1e-3  # the fixture README's tolerances
META = json.loads((FM / "cases.json").read_text())
CASES = META["cases"]


def kind_of(case: str) -> str:
    text = CASES[case]["kind"]
    for kind in ("FourM.forward", "maskgit", "autoregressive"):
        if kind in text:
            return kind
    return "unknown"


@lru_cache(maxsize=1)
def arrays() -> dict[str, np.ndarray]:
    with np.load(FM / "cases.npz") as z:
        return {k: z[k] for k in z.files}


def inputs(case: str) -> dict[str, dict[str, torch.Tensor]]:
    """``<case>.in.<domain>.<field>`` arrays as an ml-4m mod_dict (in mod_dict_order if recorded)."""
    out: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in arrays().items():
        if key.startswith(f"{case}.in."):
            domain, field = key[len(case) + 4:].rsplit(".", 1)
            out.setdefault(domain, {})[field] = torch.from_numpy(value)
    order = CASES[case].get("mod_dict_order") or sorted(out)
    return {d: out[d] for d in order}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.build(allow=[])


@pytest.fixture(scope="module")
def model(registry: Registry) -> FourM:
    return FourM.from_pretrained(FM, registry).eval()


def test_every_case_has_a_check() -> None:
    assert CASES and all(kind_of(c) != "unknown" for c in CASES), {c: CASES[c]["kind"] for c in CASES}


def test_loads_every_tensor_sizes_and_ties(model: FourM) -> None:
    file = load_file(str(FM / "model.safetensors"))
    names = domains_of(model)
    state = model.state_dict(keep_vars=True)
    rows = [line.split("\t") for line in (FM / "keys.txt").read_text().splitlines() if not line.startswith("#")]
    assert {r[0] for r in rows} == set(file)

    def ours(key: str) -> str:
        side, _, rest = key.partition(".")
        if side.endswith("_embeddings"):
            domain, tail = rest.split(".", 1)
            return f"{side}.{names[domain]}.{tail}"
        return key

    dropped = []
    for key, shape, _dtype, kind in rows:
        if ours(key) not in state:
            dropped.append(key)
            assert key.endswith(".bias") and kind == "buffer" and not file[key].any(), key
            continue
        mine = state[ours(key)]
        assert list(mine.shape) == json.loads(shape) and torch.equal(mine.detach(), file[key]), key
        for other in (kind.split("tied-to=")[1].split(",") if "tied-to=" in kind else []):
            assert state[ours(other)] is mine, (key, other)  # re-tied: one parameter
    assert dropped  # the zero LayerNorm bias buffers exist in the file and are not parameters here
    for domain, vocab in META["model"]["vocab_sizes"].items():
        assert model.specs[names[domain]].tokenizer.vocab_size == vocab
    for name, dec in model.decoder_embeddings.items():
        if hasattr(dec, "token_emb") and model.specs[name].kind.value == "sequence":
            assert dec.to_logits.weight is not dec.token_emb.weight  # released heads stay untied


@pytest.mark.parametrize("case", [c for c in CASES if kind_of(c) == "FourM.forward"])
def test_forward_case(model: FourM, case: str) -> None:
    info, z = CASES[case], arrays()
    md = inputs(case)
    for loss_type in ("mod", "token"):
        random.seed(META["seeds"]["python_random_before_each_forward"])
        out = forward_mod_dict(model, md, info["num_encoder_tokens"], info["num_decoder_tokens"], loss_type)
        ref = float(z[f"{case}.out.loss_{loss_type}"].reshape(-1)[0])
        assert abs(float(out.loss) - ref) <= LOSS_REL * abs(ref), (loss_type, float(out.loss), ref)
    for domain, ref in info["mod_loss"].items():
        assert abs(float(out.mod_loss[domain]) - ref) <= LOSS_REL * abs(ref), domain
    assert set(out.logits) == set(info["outputs"])
    for domain in info["outputs"]:
        b, p = z[f"{case}.out.rows.{domain}.batch"], z[f"{case}.out.rows.{domain}.pos"]
        index = {(int(i), int(j)): r for r, (i, j) in enumerate(zip(*out.rows[domain]))}
        assert len(index) == len(b)
        mine = out.logits[domain][[index[(int(i), int(j))] for i, j in zip(b, p)]].numpy()
        assert np.abs(mine - z[f"{case}.out.logits.{domain}"]).max() <= ATOL, domain


def _conditions(model: FourM, case: str, target: str | None) -> dict[str, ModalityBatch]:
    """The case's inputs as fourm conditions (all but ``target``): what ml-4m's encoder saw."""
    names = domains_of(model)
    return {names[d]: ModalityBatch(inputs=v["tensor"].reshape(v["tensor"].shape[0], -1).long(),
                                    input_mask=~v["input_mask"].bool().reshape(v["tensor"].shape[0], -1))
            for d, v in inputs(case).items() if d != target}


def _confident(logits: np.ndarray) -> np.ndarray:
    top2 = np.sort(logits, axis=-1)[..., -2:]
    return (top2[..., 1] - top2[..., 0]) > MARGIN


@pytest.mark.parametrize("case", [c for c in CASES if kind_of(c) == "maskgit"])
def test_maskgit_case(model: FourM, registry: Registry, case: str) -> None:
    info, z = CASES[case], arrays()
    target = info["schedule"][0]["target_domain"]
    steps = [s for s in info["schedule"] if s["target_domain"] == target]
    name = domains_of(model)[target]
    predictor, seen = FourMPredictor(model), {}
    grid_logits = predictor.grid_logits
    predictor.grid_logits = lambda *a: seen.setdefault("logits", grid_logits(*a))
    hooks = [model.encoder_norm.register_forward_hook(lambda _m, _i, o: seen.setdefault("enc", o)),
             model.decoder_norm.register_forward_hook(lambda _m, _i, o: seen.setdefault("dec", o))]
    schedule = GenerationSchedule(steps=[StepConfig(
        target=name, scheme="maskgit", steps=len(steps), temperature=float(steps[0]["temperature"]),
        token_schedule="linear", temperature_schedule="constant")])
    try:
        result = Generator(predictor, registry.with_overrides(_sizes(model))).generate(
            _conditions(model, case, target), schedule, seed=META["seeds"]["generate_seed"])
    finally:
        for h in hooks:
            h.remove()
    for key, ref in (("enc", "encoder_out"), ("dec", "decoder_out"), ("logits", "logits")):
        assert np.abs(seen[key].numpy() - z[f"{case}.out.{ref}"]).max() <= ATOL, key
    ids, ref_ids = result.grids[name].numpy(), z[f"{case}.out.{target.split('@')[0]}_ids"]
    sure = _confident(z[f"{case}.out.logits"])
    assert sure.mean() > 0.5 and (ids[sure] == ref_ids[sure]).all()


def _sizes(model: FourM) -> dict[str, dict]:
    """The loaded model's token layout, for a registry the generator plans with."""
    fields = ("vocab_size", "image_size", "patch_size", "max_length")
    return {n: {f: getattr(s.tokenizer, f) for f in fields if getattr(s.tokenizer, f) is not None}
            for n, s in model.specs.items()}


@pytest.mark.parametrize("case", [c for c in CASES if kind_of(c) == "autoregressive"])
def test_autoregressive_case(model: FourM, registry: Registry, case: str) -> None:
    info, z = CASES[case], arrays()
    target = info["schedule"][0]["target_domain"]
    name = domains_of(model)[target]
    raw, ref_logits = z[f"{case}.out.raw_ids"], z[f"{case}.out.step_logits"]
    predictor = FourMPredictor(model)
    assert raw[:, 0].tolist() == predictor.sequence_start(name) * raw.shape[0]
    conds, seen = _conditions(model, case, target), _conditions(model, case, None)[name]
    # what fourm's generator gives the encoder of the sequence it generates = what ml-4m's did
    prompt = predictor.sequence_prompt(name, raw.shape[0])
    assert prompt is not None and torch.equal(prompt.inputs, seen.inputs[seen.input_mask].reshape(raw.shape[0], -1))
    # every step's logits, feeding the reference's ids through fourm's KV-cached sequence decoder
    with torch.no_grad():
        step = predictor.sequence_decoder(predictor.encode({**conds, name: seen}), name)
        for t in range(info["num_steps"]):
            mine = step(torch.from_numpy(raw[:, : t + 1]).long()).numpy()
            assert np.abs(mine - ref_logits[:, t]).max() <= ATOL, t
    # fourm's own generator, greedy: the reference's ids up to fourm's stop rule ([EOS] or a sentinel)
    schedule = GenerationSchedule(steps=[StepConfig(target=name, scheme="autoregressive",
                                                    tokens=info["num_steps"], temperature=0.0)])
    result = Generator(predictor, registry.with_overrides(_sizes(model))).generate(
        conds, schedule, seed=META["seeds"]["generate_seed"])
    stop = predictor.sequence_stop(name)
    sure = _confident(ref_logits)
    for row, ids, ok in zip(raw[:, 1:].tolist(), result.sequences[name], sure):
        end = next((i for i, t in enumerate(row) if t in stop), len(row))
        assert ok[: end + 1].all() and ids == row[:end]


def test_convert_round_trip_is_byte_identical(registry: Registry, runner, tmp_path: Path) -> None:
    from fourm_cli.app import build_app

    app = build_app(registry)
    for args in (["--to", "fourm", str(FM), str(tmp_path / "f")], ["--to", "ml4m", str(tmp_path / "f"), str(tmp_path / "o")]):
        res = runner.invoke(app, ["convert", *args])
        assert res.exit_code == 0, res.output
    before, after = load_file(str(FM / "model.safetensors")), load_file(str(tmp_path / "o" / "model.safetensors"))
    assert set(before) == set(after)
    for key, t in before.items():
        assert t.dtype == after[key].dtype and t.shape == after[key].shape, key
        assert t.numpy().tobytes() == after[key].numpy().tobytes(), key
    assert json.loads((tmp_path / "o" / "config.json").read_text()) == json.loads((FM / "config.json").read_text())
    res = runner.invoke(app, ["convert", "--to", "ml4m", str(tmp_path / "f"), str(tmp_path / "o")])
    assert res.exit_code == 1 and "--overwrite" in res.output


def test_unknown_domain_names_the_distribution(registry: Registry, tmp_path: Path) -> None:
    config = json.loads((FM / "config.json").read_text())
    config["domains_in"] = [*config["domains_in"], "tok_dinov2_global"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "model.safetensors").symlink_to(FM / "model.safetensors")
    with pytest.raises(FourmError, match=r"'tok_dinov2_global'.*fourm-4m21-features"):
        FourM.from_pretrained(tmp_path, registry)


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
    ids = Generator(FourMPredictor(model), registry.with_overrides(_sizes(model))).generate(
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
