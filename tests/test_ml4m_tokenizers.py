"""Released 4M tokenizers against ml-4m's own numbers.

Data-driven over every kind and case in ``$FOURM_ML4M_FIXTURES/tok/`` (default
``tests/fixtures/ml4m``): each kind folder is a tokenizer in the released layout
(``config.json`` + ``model.safetensors``) with ``cases.json`` / ``cases.npz`` written by
ml-4m's code. Sizes, seeds and step counts are read from those files only.
"""
from __future__ import annotations

import copy
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fourm_registry.interop.ml4m.tokenizers import load_released_tokenizer

from ._torch_threads import one_torch_thread  # noqa: F401

ROOT = Path(os.environ.get("FOURM_ML4M_FIXTURES", Path(__file__).parent / "fixtures" / "ml4m")) / "tok"
LATENT, DECODED, LOSS_REL, ALPHAS = 1e-5, 1e-4, 1e-5, 1e-6


def _kinds() -> list[str]:
    return sorted(p.name for p in ROOT.iterdir() if (p / "cases.json").is_file()) if ROOT.is_dir() else []


KINDS = _kinds()
CASES = [(k, c) for k in KINDS for c in json.loads((ROOT / k / "cases.json").read_text())["cases"]]


@cache
def fixture(kind: str) -> tuple[dict, dict[str, np.ndarray]]:
    with np.load(ROOT / kind / "cases.npz") as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads((ROOT / kind / "cases.json").read_text()), arrays


@cache
def model(kind: str) -> torch.nn.Module:
    return load_released_tokenizer(ROOT / kind)


def t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def max_diff(a: torch.Tensor, ref: np.ndarray) -> float:
    assert tuple(a.shape) == ref.shape, (tuple(a.shape), ref.shape)
    return float((a.detach().double() - t(ref).double()).abs().max()) if ref.size else 0.0


def rel(a: torch.Tensor, ref: np.ndarray) -> float:
    r = float(np.asarray(ref).reshape(-1)[0])
    return abs(float(a.detach().reshape(-1)[0]) - r) / max(abs(r), 1e-12)


def loss_fn(info: dict) -> str:
    return info.get("loss_fn") or info["eval_forward"]["loss_fn"]


