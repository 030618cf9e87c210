"""Released 4M models (ml-4m layout) against ml-4m's own numbers.

Driven by ``$FOURM_ML4M_FIXTURES/fm-small/`` (default ``tests/fixtures/ml4m``, see
``_ml4m_fixture``): a checkpoint in the official layout made by ml-4m's code, with ``keys.txt``
(its state dict), ``cases.json`` and ``cases.npz`` (inputs and outputs of ml-4m's forward and
generator). Sizes, domains, seeds and step counts are read from those files only; every case
there is run (the kind decides how).
"""
from __future__ import annotations

import json
import random
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
from fourm_registry.model import FourM

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
        result = Generator(predictor, registry.with_overrides(sizes_of(model))).generate(
            _conditions(model, case, target), schedule, seed=META["seeds"]["generate_seed"])
    finally:
        for h in hooks:
            h.remove()
    for key, ref in (("enc", "encoder_out"), ("dec", "decoder_out"), ("logits", "logits")):
        assert np.abs(seen[key].numpy() - z[f"{case}.out.{ref}"]).max() <= ATOL, key
    ids, ref_ids = result.grids[name].numpy(), z[f"{case}.out.{target.split('@')[0]}_ids"]
    sure = _confident(z[f"{case}.out.logits"])
    assert sure.mean() > 0.5 and (ids[sure] == ref_ids[sure]).all()


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
    result = Generator(predictor, registry.with_overrides(sizes_of(model))).generate(
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