def reconst(kind_loss: str, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return {"cross_entropy": F.cross_entropy, "smooth_l1": F.smooth_l1_loss, "mse": F.mse_loss,
            "l1": F.l1_loss}[kind_loss](pred, target)


def test_fixture_present():
    assert KINDS, f"no tokenizer fixtures under {ROOT}"
    assert all(len(json.loads((ROOT / k / "cases.json").read_text())["cases"]) for k in KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_loads_strictly_with_every_key(kind):
    lines = [ln.split("\t") for ln in (ROOT / kind / "keys.txt").read_text().splitlines() if ln and ln[0] != "#"]
    state = model(kind).state_dict()
    assert {k: list(v.shape) for k, v in state.items()} == {ln[0]: json.loads(ln[1]) for ln in lines}


@pytest.mark.parametrize("kind,case", CASES)
def test_encode(kind, case):
    info, z = fixture(kind)
    m = model(kind)
    with torch.no_grad():
        x = t(z[f"{case}.in.x"])
        enc = m.encoder_out(x)
        pre = m.quant_proj(enc)
        quant, loss, tokens, margin = m.quantize(pre)
    assert max_diff(enc, z[f"{case}.enc.encoder_out"]) <= LATENT
    assert max_diff(pre, z[f"{case}.enc.pre_quant"]) <= LATENT
    assert torch.equal(tokens, t(z[f"{case}.enc.tokens"]))
    assert torch.equal(quant, t(z[f"{case}.enc.quant"]))
    assert torch.equal(m.tokens_to_embedding(tokens), quant)
    assert torch.equal(m.tokenize(x), tokens)
    assert float(loss) == info["cases"][case]["encode_code_loss_eval"]
    assert max_diff(margin, z[f"{case}.enc.code_margin"]) <= LATENT


@pytest.mark.parametrize("kind,case", [c for c in CASES if f"{c[1]}.dec.from_tokens" in fixture(c[0])[1]])
def test_decode_tokens(kind, case):
    info, z = fixture(kind)
    m = model(kind)
    dec = m.decode_tokens(t(z[f"{case}.enc.tokens"]))
    assert max_diff(dec, z[f"{case}.dec.from_tokens"]) <= DECODED
    x = t(z[f"{case}.in.x"])
    with torch.no_grad():
        out, code_loss = m(x)
        rec = reconst(loss_fn(info["cases"][case]), out, x)
    assert rel(rec, z[f"{case}.loss.eval_reconst"]) <= LOSS_REL
    assert float(code_loss) == info["cases"][case]["eval_forward"]["code_loss"]


@pytest.mark.parametrize("kind,case", [c for c in CASES if f"{c[1]}.loss.train_code_loss" in fixture(c[0])[1]])
def test_training_losses(kind, case):
    info, z = fixture(kind)
    m = copy.deepcopy(model(kind)).train()
    x = t(z[f"{case}.in.x"])
    if f"{case}.fwd.noisy" in z:
        out, code_loss = m(x, t(z[f"{case}.fwd.noisy"]), t(z[f"{case}.fwd.timesteps"]))
        target = x
    else:
        out, code_loss = m(x)
        target = x
    rec = reconst(loss_fn(info["cases"][case]), out, target)
    assert rel(code_loss, z[f"{case}.loss.train_code_loss"]) <= LOSS_REL
    assert rel(rec, z[f"{case}.loss.train_reconst"]) <= LOSS_REL
    total = info["cases"][case]["train_forward"]
    assert abs(float((rec + total["codebook_weight"] * code_loss).detach()) - total["total_loss"]) <= LOSS_REL * abs(total["total_loss"])


@pytest.mark.parametrize("kind,case", [c for c in CASES if f"{c[1]}.fwd.x0_pred" in fixture(c[0])[1]])
def test_diffusion_training_forward(kind, case):
    info, z = fixture(kind)
    m = model(kind)
    clean, noise, steps = t(z[f"{case}.in.x"]), t(z[f"{case}.fwd.noise"]), t(z[f"{case}.fwd.timesteps"])
    assert steps.tolist() == info["cases"][case]["eval_forward"]["timesteps"]
    noisy = m.noise_scheduler.add_noise(clean, noise, steps)
    assert max_diff(noisy, z[f"{case}.fwd.noisy"]) <= LATENT
    with torch.no_grad():
        pred, _ = m(clean, t(z[f"{case}.fwd.noisy"]), steps)
    assert max_diff(pred, z[f"{case}.fwd.x0_pred"]) <= DECODED
    assert rel(F.mse_loss(pred, clean), z[f"{case}.loss.eval_reconst"]) <= LOSS_REL


def _sampler_case(kind: str, case: str, sampler: str) -> Any:
    """A sampling case whose fixture records only the end result (no per-step trace) is compared
    end to end, which holds only on the CPU kind the fixture was made on (AVX512 without AMX): on
    an AVX2 EPYC, divae_unet down-ddim moved by 0.078 from the committed fixture, while a fixture
    made by ml-4m's own code on that same CPU (`make_tok_fixtures.py --kinds divae_unet`) was
    matched by every case, down-ddim included (2026-12-01); on an AMX Xeon it moved by 0.0775
    (2026-12-02). Cases with a per-step trace stay strict everywhere."""
    traced = f"{case}.{sampler}.model_output" in fixture(kind)[1]
    fixture_cpu = torch.backends.cpu.get_cpu_capability() == "AVX512" and not torch.cpu._is_amx_tile_supported()
    if traced or fixture_cpu:
        return (kind, case, sampler)
    return pytest.param(kind, case, sampler, marks=pytest.mark.xfail(
        reason="end-to-end sampling result recorded on another CPU kind", strict=False))


SAMPLERS = [_sampler_case(k, c, s) for k, c in CASES for s in ("ddim", "ddpm") if f"{c}.{s}.decoded" in fixture(k)[1]]


@pytest.mark.parametrize("kind,case,sampler", SAMPLERS)
def test_diffusion_sampling_every_step(kind, case, sampler):
    """DDIM with 4M's eval settings / DDPM as the model's default pipeline, step by step."""
    from fourm_registry.tokenizers.released.diffusion import make_scheduler

    info, z = fixture(kind)
    m = model(kind)
    run = info["cases"][case][sampler]
    pre = f"{case}.{sampler}"
    scheduler = make_scheduler(m.arch.diffusion, sampler) if sampler == "ddim" else None
    used = scheduler if scheduler is not None else m.noise_scheduler
    assert max_diff(used.alphas_cumprod, z[f"{pre}.alphas_cumprod"]) <= ALPHAS
    gen = torch.Generator().manual_seed(info["seeds"][sampler])
    assert torch.equal(torch.randn(z[f"{pre}.initial_noise"].shape, generator=gen), t(z[f"{pre}.initial_noise"]))
    if f"{pre}.variance_noise" in z:  # the draws of the DDPM steps follow x_T on the same generator
        for i, ref in enumerate(z[f"{pre}.variance_noise"]):
            assert torch.equal(torch.randn(ref.shape, generator=gen), t(ref)), i
    seen: list[tuple[int, torch.Tensor, torch.Tensor]] = []
    out = m.decode_tokens(t(z[f"{case}.enc.tokens"]), scheduler=scheduler, timesteps=run["steps_requested"],
                          generator=torch.Generator().manual_seed(info["seeds"][sampler]),
                          image_size=run["image_size"], on_step=lambda i, ts, mo, xs: seen.append((ts, mo, xs)))
    assert [s[0] for s in seen] == z[f"{pre}.timesteps"].tolist() == run["timesteps"]
    if f"{pre}.model_output" in z:
        for i, (_, mo, xs) in enumerate(seen):
            assert max_diff(mo, z[f"{pre}.model_output"][i]) <= DECODED, i
            assert max_diff(xs, z[f"{pre}.prev_sample"][i]) <= DECODED, i
    assert max_diff(out, z[f"{pre}.decoded"]) <= DECODED


CHECKED = {"in.x", "enc.encoder_out", "enc.pre_quant", "enc.quant", "enc.tokens", "enc.code_margin",
           "dec.from_tokens", "loss.eval_reconst", "loss.train_code_loss", "loss.train_reconst",
           "fwd.noise", "fwd.noisy", "fwd.timesteps", "fwd.x0_pred", "ddim.alphas_cumprod", "ddim.decoded",
           "ddim.initial_noise", "ddim.timesteps", "ddim.model_output", "ddim.prev_sample", "ddpm.alphas_cumprod",
           "ddpm.decoded", "ddpm.initial_noise", "ddpm.timesteps", "ddpm.variance_noise", "ddpm.model_output",
           "ddpm.prev_sample"}


@pytest.mark.parametrize("kind", KINDS)
def test_every_array_of_the_fixture_is_checked(kind):
    """A fixture with arrays this test does not know would pass silently: refuse it."""
    info, z = fixture(kind)
    names = {k.split(".", 1)[1] for k in z}
    assert names <= CHECKED, sorted(names - CHECKED)
    assert {k.split(".", 1)[0] for k in z} == set(info["cases"])
